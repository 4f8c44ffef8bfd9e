//! Pictures: `series()` choosing a resolution, and charts drawn by
//! `COPY … (FORMAT chart)` and `pondsql chart`, checked by decoding them.

use std::path::Path;

use crate::common::{pondsql, stderr, stdout, TestPond};
use crate::pruning::run_counted;

/// Readings every 15 minutes from 2024-01-01 for ten days (none on
/// 2024-01-05 from 12:00 to 18:00), one version a day, and two rollup
/// levels refreshed after each day: `/lv/raw`, `/lv/1h`, `/lv/1d`.
async fn levels() -> TestPond {
    let pond = TestPond::new().await;
    pond.ok("CREATE DIRECTORY '/lv'").await;
    pond.ok("CREATE TABLE \"/lv/raw\" (ts TIMESTAMP, \"temp.degC\" DOUBLE)")
        .await;
    for day in 0..10 {
        let start = 1_704_067_200 + day * 86_400;
        pond.ok(&format!(
            "INSERT INTO \"/lv/raw\" SELECT CAST(to_timestamp_seconds({start} + 900 * v) AS TIMESTAMP), 10 + 3 * sin(v / 15.0) + 0.6 * cos(v * 2.1) + {day} * 0.1 FROM generate_series(0, 95) t(v) WHERE NOT ({day} = 4 AND v >= 48 AND v < 72)"
        ))
        .await;
        if day == 0 {
            pond.ok("CREATE MATERIALIZED VIEW \"/lv/1h\" AS SELECT * FROM downsample('/lv/raw', INTERVAL '1 hour')").await;
            pond.ok("CREATE MATERIALIZED VIEW \"/lv/1d\" AS SELECT * FROM downsample('/lv/1h', INTERVAL '1 day')").await;
        } else {
            pond.ok("REFRESH ALL").await;
        }
    }
    pond
}

/// `level, rows` of `series()` over the window with at most `n` points.
async fn chosen(pond: &TestPond, levels: &str, from: &str, to: &str, n: u64) -> String {
    pond.value(&format!(
        "SELECT concat(min(level), ' ', count(*)) FROM series({levels}, TIMESTAMP '{from}', TIMESTAMP '{to}', max_points => {n})"
    ))
    .await
}

#[tokio::test]
async fn series_picks_the_finest_level_that_fits_exactly_at_the_boundaries() {
    let pond = levels().await;
    let pattern = "'/lv/{level}'";
    // One day: 96 raw rows > 24, 24 hour buckets ≤ 24.
    assert_eq!(
        chosen(&pond, pattern, "2024-01-02", "2024-01-03", 24).await,
        "1h 24"
    );
    // One hour more: 25 hour buckets, so days (2 start in the window).
    assert_eq!(
        chosen(&pond, pattern, "2024-01-02", "2024-01-03 01:00:00", 24).await,
        "1d 2"
    );
    // Six hours: 24 raw rows fit; 15 minutes more and they do not.
    assert_eq!(
        chosen(&pond, pattern, "2024-01-02", "2024-01-02 06:00:00", 24).await,
        "raw 24"
    );
    assert_eq!(
        chosen(&pond, pattern, "2024-01-02", "2024-01-02 06:15:00", 24).await,
        "1h 7"
    );
    // Raw rows are counted, not assumed: the outage leaves 24 in 12 hours.
    assert_eq!(
        chosen(
            &pond,
            pattern,
            "2024-01-05 06:00:00",
            "2024-01-05 18:00:00",
            24
        )
        .await,
        "raw 24"
    );
    // A window off the hour counts the buckets that start in it.
    assert_eq!(
        chosen(
            &pond,
            pattern,
            "2024-01-02 00:30:00",
            "2024-01-03 00:30:00",
            24
        )
        .await,
        "1h 24"
    );
    assert_eq!(
        chosen(
            &pond,
            pattern,
            "2024-01-02 00:30:00",
            "2024-01-03 01:00:01",
            24
        )
        .await,
        "1d 1"
    );
    // Nothing fits: the coarsest.
    assert_eq!(
        chosen(&pond, pattern, "2024-01-01", "2024-01-11", 1).await,
        "1d 10"
    );
    // A list names the same levels.
    let list = "['/lv/1d', '/lv/raw', '/lv/1h']";
    assert_eq!(
        chosen(&pond, list, "2024-01-02", "2024-01-03", 24).await,
        "/lv/1h 24"
    );
    // Without raw data the finest rollup is the finest level.
    assert_eq!(
        chosen(
            &pond,
            "['/lv/1h', '/lv/1d']",
            "2024-01-02",
            "2024-01-02 06:00:00",
            24
        )
        .await,
        "/lv/1h 6"
    );

    // The columns: the level's, then level and bucket.
    let types = pond
        .value("SELECT concat(arrow_typeof(ts), ' | ', arrow_typeof(\"temp.degC.avg\"), ' | ', arrow_typeof(level), ' | ', arrow_typeof(bucket), ' | ', CAST(bucket AS VARCHAR)) FROM series('/lv/{level}', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-03', max_points => 24) LIMIT 1")
        .await;
    assert_eq!(
        types,
        "Timestamp(µs) | Float64 | Utf8 | Interval(MonthDayNano) | 1 hours"
    );
    let raw = pond
        .value("SELECT concat(count(*), ' ', count(bucket), ' ', min(ts), ' ', max(ts)) FROM series('/lv/{level}', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-02 06:00:00', max_points => 24)")
        .await;
    assert_eq!(raw, "24 0 2024-01-02T00:00:00 2024-01-02T05:45:00");
    // The hour level's values are the view's own.
    let same = pond
        .value("SELECT count(*) FROM series('/lv/{level}', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-03', max_points => 24) s JOIN \"/lv/1h\" h ON s.ts = h.ts AND s.\"temp.degC.avg\" = h.\"temp.degC.avg\" AND s.count = h.count")
        .await;
    assert_eq!(same, "24");
}

