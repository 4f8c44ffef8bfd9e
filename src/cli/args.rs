//! The `pondsql` command line: its subcommands and flags (clap derive),
//! and the parsers of their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, FromArgMatches, Parser};

use super::format;
use crate::error::Error;

const EXAMPLES: &str = "Examples:
  pondsql demo                                   # a pond of synthetic readings, and a tour of it
  pondsql init ./pond
  pondsql repair ./pond                          # after a power loss: set aside a cut-short newest commit
  pondsql --pond ./pond                          # the REPL (\\? lists its commands)
  pondsql --pond ./pond -c \"CREATE DIRECTORY '/sensors'\"
  pondsql --pond ./pond -c \"SELECT path, kind FROM pond.system.entries\" --format csv
  pondsql --pond ./pond -q -f sql/cron/hourly.sql # from cron: silent unless it fails
  echo \"SELECT 1;\" | pondsql --pond ./pond       # SQL on stdin
  pondsql serve --pond ./pond --listen 127.0.0.1:50051 # Flight SQL for DBeaver, ADBC, Python
  pondsql --connect grpc://127.0.0.1:50051 -c \"SELECT 1\"

Exit codes: 0 ok, 1 a statement failed, 2 usage error, 3 pond unavailable.
Start-up SQL: ~/.pondsqlrc (or --rc FILE; --rc /dev/null for none).";

/// A SQL-first very small data lake for environmental timeseries
#[derive(Parser, Debug)]
#[command(
    name = "pondsql",
    version,
    after_help = EXAMPLES,
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Subcommand>,
    /// The pond to open (or $POND)
    #[arg(long, env = "POND", value_name = "PATH")]
    pub pond: Option<String>,
    /// Run against a pondsql server instead: grpc://HOST:PORT or grpc+tls://HOST:PORT
    #[arg(long, value_name = "URL", conflicts_with_all = ["pond", "memory_limit"])]
    pub connect: Option<String>,
    /// With grpc+tls://: trust this certificate (else the system's roots)
    #[arg(long, value_name = "PEM", requires = "connect")]
    pub ca_cert: Option<PathBuf>,
    /// Sign in to the server as NAME (password in $PONDSQL_PASSWORD)
    #[arg(long, value_name = "NAME", requires = "connect")]
    pub user: Option<String>,
    /// Run SQL (repeatable; runs in order with -f)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: Vec<String>,
    /// Run a SQL script (repeatable; runs in order with -c)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = PossibleValuesParser::new(format::FORMAT_NAMES))]
    pub format: String,
    /// Rows a table shows at most (0: all; default 40 in the REPL, all otherwise)
    #[arg(long, value_name = "N")]
    pub maxrows: Option<usize>,
    /// Memory for sorts, joins and aggregates, e.g. 512M or 2G (beyond it they spill to disk or fail; scans and imports stream regardless)
    #[arg(long, value_name = "SIZE", env = "POND_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Print how long opening the pond and each statement took
    #[arg(long)]
    pub timing: bool,
    /// Print nothing on success (errors still go to stderr)
    #[arg(short, long)]
    pub quiet: bool,
    /// Start-up SQL instead of ~/.pondsqlrc
    #[arg(long, value_name = "FILE")]
    pub rc: Option<PathBuf>,
}

/// One -c or -f, in the order given.
pub(super) enum Source {
    Command(String),
    File(PathBuf),
}

impl Cli {
    /// The command line of this process, and its -c and -f in the order
    /// given (clap keeps each repeated flag's values apart; their indices
    /// interleave them).
    pub(super) fn parse_with_sources() -> Result<(Cli, Vec<Source>), clap::Error> {
        let matches = Cli::command().try_get_matches()?;
        let cli = Cli::from_arg_matches(&matches)?;
        let mut sources: Vec<(usize, Source)> = Vec::new();
        let indices = |id: &str| matches.indices_of(id).into_iter().flatten();
        sources.extend(indices("command").zip(cli.command.iter().cloned().map(Source::Command)));
        sources.extend(indices("file").zip(cli.file.iter().cloned().map(Source::File)));
        sources.sort_by_key(|(i, _)| *i);
        Ok((cli, sources.into_iter().map(|(_, s)| s).collect()))
    }
}

