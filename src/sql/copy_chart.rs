//! `COPY "/path" | (query) TO 'x.png' | 'x.svg' (FORMAT chart [, width N]
//! [, height N] [, title '…'])`: the rows as a picture (src/chart).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::sql::parser::CopyToStatement;
use datafusion::sql::sqlparser::ast::Value;

use super::export::{count_batch, format_is, source_plan, value_text};
use crate::chart::{self, ChartOptions};

/// Is this `COPY … (FORMAT chart)` / `STORED AS chart`?
pub(super) fn is_chart(copy: &CopyToStatement) -> bool {
    format_is(copy, "chart")
}

/// Draws the rows of `copy` to its target; returns the rows drawn (`count`).
pub(super) async fn copy_to_chart(
    ctx: &SessionContext,
    copy: &CopyToStatement,
) -> Result<RecordBatch> {
    let what = format!("COPY … TO '{}' (FORMAT chart)", copy.target);
    let mut options = ChartOptions::default();
    for (key, value) in &copy.options {
        let number = || -> Result<u32> {
            match value {
                Value::Number(n, _) => n.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                plan_datafusion_err!("{what}: {key} must be a number of pixels, e.g. {key} 800")
            })
        };
        match key.to_ascii_lowercase().as_str() {
            "format" => {}
            "width" => options.width = number()?,
            "height" => options.height = number()?,
            "title" => {
                options.title = Some(
                    value_text(value)
                        .ok_or_else(|| {
                            plan_datafusion_err!(
                                "{what}: title must be text, e.g. title 'Lake north'"
                            )
                        })?
                        .to_string(),
                )
            }
            _ => {
                return plan_err!(
                    "{what}: unknown option '{key}' (FORMAT chart takes width, height and title)"
                )
            }
        }
    }
    if !copy.partitioned_by.is_empty() {
        return plan_err!("{what}: a chart is one file: drop PARTITIONED BY");
    }
    let target = copy.target.strip_prefix("file://").unwrap_or(&copy.target);
    let plan = source_plan(ctx, copy).await?;
    let frame = ctx.execute_logical_plan(plan).await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    chart::write(Path::new(target), &schema, &batches, &options)?;
    count_batch(batches.iter().map(|b| b.num_rows() as u64).sum())
}
