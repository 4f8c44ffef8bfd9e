//! `pondsql site build`, viewed in a real browser: headless Chromium loads
//! the site from a static server on 127.0.0.1 (tests/python/site/static_server.py),
//! which logs every request. Screenshots are kept under target/site-screenshots/.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::charts::decode_png;
use crate::common::{first_line, pondsql, stderr, stdout, TestPond};

/// The dist/ of the npm package dygraphs, fetched on first use by
/// tests/python/site/fetch_dygraphs.sh (as `python()` creates the venv).
fn dygraphs() -> PathBuf {
    let dir = std::env::var_os("PONDSQL_DYGRAPHS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/pondsql/dygraphs-2.2.2/package/dist")
        });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/site/fetch_dygraphs.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        out.status.success() && dir.join("dygraph.min.js").is_file(),
        "fetching dygraphs from npm into {} failed (tests/python/site/fetch_dygraphs.sh): {}",
        dir.display(),
        stderr(&out)
    );
    dir
}

/// Readings every 15 minutes for 400 days from 2024-01-01 (two
/// parameters), rolled up hourly and daily.
async fn year_of_readings() -> TestPond {
    let pond = TestPond::new().await;
    pond.ok("CREATE DIRECTORY '/lake'").await;
    pond.ok(
        "CREATE TABLE \"/lake/raw\" AS SELECT CAST(to_timestamp_seconds(1704067200 + 900 * v) AS TIMESTAMP) AS ts, \
         12 + 8 * sin(v / 5500.0) + sin(v / 15.0) AS \"temp.degC\", 9 - 0.2 * cos(v / 40.0) AS \"do.mg_L\" \
         FROM generate_series(0, 38399) t(v)",
    )
    .await;
    pond.ok("CREATE MATERIALIZED VIEW \"/lake/1h\" AS SELECT * FROM downsample('/lake/raw', INTERVAL '1 hour')").await;
    pond.ok("CREATE MATERIALIZED VIEW \"/lake/1d\" AS SELECT * FROM downsample('/lake/1h', INTERVAL '1 day')").await;
    pond
}

/// `pondsql site build` of `pond` into `out`, with `assets`.
fn site_build(pond: &Path, out: &Path, assets: &Path) -> std::process::Output {
    pondsql()
        .args(["site", "build", "--pond"])
        .arg(pond)
        .arg("--out")
        .arg(out)
        .args(["--title", "Lake sensors", "--assets"])
        .arg(assets)
        .output()
        .unwrap()
}

fn build(pond: &Path, out: &Path) -> String {
    let run = site_build(pond, out, &dygraphs());
    assert!(run.status.success(), "{}", stderr(&run));
    stdout(&run)
}

struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(root: &Path, log: PathBuf) -> Server {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/site/static_server.py"
            ))
            .arg(root)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let url = first_line(&mut child);
        Server { child, url, log }
    }

    /// The paths requested since the last call.
    fn take_requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::write(&self.log, "");
        text.lines().map(str::to_string).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads `url` in headless Chromium: the DOM once scripts settled, the
