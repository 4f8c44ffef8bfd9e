//! Materialized views: incremental refresh equals a full recompute under
//! random appends; REFRESH is idempotent; REFRESH ALL follows dependencies
//! and a failure keeps what was committed before it; ingestion of host
//! files; the cron pipeline in sql/cron/hourly.sql.

use std::path::Path;

use crate::common::{pondsql, run_cli, seed_from_env, stderr, stdout, Lcg, TestPond};

const MINUTE: i64 = 60;

fn timestamp(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

async fn last_txn(p: &TestPond) -> String {
    p.value("SELECT max(txn) FROM pond.system.transactions")
        .await
}

/// Appends random batches (on time, hours late, weeks late, empty) and
/// corrects them (DELETE of a time window or of matching rows, UPDATE of
/// values or of times, which moves rows between buckets, upserts), with
/// OPTIMIZE now and then, refreshing after some steps only (so OPTIMIZE
/// compacts corrections no refresh has read); every view must equal a full
/// recompute of its query, row for row, after every refresh.
#[tokio::test]
async fn incremental_refresh_equals_full_recompute_under_random_changes() {
    let seed = seed_from_env("PONDSQL_REFRESH_SEED");
    println!("seed {seed} (replay with PONDSQL_REFRESH_SEED={seed})");
    let mut rng = Lcg(seed);
    let p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/s/a'; CREATE DIRECTORY '/s/b'; CREATE DIRECTORY '/r'")
        .await;
    for station in ["a", "b"] {
        p.ok(&format!(
            "CREATE TABLE \"/s/{station}/temp\" (ts TIMESTAMP, value DOUBLE, n BIGINT, quality VARCHAR)"
        ))
        .await;
    }
    // The same query as a view and, for comparison, run in full each time.
    let views = [
        (
            "/r/1h",
            "downsample('/s/{station}/temp', INTERVAL '1 hour')",
            "station, ts",
        ),
        (
            "/r/6h",
            "downsample('/r/1h', INTERVAL '6 hours')",
            "station, ts",
        ),
        ("/r/a_1d", "downsample('/s/a/temp', INTERVAL '1 day')", "ts"),
    ];
    for (path, query, _) in &views {
        p.ok(&format!(
            "CREATE MATERIALIZED VIEW \"{path}\" AS SELECT * FROM {query}"
        ))
        .await;
    }
    let modes = p
        .ok("SELECT path, mode FROM pond.system.stored_queries ORDER BY path")
        .await;
    assert_eq!(modes.matches("incremental").count(), 3, "{modes}");

    let mut now = 1_709_251_200; // 2024-03-01
    let (mut late_hours, mut late_weeks, mut empty) = (0, 0, 0);
    let (mut deletes, mut updates, mut upserts) = (0, 0, 0);
    // Did the views read everything before this step?
    let mut fresh = true;
    for step in 0..40 {
        // Every 8 steps, and at random: OPTIMIZE, an empty batch, a DELETE, an UPDATE.
        let action = match step % 8 {
            7 => 0,
            3 => 1,
            5 => 2,
            6 => 3,
            2 => 4,
            _ => rng.next(13),
        };
        // The corrections at steps 5 and 6 wait for step 7's OPTIMIZE, which
        // compacts them before REFRESH reads them; elsewhere a die decides.
        let refresh = match step % 8 {
            5 | 6 => false,
            7 => true,
            _ => rng.next(3) != 0,
        };
        let mut did = format!("step {step}");
        if action == 0 {
            p.ok("OPTIMIZE").await;
            did.push_str(", OPTIMIZE");
        } else if (2..=4).contains(&action) {
            let station = ["a", "b"][rng.next(2) as usize];
            let table = format!("\"/s/{station}/temp\"");
            // Step 5's DELETE empties whole recent buckets: only the
            // rewrite's span names them.
            let from = match step % 8 {
                5 => now - (1 + rng.next(4)) as i64 * 3600,
                _ => now - rng.next(30 * 24) as i64 * 3600,
            };
            let window = format!(
                "ts >= TIMESTAMP '{}' AND ts < TIMESTAMP '{}'",
                timestamp(from),
                timestamp(from + (1 + rng.next(12) as i64) * 3600)
            );
            let variant = if step % 8 == 5 { 0 } else { rng.next(2) };
            let statement = match (action, variant) {
                (2, 0) => format!("DELETE FROM {table} WHERE {window}"),
                (2, _) => format!("DELETE FROM {table} WHERE n % 5 = {}", rng.next(5)),
                (3, 0) => format!(
                    "UPDATE {table} SET value = value + 0.25, quality = 'fixed' WHERE n % 4 = {}",
                    rng.next(4)
                ),
                (3, _) => format!(
                    "UPDATE {table} SET ts = ts + INTERVAL '{} minutes' WHERE {window}",
                    rng.next(600)
                ),
                // A re-delivery: some rows again with new values, and a new one.
                _ => format!(
                    "INSERT INTO {table} SELECT * FROM (SELECT ts, max(value) + 0.5, n, quality FROM {table} WHERE {window} GROUP BY ts, n, quality UNION ALL SELECT TIMESTAMP '{}', 1.25, 1000, 'q0') AS delivery ON CONFLICT (ts, n, quality) DO UPDATE SET value = EXCLUDED.value",
                    timestamp(now - rng.next(100) as i64 * MINUTE),
                ),
            };
            match action {
                2 => deletes += 1,
                3 => updates += 1,
                _ => upserts += 1,
            }
            p.ok(&statement).await;
            did.push_str(&format!(", {statement}"));
        } else {
            let station = ["a", "b"][rng.next(2) as usize];
            let rows = if action == 1 { 0 } else { 1 + rng.next(40) };
            let mut values = Vec::new();
            for _ in 0..rows {
                let mut t = now + rng.next(180) as i64 * MINUTE;
                match rng.next(10) {
                    0 => {
                        t -= (1 + rng.next(48) as i64) * 3600;
                        late_hours += 1;
                    }
                    1 => {
                        t -= (1 + rng.next(3) as i64) * 7 * 86_400;
                        late_weeks += 1;
                    }
                    _ => {}
                }
                // Quarters add up exactly, so sums do not depend on order.
                let value = match rng.next(20) {
                    0 => "NULL".to_string(),
                    _ => format!("{}", rng.next(400) as f64 / 4.0 - 50.0),
                };
                values.push(format!(
                    "(TIMESTAMP '{}', {value}, {}, 'q{}')",
                    timestamp(t),
                    rng.next(100),
                    rng.next(3)
                ));
            }
            if values.is_empty() {
                empty += 1;
                p.ok(&format!(
                    "INSERT INTO \"/s/{station}/temp\" SELECT * FROM \"/s/{station}/temp\" WHERE false"
                ))
                .await;
            } else {
                p.ok(&format!(
                    "INSERT INTO \"/s/{station}/temp\" VALUES {}",
                    values.join(", ")
                ))
                .await;
            }
            now += rng.next(240) as i64 * MINUTE;
        }
        if !refresh {
            fresh = fresh && action == 0;
            continue;
        }
        let before = last_txn(&p).await;
        p.ok("REFRESH ALL").await;
        if action == 0 && fresh {
            assert_eq!(
                before,
                last_txn(&p).await,
                "compaction made a view stale (seed {seed})"
            );
        }
        fresh = true;
        views_equal_their_queries(&p, &views, &format!("{did} (seed {seed})")).await;
        if step % 4 == 0 {
            let before = last_txn(&p).await;
            let again = p.ok("REFRESH ALL").await;
            assert_eq!(again.matches("unchanged").count(), 3, "{again}");
            assert_eq!(before, last_txn(&p).await, "an idle REFRESH committed");
        }
    }
    // Built from the 1-hour level, the 6-hour level equals 6-hour buckets of the raw rows.
    let columns = "station, ts, count, \"value.min\", \"value.avg\", \"value.max\", \"value.count\", \"value.sum\", \"n.sum\"";
    assert_eq!(
        p.ok(&format!("SELECT {columns} FROM \"/r/6h\" ORDER BY station, ts")).await,
        p.ok(&format!(
            "SELECT {columns} FROM downsample('/s/{{station}}/temp', INTERVAL '6 hours') ORDER BY station, ts"
        ))
        .await
    );
    println!("late by hours {late_hours}, by weeks {late_weeks}, empty batches {empty}, deletes {deletes}, updates {updates}, upserts {upserts}");
}

/// One process corrects a table (DELETE of recent hours, UPDATE, INSERT,
/// each often followed at once by OPTIMIZE) while another refreshes its
/// rollups over and over: after both, each view equals its query in full.
#[test]
fn corrections_and_refreshes_from_two_processes_stay_exact() {
    let seed = seed_from_env("PONDSQL_REFRESH_SEED");
    println!("seed {seed} (replay with PONDSQL_REFRESH_SEED={seed})");
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().unwrap();
    let pond = dir.path().join("pond");
    let setup = pondsql().args(["init"]).arg(&pond).output().unwrap();
    assert!(setup.status.success(), "{}", stderr(&setup));
    let start = 1_709_251_200; // 2024-03-01
    let mut statements = vec!["CREATE TABLE \"/t\" (ts TIMESTAMP, v DOUBLE)".to_string()];
    let insert = |from: i64, rng: &mut Lcg| {
        let rows: Vec<String> = (0..12)
            .map(|i| {
                let t = from + i * 10 * MINUTE + rng.next(10) as i64 * MINUTE;
                format!("('{}', {})", timestamp(t), rng.next(100) as f64 / 4.0)
            })
            .collect();
        format!("INSERT INTO \"/t\" VALUES {}", rows.join(", "))
    };
    statements.push(insert(start, &mut rng));
    statements.push(
        "CREATE MATERIALIZED VIEW \"/h\" AS SELECT * FROM downsample('/t', INTERVAL '1 hour')"
            .into(),
    );
    statements.push(
        "CREATE MATERIALIZED VIEW \"/d\" AS SELECT * FROM downsample('/h', INTERVAL '1 day')"
            .into(),
    );
    let out = run_cli(
        &pond,
        &statements.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let mut writer = String::new();
    let mut now = start + 2 * 3600;
    for _ in 0..24 {
        let statement = match rng.next(4) {
            0 => {
                let from = now - (1 + rng.next(4)) as i64 * 3600;
                format!(
                    "DELETE FROM \"/t\" WHERE ts >= '{}' AND ts < '{}'",
                    timestamp(from),
                    timestamp(from + (1 + rng.next(3)) as i64 * 3600)
                )
            }
            1 => format!(
                "UPDATE \"/t\" SET v = v + 1 WHERE ts >= '{}'",
                timestamp(now - rng.next(6) as i64 * 3600)
            ),
            _ => {
                now += 2 * 3600;
                insert(now - 2 * 3600, &mut rng)
            }
        };
        writer.push_str(&statement);
        writer.push_str(";\n");
        if rng.next(2) == 0 {
            writer.push_str("OPTIMIZE \"/t\";\n");
        }
    }
    let refresher = "REFRESH ALL;\n".repeat(24);
    let spawn = |script: &str, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        pondsql()
            .arg("--pond")
            .arg(&pond)
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [
        spawn(&writer, "writer.sql"),
        spawn(&refresher, "refresher.sql"),
    ];
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "(seed {seed}) {}", stderr(&out));
    }
    let out = run_cli(&pond, &["REFRESH ALL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = |sql: &str| {
        let out = run_cli(&pond, &[sql]);
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
        stdout(&out)
    };
    for (view, query) in [
        ("/h", "downsample('/t', INTERVAL '1 hour')"),
        ("/d", "downsample('/h', INTERVAL '1 day')"),
    ] {
        assert_eq!(
            rows(&format!("SELECT * FROM \"{view}\" ORDER BY ts")),
            rows(&format!("SELECT * FROM {query} ORDER BY ts")),
            "{view} differs from its query (seed {seed}); the writer ran:\n{writer}"
        );
    }
}

/// Every view (path, query, order) reads the same rows as its query run in full.
async fn views_equal_their_queries(p: &TestPond, views: &[(&str, &str, &str)], after: &str) {
    for (path, query, order) in views {
        let stored = p
            .ok(&format!("SELECT * FROM \"{path}\" ORDER BY {order}"))
            .await;
        let full = p
            .ok(&format!("SELECT * FROM {query} ORDER BY {order}"))
            .await;
        assert_eq!(stored, full, "{path} after {after}");
    }
}

/// The line of a rendered table that names `path`.
fn line_of<'a>(table: &'a str, path: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {path} ")))
        .unwrap_or_else(|| panic!("no row for {path} in\n{table}"))
}

