//! The `pondsql` command line: arguments, script mode, the REPL, output.
//!
//! Owns how statements reach a [`PondSession`] from a person or from cron
//! and how results are printed; knows nothing of storage.

mod args;
mod chart;
mod command;
mod format;
mod helper;
mod progress;
mod repl;
mod target;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tracing_subscriber::layer::SubscriberExt;

use crate::error::Error;
use crate::flight::client::RemoteSession;
use crate::ScriptStatement;
use crate::{ErrorKind, Pond, PondSession, ScriptError};
use crate::{Output, SessionOptions};
use args::{ChartArgs, Cli, SiteAction, Source, Subcommand, UserAction};
use format::Format;
use progress::ProgressLine;
use target::Target;

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_SQL_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_POND_UNAVAILABLE: u8 = 3;

/// How results are shown; the REPL's backslash commands change it.
#[derive(Clone, Debug)]
pub struct Settings {
    pub format: Format,
    pub max_rows: Option<usize>,
    pub quiet: bool,
    pub timing: bool,
    /// Show progress of long statements (interactive terminals only).
    pub progress: bool,
}

/// Prints one statement's result (nothing for commands and when quiet).
/// A result that cannot be printed is an error, and nothing of it is printed.
pub fn print_output(
    output: &Output,
    settings: &Settings,
    elapsed: Option<std::time::Duration>,
) -> Result<(), Error> {
    // A CHECK that found damage ran, and says so: exit 1 (docs/cli.md).
    let failed = || {
        output
            .failure
            .clone()
            .map_or(Ok(()), |f| Err(Error::invalid(f)))
    };
    if settings.quiet {
        return failed();
    }
    let mut text = Vec::new();
    if output.has_rows() {
        format::check(settings.format, &output.schema)?;
        format::write(
            &mut text,
            settings.format,
            &output.schema,
            &output.batches,
            settings.max_rows,
        )
        .map_err(|err| format!("cannot print the result: {err}"))?;
    }
    if let (true, Some(elapsed)) = (settings.timing, elapsed) {
        let rows: usize = output.batches.iter().map(|b| b.num_rows()).sum();
        let _ = writeln!(text, "{rows} row(s) in {:.3} s", elapsed.as_secs_f64());
    }
    std::io::stdout()
        .lock()
        .write_all(&text)
        .map_err(|err| format!("cannot print the result: {err}"))?;
    failed()
}

/// `pondsql user add`: the password is the first line of standard input.
fn add_user(users: &std::path::Path, name: &str, role_name: &str) -> u8 {
    let role = role_name.parse().expect("clap checked the value");
    let mut password = String::new();
    if let Err(err) = std::io::stdin().read_line(&mut password) {
        eprintln!("error: cannot read the password from standard input: {err}");
        return EXIT_USAGE;
    }
    let password = password.trim_end_matches(['\n', '\r']);
    match crate::flight::users::add_user(users, name, role, password) {
        Ok(()) => {
            println!(
                "{name} can now sign in ({role_name}) with the users file {}",
                users.display()
            );
            EXIT_OK
        }
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_USAGE
        }
    }
}

/// Runs a script statement by statement, stopping at the first failure
/// (earlier statements stay committed).
async fn run_statements(
    target: &Target,
    sql: &str,
    settings: &Settings,
) -> Result<(), ScriptError> {
    let statements = ScriptStatement::split(sql).map_err(|err| ScriptError {
        line: 1,
        text: String::new(),
        message: crate::error::user_message(&err),
        kind: Some(crate::error::error_kind(&err)),
    })?;
    for statement in statements {
        // A statement's time runs from the end of the previous one (printing
        // excluded) to its output.
        let started = Instant::now();
        let result = match target.execute(&statement).await {
            Ok(output) => print_output(&output, settings, Some(started.elapsed())),
            Err(failure) => Err(failure),
        };
        if let Err(failure) = result {
            return Err(ScriptError {
                line: statement.line(),
                text: statement.text().to_string(),
                message: failure.message().to_string(),
                kind: Some(failure.kind()),
            });
        }
    }
    Ok(())
}

/// The exit code of a failed statement: 3 when the pond itself cannot be
/// used (unreachable, unwritable, damaged), 1 otherwise.
fn exit_code(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::Unavailable | ErrorKind::Corrupt) => EXIT_POND_UNAVAILABLE,
        _ => EXIT_SQL_ERROR,
    }
}

