//! `pondsql serve` driven by real Flight SQL clients from PyPI (ADBC,
//! flightsql-dbapi, pyarrow.flight), and `pondsql --connect`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::common::{pondsql, python, run_cli, stderr, stdout};

/// A `pondsql serve` on 127.0.0.1 and a free port, stopped on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(pond: &Path, args: &[&str]) -> Server {
        let log = pond.with_extension(format!("serve-{}.log", std::process::id()));
        let mut child = pondsql()
            .args(["serve", "--pond"])
            .arg(pond)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "serve printed no address: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Server { child, port, log }
    }

    fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// What the server logged so far (one line per statement).
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pond with /s/t (time, value, name): a = 1.5, b = 2.5; and a users file
/// with alice (write, password "alice-pw") and bob (read, "bob-pw").
fn pond_with_users() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pond = dir.path().join("pond");
    let out = pondsql().arg("init").arg(&pond).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(
        &pond,
        &[
            "CREATE DIRECTORY '/s'",
            "CREATE TABLE \"/s/t\" AS SELECT * FROM (VALUES (TIMESTAMP '2024-01-01 00:00:00', 1.5, 'a'), (TIMESTAMP '2024-01-01 00:10:00', 2.5, 'b')) AS v(time, value, name)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let users = dir.path().join("users.toml");
    for (name, role, password) in [("alice", "write", "alice-pw"), ("bob", "read", "bob-pw")] {
        let out = user_add(&users, name, role, password);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    (dir, pond, users)
}

fn user_add(users: &Path, name: &str, role: &str, password: &str) -> Output {
    let mut child = pondsql()
        .args(["user", "add", "--users"])
        .arg(users)
        .args(["--role", role, name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/flight")
        .join(name)
}

/// Runs a client script; returns its stdout lines, failing with its stderr
/// and the server's log if it fails.
fn run_client(server: &Server, name: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(python())
        .arg(script(name))
        .arg(server.url())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}\nserver log:\n{}",
        stdout(&out),
        stderr(&out),
        server.log()
    );
    stdout(&out).lines().map(str::to_string).collect()
}

fn cli_value(pond: &Path, sql: &str) -> String {
    let out = pondsql()
        .arg("--pond")
        .arg(pond)
        .args(["--format", "csv", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn adbc_queries_binds_writes_ingests_and_browses() {
    let (_dir, pond, users) = pond_with_users();
    let server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    let lines = run_client(&server, "adbc_client.py", &["alice", "alice-pw"]);
    let expected = [
        "schema [('time', 'timestamp[us]'), ('value', 'double'), ('name', 'string')]",
        "rows 1.5 b",
        "param text [(2.5,)]",
        "param numbers [(42, \"it's\")]",
        "commits for 4 inserted rows 2",
        "names abcdef",
        "ingest create 2",
        "ingest append 2",
        "ingested (4, 2.5)",
        "ingest create again: ProgrammingError True",
        "ingest replace 1",
        "object pond /s daily MATERIALIZED VIEW ['day', 'v']",
        "object pond /s high VIEW ['time', 'value', 'name']",
        "object pond /s levels TABLE ['time', 'level']",
        "object pond /s t TABLE ['time', 'value', 'name']",
        "object pond system transactions SYSTEM TABLE ['txn', 'timestamp', 'sql', 'nodes', 'rows_added']",
        "table schema ['time', 'value', 'name']",
        "table types ['MATERIALIZED VIEW', 'SYSTEM TABLE', 'TABLE', 'VIEW']",
        "other sees during block 6",
        "other sees after commit 7",
        "after rollback 7",
    ];
    assert_eq!(lines, expected, "server log:\n{}", server.log());
    // What the server committed, the CLI reads.
    assert_eq!(
        cli_value(&pond, "SELECT count(*), sum(value) FROM \"/s/t\""),
        "7,31.5"
    );
    assert_eq!(cli_value(&pond, "SELECT count(*) FROM \"/s/levels\""), "1");
    // One log line per statement, naming the user.
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains(" alice ") && l.contains("ok | COMMIT")),
        "{log}"
    );
}
