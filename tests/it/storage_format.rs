//! The on-disk format (docs/storage.md): a valid Delta table that other
//! readers agree with, commit info with the txn and SQL, checkpoints, and
//! contents inline or as checksummed blobs.

use std::process::Command;
use std::time::{Duration, SystemTime};

use pondsql::{vacuum, IN_FLIGHT_GRACE};
use sha2::{Digest, Sha256};

use crate::common::{python, TestPond};

#[tokio::test(flavor = "multi_thread")]
async fn oplog_is_a_delta_table_that_deltalake_reads_alike() {
    let p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/sensors/station1'").await;
    p.ok("CREATE TABLE \"/sensors/station1/temp\" AS SELECT * FROM (VALUES (1, 2.5), (2, 3.5)) AS t(id, value)").await;
    p.ok("INSERT INTO \"/sensors/station1/temp\" VALUES (3, 4.5)")
        .await;
    p.ok(
        "CREATE VIEW \"/sensors/hot\" AS SELECT * FROM \"/sensors/station1/temp\" WHERE value > 3",
    )
    .await;
    let ours = p.value("SELECT count(*) FROM pond.system.oplog").await;
    let per_txn = p
        .ok("SELECT txn, count(*) AS n FROM pond.system.oplog GROUP BY txn ORDER BY txn")
        .await;

    let script = r#"
import sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
data = t.to_pyarrow_table()
print(data.num_rows)
counts = {}
for txn in data.column("txn").to_pylist():
    counts[txn] = counts.get(txn, 0) + 1
print(sorted(counts.items()))
print(sorted(t.metadata().partition_columns))
# Every filterable column has file statistics, so filtered reads keep their rows.
for column, value in [("op", "create"), ("kind", "table"), ("op", "append"), ("version", 2)]:
    print(t.to_pyarrow_table(filters=[(column, "=", value)]).num_rows)
print(t.to_pyarrow_table(filters=[("rows", ">", 1)]).num_rows)
# deltalake/pyarrow can abort in interpreter teardown ("terminate called without
# an active exception"); the answers are printed, so leave without teardown.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let oplog = p.pond_path().join("oplog");
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&oplog)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python deltalake failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), ours, "row counts differ");
    assert_eq!(
        lines.next().unwrap(),
        "[(0, 1), (1, 3), (2, 2), (3, 1), (4, 2)]",
        "rows per txn differ: ours\n{per_txn}"
    );
    assert_eq!(lines.next().unwrap(), "['part_id']");
    for filter in [
        "op = 'create'",
        "kind = 'table'",
        "op = 'append'",
        "version = 2",
        "rows > 1",
    ] {
        let expected = p
            .value(&format!(
                "SELECT count(*) FROM pond.system.oplog WHERE {filter}"
            ))
            .await;
        assert_ne!(
            expected, "0",
            "{filter} selects nothing: the check would be idle"
        );
        assert_eq!(
            lines.next().unwrap(),
            expected,
            "python deltalake, {filter}"
        );
    }
}

#[tokio::test]
async fn commit_info_carries_txn_and_sql() {
    let p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/a'").await;
    let log = std::fs::read_to_string(
        p.pond_path()
            .join("oplog/_delta_log/00000000000000000001.json"),
    )
    .unwrap();
    let info = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|v| v.get("commitInfo").cloned())
        .expect("a commitInfo action");
    assert_eq!(info["pondTxn"], 1);
    assert_eq!(info["sql"], "CREATE DIRECTORY '/a'");
    assert_eq!(
        p.value("SELECT sql FROM pond.system.transactions WHERE txn = 1")
            .await,
        "CREATE DIRECTORY '/a'"
    );
}

#[tokio::test]
async fn delta_log_is_checkpointed_so_open_reads_little() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE t (i BIGINT)").await;
    for i in 0..24 {
        p.ok(&format!("INSERT INTO t VALUES ({i})")).await;
    }
    let log = p.pond_path().join("oplog/_delta_log");
    assert!(log.join("_last_checkpoint").exists());
    assert!(log.join("00000000000000000020.checkpoint.parquet").exists());
    let reopened = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let out = reopened
        .sql("SELECT count(*) AS n, sum(i) AS s FROM t")
        .await
        .unwrap();
    let text = crate::common::render(&out.batches);
    assert!(text.contains("| 24 | 276 |"), "{text}");
}