/// Runs a script; on failure prints `name:line: message`. Its exit code.
pub async fn run_script(target: &Target, name: &str, sql: &str, settings: &Settings) -> u8 {
    let started = Instant::now();
    let result = run_statements(target, sql, settings).await;
    match result {
        Ok(()) => {
            if settings.timing && !settings.quiet {
                println!("{name}: {:.3} s", started.elapsed().as_secs_f64());
            }
            EXIT_OK
        }
        Err(err) => {
            let first = err.text.lines().next().unwrap_or("");
            let more = if err.text.lines().nth(1).is_some() {
                " …"
            } else {
                ""
            };
            eprintln!(
                "error: {name}:{}: {}\n  in: {first}{more}",
                err.line, err.message
            );
            exit_code(err.kind)
        }
    }
}

fn rc_file(cli: &Cli) -> Option<PathBuf> {
    if let Some(path) = &cli.rc {
        return Some(path.clone());
    }
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".pondsqlrc");
    path.exists().then_some(path)
}

/// Entry point of the binary; returns the exit code.
pub fn main() -> u8 {
    // The CLI's statements run on this thread (`block_on`): give it the
    // stack a deep statement needs, not the main thread's 8 MiB.
    std::thread::Builder::new()
        .name("pondsql".into())
        .stack_size(crate::runtime::STATEMENT_STACK_BYTES)
        .spawn(run)
        .map_or_else(
            |err| {
                eprintln!("error: cannot start: {err}");
                EXIT_POND_UNAVAILABLE
            },
            |thread| thread.join().unwrap_or(EXIT_POND_UNAVAILABLE),
        )
}

fn run() -> u8 {
    let (mut cli, sources) = match Cli::parse_with_sources() {
        Ok(parsed) => parsed,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            };
        }
    };
    // The pond's best-effort work (checkpoints, oplog merges) warns on
    // stderr when it fails; the server logs one line per statement
    // (flight/status.rs); other crates' logs stay quiet.
    let warnings = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        // Colour only on a terminal: logs go to files and journals too.
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing::Level::INFO)
        .finish()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("pondsql", tracing::Level::WARN)
                .with_target(crate::flight::STATEMENT_LOG, tracing::Level::INFO),
        );
    let _ = tracing::subscriber::set_global_default(warnings);
    let runtime = match crate::runtime::runtime() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return EXIT_POND_UNAVAILABLE;
        }
    };
    let Some(subcommand) = cli.subcommand.take() else {
        return run_sql(&runtime, &cli, sources);
    };
    match subcommand {
        Subcommand::Init { path } => match runtime.block_on(Pond::init(&path)) {
            Ok(_) => {
                println!("created pond {path}");
                EXIT_OK
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_POND_UNAVAILABLE
            }
        },
        Subcommand::Repair { path } => match runtime.block_on(Pond::repair(&path)) {
            Ok(Some((file, why))) => {
                println!("set aside {file} ({why}) into {path}/damaged/: it was never acknowledged; the pond now ends at the commit before it");
                EXIT_OK
            }
            Ok(None) => {
                println!("nothing to repair: the newest commit of {path} is whole");
                EXIT_OK
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_POND_UNAVAILABLE
            }
        },
        Subcommand::Backup { pond, target } => run_backup(&runtime, &pond, &target),
        Subcommand::Restore {
            source,
            dest,
            as_of,
        } => {
            let moved = Arc::new(crate::Moved::default());
            let restored = runtime.block_on(async {
                let _progress =
                    ProgressLine::start_transfer(moved.clone(), std::io::stderr().is_terminal());
                Pond::restore(&source, std::path::Path::new(&dest), as_of, &moved).await
            });
            match restored {
                Ok(report) => {
                    println!(
                        "restored {} at txn {} from {source} ({} objects, {})",
                        report.dest.display(),
                        report.txn,
                        report.objects,
                        progress::human_bytes(report.bytes)
                    );
                    EXIT_OK
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    EXIT_POND_UNAVAILABLE
                }
            }
        }
        Subcommand::Serve(serve) => {
            let options = crate::flight::ServeOptions {
                pond: serve.pond,
                listen: serve.listen,
                users: serve.users,
                tls: serve.tls_cert.zip(serve.tls_key),
                read_only: serve.read_only,
                allow_host_files: serve.allow_host_files,
                allow_sources: serve.allow_sources,
                memory_limit: serve.memory_limit,
                result_timeout: serve.result_timeout,
                idle_timeout: serve.idle_timeout,
            };
            match runtime.block_on(crate::flight::serve(options)) {
                Ok(()) => EXIT_OK,
                Err(err) => {
                    eprintln!("error: {err}");
                    EXIT_POND_UNAVAILABLE
                }
            }
        }
        Subcommand::User {
            action: UserAction::Add { users, role, name },
        } => add_user(&users, &name, &role),
        Subcommand::Chart(args) => draw_chart(&runtime, &args),
        Subcommand::Site {
            action:
                SiteAction::Build {
                    pond,
                    out,
                    title,
                    assets,
                },
        } => {
            let options = crate::site::SiteOptions {
                out,
                title,
                assets: crate::site::Assets::parse(&assets),
            };
            build_site(&runtime, &pond, options)
        }
        Subcommand::Demo { path } => runtime.block_on(run_demo(path)),
    }
}

