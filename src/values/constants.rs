//! SQL expressions that must be constants (a table function's arguments
//! kept in a stored view's query), evaluated as DataFusion would: the
//! session's analyzer (time literals read exactly, types coerced) and its
//! simplifier fold them, with no SQL text and nothing executed.

use datafusion::common::{plan_err, DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{self, ExprWithAlias};

/// The values of `exprs`; `what` names them in the error when one is not
/// a constant (`read_csv() options`).
pub(crate) fn fold(
    state: &SessionState,
    exprs: &[ast::Expr],
    what: &str,
) -> Result<Vec<ScalarValue>> {
    if exprs.is_empty() {
        return Ok(Vec::new());
    }
    let empty = DFSchema::empty();
    let planned = exprs
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            let with_alias = ExprWithAlias {
                expr: expr.clone(),
                alias: None,
            };
            Ok(state
                .create_logical_expr_from_sql_expr(with_alias, &empty)?
                .alias(format!("c{i}")))
        })
        .collect::<Result<Vec<Expr>>>()?;
    let plan = LogicalPlanBuilder::empty(true).project(planned)?.build()?;
    let LogicalPlan::Projection(projection) = state.optimize(&plan)? else {
        return plan_err!("{what} must be constants");
    };
    projection
        .expr
        .iter()
        .map(|expr| match expr.clone().unalias() {
            Expr::Literal(value, _) => Ok(value),
            other => plan_err!("{what} must be constants, not {other}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::execution::context::SessionContext;
    use datafusion::sql::parser::DFParser;

    use super::*;

    /// The expressions of `SELECT <list>`.
    fn exprs(list: &str) -> Vec<ast::Expr> {
        let sql = ["SELECT ", list].concat();
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let mut statements = DFParser::parse_sql_with_dialect(&sql, &dialect).unwrap(); // why: test input
        let Some(datafusion::sql::parser::Statement::Statement(statement)) = statements.pop_front()
        else {
            panic!("not a statement: {sql}");
        };
        let ast::Statement::Query(query) = *statement else {
            panic!("not a query: {sql}");
        };
        let ast::SetExpr::Select(select) = *query.body else {
            panic!("not a select: {sql}");
        };
        select
            .projection
            .into_iter()
            .map(|item| match item {
                ast::SelectItem::UnnamedExpr(expr) => expr,
                other => panic!("not an expression: {other}"),
            })
            .collect()
    }

    #[test]
    fn constants_fold_and_columns_do_not() {
        let state = SessionContext::new().state();
        let values = fold(&state, &exprs("1 + 2, 'a' || 'b', {header: false}"), "f()").unwrap();
        assert_eq!(values[0], ScalarValue::Int64(Some(3)));
        assert_eq!(values[1], ScalarValue::Utf8(Some("ab".into())));
        assert!(
            matches!(values[2], ScalarValue::Struct(_)),
            "{:?}",
            values[2]
        );
        // A column is no constant, nor is what the simplifier leaves alone.
        let err = fold(&state, &exprs("x"), "f() arguments").unwrap_err();
        assert!(err.to_string().contains("No field named x"), "{err}");
        let err = fold(&state, &exprs("1, random()"), "f() arguments").unwrap_err();
        assert!(
            err.to_string()
                .contains("f() arguments must be constants, not random()"),
            "{err}"
        );
    }
}