#[tokio::test]
async fn downsample_buckets_and_columns() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/t\" (ts TIMESTAMP, value DOUBLE, n INT, note VARCHAR)")
        .await;
    p.ok("INSERT INTO \"/t\" VALUES ('2024-01-01 00:10:00', 1.0, 1, 'x'), ('2024-01-01 00:50:00', 3.0, NULL, 'y'), ('2024-01-01 03:00:00', NULL, 5, 'z'), (NULL, 9.0, 9, 'no time')")
        .await;
    assert_eq!(
        p.ok("SELECT * FROM downsample('/t', INTERVAL '1 hour') ORDER BY ts").await,
        "\
+---------------------+-------+-----------+-----------+-----------+-------------+-----------+-------+-------+-------+---------+-------+
| ts                  | count | value.min | value.avg | value.max | value.count | value.sum | n.min | n.avg | n.max | n.count | n.sum |
+---------------------+-------+-----------+-----------+-----------+-------------+-----------+-------+-------+-------+---------+-------+
| 2024-01-01T00:00:00 | 2     | 1.0       | 2.0       | 3.0       | 2           | 4.0       | 1     | 1.0   | 1     | 1       | 1     |
| 2024-01-01T03:00:00 | 1     |           |           |           | 0           |           | 5     | 5.0   | 5     | 1       | 5     |
+---------------------+-------+-----------+-----------+-----------+-------------+-----------+-------+-------+-------+---------+-------+"
    );
    let err = p
        .err("SELECT * FROM downsample('/t', INTERVAL '1 month 1 day')")
        .await;
    assert!(err.contains("mixes months with days"), "{err}");
    let err = p
        .err("SELECT * FROM downsample('/t', INTERVAL '1 hour', 'note')")
        .await;
    assert!(
        err.contains("column 'note' is Utf8View, not a timestamp"),
        "{err}"
    );
    let err = p
        .err("SELECT * FROM downsample('/nope', INTERVAL '1 hour')")
        .await;
    assert!(err.contains("/nope does not exist"), "{err}");

    // downsample's columns in another order are not its rows as written: such
    // a view is recomputed in full (an incremental refresh would write
    // downsample's columns under the view's names).
    let reordered = "SELECT \"value.max\", \"value.min\", ts, count, \"value.avg\", \"value.count\", \"value.sum\", \"n.min\", \"n.avg\", \"n.max\", \"n.count\", \"n.sum\" FROM downsample('/t', INTERVAL '1 hour')";
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/reordered\" AS {reordered}"
    ))
    .await;
    assert_eq!(
        p.value("SELECT mode FROM pond.system.stored_queries").await,
        "full"
    );
    p.ok("INSERT INTO \"/t\" VALUES ('2024-01-01 00:20:00', 8.0, 2, 'late')")
        .await;
    p.ok("REFRESH MATERIALIZED VIEW \"/reordered\"").await;
    assert_eq!(
        p.ok("SELECT * FROM \"/reordered\" ORDER BY ts").await,
        p.ok(&format!("{reordered} ORDER BY ts")).await
    );
}

