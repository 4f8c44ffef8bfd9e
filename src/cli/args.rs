//! The `pondsql` command line: its subcommands, flags and their parsers.

use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use super::format;
use crate::error::Error;

/// The `pondsql` command line.
pub(super) fn command() -> Command {
    Command::new("pondsql")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A SQL-first very small data lake for environmental timeseries")
        .after_help(
            "Examples:\n  \
             pondsql demo                                   # a pond of synthetic readings, and a tour of it\n  \
             pondsql init ./pond\n  \
             pondsql repair ./pond                          # after a power loss: set aside a cut-short newest commit\n  \
             pondsql --pond ./pond                          # the REPL (\\? lists its commands)\n  \
             pondsql --pond ./pond -c \"CREATE DIRECTORY '/sensors'\"\n  \
             pondsql --pond ./pond -c \"SELECT path, kind FROM pond.system.entries\" --format csv\n  \
             pondsql --pond ./pond -q -f sql/cron/hourly.sql # from cron: silent unless it fails\n  \
             echo \"SELECT 1;\" | pondsql --pond ./pond       # SQL on stdin\n  \
             pondsql serve --pond ./pond --listen 127.0.0.1:50051 # Flight SQL for DBeaver, ADBC, Python\n  \
             pondsql --connect grpc://127.0.0.1:50051 -c \"SELECT 1\"\n\n\
             Exit codes: 0 ok, 1 a statement failed, 2 usage error, 3 pond unavailable.\n\
             Start-up SQL: ~/.pondsqlrc (or --rc FILE; --rc /dev/null for none).",
        )
        .subcommand_negates_reqs(true)
        .args_conflicts_with_subcommands(true)
        .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").help("The pond to open (or $POND)"))
        .arg(
            Arg::new("connect")
                .long("connect")
                .value_name("URL")
                .conflicts_with_all(["pond", "memory-limit"])
                .help("Run against a pondsql server instead: grpc://HOST:PORT or grpc+tls://HOST:PORT"),
        )
        .arg(
            Arg::new("ca-cert")
                .long("ca-cert")
                .value_name("PEM")
                .value_parser(clap::value_parser!(PathBuf))
                .requires("connect")
                .help("With grpc+tls://: trust this certificate (else the system's roots)"),
        )
        .arg(
            Arg::new("user")
                .long("user")
                .value_name("NAME")
                .requires("connect")
                .help("Sign in to the server as NAME (password in $PONDSQL_PASSWORD)"),
        )
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
                .help("Run a SQL script (repeatable; runs in order with -c)"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .value_parser(format::FORMAT_NAMES.to_vec())
                .default_value("table")
                .help("Output format"),
        )
        .arg(
            Arg::new("maxrows")
                .long("maxrows")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help("Rows a table shows at most (0: all; default 40 in the REPL, all otherwise)"),
        )
        .arg(
            Arg::new("memory-limit")
                .long("memory-limit")
                .value_name("SIZE")
                .env("POND_MEMORY_LIMIT")
                .value_parser(parse_size)
                .help("Memory for sorts, joins and aggregates, e.g. 512M or 2G (beyond it they spill to disk or fail; scans and imports stream regardless)"),
        )
        .arg(
            Arg::new("timing")
                .long("timing")
                .action(ArgAction::SetTrue)
                .help("Print how long opening the pond and each statement took"),
        )
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("Print nothing on success (errors still go to stderr)"))
        .arg(Arg::new("rc").long("rc").value_name("FILE").value_parser(clap::value_parser!(PathBuf)).help("Start-up SQL instead of ~/.pondsqlrc"))
        .subcommand(Command::new("init").about("Create a new, empty pond").arg(Arg::new("path").required(true).value_name("PATH")))
        .subcommand(
            Command::new("repair")
                .about("Set aside a newest commit that a crash or power loss cut short (it was never acknowledged)")
                .arg(Arg::new("path").required(true).value_name("PATH")),
        )
        .subcommand(
            Command::new("backup")
                .about("Copy what a backup lacks of the pond (BACKUP TO): docs/backup.md")
                .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").required(true).help("The pond to back up"))
                .arg(Arg::new("target").required(true).value_name("URL").help("s3://bucket/path, or a local directory")),
        )
        .subcommand(
            Command::new("restore")
                .about("Rebuild a pond from a backup, into a new or empty directory: docs/backup.md")
                .arg(Arg::new("source").required(true).value_name("URL").help("The backup: s3://bucket/path, or a local directory"))
                .arg(Arg::new("dest").required(true).value_name("PATH").help("Where the pond is rebuilt"))
                .arg(Arg::new("as-of").long("as-of").value_name("TXN").value_parser(clap::value_parser!(i64)).help("The pond as it was at this txn (a new pond: back it up to a new location)")),
        )
        .subcommand(
            Command::new("serve")
                .about("Serve the pond to Flight SQL clients (DBeaver, ADBC, JDBC, Python): docs/flight.md")
                .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").required(true).help("The pond to serve"))
                .arg(Arg::new("listen").long("listen").value_name("IP:PORT").default_value("127.0.0.1:50051").help("Address to listen on (port 0: any free port)"))
                .arg(Arg::new("users").long("users").value_name("FILE").value_parser(clap::value_parser!(PathBuf)).help("Users file (pondsql user add); required to listen beyond loopback"))
                .arg(Arg::new("tls-cert").long("tls-cert").value_name("PEM").value_parser(clap::value_parser!(PathBuf)).requires("tls-key").help("TLS certificate chain"))
                .arg(Arg::new("tls-key").long("tls-key").value_name("PEM").value_parser(clap::value_parser!(PathBuf)).requires("tls-cert").help("TLS private key"))
                .arg(Arg::new("read-only").long("read-only").action(ArgAction::SetTrue).help("Refuse every write, whatever the user's role"))
                .arg(Arg::new("allow-host-files").long("allow-host-files").value_name("DIR").value_parser(clap::value_parser!(PathBuf)).help("Let clients read and write host files under DIR (off by default)"))
                .arg(Arg::new("allow-sources").long("allow-sources").action(ArgAction::SetTrue).help("Let clients call API sources (hydrovu_readings() …) with the server's credentials (off by default)"))
                .arg(Arg::new("memory-limit").long("memory-limit").value_name("SIZE").value_parser(parse_size).help("Memory for the sorts, joins and aggregates of all sessions together, e.g. 4G (default: half the machine's memory)"))
                .arg(Arg::new("result-timeout").long("result-timeout").value_name("DURATION").value_parser(parse_duration).help("How long a result waits for its client to fetch it, e.g. 30s or 5m (default 2m)"))
                .arg(Arg::new("idle-timeout").long("idle-timeout").value_name("DURATION").value_parser(parse_duration).help("How long a session and a prepared statement live unused, e.g. 30m or 8h (default 8h)")),
        )
        .subcommand(
            Command::new("user")
                .about("Manage the users file of pondsql serve")
                .subcommand_required(true)
                .subcommand(
                    Command::new("add")
                        .about("Add a user, or set their role and password (password on stdin)")
                        .arg(Arg::new("users").long("users").value_name("FILE").required(true).value_parser(clap::value_parser!(PathBuf)))
                        .arg(Arg::new("role").long("role").value_name("ROLE").value_parser(["read", "write"]).default_value("read"))
                        .arg(Arg::new("name").required(true).value_name("NAME")),
                ),
        )
        .subcommand(
            Command::new("chart")
                .about("Draw a query's rows as a PNG or SVG chart: docs/charts.md")
                .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").required(true).help("The pond to query"))
                .arg(Arg::new("command").short('c').long("command").value_name("SQL").required(true).help("The query: a time column, numeric columns, text columns to split by"))
                .arg(Arg::new("output").short('o').long("output").value_name("FILE").required(true).value_parser(clap::value_parser!(PathBuf)).help("The picture: FILE.png or FILE.svg"))
                .arg(Arg::new("width").long("width").value_name("PIXELS").value_parser(clap::value_parser!(u32)).default_value("1000"))
                .arg(Arg::new("height").long("height").value_name("PIXELS").value_parser(clap::value_parser!(u32)).default_value("500"))
                .arg(Arg::new("title").long("title").value_name("TEXT")),
        )
        .subcommand(
            Command::new("site")
                .about("A static web site of every rolled-up series: docs/charts.md")
                .subcommand_required(true)
                .subcommand(
                    Command::new("build")
                        .about("Build or bring up to date a static site (serve DIR with any static web server)")
                        .arg(Arg::new("pond").long("pond").env("POND").value_name("PATH").required(true).help("The pond to chart"))
                        .arg(Arg::new("out").long("out").value_name("DIR").required(true).value_parser(clap::value_parser!(PathBuf)).help("Where the site is written (only changed files are rewritten)"))
                        .arg(Arg::new("title").long("title").value_name("TEXT").default_value("Readings"))
                        .arg(Arg::new("assets").long("assets").value_name("DIR|URL").default_value(crate::site::DEFAULT_ASSETS).help("dygraphs: a URL the pages load it from, or a local copy of its dist/ to put in the site (no network when viewing)")),
                ),
        )
        .subcommand(
            Command::new("demo")
                .about("Create a pond of synthetic station readings and run sql/demo.sql on it")
                .arg(Arg::new("path").value_name("PATH").help("Where to create the demo pond (default: a new temp dir)")),
        )
}

/// A duration such as `90` or `90s`, `5m`, `8h` (whole numbers, at least 1 second).
fn parse_duration(text: &str) -> Result<std::time::Duration, Error> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let factor: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| Error::invalid(format!("'{text}' is not a duration: use whole seconds, minutes or hours, e.g. 90s, 5m or 8h")))
}

/// A byte size such as `1048576`, `512K`, `512M` or `2G` (powers of 1024).
fn parse_size(text: &str) -> Result<usize, Error> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor: usize = match unit.trim().to_ascii_uppercase().trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            return Err(
                format!("'{text}' is not a size: use a number with K, M or G, e.g. 512M").into(),
            )
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{text}' is not a size: use a number with K, M or G, e.g. 512M"
            ))
        })
}
