//! Number literals that DataFusion would change silently are refused.
//!
//! DataFusion reads an integer literal as BIGINT (or BIGINT UNSIGNED) and
//! anything else as DOUBLE: 38 nines become `1e38`, `1e400` becomes `inf`,
//! `1e-400` becomes 0. Such a literal is an error naming it and the exact
//! way to write it, before anything is planned.

use std::ops::ControlFlow;

use datafusion::common::plan_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{visit_expressions, Expr, UnaryOperator, Value};

/// Checks every number literal of `statement`.
pub(super) fn check_numbers(statement: &DFStatement) -> Result<()> {
    let flow = match statement {
        DFStatement::Statement(statement) => visit_expressions(statement.as_ref(), |e| {
            check_expr(e).map_or_else(ControlFlow::Break, ControlFlow::Continue)
        }),
        DFStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => visit_expressions(query.as_ref(), |e| {
                check_expr(e).map_or_else(ControlFlow::Break, ControlFlow::Continue)
            }),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => return check_numbers(&explain.statement),
        _ => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn check_expr(expr: &Expr) -> std::result::Result<(), DataFusionError> {
    match expr {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(text, _) => check_number(text, true),
                _ => Ok(()),
            },
            _ => Ok(()),
        },
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => check_number(text, false),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Past 17 significant digits a DOUBLE cannot tell neighbouring decimals
/// apart, so the value stored would not be the one written.
const DOUBLE_DIGITS: usize = 17;

fn check_number(written: &str, negative: bool) -> Result<()> {
    let text: String = written.chars().filter(|c| *c != '_').collect();
    let sign = if negative { "-" } else { "" };
    let scale = match text.split_once('.') {
        Some((_, fraction)) if !text.contains(['e', 'E']) => fraction.len(),
        _ => 0,
    };
    let exact = |kind: &str| {
        plan_err!(
            "the number {sign}{written} {kind}: write it exactly as a decimal, e.g. CAST('{sign}{text}' AS DECIMAL(38, {scale})) (DECIMAL holds up to 38 digits)"
        )
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let fits = format!("{sign}{text}").parse::<i64>().is_ok()
            || (!negative && text.parse::<u64>().is_ok());
        return if fits {
            Ok(())
        } else {
            exact("is beyond BIGINT and would be rounded as DOUBLE")
        };
    }
    let Ok(value) = text.parse::<f64>() else {
        return Ok(()); // not a number DataFusion reads either: it reports it
    };
    if value.is_infinite() {
        return plan_err!("the number {sign}{written} is beyond DOUBLE's range (about 1.8e308)");
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    // Zeros after the point add no precision; zeros before it do.
    let significant = if mantissa.contains('.') {
        significant.trim_end_matches('0')
    } else {
        significant
    };
    if value == 0.0 && !significant.is_empty() {
        return plan_err!(
            "the number {sign}{written} is too small for DOUBLE and would be stored as 0: write it as a decimal or scale the unit"
        );
    }
    if significant.len() > DOUBLE_DIGITS {
        return exact(&format!(
            "has {} significant digits and DOUBLE keeps about {DOUBLE_DIGITS}",
            significant.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_number;

    #[test]
    fn numbers_that_would_change_are_refused() {
        for ok in [
            "1",
            "9223372036854775807",
            "18446744073709551615",
            "1.5",
            "1e308",
            "0.000",
            "1_000",
            "3.14159265358979",
            "1.50000000000000000000000",
        ] {
            assert!(check_number(ok, false).is_ok(), "{ok}");
        }
        assert!(check_number("9223372036854775808", true).is_ok());
        for bad in [
            "99999999999999999999999999999999999999",
            "18446744073709551616",
            "1e400",
            "1e-400",
            "12345678901234567890.5",
        ] {
            assert!(check_number(bad, false).is_err(), "{bad}");
        }
        assert!(check_number("9223372036854775809", true).is_err());
    }
}
