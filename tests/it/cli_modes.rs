//! The command line beyond the basics: output formats, -c/-f ordering, SQL
//! on stdin, -q, --timing, --maxrows, the start-up file, exit codes, and the demo.

use std::process::Command;

use crate::common::{init_pond, pondsql, stderr, stdout, with_stdin};

fn sql(pond: &std::path::Path) -> Command {
    let mut cmd = pondsql();
    cmd.arg("--pond").arg(pond).arg("--rc").arg("/dev/null");
    cmd
}

const TWO_ROWS: &str = "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y|z' ORDER BY a";

#[test]
fn every_output_format() {
    let (_dir, pond) = init_pond();
    let cases = [
        ("csv", "a,b\n1,x\n2,y|z\n"),
        ("tsv", "a\tb\n1\tx\n2\ty|z\n"),
        ("json", "[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":\"y|z\"}]\n"),
        ("ndjson", "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y|z\"}\n"),
        (
            "markdown",
            "| a | b |\n|---|---|\n| 1 | x |\n| 2 | y\\|z |\n",
        ),
        (
            "table",
            "+---+-----+\n| a | b   |\n+---+-----+\n| 1 | x   |\n| 2 | y|z |\n+---+-----+\n",
        ),
    ];
    for (format, expected) in cases {
        let out = sql(&pond)
            .args(["--format", format, "-c", TWO_ROWS])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "format {format}");
    }
    let out = sql(&pond)
        .args(["--format", "csv", "-c", "SELECT 1 AS a WHERE false"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "a\n", "an empty result still has its header");
    let out = sql(&pond)
        .args(["--format", "json", "-c", "SELECT 1 AS a WHERE false"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "[]\n");
}

#[test]
fn commands_and_files_run_in_the_order_given() {
    let (dir, pond) = init_pond();
    let second = dir.path().join("second.sql");
    std::fs::write(
        &second,
        "INSERT INTO o VALUES (2);\nSELECT 'second' AS step;",
    )
    .unwrap();
    let out = sql(&pond)
        .args([
            "--format",
            "csv",
            "-c",
            "CREATE TABLE o (i BIGINT); INSERT INTO o VALUES (1); SELECT 'first' AS step",
            "-f",
        ])
        .arg(&second)
        .args([
            "-c",
            "SELECT string_agg(CAST(i AS VARCHAR), ',' ORDER BY i) AS seen FROM o",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "count\n1\nstep\nfirst\ncount\n1\nstep\nsecond\nseen\n\"1,2\"\n"
    );
}

#[test]
fn sql_on_stdin_and_failures_name_the_line() {
    let (_dir, pond) = init_pond();
    let run_stdin = |script: &str| with_stdin(sql(&pond).args(["--format", "csv"]), script);
    let out = run_stdin(
        "CREATE TABLE s (i BIGINT);\nINSERT INTO s VALUES (1);\nSELECT count(*) AS n FROM s;\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("n\n1\n"), "{}", stdout(&out));

    // A failure in the middle: earlier commits stay, later statements never run.
    let out = run_stdin(
        "INSERT INTO s VALUES (2);\n\nINSERT INTO s VALUES ('two');\nINSERT INTO s VALUES (3);\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("<stdin>:3:") && stderr(&out).contains("column 'i'"),
        "{}",
        stderr(&out)
    );
    let out = sql(&pond)
        .args(["--format", "csv", "-c", "SELECT sum(i) AS total FROM s"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "total\n3\n");
}

#[test]
fn quiet_maxrows_rc_version_and_exit_codes() {
    let (dir, pond) = init_pond();
    // -q: nothing on success, the error on failure.
    let out = sql(&pond)
        .args([
            "-q",
            "-c",
            "CREATE TABLE q AS SELECT * FROM generate_series(1, 5) AS t(v)",
            "-c",
            "SELECT * FROM q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        stdout(&out)
    );
    let out = sql(&pond)
        .args(["-q", "-c", "SELECT * FROM nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty() && stderr(&out).contains("/nowhere does not exist"),
        "{}",
        stderr(&out)
    );

    // --timing: the open, then each statement's rows and seconds after its output.
    let out = sql(&pond)
        .args([
            "--timing",
            "--format",
            "csv",
            "-c",
            "SELECT v FROM q ORDER BY v LIMIT 2; SELECT 7 AS w",
        ])
        .output()
        .unwrap();
    // Seconds vary: "… in 0.004 s" becomes "… in _ s".
    let shape: Vec<String> = stdout(&out)
        .lines()
        .map(
            |line| match line.strip_suffix(" s").and_then(|l| l.rsplit_once(' ')) {
                Some((head, seconds)) if seconds.parse::<f64>().is_ok() => format!("{head} _ s"),
                _ => line.to_string(),
            },
        )
        .collect();
    assert_eq!(
        shape,
        [
            "pond opened in _ s",
            "v",
            "1",
            "2",
            "2 row(s) in _ s",
            "w",
            "7",
            "1 row(s) in _ s",
            "-c: _ s"
        ],
        "{}",
        stdout(&out)
    );

    // --maxrows cuts a table and says so.
    let out = sql(&pond)
        .args(["--maxrows", "2", "-c", "SELECT v FROM q ORDER BY v"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("| 2 |") && !text.contains("| 3 |") && text.contains("(5 rows, 2 shown"),
        "{text}"
    );

    // The start-up file runs first.
    let rc = dir.path().join("rc.sql");
    std::fs::write(&rc, "SET pond.as_of = 0;").unwrap();
    let out = pondsql()
        .arg("--pond")
        .arg(&pond)
        .arg("--rc")
        .arg(&rc)
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM pond.system.entries",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "n\n1\n", "{}", stderr(&out));

    let out = pondsql().arg("--version").output().unwrap();
    assert!(out.status.success() && stdout(&out).contains(env!("CARGO_PKG_VERSION")));
    let out = pondsql().arg("--help").output().unwrap();
    assert!(stdout(&out).contains("Examples:") && stdout(&out).contains("Exit codes"));
    let out = sql(&pond)
        .args(["--format", "yaml", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = sql(&pond)
        .arg("-f")
        .arg(dir.path().join("missing.sql"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unreadable script is a usage error"
    );
    let out = pondsql()
        .arg("--pond")
        .arg(dir.path())
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "not a pond");

    // --memory-limit: a bad size is a usage error; a real one bounds sorts.
    let out = sql(&pond)
        .args(["--memory-limit", "lots", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("'lots' is not a size: use a number with K, M or G"),
        "{}",
        stderr(&out)
    );
    let sort = "SELECT v FROM generate_series(1, 300000) t(v) ORDER BY v DESC";
    let out = sql(&pond)
        .args(["--memory-limit", "100K", "-c", sort])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("out of memory for this query")
            && message.contains("raise --memory-limit"),
        "{message}"
    );
    assert_eq!(
        message.trim().lines().count(),
        2,
        "message and statement: {message}"
    );
    let out = sql(&pond)
        .args(["--memory-limit", "256M", "-c", sort])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn demo_runs_on_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = pondsql()
        .arg("demo")
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("/sensors/lake_north/readings") && text.contains("/sensors/creek/readings"),
        "{text}"
    );
    // Late readings arrived as a second version; the creek outage shows as missing readings.
    assert!(
        text.contains("| 2        | 20160 |"),
        "lake_north: 2 versions, every minute of 14 days\n{text}"
    );
    assert!(
        text.contains("| creek      | 14   | 360              |"),
        "the creek's 6-hour outage\n{text}"
    );
    // It ends with a chart of the hourly rollup, and says where.
    let chart = dir.path().join("demo/water-temperature.png");
    assert!(
        text.contains(&format!("Chart: {}", chart.display())),
        "{text}"
    );
    let (w, h, pixels) = crate::charts::decode_png(&chart);
    assert_eq!((w, h), (1000, 450));
    assert!(
        pixels.iter().filter(|p| **p != [255, 255, 255]).count() > w as usize * h as usize / 20
    );
    // Running it again on the same directory refuses, and keeps the pond.
    let again = pondsql()
        .arg("demo")
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

/// A cron script that ends inside BEGIN wrote nothing: it must fail loudly,
/// however the SQL arrives, and the pond must not change.
#[test]
fn input_ending_inside_begin_fails_and_writes_nothing() {
    let (_dir, pond) = init_pond();
    let block = "BEGIN; CREATE DIRECTORY '/lost';";
    let by_command = sql(&pond).args(["-q", "-c", block]).output().unwrap();
    let by_stdin = with_stdin(sql(&pond).arg("-q"), block);
    for out in [by_command, by_stdin] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("ended inside BEGIN") && message.contains("COMMIT"),
            "{message}"
        );
    }
    let out = sql(&pond)
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM pond.system.entries WHERE path = '/lost'",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "n\n0\n");
    // A block closed by a later -c is whole.
    let out = sql(&pond)
        .args([
            "-c",
            "BEGIN",
            "-c",
            "CREATE DIRECTORY '/kept'",
            "-c",
            "COMMIT",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// CSV cannot hold a list: the statement fails before anything is printed,
/// the exit code says so, and the script stops.
#[test]
fn a_result_the_format_cannot_show_fails_before_printing() {
    let (_dir, pond) = init_pond();
    for format in ["csv", "tsv"] {
        let out = sql(&pond)
            .args([
                "--format",
                format,
                "-c",
                "SELECT [1, 2] AS readings",
                "-c",
                "SELECT 'after' AS step",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert_eq!(stdout(&out), "", "{format}: half-printed");
        let message = stderr(&out);
        assert!(
            message.contains("'readings'") && message.contains("--format json"),
            "{message}"
        );
    }
    let out = sql(&pond)
        .args(["--format", "ndjson", "-c", "SELECT [1, 2] AS readings"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "{\"readings\":[1,2]}\n");
}

/// A cron job pasting a day of readings as one `INSERT … VALUES` line:
/// 100,000 rows go in whole. Splitting the script once cost a scan of the
/// line per token (20,000 rows took 40 s, 200,000 never finished); the
/// bound below only stops a hang, it measures nothing.
#[test]
fn a_long_insert_values_line_goes_in_whole() {
    let (dir, pond) = crate::common::init_pond();
    let rows: Vec<String> = (0..100_000)
        .map(|i| format!("('2024-01-01 00:00:00'::timestamp + INTERVAL '{i} seconds', {i}.25)"))
        .collect();
    let script = dir.path().join("day.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE \"/day\" (ts TIMESTAMP, v DOUBLE); INSERT INTO \"/day\" VALUES {}; SELECT count(*) AS n, max(v) AS top FROM \"/day\";",
            rows.join(", ")
        ),
    )
    .unwrap();
    let out = crate::common::output_within(
        crate::common::pondsql()
            .arg("--pond")
            .arg(&pond)
            .args(["--format", "csv", "-f"])
            .arg(&script),
        std::time::Duration::from_secs(300),
        "a 100,000-row INSERT",
    );
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert!(
        crate::common::stdout(&out).ends_with("n,top\n100000,99999.25\n"),
        "{}",
        crate::common::stdout(&out)
    );
}

/// A 3-row CSV of 10,000 columns is read in memory that follows its size:
/// the scan's batches hold about 500,000 cells, not 8,192 rows of every
/// column (1.4 GB before). Measured as the process's peak RSS, by Python's
/// getrusage of its child.
#[test]
fn a_wide_csv_is_read_in_batches_of_bounded_cells() {
    let (dir, pond) = crate::common::init_pond();
    let columns = 10_000;
    let mut text = String::from("ts");
    for c in 0..columns {
        text.push_str(&format!(",c{c}"));
    }
    for row in 0..3 {
        text.push_str(&format!("\n2024-01-01 00:0{row}:00"));
        for c in 0..columns {
            text.push_str(&format!(",{}", c + row));
        }
    }
    let csv = dir.path().join("wide.csv");
    std::fs::write(&csv, text + "\n").unwrap();
    let measure = "import resource, subprocess, sys\n\
        out = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
        print(out.returncode, out.stdout.strip().replace('\\n', ' '), out.stderr.strip())\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = std::process::Command::new(crate::common::python())
        .args(["-c", measure, env!("CARGO_BIN_EXE_pondsql"), "--pond"])
        .arg(&pond)
        .args(["--format", "csv", "-c"])
        .arg(format!(
            "SELECT count(*) AS n, sum(c9999) AS s FROM '{}'",
            csv.display()
        ))
        .output()
        .unwrap();
    let report = crate::common::stdout(&out);
    let mut lines = report.lines();
    assert_eq!(lines.next(), Some("0 n,s 3,30000 "), "{report}");
    let peak_kib: u64 = lines.next().unwrap().trim().parse().unwrap();
    assert!(
        peak_kib < 800 * 1024,
        "peak RSS {} MiB reading 3 rows",
        peak_kib / 1024
    );
}
