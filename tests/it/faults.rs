//! Faults below the pond: damaged bytes and what a power loss leaves. The
//! real binary reads the damaged pond in a fresh process each time: it must
//! give the right answer or an error naming the damaged file, never a
//! wrong answer, never a panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{init_pond, run_cli, seed_from_env, stderr, stdout, Lcg};

/// A pond with inline and blob contents, several directories, an event-time
/// column, views and enough commits for oplog compaction and checkpoints.
fn sample_pond() -> (tempfile::TempDir, PathBuf) {
    let (dir, pond) = init_pond();
    let mut statements = vec![
        "CREATE DIRECTORY '/sensors/a'".to_string(),
        "CREATE TABLE \"/sensors/a/temp\" (ts TIMESTAMP, value DOUBLE)".to_string(),
        "CREATE TABLE \"/big\" AS SELECT value AS v, (value * 2654435761) % 4294967291 AS h FROM generate_series(1, 20000)".to_string(),
        "CREATE VIEW \"/sensors/warm\" AS SELECT * FROM \"/sensors/a/temp\" WHERE value > 10050".to_string(),
    ];
    for day in 1..=20 {
        statements.push(format!(
            "INSERT INTO \"/sensors/a/temp\" SELECT to_timestamp({start} + value * 60), CAST(value + {day} * 1000 AS DOUBLE) FROM generate_series(0, 99)",
            start = 1_704_067_200 + (day - 1) * 86_400
        ));
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let out = run_cli(&pond, &refs);
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, pond)
}

/// What the checks read: contents, event-time pruning, the oplog's own
/// values (txns, SQL text), and a view.
const QUERIES: &[&str] = &[
    "SELECT count(*), sum(value), min(ts), max(ts) FROM \"/sensors/a/temp\" WHERE ts < TIMESTAMP '2024-01-15 00:00:00'",
    "SELECT count(*), sum(h) FROM \"/big\"",
    "SELECT txn, sql FROM pond.system.transactions ORDER BY txn",
    "SELECT path, kind, version, rows, min_time, max_time FROM pond.system.entries ORDER BY path",
    "SELECT count(*) FROM \"/sensors/warm\"",
];

fn query(pond: &Path) -> Output {
    run_cli(pond, QUERIES)
}

fn panicked(out: &Output) -> bool {
    out.status.code() == Some(101) || stderr(out).contains("panicked")
}

/// The live oplog data files of a pond (those its Delta snapshot names).
fn live_oplog_files(pond: &Path) -> Vec<PathBuf> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let opened = runtime.block_on(pondsql::Pond::open(pond)).unwrap();
    let mut files: Vec<PathBuf> = runtime
        .block_on(opened.live_oplog_files())
        .unwrap()
        .into_iter()
        .map(|(path, _)| pond.join("oplog").join(path))
        .collect();
    files.sort();
    files
}

