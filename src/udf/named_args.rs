//! Named arguments of table functions: `f(a, since => x, max_points => 5)`
//! is planned as `f(a, {since: x, max_points: 5})`, the options struct that
//! pondsql's table functions take (DataFusion would refuse the names); an
//! empty `{}` is no options.

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::planner::{
    RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::sql::sqlparser::ast::{
    DictionaryField, Expr as SqlExpr, FunctionArg, FunctionArgExpr, TableFactor,
};

/// Rewrites named arguments into one trailing options struct, leaving
/// everything else to DataFusion.
#[derive(Debug)]
pub(crate) struct NamedArguments;

impl RelationPlanner for NamedArguments {
    fn plan_relation(
        &self,
        mut relation: TableFactor,
        _context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = &mut relation
        {
            // `{}`: no options (DataFusion would plan it as a named_struct
            // of no fields, and refuse that in its own words).
            args.args.retain(|arg| {
                !matches!(
                    arg,
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Dictionary(fields)))
                        if fields.is_empty()
                )
            });
            if let Some(rewritten) = as_options(&name.to_string(), &args.args)? {
                args.args = rewritten;
            }
        }
        Ok(RelationPlanning::Original(Box::new(relation)))
    }
}

/// The arguments with the named ones gathered into a struct at the end;
/// `None` when none is named.
pub(crate) fn as_options(function: &str, args: &[FunctionArg]) -> Result<Option<Vec<FunctionArg>>> {
    let mut positional = Vec::new();
    let mut fields: Vec<DictionaryField> = Vec::new();
    for arg in args {
        let (key, value) =
            match arg {
                FunctionArg::Unnamed(_) if !fields.is_empty() => {
                    return plan_err!(
                    "{function}(): the argument after {} has no name: named arguments come last",
                    fields.last().map(|f| f.key.value.as_str()).unwrap_or_default()
                )
                }
                FunctionArg::Unnamed(_) => {
                    positional.push(arg.clone());
                    continue;
                }
                FunctionArg::Named { name, arg, .. } => (name.clone(), arg),
                FunctionArg::ExprNamed {
                    name: SqlExpr::Identifier(name),
                    arg,
                    ..
                } => (name.clone(), arg),
                FunctionArg::ExprNamed { name, .. } => {
                    return plan_err!("{function}(): an argument's name is a word, not {name}")
                }
            };
        let FunctionArgExpr::Expr(value) = value else {
            return plan_err!("{function}(): argument {key} needs a value");
        };
        if fields
            .iter()
            .any(|f| f.key.value.eq_ignore_ascii_case(&key.value))
        {
            return plan_err!("{function}(): argument {key} is given twice");
        }
        fields.push(DictionaryField {
            key,
            value: Box::new(value.clone()),
        });
    }
    if fields.is_empty() {
        return Ok(None);
    }
    if matches!(
        positional.last(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(
            SqlExpr::Dictionary(_)
        )))
    ) {
        return plan_err!(
            "{function}(): give options either as name => value or in braces, not both"
        );
    }
    positional.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
        SqlExpr::Dictionary(fields),
    )));
    Ok(Some(positional))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn args_of(sql: &str) -> Vec<FunctionArg> {
        let statement = Parser::parse_sql(&GenericDialect {}, sql) // why: test input
            .unwrap()
            .remove(0);
        let Statement::Query(query) = statement else {
            panic!()
        };
        let SetExpr::Select(select) = *query.body else {
            panic!()
        };
        let TableFactor::Table {
            args: Some(args), ..
        } = select.from[0].relation.clone()
        else {
            panic!()
        };
        args.args
    }

    fn rewritten(sql: &str) -> Result<String> {
        let args = as_options("f", &args_of(sql))?.unwrap_or_else(|| args_of(sql));
        Ok(args
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "))
    }

    #[test]
    fn named_arguments_become_one_options_struct() {
        assert_eq!(
            rewritten("SELECT * FROM f(1, since => TIMESTAMP '2024-01-01', max_points => 5)")
                .unwrap(),
            "1, {since: TIMESTAMP '2024-01-01', max_points: 5}"
        );
        assert_eq!(
            rewritten("SELECT * FROM f(1, {a: 2})").unwrap(),
            "1, {a: 2}"
        );
        let err = |sql| rewritten(sql).unwrap_err().to_string();
        assert!(err("SELECT * FROM f(a => 1, 2)").contains("named arguments come last"));
        assert!(err("SELECT * FROM f(1, a => 1, a => 2)").contains("given twice"));
        assert!(err("SELECT * FROM f(1, {a: 2}, b => 3)").contains("not both"));
    }
}
