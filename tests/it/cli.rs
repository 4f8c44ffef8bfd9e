//! The real `pondsql` binary: the walkthrough of issue 1/5, exit codes, and
//! script failures.

use crate::common::{init_pond, pondsql, run_cli, stderr, stdout};

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn walkthrough_from_init_to_entries() {
    let dir = tempfile::tempdir().unwrap();
    let pond = dir.path().join("pond");
    let init = pondsql().arg("init").arg(&pond).output().unwrap();
    assert!(init.status.success(), "{}", stderr(&init));

    let run = |sql: &str| {
        let out = run_cli(&pond, &[sql]);
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
        stdout(&out)
    };
    run("CREATE DIRECTORY '/sensors/station1'");
    run(&format!(
        "CREATE TABLE \"/sensors/station1/temp\" AS SELECT * FROM '{}'",
        data("station1.csv")
    ));
    run(&format!(
        "INSERT INTO \"/sensors/station1/temp\" SELECT * FROM '{}'",
        data("station1-day2.csv")
    ));
    let counted = run("SELECT count(*), max(ts) FROM \"/sensors/station1/temp\"");
    assert!(
        counted.contains("| 48") && counted.contains("2024-05-02T23:00:00"),
        "{counted}"
    );
    let entries = run("SELECT path, kind, version, rows FROM pond.system.entries ORDER BY path");
    let expected = "\
+------------------------+-----------+---------+------+
| path                   | kind      | version | rows |
+------------------------+-----------+---------+------+
| /                      | directory | 2       |      |
| /sensors               | directory | 1       |      |
| /sensors/station1      | directory | 2       |      |
| /sensors/station1/temp | table     | 2       | 48   |
+------------------------+-----------+---------+------+";
    assert_eq!(entries.trim(), expected);
}

#[test]
fn pond_from_environment_and_exit_codes() {
    let (dir, pond) = init_pond();
    // $POND instead of --pond.
    let out = pondsql()
        .env("POND", &pond)
        .args(["-c", "SELECT 40 + 2 AS answer"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && stdout(&out).contains("42"),
        "{}",
        stderr(&out)
    );

    // Not a pond: exit 3, a message that says how to make one.
    let out = pondsql()
        .args(["--pond"])
        .arg(dir.path())
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("is not a pond") && stderr(&out).contains("pondsql init"),
        "{}",
        stderr(&out)
    );

    // No pond at all: a usage error.
    let out = pondsql()
        .env_remove("POND")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // init twice refuses and keeps the pond.
    let out = pondsql().arg("init").arg(&pond).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("already holds a pond"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failing_statement_stops_the_run_and_keeps_earlier_commits() {
    let (_dir, pond) = init_pond();
    let out = run_cli(
        &pond,
        &[
            "CREATE DIRECTORY '/a'",
            "CREATE TABLE \"/a/t\" AS SELECT 1 AS x;\nINSERT INTO \"/a/t\" SELECT 'not a number';\nCREATE DIRECTORY '/never'",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("-c:2:") && err.contains("column 'x'"), "{err}");
    let out = run_cli(
        &pond,
        &["SELECT path FROM pond.system.entries ORDER BY path"],
    );
    let listing = stdout(&out);
    assert!(
        listing.contains("/a/t") && !listing.contains("/never"),
        "{listing}"
    );
}
