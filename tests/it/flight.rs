//! `pondsql serve` driven by real Flight SQL clients from PyPI (ADBC,
//! flightsql-dbapi, pyarrow.flight), and `pondsql --connect`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::common::{first_line, pondsql, python, run_cli, stderr, stdout, with_stdin};

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
        let line = first_line(&mut child);
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
    let mut cmd = pondsql();
    cmd.args(["user", "add", "--users"])
        .arg(users)
        .args(["--role", role, name]);
    with_stdin(&mut cmd, &format!("{password}\n"))
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

#[test]
fn flightsql_dbapi_runs_ad_hoc_statements() {
    let (_dir, pond, users) = pond_with_users();
    let server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    let lines = run_client(&server, "dbapi_adhoc.py", &["alice", "alice-pw"]);
    assert_eq!(
        lines,
        [
            "rows [['a', 1.5], ['b', 2.5]]",
            "description ['name', 'value']",
            "update count 2",
            "ddl count 0",
            "copied [[4]]",
            "schemas ['/', '/s', 'system']",
            "tables in /s ['copy', 't']",
        ]
    );
    assert_eq!(
        cli_value(&pond, "SELECT sum(value) FROM \"/s/copy\""),
        "22.75"
    );
}

#[test]
fn metadata_calls_in_the_order_a_jdbc_navigator_makes_them() {
    let (_dir, pond, users) = pond_with_users();
    let out = run_cli(
        &pond,
        &["CREATE VIEW \"/s/v\" AS SELECT name FROM \"/s/t\""],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(&pond, &["--users", users.to_str().unwrap(), "--read-only"]);
    let lines = run_client(&server, "raw_metadata.py", &["bob", "bob-pw"]);
    assert_eq!(
        lines,
        [
            "server pondsql True True '\"' True",
            "catalogs [{'catalog_name': 'pond'}]",
            "schemas ['/', '/s']",
            "table /s t TABLE [('time', 'timestamp[us]', True), ('value', 'double', True), ('name', 'string', True)]",
            "table /s v VIEW [('name', 'string', True)]",
            "system tables 6",
            "views only [{'catalog_name': 'pond', 'db_schema_name': '/s', 'table_name': 'v', 'table_type': 'VIEW'}]",
            "types ['BOOLEAN', 'TINYINT', 'BIGINT', 'VARBINARY', 'DECIMAL', 'INTEGER', 'SMALLINT', 'REAL', 'DOUBLE', 'VARCHAR', 'DATE', 'TIMESTAMP']",
            "primary keys []",
            "imported keys []",
            "table types ['MATERIALIZED VIEW', 'SYSTEM TABLE', 'TABLE', 'VIEW']",
            "query [{'time': datetime.datetime(2024, 1, 1, 0, 0), 'value': 1.5, 'name': 'a', 'n': 2}]",
        ]
    );
}

/// A statement nested thousands deep is answered, one beyond the limit is
/// refused in one line, and the server goes on serving (it aborted before).
#[test]
fn deep_statements_never_take_the_server_down() {
    let (_dir, pond, _users) = pond_with_users();
    let mut server = Server::start(&pond, &[]);
    let lines = run_client(&server, "deep_statement.py", &[]);
    let refused = "the expression from line 1 chains more than 10000 tokens without a comma or parenthesis, which would nest too deep to plan";
    assert_eq!(lines[0], "2000 terms [(2000,)]", "{lines:?}");
    for (line, what) in lines[1..3]
        .iter()
        .zip(["100000 terms", "100000 terms prepared"])
    {
        assert!(
            line.starts_with(&format!("{what} refused |")) && line.contains(refused),
            "{lines:?}"
        );
    }
    assert_eq!(lines[3], "second connection [(42,)]", "{lines:?}");
    assert!(server.alive(), "{}", server.log());
}

/// Unfetched results and unclosed prepared statements are bounded per
/// user (100 unfetched 2 M-row queries once took the server to 11.5 GB).
#[test]
fn unfetched_results_and_open_prepared_statements_are_bounded() {
    let (_dir, pond, _users) = pond_with_users();
    let server = Server::start(&pond, &[]);
    let lines = run_client(&server, "unfetched.py", &[]);
    let dropped = "oldest ArrowKeyError | Flight returned not found error, with message: no rows wait under this ticket: they were fetched already, cancelled, expired (120s), or dropped for newer ones (16 results at most wait for one user): run the statement again";
    assert_eq!(
        lines,
        [
            dropped.to_string(),
            dropped.replace("oldest", "fourth"),
            "fifth 199996".into(),
            "newest 199981".into(),
            "open 256".into(),
            "one more ArrowInvalid | gRPC returned resource exhausted error, with message: 256 prepared statements are open for local: close those no longer used (ClosePreparedStatement; a driver does it when a statement is closed)".into(),
            "after closing one True".into(),
        ]
    );
}

/// The memory limit bounds all sessions together, unfetched results
/// included: per-session limits let every new connection take as much again.
#[test]
fn memory_limit_is_one_bound_for_all_sessions() {
    let (_dir, pond, _users) = pond_with_users();
    let server = Server::start(&pond, &["--memory-limit", "64M"]);
    let lines = run_client(&server, "shared_memory.py", &[]);
    assert_eq!(lines[0], "refused True", "{lines:?}");
    assert!(
        lines[1].starts_with("every refusal says why True"),
        "{lines:?}"
    );
    assert_eq!(lines[2], "alone afterwards 1000000", "{lines:?}");
}

/// What a client that went away leaves behind (a result it never fetched,
/// a prepared statement it never closed) is freed after the server's
/// timeouts, and the log says so; no wall-time assertion, only a bound
/// that fails the test instead of hanging it.
#[test]
fn what_a_departed_client_left_is_freed_after_the_timeouts() {
    let (_dir, pond, _users) = pond_with_users();
    let out = pondsql()
        .args(["serve", "--pond"])
        .arg(&pond)
        .args(["--idle-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "'soon' is not a duration: use whole seconds, minutes or hours, e.g. 90s, 5m or 8h"
        ),
        "{}",
        stderr(&out)
    );
    let mut server = Server::start(&pond, &["--result-timeout", "1s", "--idle-timeout", "2s"]);
    assert_eq!(run_client(&server, "left_behind.py", &[]), ["left"]);
    let expected = [
        " local expired unfetched | SELECT 42 AS left_unfetched",
        " local expired prepared statement | SELECT 7 AS left_prepared",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !expected.iter().all(|line| server.log().contains(line)) {
        assert!(
            std::time::Instant::now() < deadline,
            "not freed within 60 s:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(server.alive());
}

#[test]
fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let (_dir, pond, users) = pond_with_users();
    let transactions = || cli_value(&pond, "SELECT count(*) FROM pond.system.transactions");
    let before = transactions();
    let mut server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    let lines = run_client(&server, "bad_requests.py", &[]);
    let files = "this session cannot reach the server's files (remote sessions read and write only the pond; the operator can allow one directory with `pondsql serve --allow-host-files DIR`)";
    let read_only = "this session may only read: writes need a user with the write role (pondsql user add --role write), on a server not started with --read-only";
    let expected = [
        "wrong password FlightUnauthenticatedError | Flight returned unauthenticated error, with message: wrong user name or password".to_string(),
        "unknown user FlightUnauthenticatedError | Flight returned unauthenticated error, with message: wrong user name or password".into(),
        "no credentials FlightUnauthenticatedError | Flight returned unauthenticated error, with message: no credentials: connect with a user name and password (this server has a users file)".into(),
        "bad token FlightUnauthenticatedError | Flight returned unauthenticated error, with message: the session token is unknown or expired: connect (handshake) again".into(),
        "no credentials: list flights FlightUnauthenticatedError | Flight returned unauthenticated error, with message: no credentials: connect with a user name and password (this server has a users file)".into(),
        "no credentials: list actions FlightUnauthenticatedError | Flight returned unauthenticated error, with message: no credentials: connect with a user name and password (this server has a users file)".into(),
        "no credentials: get schema OSError | Flight returned unauthenticated error, with message: no credentials: connect with a user name and password (this server has a users file)".into(),
        "no credentials: garbage ticket FlightUnauthenticatedError | Flight returned unauthenticated error, with message: no credentials: connect with a user name and password (this server has a users file)".into(),
        format!("read user inserts FlightUnauthorizedError | Flight returned unauthorized error, with message: {read_only}"),
        format!("read user creates FlightUnauthorizedError | Flight returned unauthorized error, with message: {read_only}"),
        "read user reads [{'n': 2}]".into(),
        "host file ArrowInvalid | Flight returned invalid argument error, with message: /etc/passwd does not exist in the pond: see what is there with SELECT * FROM ls('/etc')".into(),
        format!("host csv FlightUnauthorizedError | Flight returned unauthorized error, with message: reading '/etc/x.csv': {files}"),
        format!("read_csv FlightUnauthorizedError | Flight returned unauthorized error, with message: read_csv() '/etc/passwd': {files}"),
        "api source FlightUnauthorizedError | Flight returned unauthorized error, with message: hydrovu_locations(): this session may not call API sources (they fetch with the server's credentials): the operator can allow them with `pondsql serve --allow-sources`".into(),
        format!("copy to FlightUnauthorizedError | Flight returned unauthorized error, with message: COPY … TO '/tmp/pondsql-flight-x.csv': {files}"),
        "bad sql ArrowInvalid | Flight returned invalid argument error, with message: syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1".into(),
        // The kind of the error picks the code (they were all INVALID_ARGUMENT).
        "drop missing ArrowKeyError | Flight returned not found error, with message: /nope does not exist".into(),
        "create existing ArrowException | Unknown: Flight returned already exists error, with message: /s already exists (a directory): use CREATE DIRECTORY IF NOT EXISTS to allow that".into(),
        "garbage ticket ArrowInvalid | Flight returned invalid argument error, with message: DecodeError { description: InvalidTag, stack: [] }".into(),
        "stale ticket ArrowKeyError | Flight returned not found error, with message: no rows wait under this ticket: they were fetched already, cancelled, expired (120s), or dropped for newer ones (16 results at most wait for one user): run the statement again".into(),
        "unknown command ArrowInvalid | Flight returned invalid argument error, with message: abc is not a command this server runs: send statements (CommandStatementQuery), prepared statements or metadata commands".into(),
        "unknown action ArrowInvalid | Flight returned invalid argument error, with message: unknown action \"Explode\": this server offers the Flight SQL actions and CancelFlightInfo".into(),
        "prepared [('$1', 'double'), ('$2', 'string')] ['name']".into(),
        "too few parameters ArrowInvalid | Flight returned invalid argument error, with message: the statement takes 2 parameter(s), but 1 were bound".into(),
        "unbindable parameter ArrowInvalid | Flight returned invalid argument error, with message: parameter $1: a List(Int64) value cannot be bound: bind it as text and CAST it in the statement".into(),
        "wrong parameter type ArrowInvalid | Flight returned invalid argument error, with message: Cannot cast string 'many' to value of Float64 type".into(),
        "bound [{'name': 'b'}]".into(),
        "unbound ArrowInvalid | Flight returned invalid argument error, with message: the statement takes 1 parameter(s): bind them before executing it".into(),
        // CANCELLED (1), then NOT_CANCELLABLE (3): it is gone.
        "cancel 0801 again 0803".into(),
        "fetch cancelled ArrowKeyError | Flight returned not found error, with message: no rows wait under this ticket: they were fetched already, cancelled, expired (120s), or dropped for newer ones (16 results at most wait for one user): run the statement again".into(),
        "still serving [{'one': 1}]".into(),
    ];
    assert_eq!(lines, expected);
    assert!(server.alive());
    // The statement log is plain text (no colour codes), one INFO line each.
    assert!(!server.log().contains('\u{1b}'), "{}", server.log());
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.starts_with(" INFO ") && l.contains(" alice ")),
        "{}",
        server.log()
    );
    // The log says the cancelled query was cancelled (it said only "ok").
    assert!(
        server.log().lines().any(|l| l
            .contains(" alice cancelled | SELECT count(*) FROM generate_series(1, 1000000000000)")),
        "{}",
        server.log()
    );
    // Nothing the refused statements tried was committed.
    assert_eq!(transactions(), before);
    assert!(!Path::new("/tmp/pondsql-flight-x.csv").exists());
}

#[test]
fn clients_querying_while_cron_commits_see_whole_commits_only() {
    let (dir, pond, users) = pond_with_users();
    let out = run_cli(
        &pond,
        &[
            "CREATE DIRECTORY '/r'",
            "CREATE TABLE \"/r/readings\" (batch BIGINT, value DOUBLE)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    let stop = dir.path().join("stop");
    let clients = Command::new(python())
        .arg(script("consistent_reads.py"))
        .arg(server.url())
        .args(["bob", "bob-pw"])
        .arg(&stop)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The cron job: a script per batch, each one commit of 10 rows.
    for batch in 0..20 {
        let out = run_cli(
            &pond,
            &[&format!(
                "INSERT INTO \"/r/readings\" SELECT {batch}, CAST(value AS DOUBLE) FROM generate_series(1, 10) AS t(value)"
            )],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    std::fs::write(&stop, "").unwrap();
    let out = clients.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            "clients 4",
            "torn 0",
            "every client queried True",
            "batches seen at the end [20]",
        ],
        "{}",
        server.log()
    );
}

fn connect(server: &Server, user: Option<(&str, &str)>, args: &[&str]) -> Output {
    let mut cmd = pondsql();
    cmd.args(["--connect", &server.url()]).args(args);
    if let Some((name, password)) = user {
        cmd.args(["--user", name]).env("PONDSQL_PASSWORD", password);
    }
    cmd.output().unwrap()
}

#[test]
fn connect_runs_scripts_against_a_server_with_the_cli_exit_codes() {
    let (dir, pond, users) = pond_with_users();
    let server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    let alice = Some(("alice", "alice-pw"));
    let out = connect(
        &server,
        alice,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT name, value FROM \"/s/t\" ORDER BY name",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "name,value\na,1.5\nb,2.5\n");

    // A script file: a block spans its statements, as with --pond.
    let script = dir.path().join("load.sql");
    std::fs::write(
        &script,
        "BEGIN;\nINSERT INTO \"/s/t\" VALUES (TIMESTAMP '2024-01-02 00:00', 3.0, 'c');\nINSERT INTO \"/s/t\" VALUES (TIMESTAMP '2024-01-02 00:10', 4.0, 'd');\nCOMMIT;\n",
    )
    .unwrap();
    let before = cli_value(&pond, "SELECT count(*) FROM pond.system.transactions");
    let out = connect(&server, alice, &["-q", "-f", script.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = cli_value(&pond, "SELECT count(*) FROM pond.system.transactions");
    assert_eq!(
        after.parse::<i64>().unwrap(),
        before.parse::<i64>().unwrap() + 1
    );
    assert_eq!(cli_value(&pond, "SELECT count(*) FROM \"/s/t\""), "4");

    // A failing statement: exit 1, the server's one-line message, where it failed.
    let out = connect(
        &server,
        alice,
        &["-c", "SELECT 1", "-c", "SELECT nope FROM \"/s/t\""],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: -c:1: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));

    // SQL on stdin, as cron pipes it.
    let mut cmd = pondsql();
    cmd.args([
        "--connect",
        &server.url(),
        "--user",
        "bob",
        "--format",
        "csv",
    ])
    .env("PONDSQL_PASSWORD", "bob-pw");
    let out = with_stdin(&mut cmd, "SELECT max(value) AS top FROM \"/s/t\";");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "top\n4.0\n");

    // Cannot sign in or reach the server: exit 3, said in one line.
    let out = connect(&server, Some(("alice", "wrong")), &["-c", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "error: wrong user name or password\n");
    let out = pondsql()
        .args(["--connect", "grpc://127.0.0.1:1", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: cannot connect to grpc://127.0.0.1:1: "),
        "{}",
        stderr(&out)
    );
    let out = connect(
        &server,
        Some(("alice", "x")),
        &["--pond", "p", "-c", "SELECT 1"],
    );
    assert_eq!(out.status.code(), Some(2), "--connect and --pond together");

    // Damaged data met mid-script on the server: DATA_LOSS, so exit 3, as
    // a local script (the kind read back from the gRPC code).
    cli_value(
        &pond,
        "CREATE TABLE \"/big\" AS SELECT value AS v, (value * 2654435761) % 4294967291 AS h FROM generate_series(1, 20000)",
    );
    let blob = cli_value(
        &pond,
        "SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL",
    );
    std::fs::remove_file(pond.join("blobs").join(&blob)).unwrap();
    let out = connect(
        &server,
        alice,
        &["-c", "SELECT 1", "-c", "SELECT count(*) FROM \"/big\""],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("is missing"), "{}", stderr(&out));
}

#[test]
fn serve_without_users_listens_on_loopback_only_and_stops_on_sigterm() {
    let (_dir, pond, _users) = pond_with_users();
    let out = pondsql()
        .args(["serve", "--pond"])
        .arg(&pond)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(
            "without --users FILE the server accepts anyone, so it listens on loopback only"
        ),
        "{}",
        stderr(&out)
    );

    // On loopback without users, anyone may connect (no credentials needed).
    let mut server = Server::start(&pond, &[]);
    let out = connect(
        &server,
        None,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM \"/s/t\"",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n2\n");

    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    assert!(
        server.log().contains("pondsql serve: stopped"),
        "{}",
        server.log()
    );
}

#[test]
fn allow_host_files_opens_one_directory() {
    let (dir, pond, _users) = pond_with_users();
    let shared = dir.path().join("drop");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("in.csv"), "a,b\n1,x\n2,y\n").unwrap();
    std::fs::write(dir.path().join("outside.csv"), "a\n1\n").unwrap();
    let server = Server::start(
        &pond,
        &[
            "--allow-host-files",
            shared.to_str().unwrap(),
            "--memory-limit",
            "2M",
        ],
    );
    let inside = shared.join("in.csv");
    let out = connect(
        &server,
        None,
        &[
            "--format",
            "csv",
            "-c",
            &format!("SELECT sum(a) AS s FROM '{}'", inside.display()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "s\n3\n");
    let export = shared.join("out.csv");
    let out = connect(
        &server,
        None,
        &[
            "-c",
            &format!("COPY (SELECT 1 AS one) TO '{}'", export.display()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(export.exists());
    for sql in [
        format!(
            "SELECT * FROM '{}'",
            dir.path().join("outside.csv").display()
        ),
        format!("SELECT * FROM '{}/../outside.csv'", shared.display()),
        format!(
            "COPY (SELECT 1) TO '{}'",
            dir.path().join("x.csv").display()
        ),
    ] {
        let out = connect(&server, None, &["-c", &sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        assert!(
            stderr(&out).contains("the one host directory this server allows"),
            "{sql}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn tls_serves_encrypted_and_plain_clients_are_turned_away() {
    let (dir, pond, users) = pond_with_users();
    // A test CA, and a server certificate for 127.0.0.1 that it signed.
    let file = |name: &str| dir.path().join(name);
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    std::fs::write(
        file("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=pondsql test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "cert.pem",
    ]);
    let server = Server::start(
        &pond,
        &[
            "--users",
            users.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tls_url = format!("grpc+tls://127.0.0.1:{}", server.port);
    let out = pondsql()
        .args(["--connect", &tls_url, "--ca-cert"])
        .arg(&ca)
        .args([
            "--user",
            "bob",
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM \"/s/t\"",
        ])
        .env("PONDSQL_PASSWORD", "bob-pw")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n2\n");
    // ADBC over TLS, trusting the same certificate.
    let check = format!(
        r#"
import sys, warnings
warnings.simplefilter("ignore")
import adbc_driver_flightsql.dbapi as f
conn = f.connect("{tls_url}", db_kwargs={{"username": "alice", "password": "alice-pw",
    "adbc.flight.sql.client_option.tls_root_certs": open(sys.argv[1]).read()}})
cur = conn.cursor()
cur.execute('SELECT name FROM "/s/t" ORDER BY name')
print(cur.fetchall())
"#
    );
    let out = Command::new(python())
        .args(["-c", &check])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[('a',), ('b',)]\n");
    // A plain-text client gets no answer.
    let out = connect(&server, Some(("bob", "bob-pw")), &["-c", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn repl_against_a_server_completes_from_its_metadata_and_cancels() {
    let (_dir, pond, users) = pond_with_users();
    let server = Server::start(&pond, &["--users", users.to_str().unwrap()]);
    run_client(
        &server,
        "repl_remote.py",
        &[env!("CARGO_BIN_EXE_pondsql"), "alice", "alice-pw"],
    );
    // The cancelled query ran on the server (its rows were being streamed
    // when Ctrl-C dropped the call).
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("generate_series(1, 100000000000)")),
        "{log}"
    );
}
