//! Reading host files with options: `read_csv('f.csv', {delim: ';', …})`,
//! `read_json`, `read_parquet`, and `'f.csv'` alone (the defaults).
//!
//! DataFusion's listing table reads the files; on top of it, columns whose
//! text DataFusion cannot type are read as text and converted exactly:
//! times in the layouts sensors write ([`time_text`]), numbers with a
//! decimal comma. A conversion that meets a value it cannot read is an
//! error naming the file, column and value; nothing is guessed or cut.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, DFSchema};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::error::Result;
use datafusion::functions::expr_fn::{nullif, replace};
use datafusion::logical_expr::{col, lit, Expr, LogicalPlanBuilder};
use futures::TryStreamExt;

use super::compressed::{self, compression_of};
use super::csv_quotes::check_csv_file;
use super::host_access::HostAccess;
use super::narrow_batches::NarrowBatches;
use crate::values::exact_cast;
use crate::values::time_text::{self, parse_time};

pub(crate) use super::read_options::{FileFormat, ReadOptions};

/// How a column read as text becomes its type.
#[derive(Debug, Clone, PartialEq)]
enum Conversion {
    /// A time; zone-aware when its values carry offsets.
    Time { zoned: bool },
    /// A number with a decimal comma, into this type.
    DecimalComma(DataType),
    /// Any other type, cast from the text exactly: DataFusion's CSV scan
    /// does not apply the `null` text (only its schema inference does).
    Text(DataType),
}

