//! Printing query results: table, csv, tsv, json, ndjson, markdown.

use crate::error::Error;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Tsv,
    Json,
    NdJson,
    Markdown,
}

pub(super) const FORMAT_NAMES: &[&str] = &["table", "csv", "tsv", "json", "ndjson", "markdown"];

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::NdJson),
            "markdown" | "md" => Ok(Format::Markdown),
            other => Err(format!(
                "unknown format '{other}': use one of {}",
                FORMAT_NAMES.join(", ")
            )
            .into()),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::NdJson => "ndjson",
            Format::Markdown => "markdown",
        };
        f.write_str(name)
    }
}

/// Keeps at most `max_rows` rows (all when `None`); returns the kept batches
/// and the total row count.
fn limit(batches: &[RecordBatch], max_rows: Option<usize>) -> (Vec<RecordBatch>, usize) {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Some(max) = max_rows else {
        return (batches.to_vec(), total);
    };
    let mut kept = Vec::new();
    let mut left = max;
    for batch in batches {
        if left == 0 {
            break;
        }
        let n = batch.num_rows().min(left);
        kept.push(batch.slice(0, n));
        left -= n;
    }
    (kept, total)
}

/// Refuses, before anything is printed, a result that `format` cannot show
/// (CSV and TSV have no nested values).
pub(super) fn check(
    format: Format,
    schema: &datafusion::arrow::datatypes::Schema,
) -> Result<(), Error> {
    if !matches!(format, Format::Csv | Format::Tsv) {
        return Ok(());
    }
    match schema.fields().iter().find(|f| f.data_type().is_nested()) {
        Some(field) => Err(format!(
            "--format {format} cannot show column '{}' of type {}: use --format json, ndjson or table (\\format in the REPL), or select it as text, e.g. CAST(\"{}\" AS VARCHAR)",
            field.name(),
            field.data_type(),
            field.name()
        ).into()),
        None => Ok(()),
    }
}

/// Writes `batches` in `format`. `max_rows` cuts long results (with a note
/// saying how many rows there were); machine formats are never cut.
pub(super) fn write(
    out: &mut dyn Write,
    format: Format,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
    max_rows: Option<usize>,
) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            let (kept, total) = limit(batches, max_rows);
            let shown: usize = kept.iter().map(|b| b.num_rows()).sum();
            let kept = if kept.is_empty() {
                vec![RecordBatch::new_empty(schema.clone())]
            } else {
                kept
            };
            writeln!(out, "{}", pretty_format_batches(&kept)?)?;
            if shown < total {
                writeln!(
                    out,
                    "({total} rows, {shown} shown: \\maxrows N or --maxrows N shows more)"
                )?;
            }
        }
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut writer = CsvWriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(&mut *out);
            if batches.is_empty() {
                writer.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for batch in batches {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?; // writes `[]` for no rows
            writeln!(out)?;
        }
        Format::NdJson => {
            let mut writer = LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Markdown => write_markdown(out, schema, batches)?,
    }
    Ok(())
}

fn write_markdown(
    out: &mut dyn Write,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), ArrowError> {
    let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    writeln!(out, "|{}|", vec!["---"; names.len()].join("|"))?;
    let options = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| escape(&f.value(row).to_string()))
                .collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}
