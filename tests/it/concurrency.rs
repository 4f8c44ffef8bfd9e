//! Two `pondsql` processes writing one pond at once: every acknowledged
//! commit survives, and a name created twice is one success and one clear error.

use std::process::{Child, Stdio};

use crate::common::{init_pond, pondsql, run_cli, stderr, stdout};

fn spawn_script(pond: &std::path::Path, script: &str) -> Child {
    let dir = pond.parent().unwrap();
    let path = dir.join(format!("script-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, script).unwrap();
    pondsql()
        .arg("--pond")
        .arg(pond)
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ends a writer's script: prints how many of its commits lost a race.
const RETRIES: &str =
    "SELECT 'retried=' || value AS r FROM pond.system.metrics WHERE name = 'commits_retried';\n";

fn retries(stdout: &str) -> u64 {
    let at = stdout
        .find("retried=")
        .expect("the script prints its retries")
        + "retried=".len();
    let digits: String = stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn two_writers_fifty_inserts_each_lose_nothing() {
    let (_dir, pond) = init_pond();
    let out = run_cli(
        &pond,
        &[
            "CREATE TABLE shared (writer VARCHAR, i BIGINT)",
            "CREATE DIRECTORY '/w'",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let script = |writer: &str| {
        (0..50)
            .map(|i| {
                format!(
                    "INSERT INTO shared VALUES ('{writer}', {i});\n\
                     CREATE TABLE IF NOT EXISTS \"/w/{writer}\" (i BIGINT);\n\
                     INSERT INTO \"/w/{writer}\" VALUES ({i});\n"
                )
            })
            .collect::<String>()
            + RETRIES
    };
    let a = spawn_script(&pond, &script("a"));
    let b = spawn_script(&pond, &script("b"));
    let mut retried = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed: {}", stderr(&out));
        retried += retries(&stdout(&out));
    }
    // The writers did race: the lost-race path ran, not only the happy one.
    assert!(
        retried > 0,
        "no commit lost a race: the test proved nothing"
    );
    let out = run_cli(
        &pond,
        &["SELECT writer, count(*) AS n, count(DISTINCT i) AS d, sum(i) AS s FROM shared GROUP BY writer ORDER BY writer"],
    );
    let rows = stdout(&out);
    assert!(
        rows.contains("| a      | 50 | 50 | 1225 |")
            && rows.contains("| b      | 50 | 50 | 1225 |"),
        "{rows}"
    );
    for writer in ["a", "b"] {
        let out = run_cli(
            &pond,
            &[&format!("SELECT count(*) AS n FROM \"/w/{writer}\"")],
        );
        assert!(
            stdout(&out).contains("| 50 |"),
            "{writer}: {}",
            stdout(&out)
        );
    }
    // Transactions are gap-free: init, 2 setup commits, 2 × (50 + 1 + 50) writes.
    let out = run_cli(
        &pond,
        &["SELECT count(*) AS n, max(txn) AS last FROM pond.system.transactions"],
    );
    assert!(stdout(&out).contains("| 205 | 204  |"), "{}", stdout(&out));
}

#[test]
fn a_name_created_twice_at_once_is_one_success_and_one_error() {
    let (_dir, pond) = init_pond();
    for round in 0..5 {
        let sql = format!("CREATE TABLE \"/race{round}\" AS SELECT {round} AS x");
        let children: Vec<Child> = (0..2).map(|_| spawn_script(&pond, &sql)).collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let ok = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "round {round}: {} successes", ok);
        let failed = outputs.iter().find(|o| !o.status.success()).unwrap();
        assert!(
            stderr(failed).contains(&format!("/race{round} already exists")),
            "{}",
            stderr(failed)
        );
    }
    let out = run_cli(
        &pond,
        &["SELECT count(*) AS n FROM pond.system.entries WHERE kind = 'table'"],
    );
    assert!(stdout(&out).contains("| 5 |"), "{}", stdout(&out));
}

/// Oplog compaction must land under contention: four writers appending to
/// one directory kept it from ever winning (hundreds of small files, commits
/// ever slower), and retrying it must never merge the same files twice.
#[test]
fn four_writers_into_one_directory_keep_its_oplog_files_merged() {
    let (_dir, pond) = init_pond();
    let out = run_cli(&pond, &["CREATE TABLE t (w BIGINT, i BIGINT)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let writers: Vec<Child> = (0..4)
        .map(|w| {
            let script: String = (0..40)
                .map(|i| format!("INSERT INTO t VALUES ({w}, {i});\n"))
                .collect();
            spawn_script(&pond, &(script + RETRIES))
        })
        .collect();
    let mut retried = 0;
    for child in writers {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed: {}", stderr(&out));
        retried += retries(&stdout(&out));
    }
    assert!(
        retried > 0,
        "no commit lost a race: the test proved nothing"
    );
    let out = run_cli(
        &pond,
        &["SELECT count(*) AS n, count(DISTINCT w * 1000 + i) AS d FROM t"],
    );
    assert!(stdout(&out).contains("| 160 | 160 |"), "{}", stdout(&out));
    let mut merges = 0;
    for entry in std::fs::read_dir(pond.join("oplog/_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            merges += std::fs::read_to_string(&path)
                .unwrap()
                .contains("pondOplogCompaction") as usize;
        }
    }
    // 162 commits into one partition: a merge per 16 small files.
    assert!(merges >= 8, "only {merges} oplog compactions landed");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let opened = runtime.block_on(pondsql::Pond::open(&pond)).unwrap();
    let live = runtime.block_on(opened.live_oplog_files()).unwrap().len();
    assert!(live < 2 * 16, "{live} live oplog files");
}

/// OPTIMIZE replaces version ranges, not "everything before": an INSERT
/// another session commits while OPTIMIZE is open stays live, and no row
/// is lost or doubled.
#[tokio::test]
async fn an_append_committed_while_optimize_runs_stays_live() {
    let a = crate::common::TestPond::new().await;
    a.ok("CREATE TABLE \"/t\" (v BIGINT)").await;
    for v in 1..=4 {
        a.ok(&format!("INSERT INTO \"/t\" VALUES ({v})")).await;
    }
    // Session A stages its OPTIMIZE in an open block; session B appends.
    a.ok("BEGIN").await;
    a.ok("OPTIMIZE \"/t\"").await;
    let b = pondsql::PondSession::open(a.pond_path()).await.unwrap();
    b.sql("INSERT INTO \"/t\" VALUES (100)").await.unwrap();
    a.ok("COMMIT").await;
    assert_eq!(
        a.value("SELECT count(*) || ' ' || sum(v) FROM \"/t\"")
            .await,
        "5 110"
    );
    let fresh = crate::common::TestPond {
        dir: tempfile::tempdir().unwrap(),
        session: pondsql::PondSession::open(a.pond_path()).await.unwrap(),
    };
    assert_eq!(
        fresh
            .value("SELECT count(*) || ' ' || sum(v) FROM \"/t\"")
            .await,
        "5 110"
    );
    assert_eq!(
        fresh
            .value("SELECT string_agg(op, ',' ORDER BY version) FROM history('/t')")
            .await,
        "create,append,append,append,append,append,compact"
    );
}
