//! Plain DataFusion for bench/: a `SessionContext` with no pond and default
//! settings, the peer pondsql's query engine is measured against.
//!
//!     bench_datafusion "SETUP SQL" … "TIMED SQL"
//!
//! Runs every statement but the last untimed (e.g. `CREATE EXTERNAL TABLE`),
//! then the last one; prints its result as CSV and `elapsed <seconds>`.
//!
//!     bench_datafusion --grow-delta PATH COMMITS
//!
//! Grows the delta-rs peer table of `commit@N`/`open@N` with 100-row appends
//! until it has COMMITS versions (untimed): the same delta-rs the Python peer
//! measures with, without Python's cost per append, which made growing to
//! 10,000 versions take half an hour.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, DataType as DeltaType, StructField};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaResult, DeltaTable, DeltaTableError, Path};
use object_store::ObjectStoreExt;

#[tokio::main]
async fn main() -> Result<()> {
    let statements: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, commits] = statements.as_slice() {
        if flag == "--grow-delta" {
            let commits = commits
                .parse()
                .map_err(|e| DataFusionError::Plan(format!("--grow-delta COMMITS: {e}")))?;
            return grow_delta(path, commits)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)));
        }
    }
    let Some((timed, setup)) = statements.split_last() else {
        eprintln!("usage: bench_datafusion [SETUP_SQL …] TIMED_SQL");
        std::process::exit(2);
    };
    let ctx = SessionContext::new();
    for statement in setup {
        ctx.sql(statement).await?.collect().await?;
    }
    let started = Instant::now();
    let batches = ctx.sql(timed).await?.collect().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut writer = WriterBuilder::new()
        .with_header(true)
        .build(std::io::stdout());
    for batch in &batches {
        writer.write(batch)?;
    }
    drop(writer);
    println!("elapsed {elapsed:.6}");
    Ok(())
}

/// 100 one-minute readings of commit `n`: the rows of bench/peers.py's
/// `hundred_rows(n)`, with the same schema.
fn hundred_rows(n: u64) -> RecordBatch {
    let base = 1_704_067_200_000_000 + n as i64 * 6_000_000_000;
    let schema = Schema::new(vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("station", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..100).map(|i| base + i * 60_000_000),
            )),
            Arc::new(StringArray::from_iter_values((0..100).map(|_| "st01"))),
            Arc::new(Float64Array::from_iter_values((0..100).map(f64::from))),
        ],
    )
    .expect("the columns match the schema")
}

/// Appends `hundred_rows` commits (one Parquet file each, with the column
/// statistics delta-rs writes) until the table has `commits` versions.
async fn grow_delta(path: &str, commits: u64) -> DeltaResult<()> {
    std::fs::create_dir_all(path)?;
    let url = url::Url::from_directory_path(std::fs::canonicalize(path)?)
        .map_err(|()| DeltaTableError::InvalidTableLocation(path.to_string()))?;
    // Over pondsql's local listing: object_store's walk stats every log
    // file at each commit's snapshot update, O(versions) per commit.
    let mut table = deltalake::DeltaTableBuilder::from_url(url.clone())?
        .with_storage_backend(Arc::new(pondsql::LocalListing::new()), url)
        .build()?;
    match table.load().await {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => {}
        Err(err) => return Err(err),
    }
    let versions = |table: &DeltaTable| table.version().map_or(0, |v| v + 1);
    if table.version().is_none() {
        let add = put_data_file(&table, 0).await?;
        table = table
            .create()
            .with_columns([
                StructField::new("timestamp", DeltaType::TIMESTAMP_NTZ, true),
                StructField::new("station", DeltaType::STRING, true),
                StructField::new("value", DeltaType::DOUBLE, true),
            ])
            .with_actions([Action::Add(add)])
            .await?;
    }
    while versions(&table) < commits {
        let add = put_data_file(&table, versions(&table)).await?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        // With its post-commit hook, as python deltalake commits: a checkpoint
        // every 100 versions. Without its expired-log cleanup, which lists
        // the whole log at every commit (nothing expires in a fresh table).
        let properties = CommitProperties::default().with_cleanup_expired_logs(Some(false));
        let landed = CommitBuilder::from(properties)
            .with_actions(vec![Action::Add(add)])
            .build(Some(table.snapshot()?), table.log_store(), operation)
            .await?;
        table.state = Some(landed.snapshot);
    }
    println!("commits {}", versions(&table));
    Ok(())
}

/// Writes commit `n`'s rows as a new Parquet file of the table.
async fn put_data_file(table: &DeltaTable, n: u64) -> DeltaResult<Add> {
    let batch = hundred_rows(n);
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    let name = format!("part-{n:05}-{}.parquet", uuid::Uuid::new_v4());
    let size = bytes.len() as i64;
    table
        .object_store()
        .put(&Path::from(name.as_str()), bytes.into())
        .await?;
    let (first, last) = (
        n as i64 * 6_000_000_000,
        n as i64 * 6_000_000_000 + 99 * 60_000_000,
    );
    let day = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(1_704_067_200_000_000 + micros)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    };
    let stats = serde_json::json!({
        "numRecords": 100,
        "minValues": {"timestamp": day(first), "station": "st01", "value": 0.0},
        "maxValues": {"timestamp": day(last), "station": "st01", "value": 99.0},
        "nullCount": {"timestamp": 0, "station": 0, "value": 0},
    });
    Ok(Add {
        path: name,
        size,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(stats.to_string()),
        ..Add::default()
    })
}
