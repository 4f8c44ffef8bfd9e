//! `glob(pattern)`: many pond tables read as one.
//!
//! The result is the union by column name of every matching table, then
//! `_path` and one column per capture. Filters on `_path` and capture
//! columns are evaluated before any content is opened; time filters skip
//! versions by their recorded event-time range (see `catalog::scan`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, DFSchema, ScalarValue};
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::path_argument;
use crate::catalog::lineage::{Lineage, Read};
use crate::catalog::scan::{ScanFile, VersionScan};
use crate::catalog::session_pond::SessionPond;
use crate::storage::event_time::{nanos_per, UTC};
use crate::storage::{GlobMatch, Metrics, NodeId, NodeVersion, PathGlob};

/// The column that names each row's table.
pub(crate) const PATH_COLUMN: &str = "_path";

#[derive(Debug)]
pub(crate) struct Glob {
    pond: Arc<SessionPond>,
}

impl Glob {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        Glob { pond }
    }
}

impl TableFunctionImpl for Glob {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if args.exprs().is_empty() {
            return plan_err!(
                "glob() takes a pattern in single quotes, e.g. glob('/sensors/{{station}}/*')"
            );
        }
        let glob = PathGlob::parse(&path_argument("glob", &args)?)
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let matches = glob.matches(&self.pond.view());
        Ok(Arc::new(GlobTable::new(self.pond.clone(), glob, matches)?))
    }
}

/// Which versions of each table to read, when not the live ones.
pub(crate) type VersionSelection = Arc<HashMap<NodeId, Vec<Arc<NodeVersion>>>>;

/// The tables a glob matched when the statement was planned.
#[derive(Debug)]
pub(crate) struct GlobTable {
    pond: Arc<SessionPond>,
    matches: Vec<GlobMatch>,
    /// `Some`: read these versions of each match (a table not in it: none),
    /// not the live ones (incremental refresh reads only new versions).
    selection: Option<VersionSelection>,
    /// The union of the tables' columns.
    file_schema: SchemaRef,
    /// `_path`, then the captures.
    constant_fields: Vec<FieldRef>,
    schema: SchemaRef,
}

impl GlobTable {
    pub(crate) fn new(
        pond: Arc<SessionPond>,
        glob: PathGlob,
        matches: Vec<GlobMatch>,
    ) -> Result<Self> {
        let file_schema = union_schema(&glob, &matches)?;
        let constant_fields: Vec<FieldRef> = std::iter::once(PATH_COLUMN)
            .chain(glob.captures().iter().map(String::as_str))
            .map(|name| {
                if file_schema.field_with_name(name).is_ok() {
                    let table = matches
                        .iter()
                        .find(|m| m.table.latest.schema().is_some_and(|s| s.field_with_name(name).is_ok()))
                        .map(|m| m.table.path.to_string())
                        .unwrap_or_default();
                    return plan_err!(
                        "glob('{glob}'): the capture column '{name}' clashes with a column of {table}: name the capture differently, e.g. {{{name}_}}"
                    );
                }
                Ok(Arc::new(Field::new(name, DataType::Utf8, false)))
            })
            .collect::<Result<_>>()?;
        let schema = VersionScan::table_schema(&file_schema, &constant_fields);
        Ok(GlobTable {
            pond,
            matches,
            selection: None,
            file_schema,
            constant_fields,
            schema,
        })
    }

    /// The same glob, reading only the selected versions of each table.
    pub(crate) fn with_selection(mut self, selection: VersionSelection) -> Self {
        self.selection = Some(selection);
        self
    }

    pub(crate) fn matches(&self) -> &[GlobMatch] {
        &self.matches
    }

    fn constant_names(&self) -> Vec<&str> {
        self.constant_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    /// The matches whose `_path` and captures pass the filters on those columns.
    fn matches_passing(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<&GlobMatch>> {
        let names = self.constant_names();
        let applicable = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .cloned();
        let (Some(filter), false) = (conjunction(applicable), self.matches.is_empty()) else {
            return Ok(self.matches.iter().collect());
        };
        let schema = Arc::new(Schema::new(self.constant_fields.clone()));
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
            self.matches.iter().map(|m| m.table.path.as_str()),
        ))];
        for i in 0..self.constant_fields.len() - 1 {
            columns.push(Arc::new(StringArray::from_iter_values(
                self.matches.iter().map(|m| m.captures[i].as_str()),
            )));
        }
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let predicate = state.create_physical_expr(filter, &DFSchema::try_from(schema)?)?;
        let passed = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let passed = passed.as_boolean();
        Ok(self
            .matches
            .iter()
            .enumerate()
            .filter(|(i, _)| passed.is_valid(*i) && passed.value(*i))
            .map(|(_, m)| m)
            .collect())
    }
}

