//! Collecting HydroVu readings: the real binary against a fake HydroVu API
//! (tests/python/hydrovu/fake_hydrovu.py) started on 127.0.0.1 per test.
//! The fake pages lists parameter by parameter (one series runs over
//! several pages), expires tokens after a number of uses, and injects the
//! faults a test writes into its state (429 with Retry-After, 500).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::{first_line, pondsql, python, stderr, stdout};

const LAKE: i64 = 6582334;
const SECRET: &str = "s3cret-HydroVu-test-9f2c";
const START: i64 = 1_709_251_200; // 2024-03-01T00:00:00Z
const STEP: i64 = 900; // a reading every 15 minutes

/// One series of a location: parameter id, unit id, readings (unix s, value).
#[derive(Clone)]
struct Series {
    parameter: &'static str,
    unit: &'static str,
    readings: Vec<(i64, Option<f64>)>,
}

/// Readings every 15 minutes for `days`, from `START + first_step * STEP`,
/// except where `skip` says; values with two decimals, as sondes report.
fn series(
    parameter: &'static str,
    unit: &'static str,
    steps: std::ops::Range<i64>,
    skip: impl Fn(i64) -> bool,
    value: impl Fn(i64) -> f64,
) -> Series {
    Series {
        parameter,
        unit,
        readings: steps
            .filter(|i| !skip(*i))
            .map(|i| (START + i * STEP, Some((value(i) * 100.0).round() / 100.0)))
            .collect(),
    }
}

/// The lake's first two days: temperature, conductivity and dissolved
/// oxygen; a four-hour gap in all (the sonde was out of the water), and
/// dissolved oxygen missing every seventh reading.
fn lake_history() -> Vec<Series> {
    let gap = |i: i64| (40..56).contains(&i);
    vec![
        series("1", "1", 0..192, gap, |i| 8.0 + (i % 96) as f64 * 0.05),
        series("2", "17", 0..192, gap, |i| {
            410.0 + (i * 7 % 50) as f64 * 0.25
        }),
        series(
            "20",
            "117",
            0..192,
            |i| gap(i) || i % 7 == 3,
            |i| 9.5 - (i % 48) as f64 * 0.03,
        ),
    ]
}