#[tokio::test]
async fn series_reads_only_the_chosen_levels_versions_in_the_window() {
    let pond = levels().await;
    // An hour-level window of one day: the 1h view has ten versions (one a
    // day), so nine are skipped by their time range. Raw data is not read:
    // its version of that day alone records 96 rows, more than 24.
    let (rows, c) = run_counted(
        &pond,
        "SELECT count(*) FROM series('/lv/{level}', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-03', max_points => 24)",
    )
    .await;
    assert_eq!(rows, "24");
    assert_eq!(c["versions_listed"], 10, "{c:?}");
    assert_eq!(c["versions_skipped_by_time"], 9, "{c:?}");
    // The year view reads the day level only: nothing of raw, nothing of 1h.
    let (rows, c) = run_counted(
        &pond,
        "SELECT count(*) FROM series('/lv/{level}', TIMESTAMP '2024-01-01', TIMESTAMP '2025-01-01', max_points => 400)",
    )
    .await;
    assert_eq!(rows, "10");
    assert_eq!(c["versions_listed"], 10, "{c:?}");
    assert_eq!(c["versions_skipped_by_time"], 0, "{c:?}");
    // Half a day at the edge of a raw version: the recorded counts cannot
    // decide (0 to 96 rows), so raw rows are counted: one raw version read
    // to count and once more for the rows (ten listed, nine skipped each time).
    let (rows, c) = run_counted(
        &pond,
        "SELECT count(*) FROM series('/lv/{level}', TIMESTAMP '2024-01-03 12:00:00', TIMESTAMP '2024-01-04', max_points => 48)",
    )
    .await;
    assert_eq!(rows, "48");
    assert_eq!(c["versions_listed"], 20, "{c:?}");
    assert_eq!(c["versions_skipped_by_time"], 18, "{c:?}");
}

#[tokio::test]
async fn series_refuses_what_is_not_a_set_of_levels() {
    let pond = levels().await;
    pond.ok("CREATE TABLE \"/other\" (ts TIMESTAMP, v DOUBLE)")
        .await;
    let cases = [
        ("series('/lv/*', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02')", "one wildcard, {level}"),
        ("series('/none/{level}', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02')", "no table matches"),
        ("series('/lv/{level}', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-01')", "window is empty"),
        ("series('/lv/{level}', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02', max_points => 0)", "positive integer"),
        ("series('/lv/{level}', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02', points => 5)", "unknown option points"),
        ("series('/lv/{level}', 5, TIMESTAMP '2024-01-02')", "from must be a TIMESTAMP"),
        ("series(['/lv/raw', '/other'], TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02')", "both raw data"),
        ("series(['/lv'], TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02')", "is a directory"),
    ];
    for (call, expected) in cases {
        let err = pond.err(&format!("SELECT * FROM {call}")).await;
        assert!(err.contains(expected), "{call}: {err}");
    }
}

