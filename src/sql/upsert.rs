//! `INSERT … ON CONFLICT (key columns) DO NOTHING | DO UPDATE SET c = EXCLUDED.c, …`:
//! re-deliveries without double counting.
//!
//! A pond table has no unique index: the key columns name what makes a row
//! the same reading (`ts`, or `ts, station`). Rows whose key is already in
//! the table are skipped (DO NOTHING) or replace the stored row (DO UPDATE:
//! the SET columns from the incoming row, the others kept). The replaced
//! rows are removed as a DELETE removes them (a `rewrite` version) and the
//! incoming rows appended, in one commit. The incoming rows are held in
//! memory (a delivery, not an archive).

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{plan_err, Column, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{col, lit, when, Expr};
use datafusion::sql::sqlparser::ast;

use super::insert::{column_name, fitted};
use crate::catalog::contents::write_content;
use crate::catalog::correction::{delete_keys, join_on_keys};
use crate::catalog::SessionPond;
use crate::storage::Change;

/// Runs the upsert; returns its `count` (rows inserted or updated).
pub(super) async fn run(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    insert: &ast::Insert,
) -> Result<RecordBatch> {
    let Some(ast::OnInsert::OnConflict(conflict)) = &insert.on else {
        return plan_err!("not an INSERT … ON CONFLICT");
    };
    let fitted = fitted(ctx, pond, insert).await?;
    let path = fitted.path;
    let what = format!("INSERT INTO {path} ON CONFLICT"); // why: names the statement in errors
    if insert.overwrite {
        return plan_err!("{what}: INSERT OVERWRITE replaces every row; it takes no ON CONFLICT");
    }
    let schema = fitted.provider.schema();
    let keys: Vec<String> = match &conflict.conflict_target {
        Some(ast::ConflictTarget::Columns(idents)) if !idents.is_empty() => idents
            .iter()
            .map(|i| column_name(&ast::ObjectName::from(vec![i.clone()])))
            .collect(),
        _ => {
            return plan_err!(
                "{what}: name the columns that make a row the same reading, e.g. ON CONFLICT (ts) or ON CONFLICT (ts, station)"
            )
        }
    };
    for key in &keys {
        if schema.field_with_name(key).is_err() {
            return plan_err!("{what} ({key}): the table has no column '{key}'");
        }
    }
    let assigned = match &conflict.action {
        ast::OnConflictAction::DoNothing => None,
        ast::OnConflictAction::DoUpdate(update) => {
            if update.selection.is_some() {
                return plan_err!(
                    "{what}: DO UPDATE … WHERE is not supported; correct rows with UPDATE … WHERE"
                );
            }
            Some(assignments(&what, &keys, &update.assignments, &schema)?)
        }
    };

    // The incoming rows, once (their query may read the table itself).
    let incoming_rows = ctx
        .execute_logical_plan(fitted.rows)
        .await?
        .collect()
        .await?;
    let incoming_schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let incoming_rows = incoming_rows
        .into_iter()
        .map(|b| RecordBatch::try_new(incoming_schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let incoming = ctx.read_table(Arc::new(MemTable::try_new(
        incoming_schema.clone(),
        vec![incoming_rows],
    )?))?;
    refuse_repeated_keys(&what, &keys, &incoming).await?;

    let current = ctx.read_table(fitted.provider.clone())?;
    let (rows, replaced) = match &assigned {
        None => {
            let renamed = renamed(&current, &keys, "__pond_old")?;
            let old_keys: Vec<String> = (0..keys.len()).map(|i| format!("__pond_old{i}")).collect();
            let new_rows = join_on_keys(
                incoming.clone(),
                renamed,
                JoinType::LeftAnti,
                &keys,
                &old_keys,
            )?;
            (new_rows.collect().await?, false)
        }
        Some(assigned) => (
            merged(&incoming, &current, &keys, assigned, &schema)?
                .collect()
                .await?,
            true,
        ),
    };
    // Collected before the replaced rows go: the merge reads them.
    if replaced {
        delete_keys(
            ctx,
            pond,
            &path,
            schema.clone(),
            keys.clone(),
            incoming.clone(),
        )
        .await?;
    }
    let written: usize = rows.iter().map(|b| b.num_rows()).sum();
    if written > 0 {
        let stream = ctx
            .read_batches(rows)?
            .select(
                schema
                    .fields()
                    .iter()
                    .map(|f| col(Column::new_unqualified(f.name())))
                    .collect::<Vec<_>>(),
            )?
            .execute_stream()
            .await?;
        let time_column = pond
            .view()
            .resolve(&path)
            .and_then(|r| r.latest.attrs.time_column.clone());
        let content = write_content(pond, schema.clone(), time_column.as_deref(), stream).await?;
        pond.stage(Change::WriteTable {
            path: path.clone(),
            content,
            overwrite: false,
        })?;
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )])),
        vec![Arc::new(UInt64Array::from(vec![written as u64]))],
    )?)
}

