//! DESIGN §6: each bad input gets a one-line message naming the thing and the
//! fix, never panics, and leaves the pond exactly as it was.

use crate::common::TestPond;

/// The pond's visible state: every oplog row and the last txn.
async fn state(p: &TestPond) -> String {
    p.ok("SELECT txn, node_id, version FROM pond.system.oplog ORDER BY txn, node_id, version")
        .await
}

/// Runs `sql`, expects an error containing every fragment, and checks that nothing changed.
async fn rejects(p: &TestPond, sql: &str, fragments: &[&str]) {
    let before = state(p).await;
    let message = p.err(sql).await;
    assert!(
        !message.contains('\n'),
        "message is not one line: {message}"
    );
    for f in fragments {
        assert!(
            message.contains(f),
            "message for {sql:?} lacks {f:?}: {message}"
        );
    }
    assert_eq!(state(p).await, before, "{sql} changed the pond");
}

async fn sample() -> TestPond {
    let p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/sensors/station1'").await;
    p.ok("CREATE TABLE \"/sensors/station1/temp\" (ts TIMESTAMP, value DOUBLE, flag VARCHAR)")
        .await;
    p.ok("INSERT INTO \"/sensors/station1/temp\" VALUES ('2024-01-01 00:00:00', 1.5, 'ok')")
        .await;
    p
}

#[tokio::test]
async fn bad_paths() {
    let p = sample().await;
    rejects(
        &p,
        "CREATE DIRECTORY 'sensors/x'",
        &["'sensors/x'", "relative", "start with '/'"],
    )
    .await;
    rejects(&p, "CREATE DIRECTORY '/sensors/../x'", &["'..'"]).await;
    rejects(&p, "CREATE DIRECTORY '/sensors//x'", &["empty segment"]).await;
    rejects(
        &p,
        "CREATE DIRECTORY '/sensors/a\u{7}b'",
        &["control character"],
    )
    .await;
    rejects(
        &p,
        "CREATE TABLE \"/sensors/./t\" AS SELECT 1 AS a",
        &["'.'"],
    )
    .await;
    rejects(&p, "SELECT * FROM ls('sensors')", &["relative"]).await;
}

#[tokio::test]
async fn writing_into_missing_directory_or_onto_a_directory() {
    let p = sample().await;
    rejects(
        &p,
        "CREATE TABLE \"/nowhere/t\" AS SELECT 1 AS a",
        &[
            "directory /nowhere does not exist",
            "CREATE DIRECTORY '/nowhere'",
        ],
    )
    .await;
    rejects(
        &p,
        "CREATE TABLE \"/sensors/station1\" AS SELECT 1 AS a",
        &["/sensors/station1 is a directory"],
    )
    .await;
    rejects(
        &p,
        "INSERT INTO \"/sensors/station1\" SELECT 1",
        &["/sensors/station1 is a directory, not a table"],
    )
    .await;
    rejects(
        &p,
        "INSERT INTO \"/sensors/missing\" SELECT 1",
        &["/sensors/missing does not exist"],
    )
    .await;
    rejects(
        &p,
        "CREATE TABLE \"/sensors/station1/temp\" AS SELECT 1 AS a",
        &["already exists", "CREATE OR REPLACE TABLE"],
    )
    .await;
    rejects(
        &p,
        "SELECT * FROM \"/sensors\"",
        &["/sensors is a directory", "ls('/sensors')"],
    )
    .await;
}

#[tokio::test]
async fn reading_what_does_not_exist_names_it() {
    let p = sample().await;
    rejects(
        &p,
        "SELECT * FROM \"/sensors/station1/nothing\"",
        &[
            "/sensors/station1/nothing does not exist",
            "ls('/sensors/station1')",
        ],
    )
    .await;
    rejects(
        &p,
        "SELECT * FROM pond.\"/sensors/station1\".nothing",
        &["/sensors/station1/nothing does not exist"],
    )
    .await;
    rejects(&p, "SELECT * FROM nothing", &["/nothing does not exist"]).await;
    rejects(
        &p,
        "CREATE TABLE \"/t\" AS SELECT * FROM 'no/such/file.csv'",
        &["'no/such/file.csv' is neither a pond table nor a file"],
    )
    .await;
}

