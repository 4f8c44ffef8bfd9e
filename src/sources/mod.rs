//! API sources: readings fetched over HTTP, as table functions.
//!
//! Shared by every source: the HTTP client with retries and OAuth2
//! (`http`), where credentials come from (`credentials`), and the wide
//! readings table with its `<source>_readings(…)` function (`readings`).
//! A source is one module that fetches and names its series (`hydrovu`);
//! a materialized view over its readings collects incrementally
//! (`sql::collect`).

pub(crate) mod credentials;
pub(crate) mod http;
pub(crate) mod hydrovu;
pub(crate) mod readings;

use std::sync::Arc;

use datafusion::execution::context::SessionContext;

use readings::ReadingsSource;

/// Registers every source's table functions.
pub(crate) fn register(ctx: &SessionContext) {
    hydrovu::register(ctx);
}

/// The source whose readings function is `function` (for collecting views).
pub(crate) fn readings_source(function: &str) -> Option<Arc<dyn ReadingsSource>> {
    let sources: [Arc<dyn ReadingsSource>; 1] = [Arc::new(hydrovu::HydroVu)];
    sources
        .into_iter()
        .find(|s| s.function().eq_ignore_ascii_case(function))
}