/// A table over the host files `url` names (a file, a directory, or a glob).
pub(crate) async fn open(
    state: &dyn Session,
    url: &str,
    format: FileFormat,
    options: &ReadOptions,
) -> Result<Arc<dyn TableProvider>> {
    HostAccess::of(state.config()).check(&format!("{}()", format.function()), url)?;
    let table_url = ListingTableUrl::parse(url)?;
    let store = state.runtime_env().object_store(&table_url)?;
    // A directory holds other files too: read those of the format; a file
    // or a glob names exactly what to read.
    // (A glob's URL is a collection too: its files are still named.)
    let extension = match format {
        FileFormat::Csv if table_url.is_collection() && table_url.get_glob().is_none() => ".csv",
        _ => "",
    };
    let mut files: Vec<String> = table_url
        .list_all_files(state, store.as_ref(), extension)
        .await?
        .map_ok(|meta| format!("/{}", meta.location))
        .try_collect()
        .await?;
    files.sort();
    let Some(first) = files.first().cloned() else {
        return plan_err!("{}('{url}'): no file matches", format.function());
    };
    let listing = match format {
        FileFormat::Csv => {
            for file in &files {
                check_csv_file(file, options.delimiter).await?;
            }
            let compression = compression_of(&first);
            if let Some(other) = files.iter().find(|f| compression_of(f) != compression) {
                return plan_err!(
                    "{}('{url}'): {first} and {other} are compressed differently (or one not at all): read each kind with a call of its own",
                    format.function()
                );
            }
            let mut csv = CsvFormat::default()
                .with_delimiter(options.delimiter)
                .with_has_header(options.header)
                .with_file_compression_type(compression);
            if let Some(null) = &options.null {
                csv = csv.with_null_regex(Some(format!("^{}$", regex_escape(null))));
            }
            ListingOptions::new(Arc::new(csv)).with_file_extension(extension)
        }
        _ => {
            let config = ListingTableConfig::new(table_url.clone())
                .infer_options(state)
                .await?;
            let listing = config
                .options
                .clone()
                .ok_or_else(|| plan_datafusion_err!("{url}: cannot tell how to read it"))?;
            // The file's name decides its reader: read_json of a .csv file
            // would read CSV. Refuse instead.
            let named = listing.format.get_ext();
            let wanted = match format {
                FileFormat::Json => "json",
                _ => "parquet",
            };
            if named != wanted {
                let fix = match named.as_str() {
                    "csv" | "json" | "parquet" => {
                        format!("read it with read_{named}(), or rename it")
                    }
                    _ => "rename it, or convert it".to_string(),
                };
                return plan_err!(
                    "{}('{url}'): the file is named as {named}, not {wanted}: {fix}",
                    format.function()
                );
            }
            listing
        }
    };
    // Columns and types come from the first file (in path order), as for
    // ingestion views: files that differ in a column's type (`7` here,
    // `1,5` there) would not merge; a later file that does not fit is an
    // error naming it when it is read.
    let inferred = ListingTableConfig::new(ListingTableUrl::parse(&first)?)
        .with_listing_options(listing.clone())
        .infer_schema(state)
        .await?
        .file_schema
        .ok_or_else(|| plan_datafusion_err!("{url}: no columns could be read"))?;
    for name in options.columns.keys() {
        if inferred.field_with_name(name).is_err() {
            return plan_err!(
                "{}('{url}'): option columns names '{name}', which the file does not have (it has {})",
                format.function(),
                names(&inferred)
            );
        }
    }
    if format == FileFormat::Csv {
        check_header(&first, &inferred, options)?;
    }
    let conversions = match format {
        FileFormat::Csv => csv_conversions(&first, &inferred, options)?,
        _ => BTreeMap::new(),
    };
    // What the listing table reads: given types, and text where we convert.
    let file_schema: SchemaRef = Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| {
                let data_type = if conversions.contains_key(f.name()) {
                    DataType::Utf8
                } else {
                    options
                        .columns
                        .get(f.name())
                        .cloned()
                        .unwrap_or_else(|| f.data_type().clone())
                };
                Field::new(f.name(), data_type, true)
            })
            .collect::<Vec<_>>(),
    ));
    let table = |url: ListingTableUrl| -> Result<Arc<dyn TableProvider>> {
        let config = ListingTableConfig::new(url)
            .with_listing_options(listing.clone())
            .with_schema(file_schema.clone());
        Ok(NarrowBatches::wrap(Arc::new(ListingTable::try_new(
            config,
        )?)))
    };
    if conversions.is_empty() && !options.filename {
        return table(table_url);
    }
    // One scan per file when each row must say its file; else one scan.
    let sources: Vec<(Option<String>, ListingTableUrl)> = if options.filename {
        files
            .iter()
            .map(|f| Ok((Some(f.clone()), ListingTableUrl::parse(f)?)))
            .collect::<Result<_>>()?
    } else {
        vec![(None, table_url)]
    };
    let mut plan: Option<LogicalPlanBuilder> = None;
    for (file, file_url) in sources {
        let context = format!("reading {}", file.as_deref().unwrap_or(url));
        let scan = LogicalPlanBuilder::scan("file", provider_as_source(table(file_url)?), None)?;
        let schema = DFSchema::try_from(file_schema.as_ref().clone())?;
        let mut exprs = file_schema
            .fields()
            .iter()
            .map(|f| {
                convert(
                    f.name(),
                    conversions.get(f.name()),
                    options,
                    &context,
                    &schema,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(file) = file {
            exprs.push(lit(file).alias("filename"));
        }
        let projected = scan.project(exprs)?;
        plan = Some(match plan {
            None => projected,
            Some(all) => all.union(projected.build()?)?,
        });
    }
    let plan = plan.expect("a file matched, checked above").build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

fn convert(
    name: &str,
    conversion: Option<&Conversion>,
    options: &ReadOptions,
    context: &str,
    schema: &DFSchema,
) -> Result<Expr> {
    let mut column = col(datafusion::common::Column::new_unqualified(name));
    if let (Some(null), Some(_)) = (&options.null, conversion) {
        column = nullif(column, lit(null.as_str()));
    }
    let converted = match conversion {
        None => return Ok(column),
        Some(Conversion::Time { zoned }) => parse_time(
            column,
            options.timestamp_format.clone(),
            *zoned,
            context.to_string(),
            name.to_string(),
        ),
        Some(Conversion::DecimalComma(target)) => exact_cast::exact_cast(
            replace(column, lit(","), lit(".")),
            target,
            false,
            context,
            name,
            schema,
        )?,
        Some(Conversion::Text(target)) => {
            exact_cast::exact_cast(column, target, false, context, name, schema)?
        }
    };
    Ok(converted.alias(name))
}

/// Which columns of a CSV file are read as text and converted, judged by
/// the text of its first rows (as DataFusion judges its own types).
fn csv_conversions(
    file: &str,
    inferred: &Schema,
    options: &ReadOptions,
) -> Result<BTreeMap<String, Conversion>> {
    let sample = sample_text(file, inferred, options)?;
    let mut conversions = BTreeMap::new();
    for (i, field) in inferred.fields().iter().enumerate() {
        let name = field.name();
        let declared = options.columns.get(name);
        let values: Vec<&str> = sample
            .iter()
            .filter_map(|row| row.get(i).and_then(|v| v.as_deref()))
            .filter(|v| !v.trim().is_empty())
            .collect();
        let wants_time = match declared {
            Some(DataType::Timestamp(_, zone)) => Some(Some(zone.is_some())),
            Some(_) => None,
            None if matches!(field.data_type(), DataType::Timestamp(..) | DataType::Utf8) => {
                Some(None)
            }
            None => None,
        };
        if let Some(declared_zone) = wants_time {
            let format = options.timestamp_format.as_deref();
            let parsed: Vec<_> = values
                .iter()
                .map(|v| (v, time_text::parse(v, format)))
                .collect();
            let first_is_time = parsed.first().is_some_and(|(_, p)| p.is_ok());
            // A leap second, also where DataFusion took the column for time
            // itself: its reading would fold it into :59 and drop the zone.
            if let Some((value, _)) = parsed
                .iter()
                .find(|(_, p)| matches!(p, Err(time_text::NotATime::LeapSecond)))
            {
                return plan_err!(
                    "reading {file}: column '{name}': '{value}' {}",
                    time_text::LEAP_SECOND
                );
            }
            if first_is_time || declared_zone.is_some() {
                if let Some((value, _)) = parsed.iter().find(|(_, p)| p.is_err()) {
                    let example = parsed.first().map_or("", |(v, _)| **v);
                    if let Some(format) = options
                        .timestamp_format
                        .as_deref()
                        .filter(|_| **value == example)
                    {
                        return plan_err!(
                            "reading {file}: column '{name}': '{value}' is not a time in the format '{format}': give the layout the file uses (chrono's strftime codes, e.g. '%d.%m.%Y %H:%M'), or read it as text with {{columns: {{{name}: 'VARCHAR'}}}}"
                        );
                    }
                    return plan_err!(
                        "reading {file}: column '{name}' looks like time ('{example}') but '{value}' is not one pondsql reads: give its layout with read_csv('{file}', {{timestamp_format: '%d.%m.%Y %H:%M'}}) (chrono's strftime codes), or read it as text with {{columns: {{{name}: 'VARCHAR'}}}}"
                    );
                }
                let with_offset = parsed
                    .iter()
                    .filter(|(_, p)| matches!(p, Ok(t) if t.had_offset))
                    .count();
                if with_offset != 0 && with_offset != parsed.len() {
                    return plan_err!(
                        "reading {file}: column '{name}' mixes times with and without a UTC offset: give every value an offset, or none"
                    );
                }
                let zoned = declared_zone.unwrap_or(with_offset != 0);
                conversions.insert(name.clone(), Conversion::Time { zoned });
                continue;
            }
        }
        // DataFusion's inference takes `Infinity` (logger exports) and
        // integers beyond BIGINT for text: read them as the numbers they are.
        if declared.is_none()
            && field.data_type() == &DataType::Utf8
            && !options.decimal_comma
            && !conversions.contains_key(name)
        {
            if let Some(target) = number_column(file, name, &values)? {
                conversions.insert(name.clone(), Conversion::Text(target));
                continue;
            }
        }
        if options.decimal_comma && !conversions.contains_key(name) {
            let target = match declared {
                Some(t) if t.is_numeric() => Some(t.clone()),
                None if field.data_type() == &DataType::Utf8
                    && !values.is_empty()
                    && values.iter().all(|v| decimal_comma_number(v)) =>
                {
                    Some(DataType::Float64)
                }
                _ => None,
            };
            if let Some(target) = target {
                conversions.insert(name.clone(), Conversion::DecimalComma(target));
            }
        }
    }
    if options.null.is_some() {
        for field in inferred.fields() {
            // A column of only NULLs in this file stays text (its reader casts it).
            let target = match options
                .columns
                .get(field.name())
                .unwrap_or(field.data_type())
            {
                DataType::Null => DataType::Utf8,
                other => other.clone(),
            };
            conversions
                .entry(field.name().clone())
                .or_insert(Conversion::Text(target));
        }
    }
    Ok(conversions)
}

/// The number type of a column DataFusion inferred as text, by its sample:
/// DOUBLE when every value is a decimal number or `±inf`/`±Infinity`/`NaN`
/// (any case); BIGINT when every value is an integer that fits one,
/// DECIMAL(38, 0) when one is beyond BIGINT (exact, never rounded to a
/// DOUBLE); an error naming the
/// value when an integer has more digits than DECIMAL(38, 0) holds;
/// `None` for text.
fn number_column(file: &str, name: &str, values: &[&str]) -> Result<Option<DataType>> {
    let special = |v: &str| {
        let v = v.trim_start_matches(['-', '+']).to_ascii_lowercase();
        matches!(v.as_str(), "inf" | "infinity" | "nan")
    };
    let digits = |v: &str| {
        let d = v.trim_start_matches(['-', '+']);
        !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
    };
    if values.is_empty() {
        return Ok(None);
    }
    let values: Vec<&str> = values.iter().map(|v| v.trim()).collect();
    if values.iter().all(|v| digits(v)) {
        if let Some(long) = values.iter().find(|v| {
            v.trim_start_matches(['-', '+'])
                .trim_start_matches('0')
                .len()
                > 38
        }) {
            return plan_err!(
                "reading {file}: column '{name}': the integer {long} has more than 38 digits, more than DECIMAL(38, 0) holds: read it as text with {{columns: {{{name}: 'VARCHAR'}}}}"
            );
        }
        // DataFusion leaves `+5` to text too: BIGINT where every value fits.
        if values.iter().all(|v| v.parse::<i64>().is_ok()) {
            return Ok(Some(DataType::Int64));
        }
        return Ok(Some(DataType::Decimal128(38, 0)));
    }
    let number =
        |v: &str| special(v) || (v.parse::<f64>().is_ok() && v.bytes().any(|b| b.is_ascii_digit()));
    Ok(values
        .iter()
        .all(|v| number(v))
        .then_some(DataType::Float64))
}

/// `-12,5`, `3`, `1,5e3`: a number written with a decimal comma.
fn decimal_comma_number(text: &str) -> bool {
    let text = text.trim();
    let digits = text.trim_start_matches(['-', '+']);
    !digits.is_empty()
        && digits.chars().filter(|c| *c == ',').count() <= 1
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | 'e' | 'E' | '-' | '+'))
        && digits.starts_with(|c: char| c.is_ascii_digit())
}

/// A CSV file's first line gives each column once, and gives some: a
/// header that repeats a name (DataFusion's inference keeps one, and the
/// rows then have a field too many) or a file of blank lines is said so.
fn check_header(file: &str, inferred: &Schema, options: &ReadOptions) -> Result<()> {
    let open = || compressed::open(file).map_err(|e| plan_datafusion_err!("reading {file}: {e}"));
    let (first_line, _) = datafusion::arrow::csv::reader::Format::default()
        .with_header(false)
        .with_delimiter(options.delimiter)
        .infer_schema(open()?, Some(1))?;
    if first_line.fields().is_empty() || inferred.fields().is_empty() {
        return plan_err!(
            "reading {file}: the file has no columns (it is empty, or holds only blank lines): give it a header line and rows"
        );
    }
    if !options.header || first_line.fields().len() == inferred.fields().len() {
        return Ok(());
    }
    let names = ReaderBuilder::new(as_text(&first_line))
        .with_header(false)
        .with_delimiter(options.delimiter)
        .with_batch_size(1)
        .build(open()?)?
        .next()
        .transpose()?;
    let mut seen = std::collections::BTreeSet::new();
    let repeated = names.as_ref().and_then(|batch| {
        batch
            .columns()
            .iter()
            .map(|c| c.as_string::<i32>().value(0).to_string())
            .find(|name| !seen.insert(name.clone()))
    });
    match repeated {
        Some(name) => plan_err!(
            "reading {file}: the header names column '{name}' twice: give each column its own name, or read the file with {{header: false}}"
        ),
        None => Ok(()),
    }
}

/// `schema`'s columns, every one as nullable text: how a CSV file's
/// fields are read to be looked at before their types are decided.
fn as_text(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The first rows of a CSV file, every field as text (`None` for NULL).
fn sample_text(
    file: &str,
    inferred: &Schema,
    options: &ReadOptions,
) -> Result<Vec<Vec<Option<String>>>> {
    const ROWS: usize = 1000;
    let reader = compressed::open(file).map_err(|e| plan_datafusion_err!("reading {file}: {e}"))?;
    let mut reader = ReaderBuilder::new(as_text(inferred))
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .with_batch_size(ROWS)
        .build(reader)?;
    let Some(batch) = reader.next().transpose()? else {
        return Ok(Vec::new());
    };
    let null = options.null.as_deref();
    let columns: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| c.as_string::<i32>().clone())
        .collect();
    Ok((0..batch.num_rows())
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    (c.is_valid(row) && Some(c.value(row)) != null)
                        .then(|| c.value(row).to_string())
                })
                .collect()
        })
        .collect())
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_columns_take_the_type_that_holds_every_value_exactly() {
        let of = |values: &[&str]| number_column("f.csv", "c", values).unwrap();
        assert_eq!(
            of(&["1.5", "Infinity", "-inf", "NaN"]),
            Some(DataType::Float64)
        );
        assert_eq!(of(&["+5", "-3"]), Some(DataType::Int64));
        assert_eq!(
            of(&["1", "99999999999999999999"]),
            Some(DataType::Decimal128(38, 0))
        );
        assert_eq!(of(&["1.5", "n/a"]), None);
        assert_eq!(of(&["inf", "info"]), None);
        let err = number_column("f.csv", "c", &["1", &"9".repeat(39)]).unwrap_err();
        assert!(err.to_string().contains("more than 38 digits"), "{err}");
    }
}
