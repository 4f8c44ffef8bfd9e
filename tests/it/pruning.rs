//! Pruning, compaction and vacuum, proved by counting what was read
//! (`pond.system.metrics`) rather than by timing.

use std::collections::HashMap;
use std::sync::Arc;

use pondsql::SessionOptions;
use pondsql::IN_FLIGHT_GRACE;
use pondsql::{Pond, PondSession};

use crate::common::TestPond;

/// Opens the pond afresh (counters start at zero), runs `sql` and returns
/// its first value with the counters afterwards.
pub(crate) async fn run_counted(pond: &TestPond, sql: &str) -> (String, HashMap<String, u64>) {
    let fresh = Arc::new(Pond::open(pond.pond_path()).await.unwrap());
    let session = PondSession::new(fresh, SessionOptions::default());
    let output = session
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let value =
        datafusion::arrow::util::display::array_value_to_string(output.batches[0].column(0), 0)
            .unwrap();
    let metrics = session
        .sql("SELECT name, value FROM pond.system.metrics")
        .await
        .unwrap();
    let mut counters = HashMap::new();
    for batch in &metrics.batches {
        for row in 0..batch.num_rows() {
            let cell = |c: usize| {
                datafusion::arrow::util::display::array_value_to_string(batch.column(c), row)
                    .unwrap()
            };
            counters.insert(cell(0), cell(1).parse().unwrap());
        }
    }
    (value, counters)
}

/// 8 stations × 3 parameters, one small table each.
async fn stations() -> TestPond {
    let pond = TestPond::new().await;
    let mut sql = String::from("BEGIN;");
    for s in 0..8 {
        sql += &format!("CREATE DIRECTORY '/s/st{s}';");
        for p in ["temp", "ph", "do"] {
            sql += &format!(
                "CREATE TABLE \"/s/st{s}/{p}\" AS SELECT to_timestamp_seconds(1714521600 + 60 * v) AS ts, CAST(v + {s} AS DOUBLE) AS value FROM generate_series(1, 10) t(v);"
            );
        }
    }
    sql += "COMMIT;";
    pond.ok(&sql).await;
    pond
}

#[tokio::test]
async fn capture_filters_skip_tables_before_opening_them() {
    let pond = stations().await;
    let (sum, c) = run_counted(
        &pond,
        "SELECT sum(value) FROM glob('/s/{station}/*') WHERE station = 'st3' AND _1 <> 'do'",
    )
    .await;
    assert_eq!(sum, "170.0"); // 2 tables × (1+…+10 + 10×3)
    assert_eq!(c["tables_matched"], 24);
    assert_eq!(c["tables_skipped_by_capture"], 22);
    assert_eq!(c["contents_opened"], 2);

    // A filter on _path prunes the same way; one that mixes a capture with a
    // data column cannot, and reads everything.
    let (n, c) = run_counted(
        &pond,
        "SELECT count(*) FROM glob('/s/*/*') WHERE _path IN ('/s/st0/ph', '/s/st7/ph')",
    )
    .await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("20", 2));
    let (n, c) = run_counted(
        &pond,
        "SELECT count(*) FROM glob('/s/{station}/ph') WHERE station = 'st1' OR value > 16",
    )
    .await;
    assert_eq!(n, "11"); // st1: 10 rows; st7 (values 8..17): one above 16
    assert_eq!(c["tables_skipped_by_capture"], 0);
    assert_eq!(c["contents_opened"], 8);
}

/// A table of 30 versions, one per day, with a nanosecond time column.
async fn daily_versions() -> TestPond {
    let pond = TestPond::new().await;
    let mut sql = String::from("CREATE TABLE \"/t\" (ts TIMESTAMP, v DOUBLE); BEGIN;");
    for day in 0..30 {
        sql += &format!(
            "INSERT INTO \"/t\" SELECT CAST(to_timestamp_seconds(1714521600 + 86400 * {day} + 3600 * h) AS TIMESTAMP), CAST(h AS DOUBLE) FROM generate_series(0, 23) t(h);"
        );
    }
    sql += "COMMIT;";
    pond.ok(&sql).await;
    pond
}