#[tokio::test]
async fn small_contents_inline_large_ones_as_checksummed_blobs() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE small AS SELECT 1 AS a").await;
    p.ok("CREATE TABLE big AS SELECT value AS v, (value * 2654435761) % 4294967291 AS h FROM generate_series(1, 20000)").await;
    let rows = p.ok("SELECT kind, inline, blob IS NOT NULL AS is_blob FROM pond.system.oplog WHERE kind = 'table' ORDER BY size").await;
    assert!(
        rows.contains("| table | true   | false   |")
            && rows.contains("| table | false  | true    |"),
        "{rows}"
    );
    let blob = p
        .value("SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    let checksum = p
        .value("SELECT checksum FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    let bytes = std::fs::read(p.pond_path().join("blobs").join(&blob)).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), checksum);
    assert_eq!(blob, checksum);
    assert_eq!(
        p.value("SELECT count(*) FROM big WHERE v % 2 = 0").await,
        "10000"
    );
}

/// Contents are written in row groups of 64 Ki rows with statistics, so a
/// time filter on a large version skips the row groups it does not need
/// (with the writer's default of 1 Mi rows, 200,000 rows were one group).
#[tokio::test]
async fn large_contents_are_row_groups_of_64ki_rows_with_time_statistics() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use datafusion::parquet::file::statistics::Statistics;

    let p = TestPond::new().await;
    p.ok("CREATE TABLE big AS SELECT to_timestamp_micros(value * 1000000) AS ts, CAST(value AS DOUBLE) AS x FROM generate_series(0, 199999)").await;
    let blob = p
        .value("SELECT blob FROM pond.system.oplog WHERE blob IS NOT NULL")
        .await;
    let file = std::fs::File::open(p.pond_path().join("blobs").join(&blob)).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let metadata = reader.metadata();
    let rows: Vec<i64> = metadata.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(rows, [65536, 65536, 65536, 3392]);
    let mut ranges = Vec::new();
    for group in metadata.row_groups() {
        match group.column(0).statistics() {
            Some(Statistics::Int64(s)) => {
                ranges.push((*s.min_opt().unwrap(), *s.max_opt().unwrap()))
            }
            other => panic!("ts statistics: {other:?}"),
        }
    }
    assert_eq!(ranges[1], (65_536_000_000, 131_071_000_000));
    assert_eq!(
        p.value("SELECT count(*) FROM big WHERE ts >= to_timestamp_seconds(70000) AND ts < to_timestamp_seconds(70100)").await,
        "100"
    );
}

/// The parquet files under one oplog partition directory.
fn oplog_files(pond: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for part in std::fs::read_dir(pond.join("oplog")).unwrap() {
        let part = part.unwrap().path();
        if part.is_dir() && !part.ends_with("_delta_log") {
            for file in std::fs::read_dir(&part).unwrap() {
                out.push(file.unwrap().path());
            }
        }
    }
    out
}

