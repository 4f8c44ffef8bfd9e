//! Names in SQL as pond paths: `"/a/t"`, `t` (in the root), `"/a".t`,
//! `pond."/a".t`. The one rule for turning a name in a directory into a path
//! is [`crate::catalog::path_in`], which the catalog's schemas use too.

use datafusion::common::{plan_datafusion_err, plan_err, TableReference};
use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectNamePart};

use crate::catalog::{path_in, CATALOG};
use crate::storage::PondPath;

/// A DataFusion table reference as a pond path.
pub(crate) fn table_path(name: &TableReference) -> Result<PondPath> {
    if let Some(catalog) = name.catalog() {
        if catalog != CATALOG {
            return plan_err!("{name} is not in the pond catalog '{CATALOG}'");
        }
    }
    let dir = match name.schema() {
        Some(dir) => PondPath::parse(dir).map_err(|e| plan_datafusion_err!("{e}"))?,
        None => PondPath::root(),
    };
    path_in(&dir, name.table())
}

/// An SQL object name as a pond path (unquoted names are lower-cased, as DataFusion does).
pub(crate) fn object_name_path(name: &ObjectName) -> Result<PondPath> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_none() => {
                Ok(ident.value.to_lowercase())
            }
            ObjectNamePart::Identifier(ident) => Ok(ident.value.clone()),
            other => plan_err!("unsupported name part {other}"),
        })
        .collect::<Result<_>>()?;
    let reference = match parts.as_slice() {
        [table] => TableReference::bare(table.as_str()),
        [schema, table] => TableReference::partial(schema.as_str(), table.as_str()),
        [catalog, schema, table] => {
            TableReference::full(catalog.as_str(), schema.as_str(), table.as_str())
        }
        _ => return plan_err!("'{name}' is not a table name"),
    };
    table_path(&reference)
}
