//! Who may call API sources (table functions that fetch with the
//! process's credentials), kept in the session's config like
//! [`HostAccess`](super::host_access::HostAccess).

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionConfig;

/// Whether a session may call API sources, which fetch with the
/// credentials of the process they run in: the local CLI may; a remote
/// session of `pondsql serve` only when its operator allows it
/// (`--allow-sources`). Kept in the session's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceAccess {
    pub(crate) allowed: bool,
}

/// A source call a session may not make; typed so that the front door
/// answers PERMISSION_DENIED without reading text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourcesRefused(String);

impl SourceAccess {
    pub(crate) fn into_config(self, config: SessionConfig) -> SessionConfig {
        config.with_extension(Arc::new(self))
    }

    /// Fails unless the session of `config` may call `function()`
    /// (allowed when unset: sessions made outside a server).
    pub(crate) fn check(config: &SessionConfig, function: &str) -> Result<()> {
        match config.get_extension::<SourceAccess>() {
            Some(access) if !access.allowed => Err(DataFusionError::External(Box::new(
                SourcesRefused(format!(
                    "{function}(): this session may not call API sources (they fetch with the server's credentials): the operator can allow them with `pondsql serve --allow-sources`"
                )),
            ))),
            _ => Ok(()),
        }
    }
}