/// `pondsql demo`: the demo's data and pond, then sql/demo.sql run on it
/// with its results printed.
async fn run_demo(dir: Option<PathBuf>) -> u8 {
    let demo = match crate::demo::prepare(dir).await {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("error: {err}");
            return match err.kind() {
                ErrorKind::InvalidInput => EXIT_USAGE,
                _ => EXIT_POND_UNAVAILABLE,
            };
        }
    };
    let settings = Settings {
        format: Format::Table,
        max_rows: None,
        quiet: false,
        timing: false,
        progress: false,
    };
    let target = Target::Local(demo.session);
    let code = run_script(&target, "sql/demo.sql", demo.script, &settings).await;
    if code != EXIT_OK {
        return code;
    }
    println!(
        "\nChart: {}",
        demo.dir.join("water-temperature.png").display()
    );
    println!("Explore it: pondsql --pond {}", demo.pond_path.display());
    EXIT_OK
}

/// `pondsql chart`: one query drawn into one file.
fn draw_chart(runtime: &tokio::runtime::Runtime, args: &ChartArgs) -> u8 {
    let (sql, output) = (&args.command, &args.output);
    let options = crate::chart::ChartOptions {
        width: args.width,
        height: args.height,
        title: args.title.clone(),
    };
    let pond = match runtime.block_on(Pond::open(&args.pond)) {
        Ok(pond) => Arc::new(pond),
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_POND_UNAVAILABLE;
        }
    };
    let target = Target::Local(PondSession::new(pond, SessionOptions::default()));
    match runtime.block_on(chart::draw(&target, sql, output, &options)) {
        Ok(rows) => {
            println!("wrote {} ({rows} rows)", output.display());
            EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_SQL_ERROR
        }
    }
}

/// `pondsql site build`.
fn build_site(
    runtime: &tokio::runtime::Runtime,
    pond: &str,
    options: crate::site::SiteOptions,
) -> u8 {
    let session = match runtime.block_on(Pond::open(pond)) {
        Ok(pond) => PondSession::new(Arc::new(pond), SessionOptions::default()),
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_POND_UNAVAILABLE;
        }
    };
    match runtime.block_on(crate::site::build(&session, &options)) {
        Ok(report) => {
            println!(
                "built {}: {} series; {} files written, {} unchanged, {} removed",
                options.out.display(),
                report.series,
                report.written,
                report.unchanged,
                report.removed
            );
            EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_SQL_ERROR
        }
    }
}

/// Runs one statement on a local pond for a subcommand (`pondsql backup`),
/// with the exit codes of script mode and a progress line on a terminal.
/// `pondsql backup`: `BACKUP TO target` on the pond, with a progress line.
fn run_backup(runtime: &tokio::runtime::Runtime, pond: &str, target: &str) -> u8 {
    let pond = match runtime.block_on(Pond::open(pond)) {
        Ok(pond) => Arc::new(pond),
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_POND_UNAVAILABLE;
        }
    };
    let session = PondSession::new(pond, SessionOptions::default());
    let settings = Settings {
        format: Format::Table,
        max_rows: None,
        quiet: false,
        timing: false,
        progress: std::io::stderr().is_terminal(),
    };
    let result = runtime.block_on(async {
        let _progress = ProgressLine::start(session.progress(), settings.progress);
        session.backup(target).await
    });
    match result
        .map_err(Error::from)
        .and_then(|output| print_output(&output, &settings, None))
    {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_SQL_ERROR
        }
    }
}