/// Leaving a text column out of a rollup is said once, when the view is
/// made (on stderr, so cron's REFRESH stays quiet), and stays visible in
/// pond.system.stored_queries.
#[test]
fn a_rollup_says_once_which_columns_it_leaves_out() {
    let (_dir, pond) = crate::common::init_pond();
    let made = run_cli(
        &pond,
        &[
            "CREATE TABLE \"/t\" (ts TIMESTAMP, v DOUBLE, flag VARCHAR)",
            "INSERT INTO \"/t\" VALUES ('2024-01-01 00:10:00', 1.5, 'A')",
            "CREATE MATERIALIZED VIEW \"/v\" AS SELECT * FROM downsample('/t', INTERVAL '1 hour')",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let said = stderr(&made);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("materialized view /v: downsample() leaves out the columns that are not numbers: flag (Utf8"),
        "{said}"
    );
    let refreshed = run_cli(
        &pond,
        &[
            "INSERT INTO \"/t\" VALUES ('2024-01-01 02:10:00', 2.5, 'B')",
            "REFRESH ALL",
            "SELECT not_aggregated FROM pond.system.stored_queries",
        ],
    );
    assert!(refreshed.status.success(), "{}", stderr(&refreshed));
    assert_eq!(stderr(&refreshed), "");
    assert!(
        stdout(&refreshed).contains("flag (Utf8"),
        "{}",
        stdout(&refreshed)
    );
}

#[tokio::test]
async fn refresh_all_goes_in_dependency_order_and_stops_at_a_failure() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/s1\" (ts TIMESTAMP, value DOUBLE)")
        .await;
    p.ok("CREATE TABLE \"/s2\" (ts TIMESTAMP, value DOUBLE)")
        .await;
    p.ok("INSERT INTO \"/s1\" VALUES ('2024-01-01 00:00:00', 1.0)")
        .await;
    p.ok("INSERT INTO \"/s2\" VALUES ('2024-01-01 00:00:00', 2.0)")
        .await;
    // Path order is the reverse of dependency order: /a_day reads /z_hour.
    p.ok("CREATE MATERIALIZED VIEW \"/z_hour\" AS SELECT * FROM downsample('/s1', INTERVAL '1 hour')").await;
    p.ok("CREATE MATERIALIZED VIEW \"/a_day\" AS SELECT * FROM downsample('/z_hour', INTERVAL '1 day')").await;
    // A full-recompute view (a join) reading both sources.
    p.ok("CREATE MATERIALIZED VIEW \"/zz_both\" AS SELECT a.ts, a.value + b.value AS total FROM \"/s1\" a JOIN \"/s2\" b ON a.ts = b.ts").await;
    assert_eq!(
        p.value("SELECT mode FROM pond.system.stored_queries WHERE path = '/zz_both'")
            .await,
        "full"
    );
    p.ok("INSERT INTO \"/s1\" VALUES ('2024-01-01 05:00:00', 4.0)")
        .await;
    let out = p.ok("REFRESH ALL").await;
    assert!(
        out.find("/z_hour").unwrap() < out.find("/a_day").unwrap(),
        "{out}"
    );
    assert_eq!(p.value("SELECT \"value.sum\" FROM \"/a_day\"").await, "5.0");
    assert!(line_of(&out, "/zz_both").contains("| full "), "{out}");
    assert!(line_of(&out, "/zz_both").contains("| refreshed "), "{out}");

    // Drop /s2: /zz_both fails; the views before it keep their commits.
    p.ok("INSERT INTO \"/s1\" VALUES ('2024-01-01 06:00:00', 8.0)")
        .await;
    p.ok("DROP TABLE \"/s2\"").await;
    let before_both = p.ok("SELECT * FROM \"/zz_both\"").await;
    let err = p.err("REFRESH ALL").await;
    assert!(
        err.contains("REFRESH ALL stopped at /zz_both (1 view(s) before it committed"),
        "{err}"
    );
    assert!(err.contains("/s2 does not exist"), "{err}");
    assert!(err.contains("DROP MATERIALIZED VIEW"), "{err}");
    // /z_hour went first and kept its commit; /a_day comes after /zz_both's level.
    assert_eq!(p.value("SELECT sum(count) FROM \"/z_hour\"").await, "3");
    assert_eq!(p.value("SELECT \"value.sum\" FROM \"/a_day\"").await, "5.0");
    assert_eq!(p.ok("SELECT * FROM \"/zz_both\"").await, before_both);

    // A failure inside one REFRESH changes nothing.
    let txn = last_txn(&p).await;
    let err = p.err("REFRESH MATERIALIZED VIEW \"/zz_both\"").await;
    assert!(
        err.starts_with("REFRESH MATERIALIZED VIEW /zz_both"),
        "{err}"
    );
    assert_eq!(txn, last_txn(&p).await);
    // A plain view in between: redefining it makes the view over it stale.
    p.ok("CREATE VIEW \"/big\" AS SELECT * FROM \"/s1\" WHERE value > 2")
        .await;
    p.ok("CREATE MATERIALIZED VIEW \"/big_count\" AS SELECT count(*) AS n FROM \"/big\"")
        .await;
    assert_eq!(p.value("SELECT n FROM \"/big_count\"").await, "2");
    p.ok("CREATE OR REPLACE VIEW \"/big\" AS SELECT * FROM \"/s1\" WHERE value > 0")
        .await;
    let out = p.ok("REFRESH MATERIALIZED VIEW \"/big_count\"").await;
    assert!(
        line_of(&out, "/big_count").contains("| refreshed "),
        "{out}"
    );
    assert_eq!(p.value("SELECT n FROM \"/big_count\"").await, "3");
    // While neither the view nor its table changes, the view over it is not
    // stale (the plain view reports what it reads).
    let out = p.ok("REFRESH MATERIALIZED VIEW \"/big_count\"").await;
    assert!(
        line_of(&out, "/big_count").contains("| unchanged "),
        "{out}"
    );
    p.ok("DROP MATERIALIZED VIEW \"/big_count\"").await;

    // A source overwritten (a new base) is recomputed in full, exactly.
    p.ok("INSERT OVERWRITE \"/s1\" VALUES ('2024-01-01 00:30:00', 0.5)")
        .await;
    p.ok("REFRESH MATERIALIZED VIEW \"/z_hour\"").await;
    assert_eq!(
        p.ok("SELECT * FROM \"/z_hour\"").await,
        p.ok("SELECT * FROM downsample('/s1', INTERVAL '1 hour')")
            .await
    );
    p.ok("DROP MATERIALIZED VIEW \"/zz_both\"").await;
    let out = p.ok("REFRESH ALL").await;
    assert!(line_of(&out, "/z_hour").contains("| unchanged "), "{out}");
    assert!(line_of(&out, "/a_day").contains("| refreshed "), "{out}");
    assert_eq!(p.value("SELECT \"value.sum\" FROM \"/a_day\"").await, "0.5");
}

