//! Maintenance statements: `OPTIMIZE` merges small table versions into
//! larger ones (one transaction, history kept); `VACUUM` removes files that
//! no version references.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{plan_err, Column};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;

use crate::catalog::contents::write_content;
use crate::catalog::session_pond::external;
use crate::catalog::versions_table::VersionsTable;
use crate::catalog::SessionPond;
use crate::storage::backup;
use crate::storage::check::{self, CheckScope};
use crate::storage::compaction::{plan_chunks, TARGET_CHUNK_BYTES};
use crate::storage::vacuum::{vacuum, DEFAULT_RETAIN_HOURS};
use crate::storage::{Change, CompactedChunk, PondPath, Resolved};

/// Stages the compaction of one table (or of every table) and returns one
/// row per compacted table: path, versions merged, chunks written.
pub(super) async fn optimize(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    path: Option<PondPath>,
) -> Result<RecordBatch> {
    pond.require_writable()?;
    let view = pond.view();
    let tables: Vec<Resolved> = match path {
        Some(path) => {
            let node = view.require(&path).map_err(external)?;
            if !node.kind().holds_rows() {
                return plan_err!(
                    "OPTIMIZE {path}: it is a {}, OPTIMIZE compacts tables",
                    node.kind()
                );
            }
            vec![node]
        }
        None => {
            let root = view.require(&PondPath::root()).map_err(external)?;
            view.walk(&root)
                .into_iter()
                .filter(|n| n.kind().holds_rows())
                .collect()
        }
    };
    let (mut paths, mut merged, mut written) = (Vec::new(), Vec::new(), Vec::new());
    for table in tables {
        let live = view.live_versions(table.id());
        let runs = plan_chunks(&live, TARGET_CHUNK_BYTES);
        if runs.is_empty() {
            continue;
        }
        let Some(base) = view
            .versions_since_base(table.id())
            .first()
            .map(|v| v.version)
        else {
            continue;
        };
        let schema = table.latest.schema().cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("{} has no stored schema", table.path))
        })?;
        let time_column = table.latest.attrs.time_column.clone();
        let mut chunks = Vec::with_capacity(runs.len());
        for run in &runs {
            let provider = VersionsTable::new(pond.clone(), schema.clone(), run.clone());
            let mut frame = ctx.read_table(Arc::new(provider))?;
            if let Some(time) = &time_column {
                // Time-ordered chunks give tight row-group statistics.
                let key = Expr::Column(Column::new_unqualified(time));
                frame = frame.sort(vec![key.sort(true, false)])?;
            }
            let stream = frame.execute_stream().await?;
            let content = write_content(pond, schema.clone(), time_column.as_deref(), stream)
                .await?
                .ok_or_else(|| {
                    DataFusionError::Internal(format!(
                        "OPTIMIZE {}: a chunk had no rows",
                        table.path
                    ))
                })?;
            // plan_chunks makes runs of two versions or more.
            chunks.push(CompactedChunk {
                first: run[0].version,
                last: run[run.len() - 1].version,
                content,
            });
        }
        paths.push(table.path.to_string());
        merged.push(runs.iter().map(|r| r.len() as i64).sum::<i64>());
        written.push(chunks.len() as i64);
        pond.stage(Change::Compact {
            path: table.path.clone(),
            base,
            chunks,
        })?;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("versions_merged", DataType::Int64, false),
        Field::new("chunks_written", DataType::Int64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(paths)),
            Arc::new(Int64Array::from(merged)),
            Arc::new(Int64Array::from(written)),
        ],
    )?)
}

/// Lists (and unless `dry_run`, deletes) unreferenced files: path, kind, bytes, action.
pub(super) async fn run_vacuum(
    pond: &SessionPond,
    retain_hours: Option<u64>,
    dry_run: bool,
) -> Result<RecordBatch> {
    let hours = retain_hours.unwrap_or(DEFAULT_RETAIN_HOURS);
    let retain = Duration::from_secs(hours.saturating_mul(3600));
    let orphans = vacuum(pond.pond(), retain, dry_run, SystemTime::now())
        .await
        .map_err(external)?;
    let action = if dry_run { "would delete" } else { "deleted" };
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("action", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                orphans.iter().map(|o| o.path.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                orphans.iter().map(|o| o.kind),
            )),
            Arc::new(Int64Array::from_iter_values(
                orphans.iter().map(|o| o.bytes as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                orphans.iter().map(|_| action),
            )),
        ],
    )?)
}

/// Copies what the backup at `target` lacks: one row (target, txn, objects, bytes, skipped, verified).
pub(super) async fn run_backup(pond: &SessionPond, target: &str) -> Result<RecordBatch> {
    let moved = pond.progress().start_transfer();
    let record = backup::backup(pond.pond(), target, &moved)
        .await
        .map_err(external)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("target", DataType::Utf8, false),
        Field::new("txn", DataType::Int64, false),
        Field::new("objects_sent", DataType::Int64, false),
        Field::new("bytes_sent", DataType::Int64, false),
        Field::new("objects_present", DataType::Int64, false),
        Field::new("verified", DataType::Boolean, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![record.target])),
            Arc::new(Int64Array::from(vec![record.txn])),
            Arc::new(Int64Array::from(vec![record.objects as i64])),
            Arc::new(Int64Array::from(vec![record.bytes as i64])),
            Arc::new(Int64Array::from(vec![record.skipped as i64])),
            Arc::new(BooleanArray::from(vec![record.verified])),
        ],
    )?)
}

/// The problems CHECK finds as rows (path, version, problem), and the
/// failure to report when there are any.
pub(super) async fn run_check(
    pond: &SessionPond,
    all_versions: bool,
    path: Option<PondPath>,
) -> Result<(RecordBatch, Option<String>)> {
    let scope = if all_versions {
        CheckScope::AllVersions
    } else {
        CheckScope::Live
    };
    let problems = check::check(pond.pond(), scope, path.as_ref())
        .await
        .map_err(external)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("version", DataType::Int64, true),
        Field::new("problem", DataType::Utf8, false),
    ]));
    let failure = (!problems.is_empty()).then(|| {
        format!(
            "CHECK found {} problem(s), listed above: the pond is damaged; restore it from a backup (pondsql restore)",
            problems.len()
        )
    });
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                problems.iter().map(|p| p.path.as_str()),
            )),
            Arc::new(Int64Array::from_iter(problems.iter().map(|p| p.version))),
            Arc::new(StringArray::from_iter_values(
                problems.iter().map(|p| p.problem.as_str()),
            )),
        ],
    )?;
    Ok((batch, failure))
}