/// The pond of `--pond`, or the server of `--connect`.
fn open_target(runtime: &tokio::runtime::Runtime, cli: &Cli) -> Result<Target, u8> {
    if let Some(url) = &cli.connect {
        let user = cli.user.as_ref();
        let password = std::env::var("PONDSQL_PASSWORD").ok();
        let credentials = match (user, &password) {
            (Some(user), Some(password)) => Some((user.as_str(), password.as_str())),
            (Some(user), None) => {
                eprintln!("error: --user {user}: give the password in $PONDSQL_PASSWORD");
                return Err(EXIT_USAGE);
            }
            (None, _) => None,
        };
        let ca = cli.ca_cert.as_deref();
        return match runtime.block_on(RemoteSession::connect(url, ca, credentials)) {
            Ok(remote) => Ok(Target::Remote(remote)),
            Err(err) => {
                eprintln!("error: {err}");
                Err(EXIT_POND_UNAVAILABLE)
            }
        };
    }
    let Some(pond_path) = &cli.pond else {
        eprintln!("error: no pond given: use --pond PATH or set $POND (create one with `pondsql init PATH`), or --connect grpc://HOST:PORT");
        return Err(EXIT_USAGE);
    };
    let pond = match runtime.block_on(Pond::open(pond_path)) {
        Ok(pond) => Arc::new(pond),
        Err(err) => {
            eprintln!("error: {err}");
            return Err(EXIT_POND_UNAVAILABLE);
        }
    };
    let options = SessionOptions {
        memory_pool: cli.memory_limit.map(SessionOptions::bounded_pool),
        ..SessionOptions::default()
    };
    Ok(Target::Local(PondSession::new(pond, options)))
}

fn run_sql(runtime: &tokio::runtime::Runtime, cli: &Cli, sources: Vec<Source>) -> u8 {
    let stdin_is_tty = std::io::stdin().is_terminal();
    let interactive = sources.is_empty() && stdin_is_tty;
    let format: Format = cli.format.parse().expect("clap checked the value");
    let max_rows = match cli.maxrows {
        Some(0) => None,
        Some(n) => Some(n),
        None if interactive => Some(40),
        None => None,
    };
    let mut settings = Settings {
        format,
        max_rows,
        quiet: cli.quiet,
        timing: cli.timing,
        progress: interactive && std::io::stderr().is_terminal(),
    };
    let opening = Instant::now();
    let target = match open_target(runtime, cli) {
        Ok(target) => target,
        Err(code) => return code,
    };
    if settings.timing && !settings.quiet {
        println!("pond opened in {:.3} s", opening.elapsed().as_secs_f64());
    }
    let session = target;
    if let Some(rc) = rc_file(cli) {
        match std::fs::read_to_string(&rc) {
            Ok(sql) => {
                let quiet = Settings {
                    quiet: true,
                    ..settings.clone()
                };
                let code = runtime.block_on(run_script(
                    &session,
                    &rc.display().to_string(),
                    &sql,
                    &quiet,
                ));
                if code != EXIT_OK {
                    return code;
                }
            }
            Err(err) => {
                eprintln!("error: cannot read {}: {err}", rc.display());
                return EXIT_USAGE;
            }
        }
    }
    if interactive {
        return repl::run(runtime, &session, &mut settings);
    }
    if sources.is_empty() {
        let mut sql = String::new();
        if let Err(err) = std::io::stdin().read_to_string(&mut sql) {
            eprintln!("error: cannot read standard input: {err}");
            return EXIT_USAGE;
        }
        let code = runtime.block_on(run_script(&session, "<stdin>", &sql, &settings));
        if code != EXIT_OK {
            return code;
        }
        return end_of_input(&session);
    }
    for source in sources {
        let (name, sql) = match source {
            Source::Command(sql) => ("-c".to_string(), sql),
            Source::File(path) => match std::fs::read_to_string(&path) {
                Ok(sql) => (path.display().to_string(), sql),
                Err(err) => {
                    eprintln!("error: cannot read {}: {err}", path.display());
                    return EXIT_USAGE;
                }
            },
        };
        let code = runtime.block_on(run_script(&session, &name, &sql, &settings));
        if code != EXIT_OK {
            return code;
        }
    }
    end_of_input(&session)
}

/// A script that ends inside BEGIN has written nothing: say so and fail,
/// so that cron mails it instead of the writes vanishing.
fn end_of_input(target: &Target) -> u8 {
    match target.open_block_len() {
        None => EXIT_OK,
        Some(changes) => {
            eprintln!("error: the input ended inside BEGIN with {changes} change(s) not committed, so nothing of the block was written: end the block with COMMIT (or ROLLBACK)");
            EXIT_SQL_ERROR
        }
    }
}