#[tokio::test]
async fn time_filters_skip_versions_by_their_range() {
    let pond = daily_versions().await;
    // The last 3 days: 2024-05-28 onwards.
    let query = "SELECT count(*) FROM \"/t\" WHERE ts >= '2024-05-28T00:00:00'";
    let (n, c) = run_counted(&pond, query).await;
    assert_eq!(n, "72");
    assert_eq!(c["versions_listed"], 30);
    assert_eq!(c["versions_skipped_by_time"], 27);
    assert_eq!(c["contents_opened"], 3);

    // Bounds are exact: a version whose last row is the bound stays in.
    let (n, c) = run_counted(
        &pond,
        "SELECT count(*) FROM \"/t\" WHERE ts <= '2024-05-01T23:00:00'",
    )
    .await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("24", 1));
    let (n, c) = run_counted(
        &pond,
        "SELECT count(*) FROM \"/t\" WHERE ts > '2024-05-30T23:00:00'",
    )
    .await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("0", 0));

    // Ranges are facts about their column: after the table stops having a
    // time column, old versions are still skipped, new ones never.
    pond.ok("ALTER TABLE \"/t\" SET TBLPROPERTIES ('time_column' = NULL)")
        .await;
    pond.ok("INSERT INTO \"/t\" VALUES ('2024-04-01T00:00:00', 1.0)")
        .await;
    let (n, c) = run_counted(&pond, query).await;
    assert_eq!(n, "72");
    assert_eq!(c["versions_listed"], 31);
    assert_eq!(c["versions_skipped_by_time"], 27);
    assert_eq!(c["contents_opened"], 4);
}

/// A time filter on a view, on `downsample()` or on a view of it reads only
/// the source versions the answer needs; buckets stay whole (a window that
/// starts inside a bucket leaves that bucket out, as without pruning).
#[tokio::test]
async fn time_filters_reach_the_versions_under_views_and_downsample() {
    let pond = daily_versions().await;
    pond.ok("CREATE VIEW \"/doubled\" AS SELECT ts, v * 2 AS w FROM \"/t\"")
        .await;
    let (n, c) = run_counted(
        &pond,
        "SELECT sum(w) FROM \"/doubled\" WHERE ts >= '2024-05-28T00:00:00'",
    )
    .await;
    assert_eq!(n, "1656.0"); // 3 days × 2 × (0 + … + 23)
    assert_eq!(c["versions_skipped_by_time"], 27);
    assert_eq!(c["contents_opened"], 3);

    // 6-hour buckets starting in [05-28 03:00, 05-29 13:00): 05-28 06, 12,
    // 18 and 05-29 00, 06, 12; six hourly rows each. Only 05-28 and 05-29
    // are read (the last bucket ends at 05-29 18:00).
    pond.ok("CREATE VIEW \"/t_6h\" AS SELECT * FROM downsample('/t', INTERVAL '6 hours')")
        .await;
    let window = "ts >= '2024-05-28T03:00:00' AND ts < '2024-05-29T13:00:00'";
    for from in ["downsample('/t', INTERVAL '6 hours')", "\"/t_6h\""] {
        let (n, c) = run_counted(
            &pond,
            &format!("SELECT concat(count(*), ' ', sum(\"v.count\"), ' ', sum(\"v.sum\"), ' ', min(ts)) FROM {from} WHERE {window}"),
        )
        .await;
        assert_eq!(n, "6 36 414.0 2024-05-28T06:00:00", "{from}");
        assert_eq!(c["versions_skipped_by_time"], 28, "{from}");
        assert_eq!(c["contents_opened"], 2, "{from}");
    }
    // Equality and `<=` on a bucket start keep that whole bucket.
    let (n, c) = run_counted(
        &pond,
        "SELECT concat(count(*), ' ', sum(\"v.count\")) FROM \"/t_6h\" WHERE ts = '2024-05-29T18:00:00'",
    )
    .await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("1 6", 1));
    let (n, c) = run_counted(
        &pond,
        "SELECT concat(count(*), ' ', sum(\"v.count\")) FROM \"/t_6h\" WHERE ts > '2024-05-29T11:00:00' AND ts <= '2024-05-29T12:00:00'",
    )
    .await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("1 6", 1));
    // With no bound on time every version is read, and the answer is the same.
    let all = "SELECT concat(count(*), ' ', sum(\"v.count\")) FROM \"/t_6h\"";
    let (n, c) = run_counted(&pond, all).await;
    assert_eq!((n.as_str(), c["contents_opened"]), ("120 720", 30));
}

