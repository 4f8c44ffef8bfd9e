//! `COPY "/path" | (query) TO 'dir' STORED AS DELTA [PARTITIONED BY (col, …)]`:
//! a standalone Delta table that other engines read (python deltalake,
//! polars; DuckDB through deltalake). Parquet, CSV and JSON are DataFusion's own COPY.
//!
//! Timestamps go out as the pond stores them (microseconds): naive columns
//! as Delta `timestamp_ntz`, zone-aware ones as `timestamp` (UTC); a value
//! finer than a microsecond is an error, as when it is stored.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{CopyToSource, CopyToStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Statement, Value};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::StructType;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTableBuilder;
use futures::StreamExt;

use crate::catalog::open_first::plan_statement;
use crate::catalog::table::stored_columns;
use crate::values::exact_cast::fit_to;

/// Is this `COPY … STORED AS <format>` / `OPTIONS (format <format>)`?
pub(super) fn format_is(copy: &CopyToStatement, format: &str) -> bool {
    let same = |s: &str| s.eq_ignore_ascii_case(format);
    copy.stored_as.as_deref().is_some_and(same)
        || copy
            .options
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("format") && value_text(v).is_some_and(same))
}

/// Is this `COPY … STORED AS DELTA` / `OPTIONS (format delta)`?
pub(super) fn is_delta(copy: &CopyToStatement) -> bool {
    format_is(copy, "delta")
}

/// `OPTIONS (format csv)` (DuckDB's and PostgreSQL's `(FORMAT csv)`) as
/// DataFusion's `STORED AS CSV`, which its COPY knows; `delta` and `chart`
/// are pondsql's own and stay options.
pub(super) fn format_option_as_stored_as(copy: &mut CopyToStatement) {
    if copy.stored_as.is_some() {
        return;
    }
    let Some(i) = copy
        .options
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case("format"))
    else {
        return;
    };
    let Some(format) = value_text(&copy.options[i].1).map(str::to_ascii_uppercase) else {
        return;
    };
    if format != "DELTA" && format != "CHART" {
        copy.options.remove(i);
        copy.stored_as = Some(format);
    }
}

/// The rows a COPY writes: its table or its query.
pub(super) async fn source_plan(
    ctx: &SessionContext,
    copy: &CopyToStatement,
) -> Result<LogicalPlan> {
    Ok(match &copy.source {
        CopyToSource::Relation(name) => ctx
            .table(name.to_string().as_str())
            .await?
            .into_unoptimized_plan(),
        CopyToSource::Query(query) => {
            let statement = DFStatement::Statement(Box::new(Statement::Query(query.clone())));
            plan_statement(&ctx.state(), &statement).await?
        }
    })
}

pub(super) fn value_text(value: &Value) -> Option<&str> {
    match value {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
        Value::Placeholder(s) => Some(s),
        _ => None,
    }
}

/// Writes the source of `copy` as a new Delta table at its target; returns
/// the rows written (`count`, as DataFusion's COPY does).
pub(super) async fn copy_to_delta(
    ctx: &SessionContext,
    copy: &CopyToStatement,
) -> Result<RecordBatch> {
    let target = absolute(&copy.target)?;
    let what = format!("COPY … TO '{}' STORED AS DELTA", copy.target);
    if let Some((key, _)) = copy
        .options
        .iter()
        .find(|(k, _)| !k.eq_ignore_ascii_case("format"))
    {
        return plan_err!("{what}: unknown option '{key}' (STORED AS DELTA takes no other options; PARTITIONED BY (…) chooses partition columns)");
    }
    let exists = std::fs::read_dir(&target).map(|mut d| d.next().is_some());
    if exists.unwrap_or(false) || std::path::Path::new(&target).is_file() {
        return plan_err!(
            "{what}: {target} already exists and is not an empty directory: export into a new directory (a Delta export writes a whole table)"
        );
    }
    let plan = source_plan(ctx, copy).await?;
    // Timestamps in microseconds, exactly (tables written before the rule
    // may hold nanoseconds).
    let columns = stored_columns(plan.schema().as_arrow());
    let plan = fit_to(plan, &columns, &what)?;
    for partition in &copy.partitioned_by {
        if columns.field_with_name(partition).is_err() {
            return plan_err!(
                "{what}: PARTITIONED BY names '{partition}', which the rows do not have"
            );
        }
    }
    let delta_schema: StructType = columns
        .as_ref()
        .try_into_kernel()
        .map_err(|e| plan_datafusion_err!("{what}: Delta cannot store these columns: {e}"))?;
    std::fs::create_dir_all(&target)
        .map_err(|e| plan_datafusion_err!("{what}: cannot create {target}: {e}"))?;
    let url = url::Url::from_directory_path(&target)
        .map_err(|_| plan_datafusion_err!("{what}: {target} is not a usable directory"))?;
    let delta = |e: deltalake::DeltaTableError| DataFusionError::External(Box::new(e));
    let mut table = DeltaTableBuilder::from_url(url)
        .map_err(delta)?
        .build()
        .map_err(delta)?
        .create()
        .with_columns(delta_schema.fields().cloned())
        .with_partition_columns(copy.partitioned_by.clone())
        .await
        .map_err(delta)?;
    let mut writer = RecordBatchWriter::for_table(&table).map_err(delta)?;
    let schema = writer.arrow_schema();
    let mut stream = ctx
        .execute_logical_plan(plan)
        .await?
        .execute_stream()
        .await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = conform(&batch?, &schema)?;
        rows += batch.num_rows() as u64;
        writer.write(batch).await.map_err(delta)?;
    }
    writer.flush_and_commit(&mut table).await.map_err(delta)?;
    count_batch(rows)
}

/// What a COPY returns: the rows written, as DataFusion's COPY does.
pub(super) fn count_batch(rows: u64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )])),
        vec![Arc::new(UInt64Array::from(vec![rows]))],
    )?)
}

/// `batch` in the writer's types (Delta has one string type: Utf8View goes
/// out as Utf8); casts that cannot change a value.
fn conform(batch: &RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let column = batch.column_by_name(f.name()).ok_or_else(|| {
                plan_datafusion_err!("COPY … STORED AS DELTA: the rows lack column {}", f.name())
            })?;
            Ok(cast_with_options(column, f.data_type(), &options)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn absolute(path: &str) -> Result<String> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    if std::path::Path::new(path).is_absolute() {
        return Ok(path.to_string());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| plan_datafusion_err!("cannot resolve '{path}': {e}"))?;
    Ok(format!("{}/{path}", cwd.display()))
}