/// Width, height and RGB pixels of a PNG.
pub(crate) fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// The texts of an SVG's `<text>` elements, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|e| e.split_once('>').map(|(_, rest)| rest))
        .filter_map(|rest| {
            rest.split_once("</text>")
                .map(|(text, _)| text.trim().to_string())
        })
        .collect()
}

/// The data lines of a plotters SVG (drawn 2 px wide; axes and legend are not).
fn data_lines(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|element| {
            element
                .split('>')
                .next()
                .unwrap()
                .contains("stroke-width=\"2\"")
        })
        .count()
}

#[tokio::test]
async fn copy_draws_a_band_chart_a_chart_per_station_and_a_chart_with_a_gap() {
    let pond = levels().await;
    let out = tempfile::tempdir().unwrap();
    let file = |name: &str| out.path().join(name).to_str().unwrap().to_string();

    // A band: the hour level (240 buckets ≤ 300) as min–max around avg.
    let band = file("band.png");
    let written = pond
        .value(&format!(
            "COPY (SELECT * FROM series('/lv/{{level}}', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-11', max_points => 300)) TO '{band}' (FORMAT chart, width 800, height 400, title 'Lake north')"
        ))
        .await;
    assert_eq!(written, "234"); // 240 hours less the 6 of the outage
    let (w, h, pixels) = decode_png(Path::new(&band));
    assert_eq!((w, h), (800, 400));
    let white = pixels.iter().filter(|p| **p == [255, 255, 255]).count();
    let line = pixels.iter().filter(|p| **p == [31, 119, 180]).count();
    // The band: the line's colour at 20 % over white.
    let band_fill = pixels
        .iter()
        .filter(|p| p[2] > 230 && p[0] > 200 && p[0] < 220 && p[1] > 220 && p[1] < 235)
        .count();
    let total = pixels.len();
    assert!(
        white < total * 95 / 100,
        "mostly blank: {white} of {total} white"
    );
    assert!(line > 1_000, "line pixels: {line}");
    eprintln!("band chart: {white} white, {line} line, {band_fill} band of {total}");
    assert!(band_fill > 5_000, "band pixels: {band_fill}");

    // Two stations over a glob: two lines, a legend naming both.
    pond.ok("CREATE DIRECTORY '/st/north'").await;
    pond.ok("CREATE DIRECTORY '/st/south'").await;
    for (station, base) in [("north", 10), ("south", 14)] {
        pond.ok(&format!(
            "CREATE TABLE \"/st/{station}/r\" AS SELECT CAST(to_timestamp_seconds(1704067200 + 3600 * v) AS TIMESTAMP) AS ts, {base} + cos(v / 5.0) AS temp FROM generate_series(0, 47) t(v)"
        ))
        .await;
    }
    let multi = file("stations.svg");
    pond.ok(&format!(
        "COPY (SELECT station, ts, temp FROM glob('/st/{{station}}/r')) TO '{multi}' (FORMAT chart)"
    ))
    .await;
    let svg = std::fs::read_to_string(&multi).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("width=\"1000\"") && svg.contains("height=\"500\"")
    );
    assert_eq!(data_lines(&svg), 2, "{svg}");
    assert!(
        texts(&svg).contains(&"north".to_string()) && texts(&svg).contains(&"south".to_string()),
        "legend"
    );

    // A gap: six hours without readings are not bridged.
    let gap = file("gap.svg");
    pond.ok(&format!(
        "COPY (SELECT ts, \"temp.degC\" FROM \"/lv/raw\" WHERE ts >= TIMESTAMP '2024-01-05' AND ts < TIMESTAMP '2024-01-06') TO '{gap}' (FORMAT chart)"
    ))
    .await;
    let svg = std::fs::read_to_string(&gap).unwrap();
    assert_eq!(data_lines(&svg), 2, "one line before the outage, one after");
    assert!(
        texts(&svg).contains(&"degC".to_string()),
        "the unit labels the y axis"
    );
    let (_, _, pixels) = {
        let png = file("gap.png");
        pond.ok(&format!(
            "COPY (SELECT ts, \"temp.degC\" FROM \"/lv/raw\" WHERE ts >= TIMESTAMP '2024-01-05' AND ts < TIMESTAMP '2024-01-06') TO '{png}' (FORMAT chart)"
        ))
        .await;
        decode_png(Path::new(&png))
    };
    // Columns of the plot area crossed by the line: the outage's quarter stays empty.
    let (w, h) = (1000usize, 500usize);
    let drawn: Vec<bool> = (0..w)
        .map(|x| (0..h).any(|y| pixels[y * w + x] == [31, 119, 180]))
        .collect();
    let empty_run = drawn
        .iter()
        .fold((0, 0), |(best, run), d| {
            if *d {
                (best, 0)
            } else {
                (best.max(run + 1), run + 1)
            }
        })
        .0;
    assert!(empty_run > 150, "the gap spans {empty_run} columns");
}

