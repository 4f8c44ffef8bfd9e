//! Parameters of prepared statements (`$1`, or `?` numbered in order):
//! what a statement takes, and the statement with bound values in their
//! place.
//!
//! Values are bound into the parsed statement as literals (never spliced
//! into text), so a bound string is always one string; the bound statement
//! then runs through the session like any other, with the same exact casts.

use std::ops::ControlFlow;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_datafusion_err, exec_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut, CastKind, Expr, Value};

use super::parser::{Parsed, Statement};

/// One statement with its placeholders numbered `$1…$n`.
#[derive(Clone, Debug)]
pub struct Parameterised {
    pub(crate) statement: Statement,
    /// How many parameters it takes (the highest `$n`; 0 for none).
    pub(crate) count: usize,
}

impl Parameterised {
    /// `statement` with each `?` numbered in order. The pond's own
    /// statements (`CREATE DIRECTORY …`) take none.
    pub(crate) fn new(mut statement: Statement) -> Parameterised {
        let mut next = 0usize;
        let mut count = 0usize;
        placeholders(&mut statement.parsed, |name| {
            if name == "?" {
                next += 1;
                *name = format!("${next}");
            }
            if let Ok(n) = name[1..].parse::<usize>() {
                count = count.max(n);
            }
            None
        });
        Parameterised { statement, count }
    }

    /// The statement with row `row` of `values` (one column per parameter)
    /// in place of its placeholders.
    pub(crate) fn bind(&self, values: &RecordBatch, row: usize) -> Result<Statement> {
        if values.num_columns() != self.count {
            return plan_err!(
                "the statement takes {} parameter(s), but {} were bound: bind one value per placeholder",
                self.count,
                values.num_columns()
            );
        }
        let literals = (0..self.count)
            .map(|i| {
                let value = ScalarValue::try_from_array(values.column(i).as_ref(), row)?;
                literal(&value, i + 1)
            })
            .collect::<Result<Vec<Expr>>>()?;
        let mut parsed = self.statement.parsed.clone();
        placeholders(&mut parsed, |name| {
            name[1..]
                .parse::<usize>()
                .ok()
                .and_then(|n| literals.get(n.wrapping_sub(1)))
                .cloned()
        });
        let text = match &parsed {
            Parsed::DataFusion(statement) => statement.to_string(),
            Parsed::Pond(_) => self.statement.text.clone(),
        };
        Ok(Statement { text, parsed })
    }
}

/// How many parameters `statement` takes (the highest `$n`).
pub(crate) fn count(statement: &Statement) -> usize {
    Parameterised::new(statement.clone()).count
}

/// Calls `visit` with the name of each placeholder of a statement (`?`,
/// `$1`); an expression it returns takes the placeholder's place.
fn placeholders(parsed: &mut Parsed, mut visit: impl FnMut(&mut String) -> Option<Expr>) {
    fn walk(statement: &mut DFStatement, visit: &mut dyn FnMut(&mut String) -> Option<Expr>) {
        let mut on_expr = |expr: &mut Expr| {
            if let Expr::Value(v) = expr {
                if let Value::Placeholder(name) = &mut v.value {
                    if let Some(bound) = visit(name) {
                        *expr = bound;
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        };
        let _ = match statement {
            DFStatement::Statement(s) => visit_expressions_mut(s.as_mut(), &mut on_expr),
            DFStatement::CopyTo(copy) => match &mut copy.source {
                CopyToSource::Query(query) => visit_expressions_mut(query.as_mut(), &mut on_expr),
                CopyToSource::Relation(_) => ControlFlow::Continue(()),
            },
            DFStatement::Explain(explain) => {
                walk(explain.statement.as_mut(), visit);
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Continue(()),
        };
    }
    if let Parsed::DataFusion(statement) = parsed {
        walk(statement, &mut visit);
    }
}

/// A bound value as a SQL literal of the same type (`CAST('…' AS T)` where
/// SQL has no literal for it); the session's exact casts take it from there.
fn literal(value: &ScalarValue, number: usize) -> Result<Expr> {
    let plain = |v: Value| Expr::Value(v.with_empty_span());
    let cast = |text: String, data_type: ast::DataType| Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(plain(Value::SingleQuotedString(text))),
        data_type,
        array: false,
        format: None,
    };
    if value.is_null() {
        return Ok(plain(Value::Null));
    }
    if let ScalarValue::Binary(Some(b))
    | ScalarValue::LargeBinary(Some(b))
    | ScalarValue::BinaryView(Some(b)) = value
    {
        return Ok(plain(Value::HexStringLiteral(hex::encode(b))));
    }
    let text = || value.to_string();
    Ok(match value.data_type() {
        DataType::Boolean => plain(Value::Boolean(matches!(
            value,
            ScalarValue::Boolean(Some(true))
        ))),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => plain(Value::Number(text(), false)),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let float = match value {
                ScalarValue::Float32(Some(f)) => f64::from(*f),
                ScalarValue::Float64(Some(f)) => *f,
                _ => text()
                    .parse::<f64>()
                    .map_err(|e| exec_datafusion_err!("parameter ${number}: {e}"))?,
            };
            // A double either way: `1.5` alone would be read as a double too,
            // but NaN and infinities have no literal.
            cast(
                format!("{float:?}"),
                ast::DataType::Double(ast::ExactNumberInfo::None),
            )
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            plain(Value::SingleQuotedString(text()))
        }
        DataType::Date32 | DataType::Date64 => cast(text(), ast::DataType::Date),
        DataType::Timestamp(_, zone) => {
            let with_zone = if zone.is_some() {
                ast::TimezoneInfo::WithTimeZone
            } else {
                ast::TimezoneInfo::None
            };
            cast(text(), ast::DataType::Timestamp(None, with_zone))
        }
        other => {
            return exec_err!(
                "parameter ${number}: a {other} value cannot be bound: bind it as text and CAST it in the statement"
            )
        }
    })
}
