//! What a table provider's rows come from, reported by the provider itself
//! ([`Lineage`]). A materialized view's refresh follows these reads to know
//! which sources to watch; a provider that reports none (system tables,
//! `ls()`, `range()`) makes a view over it volatile.

use std::any::Any;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionConfig;

use crate::storage::NodeId;

/// One thing a provider reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A pond node (table, view), by id and path: its versions are tracked.
    Node(NodeId, String),
    /// A stored view's query, whose own reads count too.
    Query(String),
    /// The rows of an API function call (by the function's name).
    ApiCall(String),
    /// Host files, by URL.
    HostFiles(Vec<String>),
}

/// A table provider that knows what it reads.
pub(crate) trait Lineage {
    fn reads(&self) -> Vec<Read>;
}

/// Sees a provider of one type as its `Lineage`.
type AsLineage = fn(&dyn Any) -> Option<&dyn Lineage>;

fn as_lineage<T: Lineage + 'static>(provider: &dyn Any) -> Option<&dyn Lineage> {
    provider.downcast_ref::<T>().map(|t| t as &dyn Lineage)
}

/// The provider types of a session that report their lineage (kept in its
/// config: a provider is a `dyn TableProvider`, which cannot be asked for
/// another trait without knowing its type).
#[derive(Default)]
pub(crate) struct Lineages(Vec<AsLineage>);

impl Lineages {
    /// Adds provider type `T`.
    pub(crate) fn with<T: Lineage + 'static>(mut self) -> Self {
        self.0.push(as_lineage::<T>);
        self
    }

    pub(crate) fn into_config(self, config: SessionConfig) -> SessionConfig {
        config.with_extension(Arc::new(self))
    }

    /// What `provider` reads; `None` when its type reports nothing.
    pub(crate) fn of(config: &SessionConfig, provider: &dyn TableProvider) -> Option<Vec<Read>> {
        let lineages = config.get_extension::<Lineages>()?;
        let any: &dyn Any = provider;
        lineages
            .0
            .iter()
            .find_map(|as_lineage| as_lineage(any))
            .map(Lineage::reads)
    }
}

/// A file table (`SELECT * FROM 'data.csv'`) reads its files.
impl Lineage for ListingTable {
    fn reads(&self) -> Vec<Read> {
        vec![Read::HostFiles(
            self.table_paths().iter().map(|u| u.to_string()).collect(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;

    impl Lineage for MemTable {
        fn reads(&self) -> Vec<Read> {
            vec![Read::ApiCall("memory".into())]
        }
    }

    #[test]
    fn a_provider_reports_its_reads_only_when_its_type_is_registered() {
        let table = MemTable::try_new(Arc::new(Schema::empty()), vec![vec![]]).unwrap();
        let bare = SessionConfig::new();
        assert_eq!(Lineages::of(&bare, &table), None);
        let without = Lineages::default()
            .with::<ListingTable>()
            .into_config(SessionConfig::new());
        assert_eq!(Lineages::of(&without, &table), None);
        let with = Lineages::default()
            .with::<ListingTable>()
            .with::<MemTable>()
            .into_config(SessionConfig::new());
        assert_eq!(
            Lineages::of(&with, &table),
            Some(vec![Read::ApiCall("memory".into())])
        );
    }
}