#[tokio::test]
async fn dropping_a_non_empty_directory_needs_cascade() {
    let p = sample().await;
    rejects(
        &p,
        "DROP DIRECTORY '/sensors'",
        &["/sensors is not empty", "CASCADE"],
    )
    .await;
    rejects(&p, "DROP DIRECTORY '/'", &["root"]).await;
    rejects(
        &p,
        "DROP TABLE \"/sensors/station1\"",
        &["is a directory, not a table"],
    )
    .await;
    p.ok("DROP DIRECTORY '/sensors' CASCADE").await;
    assert_eq!(
        p.value("SELECT count(*) FROM pond.system.entries").await,
        "1"
    );
}

#[tokio::test]
async fn insert_with_wrong_columns_names_the_column() {
    let p = sample().await;
    let t = "\"/sensors/station1/temp\"";
    rejects(
        &p,
        &format!("INSERT INTO {t} SELECT TIMESTAMP '2024-01-01 00:00:00', 2.0"),
        &["missing column(s) flag"],
    )
    .await;
    rejects(
        &p,
        &format!("INSERT INTO {t} SELECT TIMESTAMP '2024-01-01 00:00:00', 2.0, 'x', 7 AS extra"),
        &["extra column(s) extra"],
    )
    .await;
    rejects(
        &p,
        &format!("INSERT INTO {t} SELECT TIMESTAMP '2024-01-01 00:00:00', 'high', 'x'"),
        &["column 'value'", "Float64", "Utf8"],
    )
    .await;
}

#[tokio::test]
async fn malformed_csv_names_file_and_line() {
    let p = TestPond::new().await;
    let csv = format!("{}/tests/data/malformed.csv", env!("CARGO_MANIFEST_DIR"));
    rejects(
        &p,
        &format!("CREATE TABLE \"/t\" AS SELECT * FROM '{csv}'"),
        &["malformed.csv", "line"],
    )
    .await;
    assert_eq!(
        p.value("SELECT count(*) FROM pond.system.entries").await,
        "1"
    );
}

