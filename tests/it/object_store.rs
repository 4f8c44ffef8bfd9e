//! Ponds on S3-compatible storage, BACKUP, RESTORE and CHECK, against a
//! real S3-compatible server (moto, from the test venv) on 127.0.0.1,
//! driven through the real `pondsql` binary. The server is inspected and
//! damaged with boto3 (tests/python/s3/s3_tool.py).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{pondsql, python, spawn_with_stdin, stderr, stdout};

/// A moto server on a free port, stopped when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let python = python();
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let server = S3Server { child, endpoint };
        server.tool(&["mkbucket", "ponds"]);
        server
    }

    /// Runs s3_tool.py; returns its stdout.
    fn tool(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/s3/s3_tool.py");
        let out = Command::new(python())
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "s3_tool {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// The keys under `prefix` in bucket `ponds`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.tool(&["list", "ponds", prefix])
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    }

    /// How many keys bucket `ponds` has under `prefix`, by one plain HTTP
    /// request (moto takes unsigned ones): cheap enough to poll.
    fn count_keys(&self, prefix: &str) -> usize {
        use std::io::{Read, Write};
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let prefix = prefix.replace('/', "%2F");
        write!(
            stream,
            "GET /ponds?list-type=2&prefix={prefix} HTTP/1.0\r\nHost: {address}\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "{reply}"
        );
        reply.matches("<Key>").count()
    }

    /// `pondsql` with this server's endpoint and credentials in the environment.
    fn pondsql(&self) -> Command {
        let mut cmd = pondsql();
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    /// Runs `pondsql ARGS` with this server's settings.
    fn run(&self, args: &[&str]) -> Output {
        self.pondsql().args(args).output().unwrap()
    }

    /// `pondsql init` of `pond` (a path or URL), which must succeed.
    fn init(&self, pond: &str) {
        let out = self.run(&["init", pond]);
        assert!(out.status.success(), "init {pond}: {}", stderr(&out));
    }

    /// Runs `-c` statements on `pond` (a path or URL).
    fn sql(&self, pond: &str, sql: &str) -> Output {
        self.run(&["--pond", pond, "--format", "csv", "-c", sql])
    }

    /// Like [`S3Server::sql`], and it must succeed.
    fn ok(&self, pond: &str, sql: &str) -> String {
        let out = self.sql(pond, sql);
        assert!(out.status.success(), "{sql}\n{}", stderr(&out));
        stdout(&out)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server, a temp dir, and a new pond in it (its path).
fn local_pond() -> (S3Server, tempfile::TempDir, String) {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let pond = local(dir.path(), "pond");
    s3.init(&pond);
    (s3, dir, pond)
}

/// A table of `rows` rows, big enough for a blob (over 64 KiB) from a few thousand rows.
fn create_table(path: &str, rows: u64, offset: u64) -> String {
    format!(
        "CREATE TABLE \"{path}\" AS SELECT CAST(to_timestamp_seconds(1700000000 + i * 60) AS TIMESTAMP) AS ts, \
         CAST(i AS DOUBLE) * 1.5 + {offset} AS value, 'station ' || CAST(i % 7 AS VARCHAR) AS station \
         FROM generate_series(1, {rows}) AS g(i)"
    )
}

fn local(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// A pond on s3 does what a pond on disk does: tables (inline and blob),
/// views, glob, time travel, OPTIMIZE and VACUUM.
#[test]
fn a_pond_on_s3_passes_the_core_scenarios() {
    let s3 = S3Server::start();
    let pond = "s3://ponds/station";
    s3.init(pond);
    s3.ok(
        pond,
        &format!(
            "CREATE DIRECTORY '/s/a'; CREATE DIRECTORY '/s/b'; {}; {}; \
             INSERT INTO \"/s/a/temp\" VALUES (TIMESTAMP '2030-01-01 00:00:00', 1.25, 'late'); \
             CREATE VIEW \"/s/daily\" AS SELECT station, count(*) AS n FROM \"/s/a/temp\" GROUP BY station",
            create_table("/s/a/temp", 20_000, 0),
            create_table("/s/b/temp", 100, 1_000)
        ),
    );
    assert!(
        s3.keys("station/blobs/").len() == 1,
        "the 20,000-row content is a blob"
    );
    assert_eq!(
        s3.ok(pond, "SELECT count(*), sum(value) FROM \"/s/a/temp\""),
        "count(*),sum(/s/a/temp.value)\n20001,300015001.25\n"
    );
    assert_eq!(
        s3.ok(
            pond,
            "SELECT _1, count(*) FROM glob('/s/*/temp') GROUP BY _1 ORDER BY _1"
        ),
        "_1,count(*)\na,20001\nb,100\n"
    );
    assert_eq!(
        s3.ok(pond, "SELECT n FROM \"/s/daily\" WHERE station = 'late'"),
        "n\n1\n"
    );
    let before_insert = s3.ok(
        pond,
        "SELECT max(txn) FROM pond.system.transactions WHERE sql LIKE 'CREATE TABLE \"/s/b%'",
    );
    let txn = before_insert.lines().nth(1).unwrap();
    assert_eq!(
        s3.ok(
            pond,
            &format!("SET pond.as_of = {txn}; SELECT count(*) FROM \"/s/a/temp\"")
        ),
        "count(*)\n20000\n"
    );
    let optimized = s3.ok(pond, "OPTIMIZE \"/s/a/temp\"");
    assert!(optimized.contains("/s/a/temp,2,1"), "{optimized}");
    // The replaced chunk stays referenced (time travel); nothing younger
    // than the in-flight grace goes, so VACUUM finds nothing to delete.
    assert_eq!(
        s3.ok(pond, "VACUUM RETAIN 0 HOURS"),
        "path,kind,bytes,action\n"
    );
    assert_eq!(
        s3.ok(
            pond,
            "SELECT count(*), sum(value) FROM \"/s/a/temp\"; CHECK ALL VERSIONS"
        ),
        "count(*),sum(/s/a/temp.value)\n20001,300015001.25\npath,version,problem\n"
    );
}

/// Two processes committing to one s3 pond at once keep every commit
/// (commits are put-if-absent, which the server enforces).
#[test]
fn two_writers_on_one_s3_pond_lose_nothing() {
    let s3 = S3Server::start();
    let pond = "s3://ponds/shared";
    s3.init(pond);
    s3.ok(pond, "CREATE TABLE \"/t\" (writer INT, i INT)");
    let writers: Vec<Child> = (0..2)
        .map(|w| {
            let script: String = (0..15)
                .map(|i| format!("INSERT INTO \"/t\" VALUES ({w}, {i});\n"))
                .collect();
            spawn_with_stdin(s3.pondsql().args(["--pond", pond]), &script)
        })
        .collect();
    for child in writers {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        s3.ok(
            pond,
            "SELECT writer, count(DISTINCT i) FROM \"/t\" GROUP BY writer ORDER BY writer"
        ),
        "writer,count(DISTINCT /t.i)\n0,15\n1,15\n"
    );
    assert_eq!(
        s3.ok(
            pond,
            "SELECT count(*), max(txn) FROM pond.system.transactions"
        ),
        "count(*),max(pond.system.transactions.txn)\n32,31\n",
        "init (txn 0), CREATE TABLE and 30 INSERTs, txns gap-free"
    );
}

/// The rows, transactions and history of a pond, to compare a restore with its source.
fn fingerprint(s3: &S3Server, pond: &str, as_of: &str) -> String {
    s3.ok(
        pond,
        &format!(
            "SELECT * FROM \"/s/a/temp\" ORDER BY ts, value; \
             SELECT * FROM \"/s/b/temp\" ORDER BY ts; \
             SELECT station, n FROM \"/s/daily\" ORDER BY station; \
             SELECT * FROM \"/s/hourly\" ORDER BY ts; \
             SELECT path, sql, mode, sources, last_refresh_txn, consumed, rows FROM pond.system.stored_queries; \
             SELECT txn, timestamp, sql, nodes, rows_added FROM pond.system.transactions ORDER BY txn; \
             SELECT version, txn, op, rows, checksum FROM history('/s/a/temp') ORDER BY version; \
             SET pond.as_of = {as_of}; SELECT count(*), sum(value) FROM \"/s/a/temp\""
        ),
    )
}

fn backup(s3: &S3Server, pond: &str, target: &str) -> (u64, u64) {
    let out = s3.run(&["backup", "--pond", pond, target]);
    assert!(out.status.success(), "{}", stderr(&out));
    // | target | txn | objects_sent | bytes_sent | objects_present | verified |
    let text = stdout(&out);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.contains(target))
        .unwrap_or_else(|| panic!("no result row in {text}"))
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(row[6], "true", "verified: {text}");
    (row[3].parse().unwrap(), row[5].parse().unwrap())
}

/// First backup sends everything, the second only what changed, the third
/// nothing; a restore (from s3 and from a local path) equals the source.
#[test]
fn backups_are_incremental_and_restores_equal_the_source() {
    let (s3, dir, pond) = local_pond();
    s3.ok(
        &pond,
        &format!(
            "CREATE DIRECTORY '/s/a'; CREATE DIRECTORY '/s/b'; {}; {}; \
             CREATE VIEW \"/s/daily\" AS SELECT station, count(*) AS n FROM \"/s/a/temp\" GROUP BY station; \
             CREATE MATERIALIZED VIEW \"/s/hourly\" AS SELECT * FROM downsample('/s/a/temp', INTERVAL '1 hour')",
            create_table("/s/a/temp", 20_000, 0),
            create_table("/s/b/temp", 100, 1_000)
        ),
    );
    let target = "s3://ponds/backups/station";
    let (first, _) = backup(&s3, &pond, target);
    let stored = s3.keys("backups/station/");
    // Everything sent, plus the manifest.
    assert_eq!(stored.len() as u64, first + 1, "{stored:?}");
    assert!(stored
        .iter()
        .any(|k| k.starts_with("backups/station/blobs/")));

    s3.ok(
        &pond,
        "INSERT INTO \"/s/a/temp\" SELECT ts + INTERVAL '100 days', value, station FROM \"/s/a/temp\"; \
         INSERT INTO \"/s/b/temp\" VALUES (TIMESTAMP '2031-01-01 00:00:00', 7, 'new'); \
         REFRESH ALL",
    );
    let (second, _) = backup(&s3, &pond, target);
    let after = s3.keys("backups/station/");
    assert_eq!(after.len() as u64, stored.len() as u64 + second);
    // New blobs, the new oplog files of the directories written, three commits.
    assert!(
        (4..=12).contains(&second) && second < first,
        "second backup sent {second} objects (first {first})"
    );
    assert_eq!(backup(&s3, &pond, target).0, 0, "nothing changed");
    let recorded = s3.ok(
        &pond,
        "SELECT target, txn, objects_sent, verified FROM pond.system.backups ORDER BY finished",
    );
    assert_eq!(
        recorded,
        format!("target,txn,objects_sent,verified\n{target},6,{first},true\n{target},9,{second},true\n{target},9,0,true\n")
    );
    let local_target = local(dir.path(), "usb-backup");
    backup(&s3, &pond, &local_target);

    let expected = fingerprint(&s3, &pond, "4");
    for (source, name) in [
        (target.to_string(), "restored"),
        (local_target, "restored-local"),
    ] {
        let dest = local(dir.path(), name);
        let out = s3.run(&["restore", &source, &dest]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("at txn 9"), "{}", stdout(&out));
        assert_eq!(
            fingerprint(&s3, &dest, "4"),
            expected,
            "restore from {source}"
        );
        assert_eq!(s3.ok(&dest, "CHECK ALL VERSIONS"), "path,version,problem\n");
    }
    // As of txn 4: the tables as they were, no view yet, history up to it.
    let early = local(dir.path(), "as-of-4");
    let out = s3.run(&["restore", target, &early, "--as-of", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        s3.ok(
            &early,
            "SELECT count(*), sum(value) FROM \"/s/a/temp\"; \
             SELECT txn, sql FROM pond.system.transactions ORDER BY txn DESC LIMIT 1; \
             SELECT count(*) FROM history('/s/a/temp'); \
             SELECT path FROM pond.system.entries ORDER BY path"
        ),
        "count(*),sum(/s/a/temp.value)\n20000,300015000.0\ntxn,sql\n4,\"CREATE TABLE \"\"/s/b/temp\"\" AS SELECT CAST(to_timestamp_seconds(1700000000 + i * 60) AS TIMESTAMP) AS ts, CAST(i AS DOUBLE) * 1.5 + 1000 AS value, 'station ' || CAST(i % 7 AS VARCHAR) AS station FROM generate_series(1, 100) AS g(i)\"\ncount(*)\n1\npath\n/\n/s\n/s/a\n/s/a/temp\n/s/b\n/s/b/temp\n"
    );
    s3.ok(&early, "CREATE TABLE \"/s/next\" AS SELECT 1 AS x");
    assert_eq!(
        s3.ok(
            &early,
            "SELECT max(txn) FROM pond.system.transactions; CHECK ALL VERSIONS"
        ),
        "max(pond.system.transactions.txn)\n5\npath,version,problem\n"
    );
    let out = s3.run(&[
        "restore",
        target,
        &local(dir.path(), "too-late"),
        "--as-of",
        "99",
    ]);
    assert!(
        stderr(&out).contains("holds txns 0 to 9"),
        "{}",
        stderr(&out)
    );

    // The restored pond takes new commits and backs up where it came from;
    // the old pond, whose history has diverged from the target's, may not.
    let restored = local(dir.path(), "restored");
    s3.ok(
        &restored,
        "INSERT INTO \"/s/b/temp\" VALUES (TIMESTAMP '2032-01-01 00:00:00', 8, 'after')",
    );
    s3.ok(
        &pond,
        "INSERT INTO \"/s/b/temp\" VALUES (TIMESTAMP '2033-01-01 00:00:00', 9, 'old')",
    );
    assert!(backup(&s3, &restored, target).0 > 0);
    let diverged = s3.sql(&pond, &format!("BACKUP TO '{target}'"));
    assert!(
        stderr(&diverged).contains("diverged"),
        "{}",
        stderr(&diverged)
    );
}

/// A backup killed with SIGKILL mid-transfer leaves a target that restores
/// to its last completed backup; the next run finishes the job.
#[test]
fn a_backup_killed_mid_transfer_resumes() {
    let (s3, dir, pond) = local_pond();
    s3.ok(
        &pond,
        &format!(
            "CREATE DIRECTORY '/s'; {}",
            create_table("/s/first", 5_000, 0)
        ),
    );
    let target = "s3://ponds/killed";
    let (first, _) = backup(&s3, &pond, target);
    assert!(first > 0);
    // Many blobs, so that the kill lands while they are sent.
    let tables: String = (0..16)
        .map(|i| format!("{};", create_table(&format!("/s/t{i}"), 30_000, i)))
        .collect();
    s3.ok(&pond, &tables);
    let blobs_before = s3.count_keys("killed/blobs/");
    let mut child = s3
        .pondsql()
        .args(["backup", "--pond", &pond, target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while s3.count_keys("killed/blobs/") < blobs_before + 4
        && started.elapsed() < Duration::from_secs(60)
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup finished before the kill could interrupt it"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // The target restores to its last completed backup: one table.
    let dest = local(dir.path(), "at-kill");
    let out = s3.run(&["restore", target, &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tables = s3.ok(
        &dest,
        "SELECT count(*) FROM pond.system.entries WHERE kind = 'table'; CHECK ALL VERSIONS",
    );
    assert!(tables == "count(*)\n1\npath,version,problem\n", "{tables}");

    let (sent, present) = backup(&s3, &pond, target);
    eprintln!("after the kill: the rerun sent {sent} objects, found {present} already there");
    assert!(sent > 0 && present >= 4, "the rerun resumes");
    let dest = local(dir.path(), "after-rerun");
    let out = s3.run(&["restore", target, &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        s3.ok(&dest, "SELECT count(*) FROM glob('/s/*')"),
        s3.ok(&pond, "SELECT count(*) FROM glob('/s/*')")
    );
}

/// A flipped byte in a backed-up blob: RESTORE names it and leaves nothing;
/// in a pond, CHECK lists it and a script exits 1.
#[test]
fn a_flipped_byte_is_caught_by_restore_and_by_check() {
    let (s3, dir, pond) = local_pond();
    s3.ok(
        &pond,
        &format!("CREATE DIRECTORY '/s'; {}", create_table("/s/t", 20_000, 0)),
    );
    let target = "s3://ponds/damaged";
    backup(&s3, &pond, target);
    let blob = s3.keys("damaged/blobs/").pop().unwrap();
    s3.tool(&["flip", "ponds", &blob, "1000"]);

    let dest = local(dir.path(), "restored");
    let out = s3.run(&["restore", target, &dest]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let sum = blob.rsplit('/').next().unwrap();
    let message = stderr(&out);
    assert!(
        message.contains(sum) && message.contains("is damaged"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !Path::new(&dest).exists()
            && left
                .iter()
                .all(|p| !p.to_string_lossy().contains("restoring")),
        "{left:?}"
    );

    // A target is a pond: CHECK run on it finds the damage too.
    let out = s3.sql(target, "CHECK");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "its content blobs/{sum} does not match its sha256"
        )),
        "{}",
        stdout(&out)
    );

    // A blob missing from a backup (here a local one) is named too.
    let usb = local(dir.path(), "usb");
    backup(&s3, &pond, &usb);
    std::fs::remove_file(Path::new(&usb).join("blobs").join(sum)).unwrap();
    let out = s3.run(&["restore", &usb, &dest]);
    let message = stderr(&out);
    assert!(
        !out.status.success() && message.contains(&format!("blobs/{sum} is missing from")),
        "{message}"
    );
    assert!(!Path::new(&dest).exists());

    // The same damage in a pond: CHECK reports it, the script fails.
    let local_blob = Path::new(&pond).join("blobs").join(sum);
    let mut bytes = std::fs::read(&local_blob).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::write(&local_blob, bytes).unwrap();
    let out = s3.sql(&pond, "CHECK; SELECT 'not reached'");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows = stdout(&out);
    assert!(
        rows.starts_with("path,version,problem\n/s/t,1,its content blobs/")
            && rows.contains("does not match its sha256")
            && !rows.contains("not reached"),
        "{rows}"
    );
    assert!(
        stderr(&out).contains("CHECK found 1 problem(s)"),
        "{}",
        stderr(&out)
    );
}

/// Bad input is one line naming the thing and the fix, and changes nothing.
#[test]
fn bad_targets_and_destinations_are_one_line_errors() {
    let (s3, dir, pond) = local_pond();
    s3.ok(&pond, "CREATE TABLE \"/t\" AS SELECT 1 AS x");
    let fails = |out: Output, wanted: &str| {
        let message = stderr(&out);
        assert!(!out.status.success(), "should fail: {wanted}");
        // One line; a script adds the statement it ran on a second.
        let first = message.lines().next().unwrap_or_default();
        assert!(first.contains(wanted), "{message}");
        let rest: Vec<&str> = message.lines().skip(1).collect();
        assert!(
            rest.is_empty() || (rest.len() == 1 && rest[0].starts_with("  in: ")),
            "{message}"
        );
    };
    fails(
        s3.sql(&pond, "BACKUP TO 's3://no-such-bucket/b'"),
        "check that the bucket exists",
    );
    fails(
        s3.pondsql()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["--pond", &pond, "-c", "BACKUP TO 's3://ponds/b'"])
            .output()
            .unwrap(),
        "cannot use s3://ponds/b",
    );
    fails(s3.sql(&pond, "BACKUP TO 'gs://ponds/b'"), "not gs://");
    fails(
        s3.sql(&pond, &format!("BACKUP TO '{pond}'")),
        "the pond itself",
    );
    // A target that holds a pond, another pond's backup, or other files.
    s3.init("s3://ponds/other");
    fails(
        s3.sql(&pond, "BACKUP TO 's3://ponds/other'"),
        "holds a pond",
    );
    let other = local(dir.path(), "other");
    s3.init(&other);
    backup(&s3, &other, "s3://ponds/others-backup");
    fails(
        s3.sql(&pond, "BACKUP TO 's3://ponds/others-backup'"),
        "another pond",
    );
    s3.tool(&["put", "ponds", "misc/readme.txt", "hello"]);
    fails(
        s3.sql(&pond, "BACKUP TO 's3://ponds/misc'"),
        "holds other files",
    );
    fails(
        s3.sql(&pond, "BEGIN; BACKUP TO 's3://ponds/b'"),
        "COMMIT first",
    );
    // None of that wrote a backup record or a byte to the refused targets.
    assert_eq!(
        s3.ok(&pond, "SELECT count(*) FROM pond.system.backups"),
        "count(*)\n0\n"
    );
    assert_eq!(s3.keys("misc/"), ["misc/readme.txt"]);

    backup(&s3, &pond, "s3://ponds/good");
    let busy = local(dir.path(), "busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(Path::new(&busy).join("keep.txt"), "mine").unwrap();
    fails(
        s3.run(&["restore", "s3://ponds/good", &busy]),
        "is not empty",
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&busy).join("keep.txt")).unwrap(),
        "mine"
    );
    fails(
        s3.run(&[
            "restore",
            "s3://ponds/nothing-here",
            &local(dir.path(), "x"),
        ]),
        "holds no pondsql backup",
    );
    fails(
        s3.run(&["--pond", "s3://ponds/nothing-here", "-c", "SELECT 1"]),
        "is not a pond",
    );
}

/// A server that accepts connections but never answers (stopped with
/// SIGSTOP, as a stalled NAS or proxy would be): a statement on a pond
/// there ends in one line within the documented bound (a 60 s attempt, no
/// retry started after 30 s), changes nothing, and the pond is whole when
/// the server wakes. (It waited 300 s per attempt before.)
#[test]
fn a_stalled_server_gives_a_one_line_error_not_a_hang() {
    let s3 = S3Server::start();
    let pond = "s3://ponds/stalled";
    s3.init(pond);
    s3.ok(pond, "CREATE TABLE \"/t\" (ts TIMESTAMP, v DOUBLE)");
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &s3.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    let out = crate::common::output_within(
        s3.pondsql().args([
            "--pond",
            pond,
            "-c",
            "INSERT INTO \"/t\" VALUES ('2024-01-01 00:00', 1.0)",
        ]),
        // Above the 90 s bound: only a hang reaches it.
        Duration::from_secs(150),
        "a statement on a stalled S3 server",
    );
    signal("-CONT");
    let message = stderr(&out);
    // Exit 3: the pond could not be reached (docs/cli.md).
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("cannot use s3://ponds/stalled"),
        "{message}"
    );
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(s3.ok(pond, "SELECT count(*) AS n FROM \"/t\""), "n\n0\n");
}