/// console's messages, and (a second load) a screenshot written to `screenshot`.
fn browse(url: &str, screenshot: Option<&Path>, profile: &Path) -> (String, Vec<String>) {
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args([
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=15000",
                "--window-size=1200,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium runs (.ci/run installs it: apt install chromium)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(dom.status.success(), "{}", stderr(&dom));
    let console: Vec<String> = stderr(&dom)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    if let Some(screenshot) = screenshot {
        let shot = chromium(&[&format!("--screenshot={}", screenshot.display())]);
        assert!(shot.status.success(), "{}", stderr(&shot));
    }
    (stdout(&dom), console)
}

/// The `data-level` of the page's status line.
fn shown_level(dom: &str) -> String {
    let status = dom
        .split("<p id=\"status\"")
        .nth(1)
        .expect("the status line");
    let head = status.split('>').next().unwrap();
    assert!(!head.contains("data-error"), "the page failed: {status}");
    head.split("data-level=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no level shown: {status}"))
        .to_string()
}

fn not_blank(png: &Path) {
    let (w, h, pixels) = decode_png(png);
    assert_eq!((w, h), (1200, 800));
    // Text, grid and page are grey; the line and its band are not.
    let coloured = pixels
        .iter()
        .filter(|p| p[2] as i32 - p[0] as i32 > 40)
        .count();
    assert!(
        coloured > 1_500,
        "{}: {coloured} coloured pixels (no chart drawn?)",
        png.display()
    );
}

#[tokio::test]
async fn the_site_shows_every_series_zooming_fetches_a_finer_level_and_a_rebuild_rewrites_only_what_changed(
) {
    let pond = year_of_readings().await;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let report = build(&pond.pond_path(), &site);
    assert!(report.contains("2 series"), "{report}");
    let server = Server::start(&site, dir.path().join("requests.log"));
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../site-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = dir.path().join("chromium");

    // The index: both parameters, their time range and latest value.
    let (index, console) = browse(&format!("{}/index.html", server.url), None, &profile);
    assert!(console.is_empty(), "{console:?}");
    assert!(
        index.contains("series/lake-raw--all--temp.degC.html"),
        "{index}"
    );
    assert!(
        index.contains("2024-01-01 00:00 – 2025-02-03 23:45"),
        "{index}"
    );
    server.take_requests();

    // The whole year on ~1,150 pixels: 9,600 hours are too many, 400 days fit.
    let page = format!("{}/series/lake-raw--all--temp.degC.html", server.url);
    let year_png = shots.join("year.png");
    let (dom, console) = browse(&page, Some(&year_png), &profile);
    assert!(console.is_empty(), "{console:?}");
    assert_eq!(shown_level(&dom), "1d");
    let year = server.take_requests();
    assert!(year.iter().any(|p| p.contains("/1d/")), "{year:?}");
    assert!(
        !year
            .iter()
            .any(|p| p.contains("/1h/") || p.contains("/raw/")),
        "{year:?}"
    );
    not_blank(&year_png);

    // One day: its 96 raw readings fit, so the raw level's chunks are fetched.
    let day_png = shots.join("day.png");
    let (dom, console) = browse(
        &format!("{page}#from=2024-03-01T00:00:00&to=2024-03-02T00:00:00"),
        Some(&day_png),
        &profile,
    );
    assert!(console.is_empty(), "{console:?}");
    assert_eq!(shown_level(&dom), "raw");
    let day = server.take_requests();
    assert!(day.iter().any(|p| p.contains("/raw/")), "{day:?}");
    assert!(!day.iter().any(|p| p.contains("/1d/")), "{day:?}");
    not_blank(&day_png);
    // A month: hours.
    let (dom, _) = browse(
        &format!("{page}#from=2024-03-01T00:00:00&to=2024-03-31T00:00:00"),
        None,
        &profile,
    );
    assert_eq!(shown_level(&dom), "1h");
    drop(server);

    // A rebuild of the same pond writes nothing.
    let unchanged = build(&pond.pond_path(), &site);
    assert!(
        unchanged.contains(" 0 files written"),
        "{report}\n{unchanged}"
    );
    let page = site.join("series/lake-raw--all--temp.degC.html");
    let page_time = std::fs::metadata(&page).unwrap().modified().unwrap();
    let old_chunk = site.join("data/lake-raw/all/1h/473.json");
    let old_time = std::fs::metadata(&old_chunk).unwrap().modified().unwrap();

    // A new hour of readings: the last chunk of each level, the manifest and the index change.
    pond.ok("INSERT INTO \"/lake/raw\" SELECT CAST(to_timestamp_seconds(1704067200 + 900 * v) AS TIMESTAMP), 12.5, 9.1 FROM generate_series(38400, 38403) t(v)").await;
    pond.ok("REFRESH ALL").await;
    let after = build(&pond.pond_path(), &site);
    assert!(after.contains(" 5 files written"), "{after}");
    assert_eq!(
        std::fs::metadata(&page).unwrap().modified().unwrap(),
        page_time
    );
    assert_eq!(
        std::fs::metadata(&old_chunk).unwrap().modified().unwrap(),
        old_time
    );
    let manifest = std::fs::read_to_string(site.join("data/lake-raw/all/manifest.json")).unwrap();
    assert!(manifest.contains("\"to_ms\":1738629900000"), "{manifest}"); // 2025-02-04 00:45 UTC
}

#[tokio::test]
async fn site_build_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let empty = TestPond::new().await;
    let pond = TestPond::new().await;
    pond.ok("CREATE TABLE \"/raw\" AS SELECT CAST(to_timestamp_seconds(900 * v) AS TIMESTAMP) AS ts, v * 1.5 AS x FROM generate_series(0, 9) t(v)").await;
    pond.ok(
        "CREATE MATERIALIZED VIEW \"/1h\" AS SELECT * FROM downsample('/raw', INTERVAL '1 hour')",
    )
    .await;
    let cases = [
        (empty.pond_path(), dygraphs(), "no rollups to chart"),
        (
            pond.pond_path(),
            PathBuf::from("/nonexistent/dist"),
            "cannot read dygraph.min.js",
        ),
    ];
    for (pond, assets, expected) in cases {
        let run = site_build(&pond, &site, &assets);
        assert_eq!(run.status.code(), Some(1));
        assert!(stderr(&run).contains(expected), "{}", stderr(&run));
        assert_eq!(stderr(&run).lines().count(), 1, "{}", stderr(&run));
    }
}

