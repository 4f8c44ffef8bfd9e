//! Pond DDL that DataFusion plans or parses but the pond carries out:
//! CREATE TABLE, CREATE VIEW and ALTER TABLE, each staged as one change.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::{plan_datafusion_err, plan_err, DFSchema};
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{CreateMemoryTable, CreateView, ExprSchemable, LogicalPlan};
use datafusion::physical_plan::stream::{RecordBatchReceiverStream, RecordBatchStreamAdapter};
use datafusion::physical_plan::ExecutionPlanProperties;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    self, AlterTableOperation, Expr as SqlExpr, RenameTableNameKind, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;

use super::names::{object_name_path, table_path};
use super::refresh;
use crate::catalog::contents::write_content;
use crate::catalog::table::{check_storable, declared_columns, stored_columns};
use crate::catalog::SessionPond;
use crate::storage::content::time_column;
use crate::storage::{Change, CreateMode, Kind, PondPath};
use crate::values::exact_cast::fit_to;

/// `ALTER TABLE`: RENAME TO, ADD COLUMN, SET TBLPROPERTIES ('time_column' = …).
pub(super) async fn alter_table(ctx: &SessionContext, alter: &ast::AlterTable) -> Result<Change> {
    let path = object_name_path(&alter.name)?;
    let usage = || {
        plan_datafusion_err!(
            "ALTER TABLE {path}: one of RENAME TO \"/new/path\", ADD COLUMN name TYPE, SET TBLPROPERTIES ('time_column' = 'name')"
        )
    };
    let [operation] = alter.operations.as_slice() else {
        return Err(usage());
    };
    match operation {
        AlterTableOperation::RenameTable {
            table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
        } => Ok(Change::Rename {
            from: path,
            to: object_name_path(to)?,
        }),
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            let not_null = column_def
                .options
                .iter()
                .any(|o| matches!(o.option, ast::ColumnOption::NotNull));
            let data_type = arrow_type(ctx, &column_def.data_type)?;
            let column = Arc::new(Field::new(
                column_def.name.value.clone(),
                data_type,
                !not_null,
            ));
            Ok(Change::AddColumn {
                path,
                column,
                if_not_exists: *if_not_exists,
            })
        }
        AlterTableOperation::AlterColumn { column_name, .. } => plan_err!(
            "ALTER TABLE {path}: column '{column_name}' cannot change: earlier versions store it as it is; write a new table with CREATE TABLE … AS SELECT CAST({column_name} AS …) … FROM \"{path}\""
        ),
        AlterTableOperation::SetTblProperties { table_properties } => {
            let mut column = None;
            for option in table_properties {
                match option {
                    ast::SqlOption::KeyValue { key, value }
                        if key.value.eq_ignore_ascii_case("time_column") =>
                    {
                        let text = match value {
                            SqlExpr::Value(v) => match &v.value {
                                Value::SingleQuotedString(s) => s.clone(),
                                Value::Null => String::new(),
                                _ => return Err(usage()),
                            },
                            SqlExpr::Identifier(ident) => ident.value.clone(),
                            _ => return Err(usage()),
                        };
                        column = Some(text);
                    }
                    other => {
                        return plan_err!(
                            "ALTER TABLE {path}: unknown table property {other}: the pond knows 'time_column'"
                        )
                    }
                }
            }
            let column = column.ok_or_else(usage)?;
            Ok(Change::SetTimeColumn {
                path,
                column: (!column.is_empty()).then_some(column),
            })
        }
        _ => Err(usage()),
    }
}

/// The Arrow type DataFusion gives an SQL type name: the type of
/// `CAST(NULL AS data_type)`, planned from its syntax tree.
fn arrow_type(ctx: &SessionContext, data_type: &ast::DataType) -> Result<DataType> {
    let cast = ast::Expr::Cast {
        kind: ast::CastKind::Cast,
        expr: Box::new(ast::Expr::value(ast::Value::Null)),
        data_type: data_type.clone(),
        array: false,
        format: None,
    };
    let empty = DFSchema::empty();
    let expr = ctx.state().create_logical_expr_from_sql_expr(
        ast::ExprWithAlias {
            expr: cast,
            alias: None,
        },
        &empty,
    )?;
    expr.get_type(&empty)
}

pub(super) async fn create_table(
    ctx: &SessionContext,
    pond: &SessionPond,
    create: CreateMemoryTable,
) -> Result<()> {
    let path = table_path(&create.name)?;
    let mode = CreateMode::of(create.or_replace, create.if_not_exists);
    let declared = create.input.schema().as_arrow();
    // A column list declares nullability; a query's columns stay open to NULLs.
    let schema: SchemaRef = match create.input.as_ref() {
        LogicalPlan::EmptyRelation(_) => declared_columns(declared),
        _ => stored_columns(declared),
    };
    create_table_from(ctx, pond, path, mode, schema, create.input.as_ref().clone()).await
}

