//! Export: `COPY … TO` writes Parquet and standalone Delta tables that
//! python deltalake, polars and DuckDB read with the same rows and
//! timestamp types.

use std::process::Command;

use crate::common::{python, TestPond};

#[tokio::test(flavor = "multi_thread")]
async fn exported_delta_and_parquet_read_alike_in_deltalake_polars_and_duckdb() {
    let p = TestPond::new().await;
    let out = p.dir.path().join("out");
    let (delta, parted, parquet) = (
        out.join("t_delta"),
        out.join("g_delta"),
        out.join("t.parquet"),
    );
    p.ok("CREATE DIRECTORY '/s'; CREATE DIRECTORY '/s/a'; CREATE DIRECTORY '/s/b'")
        .await;
    for (station, offset) in [("a", 0), ("b", 1)] {
        p.ok(&format!(
            "CREATE TABLE \"/s/{station}/temp\" (ts TIMESTAMP, utc TIMESTAMP WITH TIME ZONE, value DOUBLE, note VARCHAR)"
        ))
        .await;
        p.ok(&format!(
            "INSERT INTO \"/s/{station}/temp\" VALUES ('2024-01-01 00:00:00.123456', '2024-01-01T01:00:00+01:00', {offset}.5, 'x'), ('2024-01-02 00:00', '2024-01-02T00:00:00Z', NULL, NULL)"
        ))
        .await;
    }
    // A correction first: exports see the table as it reads now.
    p.ok("DELETE FROM \"/s/b/temp\" WHERE value IS NULL").await;
    let copies = [
        (format!("COPY \"/s/a/temp\" TO '{}' STORED AS DELTA", delta.display()), "2"),
        (
            format!(
                "COPY (SELECT * FROM glob('/s/{{station}}/temp')) TO '{}' STORED AS DELTA PARTITIONED BY (station)",
                parted.display()
            ),
            "3",
        ),
        (format!("COPY \"/s/a/temp\" TO '{}'", parquet.display()), "2"),
    ];
    for (sql, rows) in copies {
        assert_eq!(p.value(&sql).await, rows, "{sql}");
    }
    let ours = p
        .ok("SELECT ts, utc, value, note FROM \"/s/a/temp\" ORDER BY ts")
        .await;
    assert!(ours.contains("2024-01-01T00:00:00.123456"), "{ours}");

    let script = r#"
import sys, os
from deltalake import DeltaTable
import polars as pl, duckdb, pyarrow.parquet as pq
delta, parted, parquet = sys.argv[1:4]
def show(table):
    table = table.sort_by("ts")
    rows = [tuple(str(v) for v in row.values()) for row in table.to_pylist()]
    types = f"{table.schema.field('ts').type} {table.schema.field('utc').type}"
    return f"{types.replace('Etc/UTC', 'UTC')} {rows}"
print(show(DeltaTable(delta).to_pyarrow_table()))
print(show(pl.read_delta(delta).to_arrow()))
print(show(duckdb.sql(f"SELECT * FROM read_parquet('{parquet}')").to_arrow_table()))
print(show(pq.read_table(parquet)))
g = DeltaTable(parted)
print(sorted(g.metadata().partition_columns), g.to_pyarrow_table().num_rows,
      pl.read_delta(parted).filter(pl.col("station") == "b").height)
sys.stdout.flush()
os._exit(0)
"#;
    let run = Command::new(python())
        .args(["-c", script])
        .args([&delta, &parted, &parquet])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected = "timestamp[us] timestamp[us, tz=UTC] [('2024-01-01 00:00:00.123456', '2024-01-01 00:00:00+00:00', '0.5', 'x'), ('2024-01-02 00:00:00', '2024-01-02 00:00:00+00:00', 'None', 'None')]";
    for (reader, line) in ["deltalake", "polars", "duckdb", "pyarrow"]
        .iter()
        .zip(&lines)
    {
        let line = line.replace("timestamp[μs", "timestamp[us");
        assert_eq!(line, expected, "{reader} reads the export differently");
    }
    assert_eq!(lines[4], "['station'] 3 1");

    // A Delta export writes a whole new table.
    let again = p
        .session
        .sql(&format!(
            "COPY \"/s/a/temp\" TO '{}' STORED AS DELTA",
            delta.display()
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("already exists"), "{again}");
}
