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
