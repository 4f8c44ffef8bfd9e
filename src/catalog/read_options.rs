//! The options of `read_csv`, `read_json` and `read_parquet` (and of
//! `'f.csv'` alone: the defaults), checked when the call is planned.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;

use crate::values::time_text;

/// How to read host files: the options of `read_csv` and its siblings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReadOptions {
    /// The field delimiter (CSV).
    pub(crate) delimiter: u8,
    /// Numbers are written with a decimal comma (`12,5`); CSV.
    pub(crate) decimal_comma: bool,
    /// The first line names the columns (CSV).
    pub(crate) header: bool,
    /// chrono's layout of the time columns (CSV), e.g. `%d.%m.%Y %H:%M`.
    pub(crate) timestamp_format: Option<String>,
    /// The text that means NULL (CSV), e.g. `NA`.
    pub(crate) null: Option<String>,
    /// Columns whose type is given, not inferred (SQL type names).
    pub(crate) columns: BTreeMap<String, DataType>,
    /// Add a `filename` column: the file each row came from.
    pub(crate) filename: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            delimiter: b',',
            decimal_comma: false,
            header: true,
            timestamp_format: None,
            null: None,
            columns: BTreeMap::new(),
            filename: false,
        }
    }
}

/// The options every reader takes, and those only CSV takes.
const COMMON_OPTIONS: &[&str] = &["filename"];
const CSV_OPTIONS: &[&str] = &[
    "delim",
    "decimal",
    "header",
    "timestamp_format",
    "null",
    "columns",
];

/// The file formats `read_*` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Csv,
    Json,
    Parquet,
}

impl FileFormat {
    pub(crate) fn function(self) -> &'static str {
        match self {
            FileFormat::Csv => "read_csv",
            FileFormat::Json => "read_json",
            FileFormat::Parquet => "read_parquet",
        }
    }
}

impl ReadOptions {
    /// Options from the `{name: value, …}` argument of `function`.
    pub(crate) fn from_struct(format: FileFormat, options: &ScalarValue) -> Result<Self> {
        let function = format.function();
        let ScalarValue::Struct(array) = options else {
            return plan_err!(
                "{function}(): options go in braces as the second argument, e.g. {function}('f.csv', {{delim: ';', header: true}})"
            );
        };
        let mut read = ReadOptions::default();
        let mut seen = std::collections::BTreeSet::new();
        for (i, field) in array.fields().iter().enumerate() {
            let name = field.name().as_str();
            if !seen.insert(name) {
                return plan_err!("{function}(): option '{name}' is given twice: give it once");
            }
            let value = ScalarValue::try_from_array(array.column(i), 0)?;
            let known = COMMON_OPTIONS.contains(&name)
                || (format == FileFormat::Csv && CSV_OPTIONS.contains(&name));
            if !known {
                let mut names: Vec<&str> = COMMON_OPTIONS.to_vec();
                if format == FileFormat::Csv {
                    names.extend(CSV_OPTIONS);
                }
                return plan_err!(
                    "{function}(): unknown option '{name}': it takes {}",
                    names.join(", ")
                );
            }
            let text = || -> Result<String> {
                match &value {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)) => Ok(s.clone()),
                    _ => plan_err!("{function}(): option '{name}' takes text in single quotes, e.g. {name}: ';'"),
                }
            };
            let flag = || -> Result<bool> {
                match &value {
                    ScalarValue::Boolean(Some(b)) => Ok(*b),
                    _ => plan_err!(
                        "{function}(): option '{name}' takes true or false, e.g. {name}: true"
                    ),
                }
            };
            match name {
                "delim" => {
                    let delim = text()?;
                    let [byte] = delim.as_bytes() else {
                        return plan_err!("{function}(): delim must be one character (one byte), e.g. delim: ';'; got '{delim}'");
                    };
                    read.delimiter = *byte;
                }
                "decimal" => {
                    read.decimal_comma = match text()?.as_str() {
                        "," => true,
                        "." => false,
                        other => {
                            return plan_err!("{function}(): decimal is ',' or '.', not '{other}'")
                        }
                    }
                }
                "header" => read.header = flag()?,
                "timestamp_format" => {
                    let format = text()?;
                    time_text::check_format(&format).map_err(|why| {
                        plan_datafusion_err!("{function}(): timestamp_format '{format}' {why}")
                    })?;
                    read.timestamp_format = Some(format);
                }
                "null" => read.null = Some(text()?),
                "filename" => read.filename = flag()?,
                "columns" => read.columns = column_types(function, &value)?,
                _ => unreachable!("checked against the option lists above"),
            }
        }
        if read.decimal_comma && read.delimiter == b',' {
            return plan_err!(
                "{function}(): with decimal: ',' the fields need another delimiter, e.g. delim: ';'"
            );
        }
        Ok(read)
    }
}

/// `columns: {name: 'TYPE', …}`: SQL type names, as in CREATE TABLE.
fn column_types(function: &str, value: &ScalarValue) -> Result<BTreeMap<String, DataType>> {
    let ScalarValue::Struct(array) = value else {
        return plan_err!(
            "{function}(): columns takes names and SQL types, e.g. columns: {{ts: 'TIMESTAMP', flow: 'DOUBLE'}}"
        );
    };
    let mut columns = BTreeMap::new();
    for (i, field) in array.fields().iter().enumerate() {
        let type_name = match ScalarValue::try_from_array(array.column(i), 0)? {
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s,
            _ => return plan_err!("{function}(): the type of column '{}' is an SQL type name in quotes, e.g. 'DOUBLE'", field.name()),
        };
        columns.insert(
            field.name().clone(),
            sql_type(function, field.name(), &type_name)?,
        );
    }
    Ok(columns)
}

/// The Arrow type of an SQL type name, as DataFusion's planner gives it.
fn sql_type(function: &str, column: &str, name: &str) -> Result<DataType> {
    use datafusion::sql::sqlparser::{dialect::GenericDialect, parser::Parser};
    let bad = || {
        plan_datafusion_err!("{function}(): column '{column}': '{name}' is not an SQL type (e.g. 'DOUBLE', 'BIGINT', 'VARCHAR', 'TIMESTAMP')")
    };
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(name)
        .and_then(|mut p| p.parse_data_type())
        .map_err(|_| bad())?;
    use datafusion::sql::sqlparser::ast::DataType as Sql;
    Ok(match parsed {
        Sql::Double(_) | Sql::DoublePrecision | Sql::Float64 => DataType::Float64,
        Sql::Float(_) | Sql::Real | Sql::Float4 => DataType::Float32,
        Sql::BigInt(_) | Sql::Int64 | Sql::Int8(_) => DataType::Int64,
        Sql::Int(_) | Sql::Integer(_) | Sql::Int4(_) => DataType::Int32,
        Sql::SmallInt(_) | Sql::Int2(_) => DataType::Int16,
        Sql::Boolean | Sql::Bool => DataType::Boolean,
        Sql::Varchar(_) | Sql::Text | Sql::String(_) | Sql::Char(_) => DataType::Utf8,
        Sql::Date => DataType::Date32,
        Sql::Timestamp(_, tz) => DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            matches!(
                tz,
                datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
                    | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz
            )
            .then(|| crate::storage::event_time::UTC.into()),
        ),
        _ => return Err(bad()),
    })
}