/// An incremental refresh reads the view's own versions only where the new
/// rows' buckets are: its cost follows the new data, not the view's age.
#[tokio::test]
async fn refresh_reads_only_the_view_versions_the_new_rows_touch() {
    let pond = daily_versions().await;
    pond.ok(
        "CREATE MATERIALIZED VIEW \"/t_6h\" AS SELECT * FROM downsample('/t', INTERVAL '6 hours')",
    )
    .await;
    // Day 31 fills new buckets: the view's one version (days 1–30) is
    // skipped by time, as are the source's 30 old versions.
    pond.ok("INSERT INTO \"/t\" SELECT CAST(to_timestamp_seconds(1714521600 + 86400 * 30 + 3600 * h) AS TIMESTAMP), 1.0 FROM generate_series(0, 23) t(h)")
        .await;
    let (_, c) = run_counted(&pond, "REFRESH MATERIALIZED VIEW \"/t_6h\"").await;
    assert_eq!(c["versions_skipped_by_time"], 30 + 1);
    // A late row lands in the view's last old bucket (day 30, 18:00): the
    // source's day-30 version and the view's old version are read (and the
    // latter rewritten); the view's day-31 version is skipped.
    pond.ok("INSERT INTO \"/t\" VALUES ('2024-05-30T20:30:00', 1000.0)")
        .await;
    let (_, c) = run_counted(&pond, "REFRESH MATERIALIZED VIEW \"/t_6h\"").await;
    assert_eq!(c["versions_skipped_by_time"], 30 + 1);
    let full = "SELECT concat(count(*), ' ', sum(\"v.count\"), ' ', sum(\"v.sum\")) FROM downsample('/t', INTERVAL '6 hours')";
    assert_eq!(
        pond.value(
            "SELECT concat(count(*), ' ', sum(\"v.count\"), ' ', sum(\"v.sum\")) FROM \"/t_6h\""
        )
        .await,
        pond.value(full).await
    );
    assert_eq!(pond.value(full).await, "124 745 9304.0");
}

/// A filter on a glob capture reaches the tables under `downsample()`.
#[tokio::test]
async fn capture_filters_reach_the_tables_under_downsample() {
    let pond = stations().await;
    let (n, c) = run_counted(
        &pond,
        "SELECT concat(count(*), ' ', sum(\"value.sum\")) FROM downsample('/s/{station}/temp', INTERVAL '1 hour') WHERE station = 'st3'",
    )
    .await;
    assert_eq!(n, "1 85.0"); // 3 + … + 12 in one hour
    assert_eq!(c["tables_skipped_by_capture"], 7);
    assert_eq!(c["contents_opened"], 1);
}