/// The union by name of the matched tables' columns, in order of first
/// appearance. Integer columns of different widths widen to Int64, integer
/// and float to Float64, strings to Utf8, timestamps to the finer unit; any
/// other difference is an error naming both tables.
fn union_schema(glob: &PathGlob, matches: &[GlobMatch]) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = Vec::new();
    let mut first_seen: Vec<String> = Vec::new();
    for m in matches {
        let Some(schema) = m.table.latest.schema() else {
            continue;
        };
        for field in schema.fields() {
            let Some(i) = fields.iter().position(|f| f.name() == field.name()) else {
                fields.push(field.as_ref().clone().with_nullable(true));
                first_seen.push(m.table.path.to_string());
                continue;
            };
            let (have, new) = (fields[i].data_type(), field.data_type());
            if have == new {
                continue;
            }
            let widened = widen(have, new).ok_or_else(|| {
                plan_datafusion_err!(
                    "glob('{glob}'): column '{}' is {have} in {} but {new} in {}: cast it to one type when writing one of the tables, or glob a narrower pattern",
                    field.name(), first_seen[i], m.table.path
                )
            })?;
            fields[i] = Field::new(field.name(), widened, true);
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The documented widening of `glob()`: numbers as above, the string
/// encodings (Utf8, LargeUtf8, Utf8View) to Utf8, and timestamps of
/// different units to the finer one (naive and zone-aware ones do not mix).
fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    let integer = |t: &DataType| t.is_integer();
    let float = |t: &DataType| t.is_floating();
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match (a, b) {
        _ if string(a) && string(b) => Some(DataType::Utf8),
        _ if integer(a) && integer(b) => Some(DataType::Int64),
        _ if (integer(a) || float(a)) && (integer(b) || float(b)) => Some(DataType::Float64),
        // Tables written before timestamps were stored in µs hold seconds
        // or nanoseconds: the finer unit holds both exactly.
        (DataType::Timestamp(x, zone_a), DataType::Timestamp(y, zone_b))
            if zone_a.is_some() == zone_b.is_some() =>
        {
            let finer = if nanos_per(*x) < nanos_per(*y) {
                *x
            } else {
                *y
            };
            Some(DataType::Timestamp(
                finer,
                zone_a.as_ref().map(|_| UTC.into()),
            ))
        }
        _ => None,
    }
}

#[async_trait]
impl TableProvider for GlobTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let passing = self.matches_passing(state, filters)?;
        let metrics = self.pond.pond().metrics();
        Metrics::add(&metrics.tables_matched, self.matches.len() as u64);
        Metrics::add(
            &metrics.tables_skipped_by_capture,
            (self.matches.len() - passing.len()) as u64,
        );
        let view = self.pond.view();
        let mut files = Vec::new();
        for m in passing {
            let mut constants = vec![ScalarValue::Utf8(Some(m.table.path.to_string()))];
            constants.extend(
                m.captures
                    .iter()
                    .map(|c| ScalarValue::Utf8(Some(c.clone()))),
            );
            let versions = match &self.selection {
                None => view.live_versions(m.table.id()),
                Some(selection) => selection.get(m.table.id()).cloned().unwrap_or_default(),
            };
            for version in versions {
                files.push(ScanFile {
                    version,
                    constants: constants.clone(),
                });
            }
        }
        VersionScan {
            file_schema: self.file_schema.clone(),
            constant_fields: self.constant_fields.clone(),
            files,
            metrics,
            contents: self.pond.pond().content_store(),
        }
        .plan(state, projection, filters, limit)
        .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let names = self.constant_names();
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&names, f) {
                    // Evaluated exactly on the matches before the scan.
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }
}

/// `glob()` reads each table it matched.
impl Lineage for GlobTable {
    fn reads(&self) -> Vec<Read> {
        self.matches()
            .iter()
            .map(|m| Read::Node(m.table.id().clone(), m.table.path.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn timestamps_of_different_units_widen_to_the_finer() {
        let ts = |unit, zone: Option<&str>| DataType::Timestamp(unit, zone.map(Into::into));
        assert_eq!(
            widen(&ts(TimeUnit::Second, None), &ts(TimeUnit::Nanosecond, None)),
            Some(ts(TimeUnit::Nanosecond, None))
        );
        assert_eq!(
            widen(
                &ts(TimeUnit::Microsecond, Some("+01:00")),
                &ts(TimeUnit::Second, Some("UTC"))
            ),
            Some(ts(TimeUnit::Microsecond, Some("UTC")))
        );
        assert_eq!(
            widen(
                &ts(TimeUnit::Second, None),
                &ts(TimeUnit::Second, Some("UTC"))
            ),
            None
        );
    }
}