/// Creates the table at `path` with columns `schema`, holding the rows of
/// `input` (cast exactly to those columns).
pub(super) async fn create_table_from(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: PondPath,
    mode: CreateMode,
    schema: SchemaRef,
    input: LogicalPlan,
) -> Result<()> {
    // Not held on to: staging while a copy of the view is alive would copy
    // everything a BEGIN block has staged.
    let existing = pond.view().resolve(&path).map(|r| r.kind());
    if mode == CreateMode::IfNotExists && existing == Some(Kind::Table) {
        return Ok(());
    }
    let input = fit_to(input, &schema, &format!("CREATE TABLE {path}"))?; // why: names the statement in errors
    check_storable(&path, &schema)?;
    let time_column = time_column(&schema);
    // Validate before running the query, so a bad name fails fast.
    pond.validate(&Change::CreateTable {
        path: path.clone(),
        schema: schema.clone(),
        time_column: time_column.clone(),
        content: None,
        mode,
    })?;
    let stream = in_partition_order(ctx, input).await?;
    let content = write_content(pond, schema.clone(), time_column.as_deref(), stream).await?;
    pond.stage(Change::CreateTable {
        path,
        schema,
        time_column,
        content,
        mode,
    })?;
    Ok(())
}

pub(super) async fn create_view(
    ctx: &SessionContext,
    pond: &SessionPond,
    create: CreateView,
) -> Result<()> {
    let path = table_path(&create.name)?;
    if let Some(me) = pond.view().resolve(&path) {
        let sources = refresh::collect_sources(ctx, &create.input).await?;
        if sources.reads(me.id()) {
            return plan_err!(
                "CREATE VIEW {path}: the view would read itself (directly or through other views): its query must not depend on {path}"
            );
        }
    }
    let query = create
        .definition
        .as_deref()
        .and_then(view_query)
        .ok_or_else(|| {
            plan_datafusion_err!("CREATE VIEW {path}: cannot find the view's query text")
        })?;
    let schema: SchemaRef = Arc::new(create.input.schema().as_arrow().clone());
    let mode = if create.or_replace {
        CreateMode::Replace
    } else {
        CreateMode::Fail
    };
    pond.stage(Change::CreateView {
        path,
        query,
        schema,
        mode,
    })?;
    Ok(())
}

/// The query part of a `CREATE VIEW … AS <query>` text.
fn view_query(definition: &str) -> Option<String> {
    let statements = DFParser::parse_sql_with_dialect(definition, &GenericDialect {}).ok()?; // why: DataFusion's CREATE VIEW plan carries its statement as text
    match statements.front()? {
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::CreateView(create) => Some(create.query.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The rows of a query, its partitions one after the other instead of
/// interleaved, so that rows keep their order where they had one. A file
/// read as two partitions (its two halves) keeps the file's order, and a
/// single-partition source is not dealt round-robin over the cores (that
/// repartitioning is off for this plan). Readings delivered in time order
/// then make row groups with narrow time statistics, which a time filter
/// can skip; interleaved, every row group spanned most of the file's time
/// range (docs/benchmarks.md).
///
/// Each partition runs in its own task, [`PARTITION_AHEAD`] batches ahead of
/// the writer: reading (e.g. parsing CSV) goes on while the content writer
/// encodes, and memory stays a few batches per partition whatever the size.
async fn in_partition_order(
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> Result<SendableRecordBatchStream> {
    let mut config = ctx.copied_config();
    config
        .options_mut()
        .optimizer
        .enable_round_robin_repartition = false;
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .build();
    let physical = state.create_physical_plan(&plan).await?;
    let schema = physical.schema();
    let task = Arc::new(TaskContext::from(&state));
    let partitions = (0..physical.output_partitioning().partition_count())
        .map(|partition| {
            let mut input = physical.execute(partition, task.clone())?;
            let mut ahead = RecordBatchReceiverStream::builder(schema.clone(), PARTITION_AHEAD);
            let tx = ahead.tx();
            ahead.spawn(async move {
                while let Some(batch) = input.next().await {
                    let failed = batch.is_err();
                    // A closed channel: the statement was dropped.
                    if tx.send(batch).await.is_err() || failed {
                        break;
                    }
                }
                Ok(())
            });
            Ok(ahead.build())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(partitions).flatten(),
    )))
}

/// How many batches a partition of `CREATE TABLE … AS` reads ahead of the writer.
const PARTITION_AHEAD: usize = 2;