#[derive(clap::Subcommand, Debug)]
pub(super) enum Subcommand {
    /// Create a new, empty pond
    Init {
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Set aside a newest commit that a crash or power loss cut short (it was never acknowledged)
    Repair {
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Copy what a backup lacks of the pond (BACKUP TO): docs/backup.md
    Backup {
        /// The pond to back up
        #[arg(long, env = "POND", value_name = "PATH")]
        pond: String,
        /// s3://bucket/path, or a local directory
        #[arg(value_name = "URL")]
        target: String,
    },
    /// Rebuild a pond from a backup, into a new or empty directory: docs/backup.md
    Restore {
        /// The backup: s3://bucket/path, or a local directory
        #[arg(value_name = "URL")]
        source: String,
        /// Where the pond is rebuilt
        #[arg(value_name = "PATH")]
        dest: String,
        /// The pond as it was at this txn (a new pond: back it up to a new location)
        #[arg(long, value_name = "TXN")]
        as_of: Option<i64>,
    },
    /// Serve the pond to Flight SQL clients (DBeaver, ADBC, JDBC, Python): docs/flight.md
    Serve(ServeArgs),
    /// Manage the users file of pondsql serve
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Draw a query's rows as a PNG or SVG chart: docs/charts.md
    Chart(ChartArgs),
    /// A static web site of every rolled-up series: docs/charts.md
    Site {
        #[command(subcommand)]
        action: SiteAction,
    },
    /// Create a pond of synthetic station readings and run sql/demo.sql on it
    Demo {
        /// Where to create the demo pond (default: a new temp dir)
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub(super) struct ServeArgs {
    /// The pond to serve
    #[arg(long, env = "POND", value_name = "PATH")]
    pub pond: PathBuf,
    /// Address to listen on (port 0: any free port)
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Users file (pondsql user add); required to listen beyond loopback
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// TLS certificate chain
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse every write, whatever the user's role
    #[arg(long)]
    pub read_only: bool,
    /// Let clients read and write host files under DIR (off by default)
    #[arg(long, value_name = "DIR")]
    pub allow_host_files: Option<PathBuf>,
    /// Let clients call API sources (hydrovu_readings() …) with the server's credentials (off by default)
    #[arg(long)]
    pub allow_sources: bool,
    /// Memory for the sorts, joins and aggregates of all sessions together, e.g. 4G (default: half the machine's memory)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// How long a result waits for its client to fetch it, e.g. 30s or 5m (default 2m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub result_timeout: Option<Duration>,
    /// How long a session and a prepared statement live unused, e.g. 30m or 8h (default 8h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
}

#[derive(clap::Subcommand, Debug)]
pub(super) enum UserAction {
    /// Add a user, or set their role and password (password on stdin)
    Add {
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        #[arg(long, value_name = "ROLE", default_value = "read", value_parser = PossibleValuesParser::new(["read", "write"]))]
        role: String,
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(clap::Args, Debug)]
pub(super) struct ChartArgs {
    /// The pond to query
    #[arg(long, env = "POND", value_name = "PATH")]
    pub pond: String,
    /// The query: a time column, numeric columns, text columns to split by
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: String,
    /// The picture: FILE.png or FILE.svg
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[arg(long, value_name = "PIXELS", default_value_t = 1000)]
    pub width: u32,
    #[arg(long, value_name = "PIXELS", default_value_t = 500)]
    pub height: u32,
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub(super) enum SiteAction {
    /// Build or bring up to date a static site (serve DIR with any static web server)
    Build {
        /// The pond to chart
        #[arg(long, env = "POND", value_name = "PATH")]
        pond: String,
        /// Where the site is written (only changed files are rewritten)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_name = "TEXT", default_value = "Readings")]
        title: String,
        /// dygraphs: a URL the pages load it from, or a local copy of its dist/ to put in the site (no network when viewing)
        #[arg(long, value_name = "DIR|URL", default_value = crate::site::DEFAULT_ASSETS)]
        assets: String,
    },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