/// The state the fake serves (see fake_hydrovu.py).
fn state(lake: &[Series], faults: Value, token_max_uses: u64) -> Value {
    let as_json = |s: &[Series]| -> Value {
        s.iter()
            .map(|s| {
                json!({
                    "parameterId": s.parameter,
                    "unitId": s.unit,
                    "readings": s.readings.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    json!({
        "client_id": "pondsql-test",
        "client_secret": SECRET,
        "token_max_uses": token_max_uses,
        "friendly": {
            "parameters": {"1": "Temperature", "2": "Specific Conductance", "20": "Dissolved Oxygen", "4": "Depth"},
            "units": {"1": "C", "17": "uS/cm", "117": "mg/L", "35": "m"}
        },
        "locations": [
            {"id": LAKE, "name": "Lake North", "description": "north buoy", "gps": {"latitude": 44.0521, "longitude": -123.0868}},
            {"id": 6582335, "name": "River Intake", "description": "", "gps": {"latitude": 44.0412, "longitude": -123.1011}},
            {"id": 11, "name": "Spare sonde", "description": "in the shed"}
        ],
        "location_page_size": 2,
        "page_size": 150,
        "data": {
            LAKE.to_string(): as_json(lake),
            "6582335": as_json(&[series("1", "1", 0..10, |_| false, |i| 7.0 + i as f64)]),
            "11": []
        },
        "faults": faults,
    })
}

/// The fake HydroVu server, its state file and request log.
struct FakeHydroVu {
    child: Child,
    dir: TempDir,
    url: String,
}

impl FakeHydroVu {
    fn start(state: &Value) -> FakeHydroVu {
        let dir = tempfile::tempdir().unwrap();
        write_state(dir.path(), state);
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hydrovu/fake_hydrovu.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(dir.path().join("state.json"))
            .arg(dir.path().join("log.jsonl"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let line = first_line(&mut child);
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .expect("the fake prints its port");
        FakeHydroVu {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    /// Replaces what the server holds (read at its next request).
    fn set(&self, state: &Value) {
        write_state(self.dir.path(), state);
    }

    /// Every request so far, oldest first.
    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `pondsql` with this server and its credentials in the environment,
    /// and no secrets file to fall back on.
    fn pondsql(&self) -> Command {
        let mut cmd = pondsql();
        cmd.env("HYDROVU_URL", &self.url)
            .env("HYDROVU_CLIENT_ID", "pondsql-test")
            .env("HYDROVU_CLIENT_SECRET", SECRET)
            .env("PONDSQL_SECRETS", self.dir.path().join("no-secrets.toml"));
        cmd
    }

    fn sql(&self, pond: &Path, sql: &str) -> Output {
        self.pondsql()
            .arg("--pond")
            .arg(pond)
            .args(["--format", "csv", "-c", sql])
            .output()
            .unwrap()
    }

    fn ok(&self, pond: &Path, sql: &str) -> String {
        let out = self.sql(pond, sql);
        assert!(out.status.success(), "{sql}\n{}", stderr(&out));
        stdout(&out)
    }
}

fn write_state(dir: &Path, state: &Value) {
    let staged = dir.join("state.json.new");
    std::fs::write(&staged, serde_json::to_vec(state).unwrap()).unwrap();
    std::fs::rename(staged, dir.join("state.json")).unwrap();
}

impl Drop for FakeHydroVu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new pond in a temp dir.
fn new_pond(fake: &FakeHydroVu) -> (TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pond = dir.path().join("pond");
    let out = fake.pondsql().arg("init").arg(&pond).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, pond)
}

/// The column a series becomes.
fn column(s: &Series) -> String {
    let parameter = match s.parameter {
        "1" => "Temperature",
        "2" => "Specific Conductance",
        "20" => "Dissolved Oxygen",
        "4" => "Depth",
        other => other,
    };
    let unit = match s.unit {
        "1" => "C",
        "17" => "uS/cm",
        "117" => "mg/L",
        "35" => "m",
        other => other,
    };
    format!("{parameter}.{unit}")
}

/// What the server holds, as the CSV lines of `SELECT <time in µs>,
/// <columns> … ORDER BY 1` (a value as Arrow's CSV writer prints it).
fn expected_rows(lake: &[Series], columns: &[String]) -> Vec<String> {
    let mut rows: BTreeMap<i64, BTreeMap<String, Option<f64>>> = BTreeMap::new();
    for s in lake {
        for (t, v) in &s.readings {
            rows.entry(*t).or_default().insert(column(s), *v);
        }
    }
    let show = |v: Option<f64>| match v {
        None => String::new(),
        Some(v) if v.fract() == 0.0 => format!("{v:.1}"),
        Some(v) => format!("{v}"),
    };
    rows.into_iter()
        .map(|(t, values)| {
            let mut line = (t * 1_000_000).to_string();
            for c in columns {
                line.push(',');
                line.push_str(&show(values.get(c).copied().flatten()));
            }
            line
        })
        .collect()
}

/// The collected view's rows, as [`expected_rows`] writes them.
fn collected_rows(fake: &FakeHydroVu, pond: &Path, columns: &[String]) -> Vec<String> {
    let list: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    fake.ok(
        pond,
        &format!(
            "SELECT CAST(\"timestamp\" AS BIGINT) AS t, {} FROM \"/hydrovu/lake_north\" ORDER BY 1",
            list.join(", ")
        ),
    )
    .lines()
    .skip(1)
    .map(str::to_string)
    .collect()
}

/// The view's columns after `timestamp`, in order.
fn view_columns(fake: &FakeHydroVu, pond: &Path) -> Vec<String> {
    fake.ok(pond, "DESCRIBE \"/hydrovu/lake_north\"")
        .lines()
        .skip(2) // the header, then timestamp
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

fn last_txn(fake: &FakeHydroVu, pond: &Path) -> String {
    fake.ok(pond, "SELECT max(txn) FROM pond.system.transactions")
}

const ROLLUPS: [(&str, &str); 2] = [
    (
        "/rollups/1h/lake_north",
        "downsample('/hydrovu/lake_north', INTERVAL '1 hour')",
    ),
    (
        "/rollups/1d/lake_north",
        "downsample('/rollups/1h/lake_north', INTERVAL '1 day')",
    ),
];

/// Each rollup view reads the same rows as its query run in full now.
fn rollups_equal_recompute(fake: &FakeHydroVu, pond: &Path, after: &str) {
    for (path, query) in ROLLUPS {
        let stored = fake.ok(
            pond,
            &format!("SELECT * FROM \"{path}\" ORDER BY \"timestamp\""),
        );
        let full = fake.ok(
            pond,
            &format!("SELECT * FROM {query} ORDER BY \"timestamp\""),
        );
        assert!(stored.lines().count() > 1, "{path} is empty after {after}");
        assert_eq!(stored, full, "{path} after {after}");
    }
}

fn data_requests(log: &[Value]) -> Vec<&Value> {
    let path = format!("/public-api/v1/locations/{LAKE}/data");
    log.iter().filter(|e| e["path"] == path.as_str()).collect()
}

#[test]
fn collects_what_the_server_holds_then_only_what_is_new() {
    let mut lake = lake_history();
    let fake = FakeHydroVu::start(&state(&lake, json!([]), 1_000_000));
    let (_dir, pond) = new_pond(&fake);

    // The listing and the names, from paged and plain endpoints.
    let locations = fake.ok(&pond, "SELECT * FROM hydrovu_locations() ORDER BY id");
    assert_eq!(
        locations,
        "id,name,description,latitude,longitude\n11,Spare sonde,in the shed,,\n6582334,Lake North,north buoy,44.0521,-123.0868\n6582335,River Intake,,44.0412,-123.1011\n"
    );
    let names = fake.ok(&pond, "SELECT * FROM hydrovu_parameters()");
    assert!(names.contains("parameter,20,Dissolved Oxygen\n"), "{names}");
    assert!(names.contains("unit,117,mg/L\n"), "{names}");
    let location_pages = fake
        .log()
        .iter()
        .filter(|e| e["path"] == "/public-api/v1/locations/list")
        .count();
    assert_eq!(location_pages, 2, "three locations, two per page");

    // The first collection equals what the server holds, row for row.
    fake.ok(
        &pond,
        &format!(
            "CREATE DIRECTORY '/hydrovu'; CREATE DIRECTORY '/rollups'; CREATE DIRECTORY '/rollups/1h'; CREATE DIRECTORY '/rollups/1d';
             CREATE MATERIALIZED VIEW \"/hydrovu/lake_north\" AS SELECT * FROM hydrovu_readings({LAKE});"
        ),
    );
    for (path, query) in ROLLUPS {
        fake.ok(
            &pond,
            &format!("CREATE MATERIALIZED VIEW \"{path}\" AS SELECT * FROM {query}"),
        );
    }
    let columns = view_columns(&fake, &pond);
    let mut by_name: Vec<String> = lake.iter().map(column).collect();
    by_name.sort();
    assert_eq!(columns, by_name, "one column per series, by name");
    let rows = collected_rows(&fake, &pond, &columns);
    assert_eq!(rows, expected_rows(&lake, &columns));
    assert_eq!(rows.len(), 192 - 16, "the gap has no rows");
    let first = data_requests(&fake.log()).len();
    assert!(first >= 3, "≥ 3 pages: {first}");
    let paged = data_requests(&fake.log())
        .iter()
        .filter(|e| e["start_page"].is_string())
        .count();
    assert_eq!(
        paged,
        first - 1,
        "every page after the first asks for its token"
    );
    rollups_equal_recompute(&fake, &pond, "the first collection");
    let types = fake.ok(&pond, "DESCRIBE \"/hydrovu/lake_north\"");
    assert!(
        types.contains("timestamp,\"Timestamp(µs, \"\"UTC\"\")\""),
        "{types}"
    );

    // Nothing new: REFRESH commits nothing, and asks only after the newest reading.
    let before = last_txn(&fake, &pond);
    let idle = fake.ok(&pond, "REFRESH ALL");
    assert_eq!(idle.matches("unchanged").count(), 3, "{idle}");
    assert_eq!(last_txn(&fake, &pond), before);
    let newest = START + 191 * STEP;
    let asked = data_requests(&fake.log()).last().unwrap()["query"]["startTime"].clone();
    assert_eq!(
        asked,
        json!(newest.to_string()),
        "asks from the newest second held"
    );

    // A day more, and a depth sensor added: appended once, as one version;
    // the new column is NULL in the earlier rows. The token expires in the
    // middle (after 3 uses), the first data request is told to wait, and
    // the second page fails once with a 500.
    for s in &mut lake {
        let more = series(
            s.parameter,
            s.unit,
            192..288,
            |_| false,
            |i| 1.0 + i as f64 * 0.5,
        );
        s.readings.extend(more.readings);
    }
    lake.push(series(
        "4",
        "35",
        250..288,
        |_| false,
        |i| 2.0 + (i % 5) as f64 * 0.01,
    ));
    let data = format!("/public-api/v1/locations/{LAKE}/data");
    let slow = json!([
        {"id": "busy", "path_prefix": data, "status": 429, "retry_after": 1, "times": 1},
        {"id": "hiccup", "path_prefix": data, "on_start_page": 150, "status": 500, "times": 1}
    ]);
    fake.set(&state(&lake, slow, 3));
    let tokens_before = fake.log().iter().filter(|e| e["method"] == "POST").count();
    let refreshed = fake.ok(&pond, "REFRESH ALL");
    assert!(
        refreshed.contains("/hydrovu/lake_north,collect,refreshed,96"),
        "{refreshed}"
    );
    let log = fake.log();
    let tokens = log.iter().filter(|e| e["method"] == "POST").count() - tokens_before;
    assert!(
        tokens >= 2,
        "the token was renewed mid-run: {tokens} token requests"
    );
    assert!(log.iter().any(|e| e["status"] == 429), "the 429 was served");
    assert!(log.iter().any(|e| e["status"] == 500), "the 500 was served");
    assert!(
        log.iter().any(|e| e["status"] == 401),
        "the expired token was refused"
    );
    let columns = view_columns(&fake, &pond);
    assert_eq!(
        columns.last().map(String::as_str),
        Some("Depth.m"),
        "{columns:?}"
    );
    assert_eq!(
        collected_rows(&fake, &pond, &columns),
        expected_rows(&lake, &columns)
    );
    let versions = fake.ok(&pond, "SELECT count(*) FROM history('/hydrovu/lake_north')");
    assert_eq!(
        versions, "count(*)\n2\n",
        "the create, then one appended version"
    );
    rollups_equal_recompute(&fake, &pond, "a new day and a new series");
    let depth = fake.ok(
        &pond,
        "SELECT count(*) FROM \"/rollups/1h/lake_north\" WHERE \"Depth.m.count\" > 0",
    );
    assert_eq!(
        depth, "count(*)\n10\n",
        "38 depth readings fall in 10 hours"
    );

    // Collected again: nothing new, nothing committed.
    let before = last_txn(&fake, &pond);
    fake.ok(&pond, "REFRESH ALL");
    assert_eq!(last_txn(&fake, &pond), before);

    // The credentials are nowhere in the pond: not in its SQL text, its
    // history, nor any byte of any file.
    for query in [
        "SELECT * FROM pond.system.transactions",
        "SELECT * FROM pond.system.oplog",
        "SELECT * FROM history('/hydrovu/lake_north')",
        "SELECT * FROM pond.system.stored_queries",
    ] {
        let text = fake.ok(&pond, query);
        assert!(!text.contains(SECRET), "{query} shows the secret");
        assert!(text.contains("hydrovu_readings") || !query.contains("transactions"));
    }
    for file in crate::common::files_under(&pond) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            file.display()
        );
    }
}

#[test]
fn a_failing_fetch_commits_nothing_and_the_next_run_catches_up() {
    let mut lake = lake_history();
    let fake = FakeHydroVu::start(&state(&lake, json!([]), 1_000_000));
    let (_dir, pond) = new_pond(&fake);
    fake.ok(
        &pond,
        &format!("CREATE MATERIALIZED VIEW \"/lake\" AS SELECT * FROM hydrovu_readings({LAKE})"),
    );
    for s in &mut lake {
        let more = series(
            s.parameter,
            s.unit,
            192..400,
            |_| false,
            |i| i as f64 * 0.25,
        );
        s.readings.extend(more.readings);
    }
    // The third page fails with 500 at every try: after the first pages came.
    let broken = json!([{"id": "down", "path_prefix": format!("/public-api/v1/locations/{LAKE}/data"), "on_start_page": 300, "status": 500, "times": -1}]);
    fake.set(&state(&lake, broken, 1_000_000));
    let before = last_txn(&fake, &pond);
    let rows_before = fake.ok(&pond, "SELECT count(*) FROM \"/lake\"");
    let out = fake.sql(&pond, "REFRESH ALL");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "HydroVu location {LAKE}: HTTP 500 Internal Server Error after 5 attempts"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was collected"), "{err}");
    assert_eq!(err.lines().count(), 2, "one line and the statement: {err}");
    assert_eq!(last_txn(&fake, &pond), before);
    assert_eq!(
        fake.ok(&pond, "SELECT count(*) FROM \"/lake\""),
        rows_before
    );
    let failing = data_requests(&fake.log())
        .iter()
        .filter(|e| e["status"] == 500)
        .count();
    assert_eq!(failing, 5, "bounded retries");

    // The server is back: the next run collects everything missed, once.
    fake.set(&state(&lake, json!([]), 1_000_000));
    let out = fake.ok(&pond, "REFRESH ALL");
    assert!(out.contains("/lake,collect,refreshed,208"), "{out}");
    let count = fake.ok(
        &pond,
        "SELECT count(*), count(DISTINCT \"timestamp\") FROM \"/lake\"",
    );
    assert_eq!(
        count,
        format!(
            "count(*),count(DISTINCT /lake.timestamp)\n{0},{0}\n",
            176 + 208
        )
    );
}

#[test]
fn max_points_collects_years_in_bounded_steps() {
    let lake = lake_history();
    let fake = FakeHydroVu::start(&state(&lake, json!([]), 1_000_000));
    let (_dir, pond) = new_pond(&fake);
    fake.ok(
        &pond,
        &format!(
            "CREATE DIRECTORY '/hydrovu'; CREATE MATERIALIZED VIEW \"/hydrovu/lake_north\" AS SELECT * FROM hydrovu_readings({LAKE}, since => TIMESTAMP '2024-03-01 06:00:00Z', max_points => 100)"
        ),
    );
    let mut runs = 1;
    let mut sizes = vec![fake.ok(&pond, "SELECT count(*) FROM \"/hydrovu/lake_north\"")];
    loop {
        let out = fake.ok(&pond, "REFRESH ALL");
        if out.contains("unchanged") {
            break;
        }
        runs += 1;
        sizes.push(out);
        assert!(runs < 20, "no end: {sizes:?}");
    }
    assert!(
        runs >= 3,
        "~100 of ~150 readings of each series a run: {runs} runs"
    );
    let columns = view_columns(&fake, &pond);
    let since = START + 24 * STEP;
    let from_six: Vec<Series> = lake
        .iter()
        .map(|s| Series {
            readings: s
                .readings
                .iter()
                .filter(|(t, _)| *t >= since)
                .cloned()
                .collect(),
            ..s.clone()
        })
        .collect();
    assert_eq!(
        collected_rows(&fake, &pond, &columns),
        expected_rows(&from_six, &columns),
        "in steps, exactly what one collection gives"
    );
    let distinct: BTreeSet<String> = collected_rows(&fake, &pond, &columns).into_iter().collect();
    assert_eq!(distinct.len(), 192 - 16 - 24);
}

#[test]
fn bad_calls_and_missing_credentials_are_one_line_errors() {
    let fake = FakeHydroVu::start(&state(&lake_history(), json!([]), 1_000_000));
    let (dir, pond) = new_pond(&fake);
    let err = |cmd: &mut Command, sql: &str| -> String {
        let out = cmd
            .arg("--pond")
            .arg(&pond)
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{sql} succeeded");
        let text = stderr(&out);
        assert_eq!(text.lines().count(), 2, "{text}");
        text.lines().next().unwrap().to_string()
    };
    let e = err(
        &mut fake.pondsql(),
        "SELECT * FROM hydrovu_readings(6582334, until => 5)",
    );
    assert!(e.contains("until must be a TIMESTAMP"), "{e}");
    let e = err(
        &mut fake.pondsql(),
        "SELECT * FROM hydrovu_readings(6582334, limit => 5)",
    );
    assert!(e.contains("no argument limit"), "{e}");
    let e = err(
        &mut fake.pondsql(),
        "SELECT * FROM hydrovu_readings('lake')",
    );
    assert!(e.contains("the location is a number"), "{e}");
    let e = err(&mut fake.pondsql(), "SELECT * FROM hydrovu_readings(999)");
    assert!(
        e.contains("HydroVu location 999: HTTP 404 Not Found"),
        "{e}"
    );
    let e = err(
        &mut fake.pondsql(),
        "CREATE MATERIALIZED VIEW \"/x\" AS SELECT \"timestamp\" FROM hydrovu_readings(6582334)",
    );
    assert!(e.contains("inside a larger query"), "{e}");

    // Wrong, missing, or exposed credentials.
    let mut wrong = fake.pondsql();
    wrong.env("HYDROVU_CLIENT_SECRET", "not-it");
    let e = err(&mut wrong, "SELECT * FROM hydrovu_locations()");
    assert!(e.contains("signing in failed: HTTP 401 Unauthorized: check the client id and secret (HYDROVU_CLIENT_ID and HYDROVU_CLIENT_SECRET)"), "{e}");
    assert!(!e.contains("not-it"), "{e}");
    let mut none = fake.pondsql();
    none.env_remove("HYDROVU_CLIENT_ID")
        .env_remove("HYDROVU_CLIENT_SECRET");
    let e = err(&mut none, "SELECT * FROM hydrovu_locations()");
    assert!(
        e.contains("HydroVu: no credentials: set HYDROVU_CLIENT_ID and HYDROVU_CLIENT_SECRET"),
        "{e}"
    );

    // The secrets file: used when the environment has none, refused when others may read it.
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(
        &secrets,
        format!("[hydrovu]\nclient_id = \"pondsql-test\"\nclient_secret = \"{SECRET}\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut from_file = fake.pondsql();
    from_file
        .env_remove("HYDROVU_CLIENT_ID")
        .env_remove("HYDROVU_CLIENT_SECRET")
        .env("PONDSQL_SECRETS", &secrets);
    let e = err(&mut from_file, "SELECT * FROM hydrovu_locations()");
    assert!(
        e.contains("may be read by others (mode 644): chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = fake
        .pondsql()
        .env_remove("HYDROVU_CLIENT_ID")
        .env_remove("HYDROVU_CLIENT_SECRET")
        .env("PONDSQL_SECRETS", &secrets)
        .arg("--pond")
        .arg(&pond)
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT count(*) FROM hydrovu_locations()",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "count(*)\n3\n", "{}", stderr(&out));

    // A server asking to wait longer than the client waits fails at once, saying so.
    let names = json!([{"id": "later", "path_prefix": "/public-api/v1/sispec/friendlynames", "status": 503, "retry_after": 3600, "times": -1}]);
    fake.set(&state(&lake_history(), names, 1_000_000));
    let e = err(&mut fake.pondsql(), "SELECT * FROM hydrovu_parameters()");
    assert!(
        e.contains("HydroVu friendly names: HTTP 503 Service Unavailable and asked to wait 3600 s: try again later"),
        "{e}"
    );
    let asked = fake.log().iter().filter(|l| l["status"] == 503).count();
    assert_eq!(asked, 1, "no retry when told to wait that long");

    // An unreachable server fails in bounded time with the cause.
    let mut away = fake.pondsql();
    away.env("HYDROVU_URL", "http://127.0.0.1:9");
    let e = err(&mut away, "SELECT * FROM hydrovu_parameters()");
    assert!(e.contains("cannot connect"), "{e}");
}

#[test]
fn the_cron_script_collects_downsamples_and_answers_the_chart() {
    let lake = lake_history();
    let fake = FakeHydroVu::start(&state(&lake, json!([]), 1_000_000));
    let (_dir, pond) = new_pond(&fake);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/cron/hydrovu.sql");
    let run = || {
        let out = fake
            .pondsql()
            .arg("--pond")
            .arg(&pond)
            .args(["--format", "csv", "-f"])
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let first = run();
    // Two days back from the newest hour: all 48 hours but the 4 of the gap.
    let chart: Vec<&str> = first.lines().filter(|l| l.starts_with("2024-")).collect();
    assert_eq!(chart.len(), 44, "{first}");
    assert!(chart[0].starts_with("2024-03-01T00:00:00Z,8.0,"), "{first}");
    assert!(
        chart[43].starts_with("2024-03-02T23:00:00Z,12.6,") && chart[43].ends_with(",12.75"),
        "the last hour's min and max: {first}"
    );
    let txn = last_txn(&fake, &pond);
    let again = run();
    assert_eq!(last_txn(&fake, &pond), txn, "a second run commits nothing");
    assert_eq!(again, first);
    rollups_equal_recompute(&fake, &pond, "the cron script");
    // The site of the collected readings charts their rollups without
    // calling HydroVu (the collecting view's query is never planned).
    let requests = fake.log().len();
    let site = _dir.path().join("site");
    let out = fake
        .pondsql()
        .args(["site", "build", "--pond"])
        .arg(&pond)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fake.log().len(), requests, "site build called the API");
    assert!(
        site.join("series/hydrovu-lake_north--all--Temperature.C.html")
            .is_file(),
        "{}",
        stdout(&out)
    );
}

/// `pondsql serve` started with the fake's URL and credentials; its URL.
fn serve(fake: &FakeHydroVu, pond: &Path, args: &[&str]) -> (Child, String) {
    let mut child = fake
        .pondsql()
        .args(["serve", "--pond"])
        .arg(pond)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut child);
    let address = line
        .split_whitespace()
        .find(|w| w.starts_with("grpc://"))
        .unwrap_or_else(|| panic!("serve printed no address: {line:?}"))
        .to_string();
    (child, address)
}

/// A remote session fetches with the server's credentials, so API sources
/// are the operator's choice: refused by default (PERMISSION_DENIED, exit
/// code 1, nothing fetched), answered with --allow-sources.
#[test]
fn remote_sessions_call_api_sources_only_when_the_operator_allows() {
    let fake = FakeHydroVu::start(&state(&lake_history(), json!([]), 1_000_000));
    let (_dir, pond) = new_pond(&fake);
    let remote = |url: &str, sql: &str| {
        pondsql()
            .args(["--connect", url, "--format", "csv", "-c", sql])
            .output()
            .unwrap()
    };
    let readings = "SELECT count(*) AS n FROM hydrovu_readings(6582334)";
    let (mut server, url) = serve(&fake, &pond, &[]);
    for sql in [readings, "SELECT * FROM hydrovu_locations()"] {
        let out = remote(&url, sql);
        assert_eq!(out.status.code(), Some(1), "{sql}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("this session may not call API sources (they fetch with the server's credentials): the operator can allow them with `pondsql serve --allow-sources`"),
            "{sql}: {}",
            stderr(&out)
        );
    }
    assert!(fake.log().is_empty(), "{:?}", fake.log());
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, url) = serve(&fake, &pond, &["--allow-sources"]);
    let out = remote(&url, readings);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n176\n");
    // Fetched once: one first page (the others follow its cursor).
    let first_pages = || {
        let log = fake.log();
        let n = data_requests(&log)
            .into_iter()
            .filter(|r| r["start_page"].is_null())
            .count();
        (n, log)
    };
    let (n, log) = first_pages();
    assert_eq!(n, 1, "{log:?}");
    // The same call twice in one query is opened once, before planning.
    let twice = "SELECT (SELECT count(*) FROM hydrovu_readings(6582334)) + (SELECT count(*) FROM hydrovu_readings(6582334)) AS n";
    let out = remote(&url, twice);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n352\n");
    let (n, log) = first_pages();
    assert_eq!(n, 2, "{log:?}");
    server.kill().unwrap();
    server.wait().unwrap();
}
