//! API sources: readings fetched over HTTP, as table functions.
//!
//! Shared by every source: the HTTP client with retries and OAuth2
//! (`http`), where credentials come from (`credentials`), and the wide
//! readings table with its `<source>_readings(…)` function (`readings`).
//! A source is one module that fetches and names its series (`hydrovu`);
//! a materialized view over its readings collects incrementally
//! (`collect`, a refresh strategy each source registers).

pub(crate) mod collect;
pub(crate) mod credentials;
pub(crate) mod http;
pub(crate) mod hydrovu;
pub(crate) mod readings;

use std::sync::Arc;

use datafusion::execution::context::SessionContext;

use readings::ReadingsSource;

use crate::catalog::refresh_strategy::RefreshStrategies;

/// Registers every source's table functions, and the strategy that keeps
/// a materialized view over its readings collected.
pub(crate) fn register(ctx: &SessionContext) {
    hydrovu::register(ctx);
    let sources: [Arc<dyn ReadingsSource>; 1] = [Arc::new(hydrovu::HydroVu)];
    for source in sources {
        RefreshStrategies::register(ctx, Arc::new(collect::Collect::new(source)));
    }
}