#[tokio::test]
async fn materialized_views_refuse_what_would_break_them() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/s\" (ts TIMESTAMP, value DOUBLE)")
        .await;
    p.ok("CREATE MATERIALIZED VIEW \"/v\" AS SELECT * FROM downsample('/s', INTERVAL '1 hour')")
        .await;
    let err = p.err("INSERT INTO \"/v\" SELECT * FROM \"/v\"").await;
    assert!(
        err.contains("/v is a materialized view: its rows come from REFRESH"),
        "{err}"
    );
    let err = p.err("DROP TABLE \"/v\"").await;
    assert!(
        err.contains("/v is a materialized_view, not a table"),
        "{err}"
    );
    let err = p.err("REFRESH MATERIALIZED VIEW \"/s\"").await;
    assert!(
        err.contains("/s is a table: REFRESH MATERIALIZED VIEW works on materialized views"),
        "{err}"
    );
    let err = p
        .err("CREATE MATERIALIZED VIEW \"/v\" AS SELECT 1 AS x")
        .await;
    assert!(
        err.contains("use CREATE OR REPLACE MATERIALIZED VIEW"),
        "{err}"
    );
    p.ok("CREATE MATERIALIZED VIEW IF NOT EXISTS \"/v\" AS SELECT 1 AS x")
        .await;
    let err = p
        .err("CREATE OR REPLACE MATERIALIZED VIEW \"/v\" AS SELECT * FROM \"/v\"")
        .await;
    assert!(err.contains("would read itself"), "{err}");
    // What cannot be tracked by versions is recomputed every time.
    p.ok("CREATE MATERIALIZED VIEW \"/tree\" AS SELECT count(*) AS n FROM ls('/')")
        .await;
    let out = p.ok("REFRESH MATERIALIZED VIEW \"/tree\"").await;
    assert!(
        line_of(&out, "/tree").contains("| full | refreshed "),
        "{out}"
    );
    assert_eq!(p.value("SELECT n FROM \"/tree\"").await, "3");
    let csv = p.dir.path().join("x.csv");
    std::fs::write(&csv, "ts,value\n2024-01-01T00:00:00,1\n").unwrap();
    let err = p
        .err(&format!(
            "CREATE MATERIALIZED VIEW \"/w\" AS SELECT value FROM '{}'",
            csv.display()
        ))
        .await;
    assert!(
        err.contains("only SELECT * FROM 'files' ingests host files"),
        "{err}"
    );
    let err = p
        .err(&format!(
            "CREATE MATERIALIZED VIEW \"/w\" AS SELECT * FROM '{}/none-*.csv'",
            p.dir.path().display()
        ))
        .await;
    assert!(err.contains("no host file matches"), "{err}");
    let err = p.err("REFRESH ALL FULL NOW").await;
    assert!(err.starts_with("usage: REFRESH"), "{err}");
    p.ok("SET pond.as_of = 1").await;
    let err = p.err("REFRESH ALL").await;
    assert!(err.contains("RESET pond.as_of"), "{err}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn ingestion_takes_each_new_file_once_and_refuses_changed_ones() {
    let p = TestPond::new().await;
    let drop = p.dir.path().join("incoming");
    std::fs::create_dir(&drop).unwrap();
    write(
        &drop.join("s1-001.csv"),
        "ts,value\n2024-01-01T00:00:00,1.5\n2024-01-01T00:01:00,2.5\n",
    );
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/raw\" AS SELECT * FROM '{}/s1-*.csv'",
        drop.display()
    ))
    .await;
    assert_eq!(p.value("SELECT count(*) FROM \"/raw\"").await, "2");
    let txn = last_txn(&p).await;
    assert!(p
        .ok("REFRESH MATERIALIZED VIEW \"/raw\"")
        .await
        .contains("| unchanged |"));
    assert_eq!(txn, last_txn(&p).await, "nothing new must commit nothing");

    // A new file (and one that does not match the pattern).
    write(
        &drop.join("s1-002.csv"),
        "ts,value\n2024-01-01T00:02:00,3\n",
    );
    write(
        &drop.join("s2-001.csv"),
        "ts,value\n2024-01-01T00:02:00,99\n",
    );
    let out = p.ok("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    assert!(
        line_of(&out, "/raw").ends_with("| refreshed | 1    |"),
        "{out}"
    );
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw\"").await, "7.0");
    assert_eq!(
        p.value("SELECT consumed FROM pond.system.stored_queries")
            .await,
        "2 file(s)"
    );
    // Same bytes, new modification time: unchanged.
    let again = std::fs::read(drop.join("s1-002.csv")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(drop.join("s1-002.csv"), &again).unwrap();
    assert!(p
        .ok("REFRESH MATERIALIZED VIEW \"/raw\"")
        .await
        .contains("| unchanged |"));

    // Changed bytes: an error that names the file and the way out.
    write(
        &drop.join("s1-001.csv"),
        "ts,value\n2024-01-01T00:00:00,100\n",
    );
    let txn = last_txn(&p).await;
    let err = p.err("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    assert!(
        err.contains("s1-001.csv changed since it was ingested"),
        "{err}"
    );
    assert!(
        err.contains("REFRESH MATERIALIZED VIEW \"/raw\" FULL"),
        "{err}"
    );
    assert_eq!(txn, last_txn(&p).await);
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw\"").await, "7.0");
    p.ok("REFRESH MATERIALIZED VIEW \"/raw\" FULL").await;
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw\"").await, "103.0");
    assert!(p
        .ok("REFRESH MATERIALIZED VIEW \"/raw\"")
        .await
        .contains("| unchanged |"));

    // A file that leaves the drop folder keeps its rows.
    std::fs::remove_file(drop.join("s1-002.csv")).unwrap();
    let out = p.ok("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    assert!(out.contains("| unchanged |"), "{out}");
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw\"").await, "103.0");

    // A file whose columns do not fit names itself.
    write(
        &drop.join("s1-003.csv"),
        "ts,value\n2024-01-01T00:03:00,not a number\n",
    );
    let err = p.err("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    assert!(err.contains("s1-003.csv"), "{err}");
    assert_eq!(p.value("SELECT count(*) FROM \"/raw\"").await, "2");
    std::fs::remove_file(drop.join("s1-003.csv")).unwrap();

    // Parquet drops, by extension, with their own types cast to the view's.
    let parquet = |name: &str, ts: &str, value: i32| {
        format!(
            "COPY (SELECT CAST('{ts}' AS TIMESTAMP) AS ts, {value} AS value) TO '{}/{name}'",
            drop.display()
        )
    };
    p.ok(&parquet("p-1.parquet", "2024-01-02 00:00:00", 5))
        .await;
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/raw_parquet\" AS SELECT * FROM '{}/p-*.parquet'",
        drop.display()
    ))
    .await;
    p.ok(&parquet("p-2.parquet", "2024-01-02 00:01:00", 7))
        .await;
    p.ok("REFRESH ALL").await;
    // Newline-delimited JSON drops, by extension too.
    write(
        &drop.join("j-1.json"),
        "{\"ts\": \"2024-01-03T00:00:00\", \"value\": 1.5}\n",
    );
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/raw_json\" AS SELECT * FROM '{}/j-*.json'",
        drop.display()
    ))
    .await;
    write(
        &drop.join("j-2.json"),
        "{\"ts\": \"2024-01-03T00:01:00\", \"value\": 2.0}\n",
    );
    p.ok("REFRESH MATERIALIZED VIEW \"/raw_json\"").await;
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw_json\"").await, "3.5");
    assert_eq!(
        p.value("SELECT sum(value) FROM \"/raw_parquet\"").await,
        "12"
    );
}