/// The columns `DO UPDATE SET` takes from the incoming row: each
/// assignment must be `column = EXCLUDED.column`, and no key column.
fn assignments(
    what: &str,
    keys: &[String],
    assignments: &[ast::Assignment],
    schema: &Schema,
) -> Result<Vec<String>> {
    let mut columns = Vec::with_capacity(assignments.len());
    for assignment in assignments {
        let ast::AssignmentTarget::ColumnName(target) = &assignment.target else {
            return plan_err!("{what}: DO UPDATE SET assigns single columns");
        };
        let target = column_name(target);
        let from_excluded = match &assignment.value {
            ast::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [table, column] if table.value.eq_ignore_ascii_case("excluded") => {
                    Some(column_name(&ast::ObjectName::from(vec![column.clone()])))
                }
                _ => None,
            },
            _ => None,
        };
        if from_excluded.as_deref() != Some(target.as_str()) {
            return plan_err!(
                "{what}: DO UPDATE SET {target} = {} is not supported: each column takes the incoming value, {target} = EXCLUDED.{target}",
                assignment.value
            );
        }
        if keys.contains(&target) {
            return plan_err!(
                "{what}: '{target}' is a key column: its value is the same by definition"
            );
        }
        if schema.field_with_name(&target).is_err() {
            return plan_err!("{what}: the table has no column '{target}'");
        }
        columns.push(target);
    }
    Ok(columns)
}

/// Two incoming rows with one key would both claim the same reading.
async fn refuse_repeated_keys(what: &str, keys: &[String], incoming: &DataFrame) -> Result<()> {
    let key_exprs: Vec<Expr> = keys
        .iter()
        .map(|k| col(Column::new_unqualified(k)))
        .collect();
    let repeated = incoming
        .clone()
        .aggregate(key_exprs, vec![count(lit(1)).alias("__pond_n")])?
        .filter(col("__pond_n").gt(lit(1i64)))?
        .limit(0, Some(1))?
        .collect()
        .await?;
    if let Some(batch) = repeated.iter().find(|b| b.num_rows() > 0) {
        let key = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Ok(format!(
                    "{k} = {}",
                    array_value_to_string(batch.column(i), 0)?
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        return plan_err!(
            "{what}: the incoming rows hold the key ({}) more than once: give each reading once",
            key.join(", ")
        );
    }
    Ok(())
}

/// `frame` with its key columns renamed `{prefix}0`, `{prefix}1`, … and the
/// rest `{prefix}_{name}`, so it can be joined to rows of the same columns.
fn renamed(frame: &DataFrame, keys: &[String], prefix: &str) -> Result<DataFrame> {
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let name = match keys.iter().position(|k| k == f.name()) {
                Some(i) => format!("{prefix}{i}"),
                None => format!("{prefix}_{}", f.name()),
            };
            col(Column::new_unqualified(f.name())).alias(name)
        })
        .collect::<Vec<_>>();
    frame.clone().select(columns)
}

/// The rows to write for DO UPDATE: every incoming row, with the columns
/// not assigned taken from the stored row it replaces (if any).
fn merged(
    incoming: &DataFrame,
    current: &DataFrame,
    keys: &[String],
    assigned: &[String],
    schema: &Schema,
) -> Result<DataFrame> {
    let kept: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !keys.iter().any(|k| k == n) && !assigned.iter().any(|a| a == n))
        .collect();
    if kept.is_empty() {
        return Ok(incoming.clone());
    }
    let old = renamed(current, keys, "__pond_old")?.with_column("__pond_matched", lit(true))?;
    let right: Vec<String> = (0..keys.len()).map(|i| format!("__pond_old{i}")).collect();
    let joined = join_on_keys(incoming.clone(), old, JoinType::Left, keys, &right)?;
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name();
            let new = col(Column::new_unqualified(name));
            if !kept.contains(&name.as_str()) {
                return Ok(new.alias(name));
            }
            let old = col(Column::new_unqualified(format!("__pond_old_{name}")));
            Ok(when(col("__pond_matched").is_true(), old)
                .otherwise(new)?
                .alias(name))
        })
        .collect::<Result<Vec<_>>>()?;
    joined.select(columns)
}
