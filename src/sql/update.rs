//! UPDATE, planned by DataFusion, with its values fitted exactly: the
//! planner casts each SET value to its column's type, and the optimizer
//! folds a constant cast, cutting `00:00:00.000000001` to the microsecond
//! before the table sees it. Those casts become
//! [`exact_cast`](crate::values::exact_cast)s, which refuse to cut.

use std::sync::Arc;

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::dml::DmlStatement;
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, WriteOp};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;

use crate::catalog::open_first::plan_statement;
use crate::values::exact_cast::exact_cast;

/// The plan of `UPDATE table SET … [WHERE …]`.
pub(super) async fn plan(ctx: &SessionContext, update: &Statement) -> Result<LogicalPlan> {
    let statement = DFStatement::Statement(Box::new(update.clone()));
    let plan = plan_statement(&ctx.state(), &statement).await?;
    let LogicalPlan::Dml(dml) = plan else {
        return plan_err!("UPDATE did not plan as an update");
    };
    let (WriteOp::Update, LogicalPlan::Projection(projection)) = (&dml.op, dml.input.as_ref())
    else {
        return Ok(LogicalPlan::Dml(dml));
    };
    let context = format!("UPDATE {}", dml.table_name);
    let target = dml.target.schema();
    let input_schema = projection.input.schema().clone();
    let exprs = projection
        .expr
        .iter()
        .map(|expr| {
            let Expr::Alias(alias) = expr else {
                return Ok(expr.clone());
            };
            let Expr::Cast(cast) = alias.expr.as_ref() else {
                return Ok(expr.clone());
            };
            let Ok(column) = target.field_with_name(&alias.name) else {
                return Ok(expr.clone());
            };
            let fitted = exact_cast(
                cast.expr.as_ref().clone(),
                column.data_type(),
                !column.is_nullable(),
                &context,
                &alias.name,
                &input_schema,
            )?;
            Ok(fitted.alias(&alias.name))
        })
        .collect::<Result<Vec<_>>>()?;
    let projection = Projection::try_new(exprs, projection.input.clone())?;
    Ok(LogicalPlan::Dml(DmlStatement::new(
        dml.table_name.clone(),
        dml.target.clone(),
        WriteOp::Update,
        Arc::new(LogicalPlan::Projection(projection)),
    )))
}