/// sql/cron/hourly.sql, run twice by the real binary as cron would, with a
/// new CSV drop (including a late reading) in between.
#[test]
fn cron_pipeline_runs_incrementally_and_repeats_safely() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/cron/hourly.sql");
    let day = |station: &str, day: u32, late: bool| {
        let mut csv = String::from("ts,temp,conductivity\n");
        for minute in (0..1440).step_by(10) {
            let t = format!("2024-05-{day:02}T{:02}:{:02}:00", minute / 60, minute % 60);
            let temp =
                10.0 + (minute % 120) as f64 / 8.0 + if station == "station2" { 1.0 } else { 0.0 };
            csv.push_str(&format!("{t},{temp},{}\n", 400 + minute % 7));
        }
        if late {
            csv.push_str("2024-05-01T00:05:00,99.0,401\n");
        }
        std::fs::write(
            incoming.join(format!("{station}-2024-05-{day:02}.csv")),
            csv,
        )
        .unwrap();
    };
    let run = || {
        let out = pondsql()
            .current_dir(dir.path())
            .args(["--pond", "pond", "-f"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "hourly.sql failed:\n{}", stderr(&out));
        stdout(&out)
    };
    let init = pondsql()
        .current_dir(dir.path())
        .args(["init", "pond"])
        .output()
        .unwrap();
    assert!(init.status.success());
    day("station1", 1, false);
    day("station2", 1, false);
    // CREATE fills each view; the REFRESH ALL after it finds nothing new.
    let first = run();
    assert_eq!(first.matches("unchanged").count(), 5, "{first}");
    assert!(
        first.contains("| station2 | 2024-05-01T18:00:00 | 11.0     | 17.875   | 24.75    |"),
        "{first}"
    );
    let again = run();
    assert_eq!(again, first);
    day("station1", 2, true);
    let second = run();
    assert!(
        line_of(&second, "/raw/station1").ends_with("| refreshed | 145  |"),
        "{second}"
    );
    assert!(
        line_of(&second, "/raw/station2").contains("| unchanged "),
        "{second}"
    );
    // The late reading moved station1's first hour, and the levels agree.
    let check = pondsql()
        .current_dir(dir.path())
        .args(["--pond", "pond", "--format", "csv", "-c"])
        .arg("SELECT d.station, d.\"temp.max\", d.count, (SELECT sum(count) FROM \"/rollups/1h\" h WHERE h.station = d.station AND h.ts < TIMESTAMP '2024-05-02') AS hourly FROM \"/rollups/1d\" d WHERE d.ts = TIMESTAMP '2024-05-01' ORDER BY 1")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(
        stdout(&check),
        "station,temp.max,count,hourly\nstation1,99.0,145,145\nstation2,24.75,144,144\n"
    );
}