/// Station names that slug alike ("x y" and "x-y", "東京" and "大阪") get
/// pages and data of their own, and a 250-byte name builds: each page's
/// data is its own station's (one station's data once showed under
/// another's name, and a long name failed the build).
#[tokio::test]
async fn stations_whose_names_slug_alike_keep_their_own_pages() {
    let pond = TestPond::new().await;
    let long = "s".repeat(250);
    let stations = ["x y", "x-y", "東京", "大阪", long.as_str()];
    for (i, station) in stations.iter().enumerate() {
        pond.ok(&format!(
            "CREATE DIRECTORY '/st/{station}'; CREATE TABLE \"/st/{station}/r\" AS SELECT CAST(to_timestamp_seconds(1704067200 + 900 * v) AS TIMESTAMP) AS ts, {i}.0 + 0 * v AS level FROM generate_series(0, 7) t(v)"
        ))
        .await;
    }
    pond.ok("CREATE MATERIALIZED VIEW \"/st_1h\" AS SELECT * FROM downsample('/st/{station}/r', INTERVAL '1 hour')").await;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    build(&pond.pond_path(), &site);
    let pages: Vec<PathBuf> = std::fs::read_dir(site.join("series"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pages.len(), stations.len(), "{pages:?}");
    // Each page names a manifest of its own, whose group is the page's
    // station, and whose data holds that station's value.
    let mut groups = Vec::new();
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        let at = html.find("../data/").expect("the page names its manifest") + 3;
        let manifest_path = &html[at..at + html[at..].find("manifest.json").unwrap() + 13];
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(site.join(manifest_path)).unwrap())
                .unwrap();
        let group = manifest["group"].as_str().unwrap().to_string();
        let i = stations.iter().position(|s| *s == group).unwrap();
        let data_dir = site.join(manifest_path).parent().unwrap().to_path_buf();
        let data: String = crate::common::files_under(&data_dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("manifest.json"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(
            data.contains(&format!("{i}.0")) || data.contains(&format!("{i},")),
            "{group}: {data}"
        );
        groups.push(group);
    }
    groups.sort();
    let mut expected: Vec<String> = stations.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(groups, expected);
}