/// Oplog files compress only their long columns: a reader sets up a zstd
/// context for each compressed column chunk, at every open.
#[tokio::test]
async fn oplog_files_compress_only_their_long_columns() {
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let p = TestPond::new().await;
    p.ok("CREATE TABLE t AS SELECT 1 AS a").await;
    let files = oplog_files(&p.pond_path());
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        for column in reader.metadata().row_group(0).columns() {
            let name = column.column_path().string();
            let zstd = matches!(column.compression(), Compression::ZSTD(_));
            let long = ["content", "attrs", "sql"].contains(&name.as_str());
            assert_eq!(zstd, long, "{name} in {path:?}: {:?}", column.compression());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directorys_small_oplog_files_are_merged_rows_unchanged() {
    let mut p = TestPond::new().await;
    p.ok("CREATE TABLE t (i BIGINT)").await;
    for i in 0..40 {
        p.ok(&format!("INSERT INTO t VALUES ({i})")).await;
    }
    let history = p
        .ok("SELECT txn, sql FROM pond.system.transactions ORDER BY txn")
        .await;
    // 42 commits wrote 42 files into the root directory's partition; merges
    // leave fewer than 16 live ones, and the replaced files are orphans.
    // (VACUUM keeps replaced files for the in-flight grace after their
    // removal: run it as if that time had passed.)
    let pond = p.session.storage().clone();
    let later = SystemTime::now() + IN_FLIGHT_GRACE * 2;
    let replaced = vacuum(&pond, Duration::ZERO, true, later).await.unwrap();
    let orphans = replaced.iter().filter(|o| o.kind == "oplog").count();
    let live = oplog_files(&p.pond_path()).len() - orphans;
    assert!(
        orphans >= 16 && live < 16,
        "{live} live, {orphans} replaced:\n{replaced:?}"
    );

    // After the replaced files are gone: same transactions, rows, history,
    // inline contents, time travel; txns still one per statement.
    vacuum(&pond, Duration::ZERO, false, later).await.unwrap();
    assert_eq!(oplog_files(&p.pond_path()).len(), live);
    p.session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    let reopened = &p;
    assert_eq!(
        reopened
            .ok("SELECT txn, sql FROM pond.system.transactions ORDER BY txn")
            .await,
        history
    );
    assert_eq!(
        reopened
            .value("SELECT count(*) || ' ' || sum(i) FROM t")
            .await,
        "40 780"
    );
    assert_eq!(
        reopened.value("SELECT count(*) FROM history('/t')").await,
        "41"
    );
    assert_eq!(
        reopened
            .value("SELECT max(txn) FROM pond.system.transactions")
            .await,
        "41"
    );
    reopened.ok("SET pond.as_of = 11").await;
    assert_eq!(
        reopened
            .value("SELECT count(*) || ' ' || sum(i) FROM t")
            .await,
        "10 45"
    );
    reopened.ok("RESET pond.as_of").await;
    reopened.ok("INSERT INTO t VALUES (1000)").await;
    assert_eq!(
        reopened
            .value("SELECT max(txn) FROM pond.system.transactions")
            .await,
        "42"
    );

    // Another Delta reader sees the same rows per txn.
    let script = r#"
import sys
from deltalake import DeltaTable
data = DeltaTable(sys.argv[1]).to_pyarrow_table()
print(data.num_rows, len(set(data.column("txn").to_pylist())))
sys.stdout.flush()
import os; os._exit(0)
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(p.pond_path().join("oplog"))
        .output()
        .unwrap();
    let rows = reopened
        .value("SELECT count(*) || ' ' || count(DISTINCT txn) FROM pond.system.oplog")
        .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        rows,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Delta log files of a pond: (JSON commits, checkpoints).
fn log_files(pond: &std::path::Path) -> (usize, usize) {
    let names: Vec<String> = std::fs::read_dir(pond.join("oplog/_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    (
        names.iter().filter(|n| n.ends_with(".json")).count(),
        names.iter().filter(|n| n.contains(".checkpoint.")).count(),
    )
}

/// pondsql expires them every 100 Delta versions (delta-rs would after
/// every commit, listing the whole log each time).
#[tokio::test(flavor = "multi_thread")]
async fn delta_log_files_past_the_log_retention_are_expired() {
    let mut p = TestPond::new().await;
    p.ok("CREATE TABLE t (i BIGINT)").await;
    for i in 0..40 {
        p.ok(&format!("INSERT INTO t VALUES ({i})")).await;
    }
    let (commits, checkpoints) = log_files(&p.pond_path());
    assert!(commits > 40 && checkpoints >= 4, "{commits} {checkpoints}");
    // As if those were written 31 days ago (Delta's log retention is 30).
    let mut aged = Vec::new();
    for entry in std::fs::read_dir(p.pond_path().join("oplog/_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        crate::vacuum::age(&path, Duration::from_secs(31 * 24 * 3600));
        aged.push(path);
    }
    // Past the next multiple of 100 Delta versions.
    for i in 40..100 {
        p.ok(&format!("INSERT INTO t VALUES ({i})")).await;
    }
    let left: Vec<_> = aged.iter().filter(|path| path.exists()).collect();
    let named = |what: &str| {
        left.iter()
            .filter(|p| p.to_string_lossy().contains(what))
            .count()
    };
    // Kept: the newest expired checkpoint and the commits after it.
    assert!(
        named(".json") <= 11 && named(".checkpoint.") <= 1,
        "{} of {} aged log files left: {left:?}",
        left.len(),
        aged.len()
    );
    // Pond time travel reads oplog rows, not Delta versions: all still there.
    p.session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    assert_eq!(p.value("SELECT count(*) FROM t").await, "100");
    assert_eq!(
        p.value("SELECT count(*) FROM pond.system.transactions")
            .await,
        "102"
    );
    p.ok("SET pond.as_of = 11").await;
    assert_eq!(
        p.value("SELECT count(*) || ' ' || sum(i) FROM t").await,
        "10 45"
    );
}

/// Bytes of the oplog's live data files (replaced ones wait for VACUUM).
async fn live_oplog_bytes(p: &TestPond) -> u64 {
    let files = p.session.storage().live_oplog_files().await.unwrap();
    files.iter().map(|(_, size)| size).sum()
}

/// A new entry in a big directory costs what it changes, not the listing:
/// a directory version stores its changes, and the whole listing only
/// every so often.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_entry_in_a_big_directory_stores_the_change_not_the_listing() {
    let mut p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/big'").await;
    let creates: String = (0..2000)
        .map(|i| format!("CREATE TABLE \"/big/t{i:04}\" (i BIGINT);\n"))
        .collect();
    p.ok(&format!("BEGIN;\n{creates}COMMIT;")).await;
    let before = live_oplog_bytes(&p).await;
    let txn = p
        .value("SELECT max(txn) FROM pond.system.transactions")
        .await;
    for i in 0..40 {
        p.ok(&format!("CREATE TABLE \"/big/new{i:02}\" (i BIGINT)"))
            .await;
    }
    // The listing of 2,000 entries is ~100 KB of JSON: 40 copies would be 4 MB.
    let stored = p
        .value(&format!(
            "SELECT sum(length(attrs)) FROM pond.system.oplog WHERE kind = 'directory' AND txn > {txn}"
        ))
        .await;
    assert!(
        stored.parse::<u64>().unwrap() < 10_000,
        "40 directory versions stored {stored} bytes of attrs"
    );
    let grown = live_oplog_bytes(&p).await - before;
    assert!(
        grown < 60_000,
        "40 creates grew the live oplog by {grown} bytes"
    );
    p.session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    assert_eq!(p.value("SELECT count(*) FROM ls('/big')").await, "2040");
}

/// The names in `/d`.
async fn listing_of_d(p: &TestPond) -> std::collections::BTreeSet<String> {
    let out = p.ok("SELECT name FROM ls('/d') ORDER BY name").await;
    out.lines()
        .skip(3)
        .filter(|l| l.starts_with("| "))
        .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
        .collect()
}

/// Listings read right across changes, removals, renames, whole listings
/// (a small directory stores one every 65 changes), time travel and a
/// fresh open.
#[tokio::test(flavor = "multi_thread")]
async fn directory_listings_read_the_same_through_changes_and_whole_listings() {
    let mut p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/d'").await;
    let mut expected: std::collections::BTreeSet<String> = Default::default();
    let mut at_txn = Vec::new();
    for i in 0..150 {
        let name = format!("t{:03}", i % 37);
        let sql = if expected.contains(&name) {
            if i % 3 == 0 {
                expected.remove(&name);
                format!("DROP TABLE \"/d/{name}\"")
            } else {
                let to = format!("r{i:03}");
                expected.remove(&name);
                expected.insert(to.clone());
                format!("ALTER TABLE \"/d/{name}\" RENAME TO \"/d/{to}\"")
            }
        } else {
            expected.insert(name.clone());
            format!("CREATE TABLE \"/d/{name}\" (i BIGINT)")
        };
        p.ok(&sql).await;
        if i % 25 == 24 {
            let txn = p
                .value("SELECT max(txn) FROM pond.system.transactions")
                .await;
            at_txn.push((txn, expected.clone()));
        }
    }
    assert_eq!(listing_of_d(&p).await, expected);
    p.session = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    assert_eq!(listing_of_d(&p).await, expected);
    for (txn, then) in &at_txn {
        p.ok(&format!("SET pond.as_of = {txn}")).await;
        assert_eq!(&listing_of_d(&p).await, then, "as of txn {txn}");
    }
    // Both kinds of directory version were written.
    p.ok("RESET pond.as_of").await;
    let kinds = p
        .ok("SELECT count(*) FILTER (WHERE attrs LIKE '%\"entries\":%') AS whole, count(*) FILTER (WHERE attrs LIKE '%entries_changed%') AS changes FROM pond.system.oplog WHERE kind = 'directory'")
        .await;
    let row = kinds.lines().nth(3).unwrap().to_string();
    let numbers: Vec<u64> = row
        .split('|')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] >= 3 && numbers[1] >= 100,
        "{kinds}"
    );
}

/// Other Parquet readers see a table's times as timestamps (microseconds,
/// naive or adjusted to UTC), not as bare integers.
#[tokio::test(flavor = "multi_thread")]
async fn stored_contents_carry_timestamp_types_other_readers_see() {
    let p = TestPond::new().await;
    let csv = p.dir.path().join("s.csv");
    std::fs::write(&csv, "ts,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2\n").unwrap();
    p.ok(&format!(
        "CREATE TABLE \"/t\" AS SELECT ts, to_timestamp_seconds(1704067200) AS utc, v FROM '{}'",
        csv.display()
    ))
    .await;
    let script = r#"
import io, sys
import pyarrow.parquet as pq
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table(filters=[("kind", "=", "table")])
content = [c for c in rows.column("content").to_pylist() if c is not None][0]
table = pq.read_table(io.BytesIO(content))
print(table.schema.field("ts").type, table.schema.field("utc").type)
print(table.column("ts")[1])
sys.stdout.flush()
import os; os._exit(0)
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(p.pond_path().join("oplog"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "timestamp[us] timestamp[us, tz=UTC]\n2024-01-01 00:00:01",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
