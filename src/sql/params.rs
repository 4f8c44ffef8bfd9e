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
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    self, visit_expressions_mut, CastKind, Expr, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// One statement with its placeholders numbered `$1…$n`.
#[derive(Clone, Debug)]
pub(crate) struct Parameterised {
    statement: Statement,
    /// How many parameters it takes (the highest `$n`).
    pub(crate) count: usize,
}

impl Parameterised {
    /// `None` for statements without placeholders, and for those only the
    /// pond parses (`CREATE DIRECTORY …`), which take none: they run as written.
    pub(crate) fn parse(sql: &str) -> Option<Parameterised> {
        // Too long to parse safely: running it says so.
        super::parser::check_expression_length(sql).ok()?;
        let mut statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
        if statements.len() != 1 {
            return None;
        }
        let mut statement = statements.pop()?;
        let mut next = 0usize;
        let mut count = 0usize;
        let _ = visit_expressions_mut(&mut statement, |expr| {
            if let Expr::Value(v) = expr {
                if let Value::Placeholder(name) = &mut v.value {
                    if name == "?" {
                        next += 1;
                        *name = format!("${next}");
                    }
                    if let Ok(n) = name[1..].parse::<usize>() {
                        count = count.max(n);
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        (count > 0).then_some(Parameterised { statement, count })
    }

    /// The statement's text with `?` written as `$n`, for planning.
    pub(crate) fn numbered(&self) -> String {
        self.statement.to_string()
    }

    /// The statement with row `row` of `values` (one column per parameter)
    /// in place of its placeholders.
    pub(crate) fn bind(&self, values: &RecordBatch, row: usize) -> Result<String> {
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
        let mut statement = self.statement.clone();
        let _ = visit_expressions_mut(&mut statement, |expr| {
            if let Expr::Value(v) = expr {
                if let Value::Placeholder(name) = &v.value {
                    if let Some(bound) = name[1..]
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| literals.get(n.wrapping_sub(1)))
                    {
                        *expr = bound.clone();
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        Ok(statement.to_string())
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

/// The rows of bound values, as one batch (a client may send several).
pub(crate) fn concat(batches: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    datafusion::arrow::compute::concat_batches(&first.schema(), batches)
        .map(Some)
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
}