#[tokio::test]
async fn bad_charts_are_refused_in_one_line_and_write_nothing() {
    let pond = levels().await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x.png");
    let target = target.to_str().unwrap();
    let cases = [
        (format!("COPY (SELECT 1 AS a) TO '{target}' (FORMAT chart)"), "no timestamp column"),
        (format!("COPY (SELECT ts, 'x' AS name FROM \"/lv/raw\") TO '{target}' (FORMAT chart)"), "nothing to draw"),
        (format!("COPY (SELECT * FROM \"/lv/raw\" WHERE ts < TIMESTAMP '2000-01-01') TO '{target}' (FORMAT chart)"), "returned no rows"),
        (format!("COPY \"/lv/raw\" TO '{}' (FORMAT chart)", out.path().join("x.jpg").display()), "does not end in .png or .svg"),
        (format!("COPY \"/lv/raw\" TO '{target}' (FORMAT chart, colour 'red')"), "unknown option 'colour'"),
        (format!("COPY \"/lv/raw\" TO '{target}' (FORMAT chart, width 5)"), "width and height go from 100"),
        (format!("COPY \"/lv/raw\" TO '{target}' (FORMAT chart, width 'wide')"), "width must be a number"),
    ];
    for (sql, expected) in cases {
        let err = pond.err(&sql).await;
        assert!(err.contains(expected), "{sql}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn pondsql_chart_writes_the_file_it_names() {
    let pond = levels().await;
    let out = tempfile::tempdir().unwrap();
    let svg = out.path().join("t.svg");
    let run = pondsql()
        .args(["chart", "--pond"])
        .arg(pond.pond_path())
        .args([
            "-c",
            "SELECT ts, \"temp.degC.min\", \"temp.degC.avg\", \"temp.degC.max\" FROM \"/lv/1h\"",
            "-o",
        ])
        .arg(&svg)
        .args([
            "--title",
            "Hourly temperature",
            "--width",
            "640",
            "--height",
            "320",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        stdout(&run).trim(),
        format!("wrote {} (234 rows)", svg.display())
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        texts(&text).contains(&"Hourly temperature".to_string()) && text.contains("width=\"640\"")
    );
    assert!(text.contains("<polygon"), "the min–max band");
    // A query with nothing to draw: exit 1, one line, no file.
    let bad = out.path().join("bad.png");
    let run = pondsql()
        .args(["chart", "--pond"])
        .arg(pond.pond_path())
        .args(["-c", "SELECT 1 AS a", "-o"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(stderr(&run).lines().count(), 1, "{}", stderr(&run));
    assert!(!bad.exists());
    // A font that is not one: the error names the file and the fix.
    let not_a_font = out.path().join("font.ttf");
    std::fs::write(&not_a_font, "not a font").unwrap();
    let run = pondsql()
        .env("PONDSQL_CHART_FONT", &not_a_font)
        .args(["chart", "--pond"])
        .arg(pond.pond_path())
        .args(["-c", "SELECT ts, \"temp.degC\" FROM \"/lv/raw\"", "-o"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains(&format!("{} is not a TrueType font", not_a_font.display())),
        "{}",
        stderr(&run)
    );
    assert!(!bad.exists());
}

/// NaN and ±inf are gaps like NULL; values near ±1.8e308 either draw or
/// give one line; none spins (the chart ran forever before).
#[tokio::test]
async fn non_finite_and_huge_values_are_gaps_or_one_line_never_a_hang() {
    let pond = TestPond::new().await;
    pond.ok("CREATE TABLE \"/odd\" (ts TIMESTAMP, v DOUBLE)")
        .await;
    pond.ok("INSERT INTO \"/odd\" VALUES ('2024-01-01 00:00', 1.0), ('2024-01-01 01:00', 2.0), ('2024-01-01 02:00', 'inf'), ('2024-01-01 03:00', 3.0), ('2024-01-01 04:00', '-inf'), ('2024-01-01 05:00', 4.0), ('2024-01-01 06:00', 'NaN'), ('2024-01-01 07:00', 5.0)").await;
    pond.ok("CREATE MATERIALIZED VIEW \"/odd_2h\" AS SELECT * FROM downsample('/odd', INTERVAL '2 hours')").await;
    let out = tempfile::tempdir().unwrap();
    let chart = |query: &str, file: &str| {
        let target = out.path().join(file);
        let run = crate::common::output_within(
            pondsql()
                .args(["chart", "--pond"])
                .arg(pond.pond_path())
                .args(["-c", query, "-o"])
                .arg(&target),
            std::time::Duration::from_secs(120),
            &format!("pondsql chart {query}"),
        );
        (run, target)
    };
    // Four finite values between the gaps: four separate points, no line
    // through the infinities.
    let (run, svg) = chart("SELECT ts, v FROM \"/odd\"", "odd.svg");
    assert!(run.status.success(), "{}", stderr(&run));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
    // A band whose edges are infinite shrinks to its line.
    for file in ["band.svg", "band.png"] {
        let (run, target) = chart(
            "SELECT ts, \"v.min\", \"v.avg\", \"v.max\" FROM \"/odd_2h\"",
            file,
        );
        assert!(run.status.success(), "{file}: {}", stderr(&run));
        assert!(target.exists());
    }
    // Only non-finite values: nothing to draw, in one line.
    let (run, target) = chart(
        "SELECT ts, v FROM \"/odd\" WHERE isnan(v) OR abs(v) = CAST('inf' AS DOUBLE)",
        "none.png",
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("every value is NULL, NaN or infinite"),
        "{}",
        stderr(&run)
    );
    assert!(!target.exists());
    // The largest finite values: one value draws; both ends give one line.
    let (run, _) = chart("SELECT ts, 1.7e308 AS v FROM \"/odd\"", "max.png");
    assert!(run.status.success(), "{}", stderr(&run));
    let (run, target) = chart(
        "SELECT ts, CASE WHEN v > 2 THEN 1.7e308 ELSE -1.7e308 END AS v FROM \"/odd\"",
        "span.svg",
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert_eq!(stderr(&run).lines().count(), 1, "{}", stderr(&run));
    assert!(
        stderr(&run).contains("wider than an axis can hold"),
        "{}",
        stderr(&run)
    );
    assert!(!target.exists());
}

#[tokio::test]
async fn copy_takes_duckdbs_format_option_list_for_every_format() {
    let pond = levels().await;
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("raw.csv");
    let written = pond
        .value(&format!(
            "COPY \"/lv/raw\" TO '{}' (FORMAT csv)",
            csv.display()
        ))
        .await;
    assert_eq!(written, "936");
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 937);
    let parquet = out.path().join("raw.parquet");
    pond.ok(&format!(
        "COPY \"/lv/raw\" TO '{}' (FORMAT parquet, compression 'zstd(3)')",
        parquet.display()
    ))
    .await;
    let back = pond
        .value(&format!("SELECT count(*) FROM '{}'", parquet.display()))
        .await;
    assert_eq!(back, "936");
}
