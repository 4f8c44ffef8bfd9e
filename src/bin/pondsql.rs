//! The `pondsql` command: `init`, and SQL from `-c` / `-f` against a pond.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use datafusion::arrow::util::pretty::pretty_format_batches;
use pondsql::sql::session::{Output, SessionOptions};
use pondsql::{Pond, PondSession};

/// Exit codes, documented in the README.
const EXIT_SQL_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_POND_UNAVAILABLE: u8 = 3;

fn cli() -> Command {
    Command::new("pondsql")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A SQL-first very small data lake for environmental timeseries")
        .after_help(
            "Examples:\n  pondsql init ./pond\n  pondsql --pond ./pond -c \"CREATE DIRECTORY '/sensors'\"\n  \
             pondsql --pond ./pond -c \"SELECT path, kind FROM pond.system.entries\"\n  pondsql --pond ./pond -f sql/tour.sql",
        )
        .subcommand_negates_reqs(true)
        .args_conflicts_with_subcommands(true)
        .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").help("The pond to open (or $POND)"))
        .arg(
            Arg::new("command")
                .short('c')
                .long("command")
                .value_name("SQL")
                .action(ArgAction::Append)
                .help("Run SQL (repeatable; runs in order with -f)"),
        )
        .arg(
            Arg::new("file")
                .short('f')
                .long("file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Append)
                .help("Run a SQL script (repeatable)"),
        )
        .subcommand(Command::new("init").about("Create a new, empty pond").arg(Arg::new("path").required(true).value_name("PATH")))
}

/// The -c and -f arguments in the order they were given.
enum Source {
    Command(String),
    File(PathBuf),
}

fn sources(matches: &ArgMatches) -> Vec<Source> {
    let mut out: Vec<(usize, Source)> = Vec::new();
    if let (Some(values), Some(indices)) = (
        matches.get_many::<String>("command"),
        matches.indices_of("command"),
    ) {
        out.extend(
            indices
                .zip(values)
                .map(|(i, v)| (i, Source::Command(v.clone()))),
        );
    }
    if let (Some(values), Some(indices)) = (
        matches.get_many::<PathBuf>("file"),
        matches.indices_of("file"),
    ) {
        out.extend(
            indices
                .zip(values)
                .map(|(i, v)| (i, Source::File(v.clone()))),
        );
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, s)| s).collect()
}

fn print_output(output: &Output) {
    if !output.has_rows() {
        return;
    }
    match pretty_format_batches(&output.batches) {
        Ok(table) => println!("{table}"),
        Err(err) => eprintln!("error: cannot print the result: {err}"),
    }
}

async fn run(matches: ArgMatches) -> u8 {
    if let Some(init) = matches.subcommand_matches("init") {
        let path = init.get_one::<String>("path").expect("required by clap");
        return match Pond::init(path).await {
            Ok(_) => {
                println!("created pond {path}");
                0
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_POND_UNAVAILABLE
            }
        };
    }
    let Some(pond_path) = matches.get_one::<String>("pond") else {
        eprintln!("error: no pond given: use --pond PATH or set $POND (create one with `pondsql init PATH`)");
        return EXIT_USAGE;
    };
    let sources = sources(&matches);
    if sources.is_empty() {
        eprintln!("error: nothing to run: give SQL with -c or a script with -f");
        return EXIT_USAGE;
    }
    let pond = match Pond::open(pond_path).await {
        Ok(pond) => std::sync::Arc::new(pond),
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_POND_UNAVAILABLE;
        }
    };
    let session = PondSession::new(pond, SessionOptions::default());
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
        if let Err(err) = session
            .run_script(&sql, |_, output| print_output(output))
            .await
        {
            eprintln!(
                "error: {name}:{}: {}\n  in: {}",
                err.line,
                err.message,
                first_line(&err.text)
            );
            return EXIT_SQL_ERROR;
        }
    }
    0
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if text.lines().nth(1).is_some() {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

fn main() -> ExitCode {
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(EXIT_POND_UNAVAILABLE);
        }
    };
    ExitCode::from(runtime.block_on(run(matches)))
}
