//! The `pondsql` command; everything it does lives in `pondsql::cli`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(pondsql::cli::main())
}
