//! How materialized views whose query has one known shape are kept up to
//! date, registered by the layer that knows the shape: `sql` ingests host
//! files (`SELECT * FROM 'data/*.csv'`), an API source collects its
//! readings (`SELECT * FROM hydrovu_readings(…)`); any other query is
//! planned, and refreshes in full or, for `downsample()`, incrementally
//! (`sql::refresh::Planned`, registered last: it claims every query). The
//! strategies live in the session's config, so `sql` finds a source's
//! without importing it.

use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::SessionPond;
use crate::storage::node::RefreshMode;
use crate::storage::{PondPath, Resolved, ViewOutput};

/// A materialized view being created or refreshed.
pub(crate) struct ViewJob<'a> {
    pub(crate) ctx: &'a SessionContext,
    pub(crate) pond: &'a Arc<SessionPond>,
    pub(crate) path: &'a PondPath,
    pub(crate) query: &'a ast::Query,
}

/// One way of keeping a materialized view up to date.
#[async_trait]
pub(crate) trait RefreshStrategy: Debug + Send + Sync {
    /// Whether it refreshes views whose stored mode is `mode`
    /// (`pond.system.stored_queries`): REFRESH finds the strategy by it.
    fn handles(&self, mode: RefreshMode) -> bool;

    /// Whether a new view's query is this strategy's, from its shape alone.
    fn claims(&self, query: &ast::Query) -> bool;

    /// CREATE: the view's columns and its first output.
    async fn create(&self, job: &ViewJob<'_>) -> Result<(SchemaRef, ViewOutput)>;

    /// REFRESH: the view's next output; `None` when nothing is new. `full`
    /// starts again from nothing.
    async fn refresh(
        &self,
        job: &ViewJob<'_>,
        node: &Resolved,
        full: bool,
    ) -> Result<Option<ViewOutput>>;
}

/// The strategies a session knows, in the order they are asked.
#[derive(Debug, Default)]
pub(crate) struct RefreshStrategies(RwLock<Vec<Arc<dyn RefreshStrategy>>>);

impl RefreshStrategies {
    /// A session config with an empty list to register into.
    pub(crate) fn into_config(config: SessionConfig) -> SessionConfig {
        config.with_extension(Arc::new(RefreshStrategies::default()))
    }

    /// Adds `strategy` to the session of `ctx`.
    pub(crate) fn register(ctx: &SessionContext, strategy: Arc<dyn RefreshStrategy>) {
        if let Some(list) = ctx.state().config().get_extension::<RefreshStrategies>() {
            list.0
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(strategy);
        }
    }

    fn all(ctx: &SessionContext) -> Vec<Arc<dyn RefreshStrategy>> {
        ctx.state()
            .config()
            .get_extension::<RefreshStrategies>()
            .map(|list| {
                list.0
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .unwrap_or_default()
    }

    /// The strategy that claims `query`, if one does.
    pub(crate) fn claiming(
        ctx: &SessionContext,
        query: &ast::Query,
    ) -> Option<Arc<dyn RefreshStrategy>> {
        Self::all(ctx).into_iter().find(|s| s.claims(query))
    }

    /// The strategy that refreshes views of `mode`, if one does.
    pub(crate) fn of_mode(
        ctx: &SessionContext,
        mode: RefreshMode,
    ) -> Option<Arc<dyn RefreshStrategy>> {
        Self::all(ctx).into_iter().find(|s| s.handles(mode))
    }
}

/// A stored view's query text as a query (`None` when it is not one).
pub(crate) fn stored_query(text: &str) -> Option<Box<ast::Query>> {
    let mut parsed = DFParser::parse_sql_with_dialect(text, &GenericDialect {}).ok()?; // why: a view's query is stored as text
    match parsed.pop_front()? {
        DFStatement::Statement(statement) => match *statement {
            ast::Statement::Query(query) => Some(query),
            _ => None,
        },
        _ => None,
    }
}

/// The one relation of a query that is exactly `SELECT * FROM relation`
/// (the shape of views that ingest host files or collect readings).
pub(crate) fn only_relation(query: &ast::Query) -> Option<&ast::TableFactor> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let plain = query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.with.is_none()
        && select.selection.is_none()
        && select.having.is_none()
        && select.distinct.is_none()
        && matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty())
        && matches!(select.projection.as_slice(), [ast::SelectItem::Wildcard(_)]);
    let [from] = select.from.as_slice() else {
        return None;
    };
    (plain && from.joins.is_empty()).then_some(&from.relation)
}