#[tokio::test]
async fn corrupted_blob_is_detected_by_checksum() {
    let p = TestPond::new().await;
    // Large enough to be stored as a blob, not inline.
    p.ok("CREATE TABLE \"/big\" AS SELECT value AS v, (value * 2654435761) % 4294967291 AS h FROM generate_series(1, 20000)").await;
    let blob = p
        .value("SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    let blob_path = p.pond_path().join("blobs").join(&blob);
    let mut bytes = std::fs::read(&blob_path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob_path, bytes).unwrap();
    // A new session reads the blob for the first time.
    let session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let err = session
        .sql("SELECT count(*) FROM \"/big\"")
        .await
        .unwrap_err();
    let message = pondsql::user_message(&err);
    assert!(
        message.contains(&format!("blobs/{blob}")) && message.contains("corrupt"),
        "{message}"
    );
}

/// A blob is checked block by block as scans read it: a query that reads a
/// few row groups checks (and reads) only their blocks, and the right
/// answer comes back although another block is damaged; a query that
/// reads the damaged block fails naming it.
#[tokio::test]
async fn a_damaged_block_of_a_blob_fails_the_queries_that_read_it_only() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/big\" AS SELECT to_timestamp_seconds(value) AS ts, (value * 2654435761) % 4294967291 AS h FROM generate_series(0, 1499999)").await;
    let first_rows = "SELECT sum(h) FROM \"/big\" WHERE ts < to_timestamp_seconds(1000)";
    let expected = p.value(first_rows).await;
    let blob = p
        .value("SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    let blob_path = p.pond_path().join("blobs").join(&blob);
    let mut bytes = std::fs::read(&blob_path).unwrap();
    let blocks = bytes.len().div_ceil(1 << 20);
    // The footer (and what the reader fetches ahead of it) stays in the last blocks.
    assert!(blocks >= 4, "{} bytes: too few blocks", bytes.len());
    // A byte of block 1, which holds neither the first row group nor the footer.
    bytes[(1 << 20) + 1000] ^= 0xff;
    std::fs::write(&blob_path, &bytes).unwrap();

    let (sum, counters) = crate::pruning::run_counted(&p, first_rows).await;
    assert_eq!(sum, expected);
    assert!(
        counters["content_bytes_read"] < (bytes.len() / 2) as u64,
        "{counters:?} of {} bytes",
        bytes.len()
    );

    let session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let err = session
        .sql("SELECT sum(h) FROM \"/big\"")
        .await
        .unwrap_err();
    let message = pondsql::user_message(&err);
    assert!(
        message.contains(&format!(
            "block 1 (bytes from 1048576) of blob blobs/{blob} is corrupt"
        )),
        "{message}"
    );
    // Typed through the Parquet reader's wrapping, not read from the text;
    // the CLI says the pond is damaged with exit code 3, though it opened.
    assert_eq!(pondsql::error_kind(&err), pondsql::ErrorKind::Corrupt);
    let out = crate::common::run_cli(&p.pond_path(), &["SELECT 1", "SELECT sum(h) FROM \"/big\""]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        crate::common::stderr(&out)
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[tokio::test]
async fn a_blob_deleted_by_hand_is_named_as_missing() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/big\" AS SELECT value AS v, (value * 2654435761) % 4294967291 AS h FROM generate_series(1, 20000)").await;
    let blob = p
        .value("SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    std::fs::remove_file(p.pond_path().join("blobs").join(&blob)).unwrap();
    let session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let err = session
        .sql("SELECT count(*) FROM \"/big\"")
        .await
        .unwrap_err();
    let message = pondsql::user_message(&err);
    assert!(
        message.contains(&format!("content blob blobs/{blob} is missing"))
            && message.contains("restore it from a backup"),
        "{message}"
    );
    // Met where DataFusion fetches the footer, which words failures as
    // text: still typed (the pond is damaged) and without library prefixes.
    assert_eq!(pondsql::error_kind(&err), pondsql::ErrorKind::Corrupt);
    assert!(message.starts_with("content blob"), "{message}");
}

#[tokio::test]
async fn opening_a_path_that_is_not_a_pond() {
    let dir = tempfile::tempdir().unwrap();
    let err = pondsql::PondSession::open(dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not a pond") && err.contains("pondsql init"),
        "{err}"
    );
    // Opening must not create anything there.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn copy_cannot_write_into_the_pond() {
    let p = sample().await;
    let root = p.pond_path();
    let commit = root.join("oplog/_delta_log/00000000000000000001.json");
    let before = std::fs::read(&commit).unwrap();
    for target in [
        commit.display().to_string(),
        format!("file://{}", root.join("blobs/x.csv").display()),
        format!("{}/../pond/oplog/x.parquet", root.join("blobs").display()),
    ] {
        rejects(
            &p,
            &format!("COPY (SELECT 1 AS a) TO '{target}' STORED AS CSV"),
            &[&target, "inside the pond", "outside it"],
        )
        .await;
    }
    assert_eq!(std::fs::read(&commit).unwrap(), before);
    assert!(!root.join("blobs/x.csv").exists());
    // Outside the pond, COPY writes as usual.
    let export = p.dir.path().join("export.csv");
    p.ok(&format!(
        "COPY (SELECT value FROM \"/sensors/station1/temp\") TO '{}' STORED AS CSV",
        export.display()
    ))
    .await;
    assert_eq!(std::fs::read_to_string(&export).unwrap(), "value\n1.5\n");
    let reopened = pondsql::PondSession::open(&root).await.unwrap();
    reopened
        .sql("SELECT * FROM \"/sensors/station1/temp\"")
        .await
        .unwrap();
}

/// Writes `text` as a host file beside the pond and returns its path.
fn host_file(p: &TestPond, name: &str, text: &[u8]) -> String {
    let path = p.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn malformed_host_files_are_refused_naming_file_and_line() {
    let p = sample().await;
    let unterminated = host_file(
        &p,
        "bad.csv",
        b"ts,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,\"2\n",
    );
    rejects(
        &p,
        &format!("CREATE TABLE \"/t\" AS SELECT * FROM '{unterminated}'"),
        &[&unterminated, "line 3", "never closed"],
    )
    .await;
    let swallowing = host_file(
        &p,
        "swallow.csv",
        b"ts,v\n2024-01-01 00:00:00,\"1\n2024-01-01 00:00:01,2\n2024-01-01 00:00:02,3\n",
    );
    rejects(
        &p,
        &format!("SELECT count(*) FROM '{swallowing}'"),
        &["line 2"],
    )
    .await;
    // An ingestion view reads the same way.
    rejects(
        &p,
        &format!("CREATE MATERIALIZED VIEW \"/raw\" AS SELECT * FROM '{unterminated}'"),
        &[&unterminated, "line 3"],
    )
    .await;
    // Each imported as a table: refused, naming what is wrong.
    let cases: [(&str, &[u8], &[&str]); 4] = [
        (
            "ragged.csv",
            b"ts,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2,3\n",
            &["ragged.csv", "line 3"],
        ),
        (
            "latin1.csv",
            b"ts,v\n2024-01-01 00:00:00,caf\xe9\n",
            &["latin1.csv", "line 2"],
        ),
        ("header.csv", b"ts,v\n", &["/t", "column 'ts' has no type"]),
        ("empty.csv", b"", &["no columns"]),
    ];
    for (name, text, fragments) in cases {
        let file = host_file(&p, name, text);
        rejects(
            &p,
            &format!("CREATE TABLE \"/t\" AS SELECT * FROM '{file}'"),
            fragments,
        )
        .await;
    }
    rejects(
        &p,
        "SELECT * FROM '/etc/passwd'",
        &["'/etc/passwd' is a file", ".csv"],
    )
    .await;
    // Quotes that do close are data.
    let quoted = host_file(
        &p,
        "quoted.csv",
        b"ts,note\n2024-01-01 00:00:00,\"a, \"\"b\"\"\nc\"\n",
    );
    assert_eq!(
        p.value(&format!("SELECT note FROM '{quoted}'")).await,
        "a, \"b\"\nc"
    );
}

/// A flipped byte in a Parquet page whose writer stored a CRC is caught.
#[tokio::test]
async fn a_host_parquet_file_with_a_flipped_byte_is_refused() {
    let p = sample().await;
    let path = p.dir.path().join("readings.parquet");
    let script = format!(
        "import pyarrow as pa, pyarrow.parquet as pq\n\
         t = pa.table({{'v': list(range(1000))}})\n\
         pq.write_table(t, '{}', write_page_checksum=True, compression='none')\n",
        path.display()
    );
    let out = std::process::Command::new(crate::common::python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bytes = std::fs::read(&path).unwrap();
    // Inside the first data page (after the 4-byte magic and the page header).
    bytes[200] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let path = path.display().to_string();
    rejects(
        &p,
        &format!("CREATE TABLE \"/t\" AS SELECT * FROM '{path}'"),
        &[&path, "CRC"],
    )
    .await;
    // A footer whose length points nowhere fails without a panic.
    let bogus = host_file(
        &p,
        "bogus.parquet",
        b"PAR1\x00\x00\x00\x00\xff\xff\xff\x7fPAR1",
    );
    rejects(&p, &format!("SELECT * FROM '{bogus}'"), &["bogus.parquet"]).await;
    rejects(
        &p,
        &format!("CREATE MATERIALIZED VIEW \"/raw\" AS SELECT * FROM '{bogus}'"),
        &["bogus.parquet"],
    )
    .await;
}

#[tokio::test]
async fn values_that_would_change_silently_are_refused() {
    let p = TestPond::new().await;
    let whole = host_file(&p, "whole.csv", b"ts,v\n2024-01-01 00:00:00,1\n");
    let fine = host_file(&p, "fine.csv", b"ts,v\n2024-01-01 00:00:00.250,2\n");
    let finer = host_file(&p, "finer.csv", b"ts,v\n2024-01-01 00:00:00.000000250,2\n");
    p.ok(&format!("CREATE TABLE \"/s\" AS SELECT * FROM '{whole}'"))
        .await;
    // Tables keep microseconds: a later file's milliseconds are kept
    // (they were cut to the second when the CSV's seconds set the column).
    p.ok(&format!("INSERT INTO \"/s\" SELECT * FROM '{fine}'"))
        .await;
    assert_eq!(
        p.value("SELECT max(ts) FROM \"/s\"").await,
        "2024-01-01T00:00:00.250"
    );
    rejects(
        &p,
        &format!("INSERT INTO \"/s\" SELECT * FROM '{finer}'"),
        &["/s", "'ts'", "00:00:00.000000250", "whole microseconds"],
    )
    .await;
    rejects(
        &p,
        "INSERT INTO \"/s\" VALUES ('2024-01-01 00:00:00.0000005', 2)",
        &["00:00:00.000000500"],
    )
    .await;
    p.ok("INSERT INTO \"/s\" VALUES ('2024-01-01 00:00:07', 2)")
        .await;
    // An ingestion view whose later file has a finer part stops too.
    let drop = p.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    std::fs::copy(&whole, drop.join("a.csv")).unwrap();
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/raw\" AS SELECT * FROM '{}/*.csv'",
        drop.display()
    ))
    .await;
    std::fs::copy(&fine, drop.join("b.csv")).unwrap();
    p.ok("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    std::fs::copy(&finer, drop.join("c.csv")).unwrap();
    rejects(
        &p,
        "REFRESH MATERIALIZED VIEW \"/raw\"",
        &["c.csv", "00:00:00.000000250"],
    )
    .await;
    // Numbers DOUBLE would round.
    rejects(
        &p,
        "SELECT 99999999999999999999999999999999999999 AS n",
        &["99999999999999999999999999999999999999", "DECIMAL(38, 0)"],
    )
    .await;
    rejects(
        &p,
        "INSERT INTO \"/s\" VALUES ('2024-01-02 00:00:00', 1e400)",
        &["1e400"],
    )
    .await;
    assert_eq!(
        p.value("SELECT CAST('99999999999999999999999999999999999999' AS DECIMAL(38, 0))")
            .await,
        "99999999999999999999999999999999999999"
    );
    assert_eq!(
        p.value("SELECT -9223372036854775808").await,
        "-9223372036854775808"
    );
    // NOT NULL names the table's column, not the query's.
    p.ok("CREATE TABLE \"/nn\" (a INT NOT NULL, b INT)").await;
    rejects(
        &p,
        "INSERT INTO \"/nn\" VALUES (1, 2), (NULL, 3)",
        &["/nn", "column 'a' is NOT NULL"],
    )
    .await;
    rejects(
        &p,
        "INSERT INTO \"/nn\" (b) VALUES (3)",
        &["column 'a' is NOT NULL"],
    )
    .await;
    // A VALUES list inside the query plans as it does alone.
    p.ok("INSERT INTO \"/nn\" SELECT x, 0 FROM (VALUES (1), (2)) t(x)")
        .await;
    p.ok("INSERT INTO \"/nn\" (b, a) VALUES (5, 4)").await;
    assert_eq!(
        p.value("SELECT string_agg(a || ':' || b, ',' ORDER BY a) FROM \"/nn\"")
            .await,
        "1:0,2:0,4:5"
    );
}

#[tokio::test]
async fn downsample_buckets_must_be_whole_units_of_the_time_column() {
    let p = TestPond::new().await;
    let seconds = host_file(
        &p,
        "s.csv",
        b"ts,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2\n",
    );
    p.ok(&format!("CREATE TABLE \"/s\" AS SELECT * FROM '{seconds}'"))
        .await;
    // Stored in microseconds (the timestamp rule): 1.5 µs is no bucket.
    rejects(
        &p,
        "SELECT * FROM downsample('/s', INTERVAL '1500 nanoseconds')",
        &["0.0000015 s", "whole number of microseconds"],
    )
    .await;
    rejects(
        &p,
        "CREATE MATERIALIZED VIEW \"/d\" AS SELECT * FROM downsample('/s', INTERVAL '1500 nanoseconds')",
        &["whole number of microseconds"],
    )
    .await;
    rejects(
        &p,
        "SELECT * FROM downsample('/s', INTERVAL '200000 days')",
        &["292 years"],
    )
    .await;
    p.ok("SELECT * FROM downsample('/s', INTERVAL '1.5 seconds')")
        .await;
}

#[tokio::test]
async fn names_that_are_nothing_say_so() {
    let p = sample().await;
    rejects(
        &p,
        "SELECT * FROM usgs_sites()",
        &[
            "usgs_sites() is not a table function",
            "hydrovu_readings()",
            "ls()",
        ],
    )
    .await;
    rejects(
        &p,
        "SELECT * FROM \"/nowhere/t\"",
        &["/nowhere/t does not exist in the pond"],
    )
    .await;
    rejects(
        &p,
        "SELECT * FROM 'missing.csv'",
        &["'missing.csv' is neither a pond table nor a file here"],
    )
    .await;
}

#[tokio::test]
async fn views_that_would_read_themselves_are_refused() {
    let p = TestPond::new().await;
    p.ok("CREATE VIEW \"/v1\" AS SELECT 1 AS a").await;
    p.ok("CREATE VIEW \"/v2\" AS SELECT * FROM \"/v1\"").await;
    rejects(
        &p,
        "CREATE OR REPLACE VIEW \"/v1\" AS SELECT * FROM \"/v1\"",
        &["/v1", "read itself"],
    )
    .await;
    rejects(
        &p,
        "CREATE OR REPLACE VIEW \"/v1\" AS SELECT * FROM \"/v2\"",
        &["/v1", "read itself"],
    )
    .await;
    // A cycle made by a rename is caught when read, instead of overflowing the stack.
    p.ok("CREATE VIEW \"/x\" AS SELECT 1 AS a").await;
    p.ok("CREATE VIEW \"/a\" AS SELECT * FROM \"/x\"").await;
    p.ok("CREATE VIEW \"/b\" AS SELECT * FROM \"/a\"").await;
    p.ok("DROP VIEW \"/x\"").await;
    p.ok("ALTER TABLE \"/b\" RENAME TO \"/x\"").await;
    rejects(
        &p,
        "SELECT * FROM \"/a\"",
        &["reads itself", "/a → /x → /a"],
    )
    .await;
}

/// DataFusion's recursion protection turns deep expressions into results
/// or errors, never a stack overflow that aborts the process (run in the
/// real binary: its main thread's stack is what a user has).
#[test]
fn deep_expressions_do_not_overflow_the_stack() {
    let (_dir, pond) = crate::common::init_pond();
    let sum = vec!["1"; 1000].join(" + ");
    let ors = (0..2000)
        .map(|i| format!("v = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let out = crate::common::pondsql()
        .arg("--pond")
        .arg(&pond)
        .args(["--rc", "/dev/null", "--format", "csv"])
        .args(["-c", &format!("SELECT {sum} AS s")])
        .args([
            "-c",
            &format!("SELECT count(*) AS n FROM (VALUES (1), (5000)) t(v) WHERE {ors}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert_eq!(crate::common::stdout(&out), "s\n1000\nn\n1\n");

    // Beyond the documented limit: one line, at once (a 20,000-term sum
    // once aborted the CLI). A long list cut by commas is no chain.
    let sum = vec!["1"; 20_000].join(" + ");
    let out = crate::common::pondsql()
        .arg("--pond")
        .arg(&pond)
        .args(["--rc", "/dev/null", "--format", "csv"])
        .args(["-c", &format!("SELECT {sum} AS s")])
        .output()
        .unwrap();
    let err = crate::common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 2, "the error and the statement: {err}");
    assert!(
        err.contains("chains more than 10000 tokens without a comma or parenthesis"),
        "{err}"
    );
    let list = (0..20_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let script = pond.with_extension("in.sql");
    std::fs::write(&script, format!("SELECT 19999 IN ({list}) AS found;")).unwrap();
    let out = crate::common::pondsql()
        .arg("--pond")
        .arg(&pond)
        .args(["--rc", "/dev/null", "--format", "csv", "-f"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert_eq!(crate::common::stdout(&out), "found\ntrue\n");
}

#[tokio::test]
async fn extreme_timestamps_neither_panic_nor_prune_wrongly() {
    let p = TestPond::new().await;
    // Tables store microseconds: the extremes of other units do not fit.
    rejects(
        &p,
        "CREATE TABLE \"/ns\" AS SELECT arrow_cast(-9223372036854775808, 'Timestamp(Nanosecond, None)') AS ts",
        &["CREATE TABLE /ns", "column 'ts'", "1677-09-21T00:12:43.145224192", "finer part"],
    )
    .await;
    rejects(
        &p,
        "CREATE TABLE \"/s\" AS SELECT arrow_cast(9223372036854775807, 'Timestamp(Second, None)') AS ts",
        &["CREATE TABLE /s", "column 'ts'", "cannot hold a value as Timestamp(µs)", "overflow"],
    )
    .await;
    p.ok("CREATE TABLE \"/s\" AS SELECT arrow_cast(v, 'Timestamp(Microsecond, None)') AS ts, 1 AS v FROM (VALUES (9223372036854775807), (-9223372036854775807), (0)) t(v)").await;
    assert_eq!(
        p.value("SELECT count(*) FROM \"/s\" WHERE ts > '2000-01-01'")
            .await,
        "1"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM \"/s\" WHERE ts < '1900-01-01'")
            .await,
        "1"
    );
    // A retention past what a clock holds keeps everything (no overflow).
    p.ok("VACUUM RETAIN 9223372036854775807 HOURS DRY RUN")
        .await;
}
