//! VACUUM beside writers: it never deletes what a commit references or may
//! still reference, never reaches outside the pond, and a transaction whose
//! staged blob it did take fails cleanly instead of committing a dangling
//! reference.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pondsql::Pond;
use pondsql::{vacuum, IN_FLIGHT_GRACE};

use crate::common::{init_pond, pondsql, run_cli, stderr, stdout, TestPond};

/// Sets a file's mtime `age` into the past.
pub fn age(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Every regular file below `dir` (not following symlinks).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_below(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out
}

fn blob_files(pond: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(pond.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().len() == 64)
        .collect()
}

#[test]
fn vacuum_retain_0_in_a_loop_beside_a_writer_loses_nothing() {
    let (dir, pond) = init_pond();
    let out = run_cli(&pond, &["CREATE TABLE t (i BIGINT)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // 60 commits into one directory: oplog compaction replaces files while
    // VACUUM runs, and every third INSERT is a blob.
    let script: String = (0..60)
        .map(|i| {
            let rows = if i % 3 == 0 { 20_000 } else { 1 };
            format!("INSERT INTO t SELECT {i} FROM generate_series(1, {rows});\n")
        })
        .collect();
    let script_path = dir.path().join("writer.sql");
    std::fs::write(&script_path, script).unwrap();
    let mut writer = pondsql()
        .arg("--pond")
        .arg(&pond)
        .arg("-q")
        .arg("-f")
        .arg(&script_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut vacuums = 0;
    while writer.try_wait().unwrap().is_none() && vacuums < 500 {
        let out = run_cli(&pond, &["VACUUM RETAIN 0 HOURS"]);
        assert!(out.status.success(), "VACUUM failed: {}", stderr(&out));
        vacuums += 1;
    }
    let out = writer.wait_with_output().unwrap();
    assert!(out.status.success(), "the writer failed: {}", stderr(&out));
    assert!(vacuums > 0);
    let out = run_cli(
        &pond,
        &["SELECT count(*) AS n, count(DISTINCT i) AS d FROM t"],
    );
    assert!(
        stdout(&out).contains("| 400040 | 60 |"),
        "after {vacuums} VACUUMs: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_oplog_files_are_kept_for_the_retention_after_their_removal() {
    let mut p = TestPond::new().await;
    p.ok("CREATE TABLE t (i BIGINT)").await;
    for i in 0..20 {
        p.ok(&format!("INSERT INTO t VALUES ({i})")).await;
    }
    // Old files, just replaced by oplog compaction.
    let oplog_files: Vec<PathBuf> = files_below(&p.pond_path().join("oplog"))
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("_delta_log"))
        .collect();
    for f in &oplog_files {
        age(f, Duration::from_secs(30 * 24 * 3600));
    }
    let listed = p.ok("VACUUM DRY RUN").await;
    assert!(!listed.contains("| oplog"), "{listed}");
    // Not even with RETAIN 0: within the in-flight grace of the removal.
    let listed = p.ok("VACUUM RETAIN 0 HOURS DRY RUN").await;
    assert!(!listed.contains("| oplog"), "{listed}");
    // A week after the removal they go; the live ones stay.
    let pond = p.session.storage().clone();
    let later = SystemTime::now() + Duration::from_secs(169 * 3600);
    let week = Duration::from_secs(168 * 3600);
    let gone = vacuum(&pond, week, false, later).await.unwrap();
    assert!(gone.len() >= 16, "{gone:?}");
    assert!(gone.iter().all(|o| o.kind == "oplog"), "{gone:?}");
    p.session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    assert_eq!(
        p.value("SELECT count(*) || ' ' || sum(i) FROM t").await,
        "20 190"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_fails_cleanly_when_vacuum_took_its_staged_blob() {
    let p = TestPond::new().await;
    let other_process = Arc::new(Pond::open(p.pond_path()).await.unwrap());
    p.ok("BEGIN").await;
    p.ok("CREATE TABLE big AS SELECT value AS v, random() AS r FROM generate_series(1, 20000)")
        .await;
    let blobs = blob_files(&p.pond_path());
    let [blob] = blobs.as_slice() else {
        panic!("one blob")
    };
    age(blob, IN_FLIGHT_GRACE * 2);
    let gone = vacuum(&other_process, Duration::ZERO, false, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(gone.len(), 1, "{gone:?}");
    let name = blob.file_name().unwrap().to_string_lossy().to_string();
    let message = p.err("COMMIT").await;
    assert!(
        message.contains(&format!("blobs/{name}")) && message.contains("nothing was committed"),
        "{message}"
    );
    assert_eq!(
        p.value("SELECT max(txn) FROM pond.system.transactions")
            .await,
        "0"
    );
    assert!(p.err("SELECT * FROM big").await.contains("big"));

    // A staged blob older than half the grace, still there: the commit
    // renews it, so no VACUUM can take it before the commit lands.
    p.ok("BEGIN").await;
    p.ok("CREATE TABLE big AS SELECT value AS v, random() AS r FROM generate_series(1, 30000)")
        .await;
    let blobs = blob_files(&p.pond_path());
    let [blob] = blobs.as_slice() else {
        panic!("one blob")
    };
    age(blob, IN_FLIGHT_GRACE * 3 / 4);
    let kept = vacuum(&other_process, Duration::ZERO, false, SystemTime::now())
        .await
        .unwrap();
    assert!(kept.is_empty(), "{kept:?}");
    p.ok("COMMIT").await;
    let renewed = SystemTime::now().duration_since(mtime(blob)).unwrap();
    assert!(
        renewed < IN_FLIGHT_GRACE / 4,
        "mtime not renewed: {renewed:?}"
    );
    assert_eq!(p.value("SELECT count(*) FROM big").await, "30000");
}

#[tokio::test(flavor = "multi_thread")]
async fn vacuum_deletes_only_what_the_pond_wrote_and_never_through_a_symlink() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE big AS SELECT value AS v, random() AS r FROM generate_series(1, 20000)")
        .await;
    let root = p.pond_path();
    let elsewhere = p.dir.path().join("elsewhere");
    let elsewhere2 = p.dir.path().join("elsewhere2");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&elsewhere2).unwrap();
    let blob_like = "cd".repeat(32);
    let temp_like = format!("{}.parquet", "ef".repeat(16));
    let oplog_like = format!("{:020}-{}.parquet", 99, "12".repeat(16));
    let outside = [
        elsewhere.join(&temp_like),
        elsewhere.join(&blob_like),
        elsewhere2.join(&oplog_like),
    ];
    for f in &outside {
        std::fs::write(f, b"not the pond's").unwrap();
    }
    let _ = std::fs::remove_dir_all(root.join("blobs/.tmp"));
    std::os::unix::fs::symlink(&elsewhere, root.join("blobs/.tmp")).unwrap();
    let evil = format!("oplog/part_id={}", "ab".repeat(16));
    std::os::unix::fs::symlink(&elsewhere2, root.join(&evil)).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.join(&blob_like),
        root.join("blobs").join("ee".repeat(32)),
    )
    .unwrap();
    let part = std::fs::read_dir(root.join("oplog"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("part_id=") && !n.contains("abab"))
        .unwrap();
    // Not the pond's names, inside the pond: kept.
    let foreign = [
        root.join("blobs/notes.txt"),
        root.join(format!("blobs/{blob_like}.bak")),
        root.join(format!("oplog/{part}/README")),
        root.join(format!("oplog/{part}/{:020}-dead.parquet", 99)),
    ];
    // What a crash or a lost race leaves: deleted.
    let orphans = [
        root.join(format!("blobs/{}", "ab".repeat(32))),
        root.join(format!(
            "oplog/{part}/{:020}-{}.parquet",
            98,
            "34".repeat(16)
        )),
        root.join(format!(
            "oplog/{part}/{:020}-{}.parquet#7",
            97,
            "56".repeat(16)
        )),
    ];
    for f in foreign.iter().chain(&orphans) {
        std::fs::write(f, b"orphan").unwrap();
    }
    for f in outside.iter().chain(&foreign).chain(&orphans) {
        age(f, Duration::from_secs(30 * 24 * 3600));
    }
    let pond = p.session.storage().clone();
    let later = SystemTime::now() + Duration::from_secs(400 * 3600);
    let gone = vacuum(&pond, Duration::ZERO, false, later).await.unwrap();
    let mut gone: Vec<String> = gone.into_iter().map(|o| o.path).collect();
    gone.sort();
    let mut expected: Vec<String> = orphans
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().to_string())
        .collect();
    expected.sort();
    assert_eq!(gone, expected);
    for f in outside.iter().chain(&foreign) {
        assert!(f.exists(), "{} was deleted", f.display());
    }
    for f in &orphans {
        assert!(!f.exists(), "{} was kept", f.display());
    }
    assert_eq!(p.value("SELECT count(*) FROM big").await, "20000");
}

/// What a VACUUM stopped between renaming a file aside and deleting it
/// leaves: the next one puts back a file still referenced, and deletes an
/// unreferenced old one.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_left_aside_by_an_interrupted_vacuum_is_put_back_or_deleted() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE big AS SELECT value AS v, random() AS r FROM generate_series(1, 20000)")
        .await;
    let blobs = blob_files(&p.pond_path());
    let [blob] = blobs.as_slice() else {
        panic!("one blob")
    };
    let aside_name = |path: &Path| {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        path.with_file_name(format!("{name}.vacuum-{}", "0f".repeat(16)))
    };
    let referenced_aside = aside_name(blob);
    std::fs::rename(blob, &referenced_aside).unwrap();
    let orphan = p.pond_path().join("blobs").join("ab".repeat(32));
    let orphan_aside = aside_name(&orphan);
    std::fs::write(&orphan_aside, b"orphan").unwrap();
    age(&orphan_aside, IN_FLIGHT_GRACE * 2);
    let pond = p.session.storage().clone();
    vacuum(&pond, Duration::ZERO, false, SystemTime::now())
        .await
        .unwrap();
    assert!(blob.exists() && !referenced_aside.exists(), "not put back");
    assert!(!orphan_aside.exists() && !orphan.exists(), "not deleted");
    let fresh = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let out = fresh.sql("SELECT count(*) FROM big").await.unwrap();
    assert_eq!(out.batches[0].num_rows(), 1);
}