/// Two sessions refresh one view at once: the second commit finds the view
/// changed and fails cleanly instead of adding the new buckets twice.
#[tokio::test]
async fn a_refresh_that_lost_a_race_fails_instead_of_adding_rows_twice() {
    let p = TestPond::new().await;
    p.ok("CREATE TABLE \"/s\" (ts TIMESTAMP, value DOUBLE)")
        .await;
    p.ok("CREATE MATERIALIZED VIEW \"/v\" AS SELECT * FROM downsample('/s', INTERVAL '1 hour')")
        .await;
    p.ok("INSERT INTO \"/s\" VALUES ('2024-01-01 00:00:00', 1.0)")
        .await;
    let other = pondsql::PondSession::open(p.pond_path()).await.unwrap();
    other.sql("BEGIN").await.unwrap();
    other.sql("REFRESH MATERIALIZED VIEW \"/v\"").await.unwrap();
    p.ok("REFRESH MATERIALIZED VIEW \"/v\"").await;
    let err = other.sql("COMMIT").await.unwrap_err();
    let message = pondsql::user_message(&err);
    assert!(
        message.contains("/v changed while this REFRESH ran"),
        "{message}"
    );
    assert_eq!(p.value("SELECT count(*) FROM \"/v\"").await, "1");
    assert_eq!(p.value("SELECT sum(count) FROM \"/v\"").await, "1");
}
