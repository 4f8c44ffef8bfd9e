//! Host files as tables (`SELECT * FROM 'readings.csv'`), read strictly.
//!
//! Every CSV file is checked for an unterminated quote (csv_quotes.rs)
//! before DataFusion sees it; ragged rows and undecodable bytes DataFusion
//! reports itself, naming the line. A reader that panics on a damaged file
//! (the parquet crate, on a bogus footer) becomes an error naming the file.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{TableProvider, UrlTableFactory};
use datafusion::common::{exec_datafusion_err, plan_err};
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use futures::FutureExt;

use super::compressed;
use super::host_access::HostAccess;
use super::host_read::{self, FileFormat, ReadOptions};

/// Makes tables of host files: CSV through [`host_read`] with the default
/// options, other formats as DataFusion's listing tables, after the checks above.
#[derive(Debug)]
pub(crate) struct HostFileTables {
    listing: Arc<DynamicListTableFactory>,
}

impl HostFileTables {
    pub(crate) fn new(listing: Arc<DynamicListTableFactory>) -> Self {
        HostFileTables { listing }
    }

    /// The session the tables are made for.
    fn session(&self) -> Result<SessionState> {
        self.listing
            .session_store()
            .get_session()
            .upgrade()
            .and_then(|s| s.read().as_any().downcast_ref::<SessionState>().cloned())
            .ok_or_else(|| exec_datafusion_err!("reading host files: the session is gone"))
    }
}

#[async_trait]
impl UrlTableFactory for HostFileTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let path = Path::new(url);
        let access = HostAccess::of(self.session()?.config());
        if !matches!(access, HostAccess::Anywhere) && !looks_like_a_file(url) {
            // Not a pond table, and not named as a file: "not found" (the
            // host is not even looked at, so nothing tells what exists there).
            return Ok(None);
        }
        access.check("reading", url)?;
        if is_csv(url)
            && (path.is_file() || ListingTableUrl::parse(url).is_ok_and(|u| u.get_glob().is_some()))
        {
            let state = self.session()?;
            return host_read::open(&state, url, FileFormat::Csv, &ReadOptions::default())
                .await
                .map(Some);
        }
        let table = match AssertUnwindSafe(self.listing.try_new(url))
            .catch_unwind()
            .await
        {
            Ok(table) => table?,
            Err(_) => return Err(damaged(url)),
        };
        if table.is_none() && path.is_file() {
            return plan_err!("'{url}' is a file, but not one pondsql reads as a table: name a .csv, .json, .ndjson or .parquet file (or .csv and .json compressed: .gz, .zst, .bz2, .xz)");
        }
        Ok(table)
    }
}

/// A name that can only mean a host file: one of a readable format, a
/// glob, or a URL.
fn looks_like_a_file(name: &str) -> bool {
    let readable = Path::new(compressed::without_compression(name))
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            ["csv", "json", "ndjson", "parquet"].contains(&e.to_ascii_lowercase().as_str())
        });
    readable || name.contains(['*', '?', '[', '{']) || name.contains("://")
}

/// A host file whose reader panicked on it.
pub(crate) fn damaged(file: &str) -> DataFusionError {
    exec_datafusion_err!(
        "reading {file}: the file is damaged (its reader failed on it); check it with another tool or take it from its source again"
    )
}

/// Is `path` read as CSV (by its extension)?
fn is_csv(path: &str) -> bool {
    Path::new(compressed::without_compression(path))
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}