#[tokio::test]
async fn optimize_keeps_results_history_and_later_appends() {
    let pond = daily_versions().await;
    let before = pond
        .ok("SELECT count(*), sum(v), min(ts), max(ts) FROM \"/t\"")
        .await;
    let txn_before: i64 = pond
        .value("SELECT max(txn) FROM pond.system.transactions")
        .await
        .parse()
        .unwrap();
    pond.ok("OPTIMIZE \"/t\"").await;
    assert_eq!(
        pond.ok("SELECT count(*), sum(v), min(ts), max(ts) FROM \"/t\"")
            .await,
        before
    );
    let (_, c) = run_counted(&pond, "SELECT count(*) FROM \"/t\"").await;
    assert_eq!(c["contents_opened"], 1);

    // Appends after a compaction stay live; compacting again merges the
    // chunk with them.
    pond.ok("INSERT INTO \"/t\" VALUES ('2024-06-01T00:00:00', 100.0)")
        .await;
    pond.ok("INSERT INTO \"/t\" VALUES ('2024-06-01T01:00:00', 200.0)")
        .await;
    assert_eq!(pond.value("SELECT sum(v) FROM \"/t\"").await, "8580.0");
    pond.ok("OPTIMIZE").await;
    assert_eq!(pond.value("SELECT sum(v) FROM \"/t\"").await, "8580.0");
    assert_eq!(
        pond.value("SELECT versions FROM pond.system.entries WHERE path = '/t'")
            .await,
        "1"
    );

    // Time travel to before the first OPTIMIZE reads the original versions.
    pond.ok(&format!("SET pond.as_of = {txn_before}")).await;
    assert_eq!(
        pond.ok("SELECT count(*), sum(v), min(ts), max(ts) FROM \"/t\"")
            .await,
        before
    );
    assert_eq!(
        pond.value("SELECT versions FROM pond.system.entries WHERE path = '/t'")
            .await,
        "31"
    );
}

#[tokio::test]
async fn vacuum_dry_run_lists_exactly_the_orphans() {
    let pond = TestPond::new().await;
    // A table big enough for a blob, and one inline.
    pond.ok("CREATE TABLE \"/big\" AS SELECT v, random() AS r FROM generate_series(1, 20000) t(v)")
        .await;
    pond.ok("CREATE TABLE \"/small\" AS SELECT 1 AS v").await;
    let root = pond.pond_path();
    let blobs: Vec<_> = std::fs::read_dir(root.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        blobs.iter().any(|n| n.len() == 64),
        "the big table is a blob: {blobs:?}"
    );
    // What a crash or a lost race leaves: a blob, a temp file, an oplog
    // data file, named as the pond names them, an hour and more old.
    let part = std::fs::read_dir(root.join("oplog"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("part_id="))
        .unwrap();
    let orphans = [
        format!("blobs/{}", "ab".repeat(32)),
        format!("blobs/.tmp/{}.parquet", "cd".repeat(16)),
        format!("oplog/{part}/{:020}-{}.parquet", 99, "ef".repeat(16)),
    ];
    std::fs::create_dir_all(root.join("blobs/.tmp")).unwrap();
    for o in &orphans {
        std::fs::write(root.join(o), b"orphan").unwrap();
        crate::vacuum::age(&root.join(o), IN_FLIGHT_GRACE * 2);
    }
    // One that may still belong to a commit in flight: younger than the grace.
    let young = format!("blobs/{}", "12".repeat(32));
    std::fs::write(root.join(&young), b"in flight?").unwrap();
    let listed = |sql: &'static str| {
        let pond = &pond;
        async move {
            let out = pond.session.sql(sql).await.unwrap();
            let batch = &out.batches[0];
            let paths = batch
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap();
            let mut v: Vec<String> = paths.iter().map(|p| p.unwrap().to_string()).collect();
            v.sort();
            v
        }
    };
    let mut expected: Vec<String> = orphans.to_vec();
    expected.sort();
    // Default retention (7 days) protects new files.
    assert!(listed("VACUUM DRY RUN").await.is_empty());
    assert_eq!(listed("VACUUM RETAIN 0 HOURS DRY RUN").await, expected);
    for o in &orphans {
        assert!(root.join(o).exists(), "dry run deleted {o}");
    }
    assert_eq!(listed("VACUUM RETAIN 0 HOURS").await, expected);
    for o in &orphans {
        assert!(!root.join(o).exists(), "{o} not deleted");
    }
    assert!(root.join(&young).exists(), "deleted within the grace");
    assert!(listed("VACUUM RETAIN 0 HOURS DRY RUN").await.is_empty());
    // Everything committed still reads, from a fresh open too.
    let (n, _) = run_counted(&pond, "SELECT count(*) FROM \"/big\"").await;
    assert_eq!(n, "20000");
    assert_eq!(pond.value("SELECT v FROM \"/small\"").await, "1");
}
