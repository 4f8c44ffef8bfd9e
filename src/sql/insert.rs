//! INSERT, planned by the pond: the query is planned on its own, checked
//! against the table column by column (a mismatch names the column), and
//! fitted to the table with casts that never cut a value
//! ([`exact_cast`](crate::values::exact_cast)).
//!
//! DataFusion's own INSERT planning types a VALUES list by the table, which
//! truncates `'00:00:00.5'` into a column of whole seconds, and fails on a
//! VALUES list nested in the query (`Inconsistent data length`).

use datafusion::arrow::datatypes::{DataType, FieldRef};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{plan_err, Column, ScalarValue, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{lit, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, Statement, TableObject};

use super::names::object_name_path;
use super::references;
use crate::catalog::open_first::plan_statement;
use crate::catalog::session_pond::{external, SessionPond};
use crate::storage::{Kind, PondPath, StorageError};
use crate::values::exact_cast::exact_cast;

/// The plan of `INSERT INTO table [(columns)] query`.
pub(super) async fn plan(
    ctx: &SessionContext,
    pond: &SessionPond,
    insert: &ast::Insert,
) -> Result<LogicalPlan> {
    let fitted = fitted(ctx, pond, insert).await?;
    let op = if insert.overwrite {
        InsertOp::Overwrite
    } else {
        InsertOp::Append
    };
    LogicalPlanBuilder::insert_into(
        fitted.rows,
        fitted.reference,
        provider_as_source(fitted.provider),
        op,
    )?
    .build()
}

/// An INSERT's rows, fitted to its table's columns.
pub(super) struct Fitted {
    pub(super) path: PondPath,
    pub(super) reference: TableReference,
    pub(super) provider: Arc<dyn TableProvider>,
    /// The query's rows with the table's columns, cast exactly.
    pub(super) rows: LogicalPlan,
}

/// Plans an INSERT's query alone and fits it to the table, column by column.
pub(super) async fn fitted(
    ctx: &SessionContext,
    pond: &SessionPond,
    insert: &ast::Insert,
) -> Result<Fitted> {
    let TableObject::TableName(name) = &insert.table else {
        return plan_err!(
            "INSERT INTO a table function is not supported: insert into a pond table"
        );
    };
    let path = object_name_path(name)?;
    let unsupported = [
        (
            matches!(insert.on, Some(ast::OnInsert::DuplicateKeyUpdate(_))),
            "ON DUPLICATE KEY (write ON CONFLICT (key columns) DO UPDATE SET …)",
        ),
        (insert.returning.is_some(), "RETURNING"),
        (
            insert.replace_into || insert.or.is_some(),
            "REPLACE / INSERT OR …",
        ),
        (insert.partitioned.is_some(), "PARTITION"),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(used, _)| *used) {
        return plan_err!("INSERT INTO {path}: {what} is not supported; a pond table takes plain INSERT INTO … SELECT/VALUES");
    }
    check_target(pond, &path)?;
    let Some(source) = &insert.source else {
        return plan_err!("INSERT INTO {path}: give the rows, with VALUES (…) or SELECT …");
    };
    let query = DFStatement::Statement(Box::new(Statement::Query(source.clone())));
    let state = ctx.state();
    let host_files = references::check(&state, &pond.view(), &query).await?;
    let source_plan = plan_statement(&state, &query)
        .await
        .map_err(|e| references::name_host_files(e, &host_files))?;
    let columns: Vec<String> = insert.columns.iter().map(column_name).collect();
    fit(ctx, path, &columns, source_plan).await
}

/// Fails unless `path` is a table rows can be inserted into.
pub(super) fn check_target(pond: &SessionPond, path: &PondPath) -> Result<()> {
    let Some(target) = pond.view().resolve(path) else {
        return plan_err!(
            "table {path} does not exist: create it with CREATE TABLE \"{path}\" AS SELECT …"
        );
    };
    match target.kind() {
        Kind::Table => Ok(()),
        Kind::MaterializedView => plan_err!("{path} is a materialized view: its rows come from REFRESH MATERIALIZED VIEW \"{path}\"; insert into its sources instead"),
        other => Err(external(StorageError::WrongKind {
            path: path.clone(),
            actual: other.as_str(),
            expected: "table",
        })),
    }
}

/// Fits the rows of `source_plan` to the table at `path` (a checked
/// target): `columns` names the table column each source column fills, in
/// order (empty: all of them, in the table's order).
pub(super) async fn fit(
    ctx: &SessionContext,
    path: PondPath,
    columns: &[String],
    source_plan: LogicalPlan,
) -> Result<Fitted> {
    let reference = TableReference::bare(path.as_str());
    let provider = ctx.table_provider(reference.clone()).await?;
    let table_schema = provider.schema();
    let state = ctx.state();
    // Coerce types now (a UNION of µs and ns gives ns only after analysis),
    // so the casts below fit the types the rows will have.
    let source_plan =
        state
            .analyzer()
            .execute_and_check(source_plan, state.config_options(), |_, _| {})?;
    let source_fields: Vec<FieldRef> = source_plan.schema().fields().iter().cloned().collect();
    let table_fields: Vec<FieldRef> = table_schema.fields().iter().cloned().collect();
    // Which table column each query column fills.
    let targets: Vec<usize> = if columns.is_empty() {
        check_column_count(&path, &table_fields, &source_fields)?;
        (0..table_fields.len()).collect()
    } else {
        let mut targets = Vec::with_capacity(columns.len());
        for name in columns {
            let Some(i) = table_fields.iter().position(|f| f.name() == name) else {
                return plan_err!(
                    "INSERT INTO {path}: the table has no column '{name}' (it has {})",
                    names(&table_fields)
                );
            };
            if targets.contains(&i) {
                return plan_err!("INSERT INTO {path}: column '{name}' is named twice");
            }
            targets.push(i);
        }
        if targets.len() != source_fields.len() {
            return plan_err!(
                "INSERT INTO {path}: {} column(s) named but the query gives {} ({})",
                targets.len(),
                source_fields.len(),
                names(&source_fields)
            );
        }
        targets
    };
    let context = format!("INSERT INTO {path}"); // why: names the statement in errors
    let source_schema = source_plan.schema().clone();
    let mut exprs = Vec::with_capacity(table_fields.len());
    for (i, table_field) in table_fields.iter().enumerate() {
        let expr = match targets.iter().position(|t| *t == i) {
            Some(j) => {
                let source_field = &source_fields[j];
                if !insertable(source_field.data_type(), table_field.data_type()) {
                    return plan_err!(
                        "INSERT INTO {path}: column '{}' is {} in the table but the query gives {} ('{}'): cast it, e.g. CAST({} AS {})",
                        table_field.name(),
                        table_field.data_type(),
                        source_field.data_type(),
                        source_field.name(),
                        source_field.name(),
                        table_field.data_type()
                    );
                }
                let column = Expr::Column(Column::from(source_schema.qualified_field(j)));
                exact_cast(column, table_field.data_type(), !table_field.is_nullable(), &context, table_field.name(), &source_schema)?
            }
            None if !table_field.is_nullable() => {
                return plan_err!(
                    "INSERT INTO {path}: column '{}' is NOT NULL and the INSERT gives it no value: name it in the column list",
                    table_field.name()
                )
            }
            None => lit(ScalarValue::Null).cast_to(table_field.data_type(), &source_schema)?,
        };
        exprs.push(expr.alias(table_field.name()));
    }
    let rows = LogicalPlanBuilder::from(source_plan)
        .project(exprs)?
        .build()?;
    Ok(Fitted {
        path,
        reference,
        provider,
        rows,
    })
}

/// A column name as DataFusion folds it (unquoted names lower-cased).
pub(super) fn column_name(name: &ast::ObjectName) -> String {
    match name.0.last() {
        Some(ast::ObjectNamePart::Identifier(ident)) if ident.quote_style.is_none() => {
            ident.value.to_lowercase()
        }
        Some(ast::ObjectNamePart::Identifier(ident)) => ident.value.clone(),
        _ => name.to_string(),
    }
}

fn names(fields: &[FieldRef]) -> String {
    fields
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_column_count(
    path: &crate::storage::PondPath,
    table_fields: &[FieldRef],
    source_fields: &[FieldRef],
) -> Result<()> {
    if source_fields.len() < table_fields.len() {
        return plan_err!(
            "INSERT INTO {path}: missing column(s) {} (the table has {}; the query gives {})",
            names(&table_fields[source_fields.len()..]),
            names(table_fields),
            names(source_fields)
        );
    }
    if source_fields.len() > table_fields.len() {
        return plan_err!(
            "INSERT INTO {path}: extra column(s) {} (the table has {})",
            names(&source_fields[table_fields.len()..]),
            names(table_fields)
        );
    }
    Ok(())
}

/// May a value of type `from` be inserted into a column of type `to` without
/// an explicit cast? Same family only; strings may go into temporal columns
/// (literals like '2024-01-01 00:00').
fn insertable(from: &DataType, to: &DataType) -> bool {
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let temporal = |t: &DataType| t.is_temporal();
    from == to
        || from.is_null()
        || (from.is_numeric() && to.is_numeric())
        || (string(from) && string(to))
        || (temporal(from) && temporal(to))
        || (string(from) && temporal(to))
        || (matches!(from, DataType::Boolean) && matches!(to, DataType::Boolean))
}