#[test]
fn bit_flips_in_oplog_files_are_errors_naming_the_file_never_wrong_answers() {
    let seed = seed_from_env("PONDSQL_FLIP_SEED");
    let mut rng = Lcg(seed);
    let (_dir, pond) = sample_pond();
    let expected = query(&pond);
    assert!(expected.status.success(), "{}", stderr(&expected));
    let files = live_oplog_files(&pond);
    assert!(files.len() >= 3, "{files:?}");
    let (mut errors, mut flips) = (0, 0);
    for file in &files {
        let original = std::fs::read(file).unwrap();
        for _ in 0..10 {
            let at = rng.next(original.len() as u64) as usize;
            let bit = rng.next(8);
            let mut damaged = original.clone();
            damaged[at] ^= 1 << bit;
            std::fs::write(file, &damaged).unwrap();
            let out = query(&pond);
            std::fs::write(file, &original).unwrap();
            flips += 1;
            let what = format!("seed {seed}: bit {bit} of byte {at} in {}", file.display());
            assert!(!panicked(&out), "{what}: panic\n{}", stderr(&out));
            if out.status.success() {
                assert_eq!(stdout(&out), stdout(&expected), "{what}: wrong answer");
            } else {
                let name = file.file_name().unwrap().to_string_lossy();
                assert!(
                    stderr(&out).contains(name.as_ref()),
                    "{what}: the error does not name the file\n{}",
                    stderr(&out)
                );
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "{flips} flips and no error: nothing was read?");
    // A file of another size than the Delta log recorded (a byte appended
    // or cut) is caught by its size before anything else is read.
    for file in &files {
        let original = std::fs::read(file).unwrap();
        for damaged in [
            [original.as_slice(), b"x"].concat(),
            original[..original.len() - 1].to_vec(),
        ] {
            std::fs::write(file, &damaged).unwrap();
            let out = query(&pond);
            std::fs::write(file, &original).unwrap();
            let message = stderr(&out);
            assert!(
                !out.status.success()
                    && message.contains(&format!(
                        "has {} bytes, the Delta log says {}",
                        damaged.len(),
                        original.len()
                    )),
                "{}: {message}",
                file.display()
            );
        }
    }
    let out = query(&pond);
    assert_eq!(stdout(&out), stdout(&expected));
}

fn repair(pond: &Path) -> Output {
    crate::common::pondsql()
        .arg("repair")
        .arg(pond)
        .output()
        .unwrap()
}

fn newest_commit(pond: &Path) -> PathBuf {
    let mut commits: Vec<PathBuf> = std::fs::read_dir(pond.join("oplog/_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    commits.sort();
    commits.pop().unwrap()
}

/// A pond with a table and two INSERTs: three commits after init.
fn three_commits() -> (tempfile::TempDir, PathBuf) {
    let (dir, pond) = init_pond();
    let out = run_cli(
        &pond,
        &[
            "CREATE TABLE t (i BIGINT)",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (2)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, pond)
}

/// What a power loss can leave of the newest commit file: nothing, a
/// partial line, or whole lines but not all of them.
#[test]
fn a_newest_commit_cut_short_is_refused_by_name_and_repair_sets_it_aside() {
    let (_dir, pond) = three_commits();
    let commit = newest_commit(&pond);
    let name = commit.file_name().unwrap().to_string_lossy().to_string();
    let whole = std::fs::read_to_string(&commit).unwrap();
    let first_line = whole.lines().next().unwrap().len();
    let cut_shorts = [
        (String::new(), "is empty"),
        (
            whole[..first_line / 2].to_string(),
            "line 1 is not a whole action",
        ),
        (format!("{}\n", &whole[..first_line]), "0 of its 1 actions"),
    ];
    for (left, why) in cut_shorts {
        std::fs::write(&commit, &left).unwrap();
        for statement in ["SELECT * FROM t", "INSERT INTO t VALUES (3)"] {
            let out = run_cli(&pond, &[statement]);
            assert_eq!(out.status.code(), Some(3), "{statement}: {}", stdout(&out));
            let message = stderr(&out);
            assert!(
                message.contains(&format!("oplog/_delta_log/{name}"))
                    && message.contains(why)
                    && message.contains("never acknowledged")
                    && message.contains("pondsql repair")
                    && !message.contains("panicked")
                    && message.lines().count() == 1,
                "{message}"
            );
        }
    }
    // Nothing was written beside the damaged commit (no txn reused).
    assert_eq!(newest_commit(&pond), commit);

    let out = repair(&pond);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&name), "{}", stdout(&out));
    assert!(pond.join("damaged").join(&name).exists());
    let out = run_cli(
        &pond,
        &[
            "SELECT 'before ' || sum(i) || ' at txn ' || (SELECT max(txn) FROM pond.system.transactions) AS s FROM t",
            "INSERT INTO t VALUES (3)",
            "SELECT 'after ' || sum(i) || ' at txn ' || (SELECT max(txn) FROM pond.system.transactions) AS s FROM t",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    // The pond ends at the commit before the damaged one (txn 2, i = 1),
    // and the next commit takes the damaged one's txn number: it was never
    // acknowledged, so no acknowledged txn is reused.
    assert!(
        printed.contains("before 1 at txn 2") && printed.contains("after 4 at txn 3"),
        "{printed}"
    );
    let out = repair(&pond);
    assert!(
        stdout(&out).contains("nothing to repair"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_checkpoint_missing_or_cut_short_falls_back_to_the_log() {
    let (_dir, pond) = init_pond();
    let mut statements = vec!["CREATE TABLE t (i BIGINT)".to_string()];
    statements.extend((1..=24).map(|i| format!("INSERT INTO t VALUES ({i})")));
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let out = run_cli(&pond, &refs);
    assert!(out.status.success(), "{}", stderr(&out));
    let check = ["SELECT count(*) AS n, sum(i) AS s FROM t"];
    let expected = stdout(&run_cli(&pond, &check));
    assert!(expected.contains("| 24 | 300 |"), "{expected}");
    let log = pond.join("oplog/_delta_log");
    let hint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    let checkpoint = log.join(format!(
        "{:020}.checkpoint.parquet",
        hint["version"].as_i64().unwrap()
    ));
    let bytes = std::fs::read(&checkpoint).unwrap();

    std::fs::write(&checkpoint, &bytes[..bytes.len() / 2]).unwrap();
    let out = run_cli(&pond, &check);
    assert!(out.status.success(), "cut short: {}", stderr(&out));
    assert_eq!(stdout(&out), expected);

    std::fs::remove_file(&checkpoint).unwrap();
    let out = run_cli(&pond, &check);
    assert!(out.status.success(), "missing: {}", stderr(&out));
    assert_eq!(stdout(&out), expected);
    // Writing goes on, and a later checkpoint makes the hint good again.
    let more: Vec<String> = (25..=40)
        .map(|i| format!("INSERT INTO t VALUES ({i})"))
        .collect();
    let refs: Vec<&str> = more.iter().map(String::as_str).collect();
    let out = run_cli(&pond, &refs);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(&pond, &check);
    assert!(stdout(&out).contains("| 40 | 820 |"), "{}", stdout(&out));
}

/// Damage to a commit that is not the newest (no crash does that) is named,
/// with the fix, on one line: not delta-rs's parser error and backtrace.
#[test]
fn a_damaged_older_commit_is_named_on_one_line() {
    let (_dir, pond) = three_commits();
    let older = pond.join("oplog/_delta_log/00000000000000000001.json");
    std::fs::write(&older, "Whoops\n").unwrap();
    let out = query(&pond);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let message = stderr(&out);
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(
        message.contains("00000000000000000001.json")
            && message.contains("restore the pond from a backup"),
        "{message}"
    );
    assert!(!panicked(&out));
}
