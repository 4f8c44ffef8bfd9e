//! The typed entry points a front door calls instead of writing SQL text:
//! bulk ingest, blocks, and backup, through the library's `PondSession`.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use pondsql::IngestMode;

use crate::common::TestPond;

/// Rows of (ts, v) as a table a client might stream: times in nanoseconds.
fn rows(times_ns: &[i64], values: &[f64]) -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("v", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampNanosecondArray::from(times_ns.to_vec())),
            Arc::new(Float64Array::from(values.to_vec())),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

const HOUR_NS: i64 = 3_600_000_000_000;

#[tokio::test]
async fn ingest_blocks_and_backup_run_without_sql_text() {
    let p = TestPond::new().await;
    p.ok("CREATE DIRECTORY '/in'").await;
    let txns = || p.value("SELECT count(*) FROM pond.system.transactions");
    let before = txns().await;

    // Create: one commit, the rows' columns.
    let s = &p.session;
    s.ingest(
        "/in/t",
        IngestMode::Create,
        rows(&[0, HOUR_NS], &[1.0, 2.0]),
    )
    .await
    .unwrap();
    assert_eq!(
        txns().await.parse::<i64>().unwrap(),
        before.parse::<i64>().unwrap() + 1
    );
    assert_eq!(p.value("SELECT sum(v) FROM \"/in/t\"").await, "3.0");
    let err = s
        .ingest("/in/t", IngestMode::Create, rows(&[0], &[1.0]))
        .await
        .unwrap_err();
    assert!(
        pondsql::user_message(&err).contains("already exists"),
        "{err}"
    );

    // Append fits rows as INSERT does: a table of microseconds refuses a
    // nanosecond it would have to cut, and keeps nothing of the batch.
    let err = s
        .ingest(
            "/in/t",
            IngestMode::Append,
            rows(&[2 * HOUR_NS, 1], &[5.0, 6.0]),
        )
        .await
        .unwrap_err();
    let message = pondsql::user_message(&err);
    assert!(
        message.contains("INSERT INTO /in/t: column 'ts' holds whole microseconds"),
        "{message}"
    );
    assert_eq!(p.value("SELECT count(*) FROM \"/in/t\"").await, "2");

    // In a block: nothing until COMMIT, nothing at all after ROLLBACK.
    s.begin().await.unwrap();
    assert!(s.in_block());
    s.ingest("/in/t", IngestMode::Replace, rows(&[0], &[10.0]))
        .await
        .unwrap();
    s.ingest("/in/t", IngestMode::Append, rows(&[HOUR_NS], &[20.0]))
        .await
        .unwrap();
    s.rollback().unwrap();
    assert!(!s.in_block());
    assert_eq!(p.value("SELECT sum(v) FROM \"/in/t\"").await, "3.0");
    let before = txns().await.parse::<i64>().unwrap();
    s.begin().await.unwrap();
    s.ingest("/in/t", IngestMode::Replace, rows(&[0], &[10.0]))
        .await
        .unwrap();
    s.ingest("/in/t", IngestMode::Append, rows(&[HOUR_NS], &[20.0]))
        .await
        .unwrap();
    assert!(s.commit().await.unwrap().is_some());
    assert_eq!(txns().await.parse::<i64>().unwrap(), before + 1);
    assert_eq!(p.value("SELECT sum(v) FROM \"/in/t\"").await, "30.0");

    // Backup of a path with a quote in it: a value, never spliced into SQL.
    let target = p.dir.path().join("it's a backup");
    let output = s.backup(target.to_str().unwrap()).await.unwrap();
    let table = crate::common::render(&output.batches);
    assert!(
        table.contains("it's a backup") && table.contains("| true"),
        "{table}"
    );
    assert!(target.join("pondsql-backup.json").is_file());
}
