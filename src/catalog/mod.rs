//! The pond as a DataFusion catalog.
//!
//! Catalog `pond`; schema `system` for the pond's own tables; one schema per
//! directory, named by its path (`pond."/sensors/station1".temp`). The root
//! schema `/` is the session's default and also resolves absolute paths, so
//! `SELECT * FROM "/sensors/station1/temp"` works. Reads go through the
//! session's [`SessionPond`] view. Writes only stage: an INSERT's sink
//! writes a content and stages the table version in the session; the SQL
//! layer decides when staged changes commit.

pub(crate) mod compressed;
pub(crate) mod contents;
pub(crate) mod correction;
mod csv_quotes;
pub(crate) mod fetched;
pub(crate) mod host_access;
pub(crate) mod host_files;
pub(crate) mod host_read;
pub(crate) mod lineage;
pub(crate) mod narrow_batches;
pub(crate) mod open_first;
mod read_options;
pub(crate) mod refresh_strategy;
pub(crate) mod scan;
pub(crate) mod session_pond;
pub(crate) mod source_access;
pub(crate) mod system;
pub(crate) mod table;
mod typed_reads;
pub(crate) mod versions_table;
pub(crate) mod view;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::{DataFusionError, Result};

use crate::storage::{Kind, PondPath, Resolved};
pub(crate) use session_pond::SessionPond;
use system::{SystemSchema, SYSTEM_SCHEMA};
use table::PondTable;
use view::StoredView;

/// The name of the pond's catalog in SQL (`pond.system.entries`).
pub const CATALOG: &str = "pond";
pub(crate) const ROOT_SCHEMA: &str = "/";

#[derive(Debug)]
pub(crate) struct PondCatalog {
    pond: Arc<SessionPond>,
}

impl PondCatalog {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        PondCatalog { pond }
    }
}

impl CatalogProvider for PondCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = vec![SYSTEM_SCHEMA.to_string()];
        names.extend(
            self.pond
                .view()
                .directories()
                .into_iter()
                .map(|p| p.to_string()),
        );
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_SCHEMA {
            return Some(Arc::new(SystemSchema::new(self.pond.clone())));
        }
        let path = PondPath::parse(name).ok()?;
        let dir = self.pond.view().resolve(&path)?;
        (dir.kind() == Kind::Directory).then(|| {
            Arc::new(DirectorySchema {
                pond: self.pond.clone(),
                dir: path,
            }) as _
        })
    }
}

/// The tables and views directly in one directory.
#[derive(Debug)]
pub(crate) struct DirectorySchema {
    pond: Arc<SessionPond>,
    dir: PondPath,
}

/// `name` in directory `dir`: a name in it, or (in the root only) an
/// absolute path. The one rule for names; SQL names go through it too.
pub(crate) fn path_in(dir: &PondPath, name: &str) -> Result<PondPath> {
    let path = if name.starts_with('/') && dir.is_root() {
        PondPath::parse(name)
    } else {
        dir.join(name)
    };
    path.map_err(|e| plan_datafusion_err!("{e}"))
}

/// The table provider of a resolved node (directories are not tables).
pub(crate) fn provider_for(
    pond: &Arc<SessionPond>,
    node: &Resolved,
) -> Result<Arc<dyn TableProvider>> {
    let attrs = &node.latest.attrs;
    let schema = || {
        attrs
            .schema
            .clone()
            .ok_or_else(|| DataFusionError::Internal(format!("{} has no stored schema", node.path)))
    };
    match node.kind() {
        Kind::Table | Kind::MaterializedView => {
            let versions = pond.view().live_versions(node.id());
            Ok(Arc::new(
                PondTable::new(pond.clone(), node.path.clone(), schema()?, versions)
                    .of_node(node.id().clone()),
            ))
        }
        Kind::View => Ok(Arc::new(StoredView::new(
            node.path.clone(),
            node.id().clone(),
            attrs.query.clone().unwrap_or_default(),
            schema()?,
        ))),
        Kind::Directory => plan_err!(
            "{} is a directory, not a table: list it with SELECT * FROM ls('{}')",
            node.path,
            node.path
        ),
    }
}

#[async_trait]
impl SchemaProvider for DirectorySchema {
    fn table_names(&self) -> Vec<String> {
        let view = self.pond.view();
        let Some(dir) = view.resolve(&self.dir) else {
            return Vec::new();
        };
        view.children(&dir)
            .into_iter()
            .filter(|c| c.kind() != Kind::Directory)
            .map(|c| c.path.name().to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Ok(path) = path_in(&self.dir, name) else {
            // Not a pond name (a host file such as 'data.csv', say): let others resolve it.
            return Ok(None);
        };
        match self.pond.view().resolve(&path) {
            None => Ok(None),
            Some(node) => provider_for(&self.pond, &node).map(Some),
        }
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        plan_err!("cannot register '{name}' in the pond: create pond tables with CREATE TABLE")
    }

    fn table_exist(&self, name: &str) -> bool {
        let view = self.pond.view();
        path_in(&self.dir, name)
            .ok()
            .and_then(|p| view.resolve(&p))
            .is_some_and(|n| n.kind() != Kind::Directory)
    }
}
