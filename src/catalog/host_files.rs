//! Host files as tables (`SELECT * FROM 'readings.csv'`), read strictly.
//!
//! DataFusion's CSV reader ends a record at the end of the file even inside
//! an open quote, so an unterminated quote imports a wrong value (or swallows
//! the rest of the file) without a word. Every CSV file is checked for that
//! before DataFusion sees it; ragged rows and undecodable bytes DataFusion
//! reports itself, naming the line. A reader that panics on a damaged file
//! (the parquet crate, on a bogus footer) becomes an error naming the file.

use std::fs::File;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{TableProvider, UrlTableFactory};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err};
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::error::{DataFusionError, Result};
use futures::FutureExt;

/// Makes tables of host files: DataFusion's listing tables, after the
/// checks above.
#[derive(Debug)]
pub(crate) struct HostFileTables {
    listing: Arc<DynamicListTableFactory>,
}

impl HostFileTables {
    pub(crate) fn new(listing: Arc<DynamicListTableFactory>) -> Self {
        HostFileTables { listing }
    }
}

#[async_trait]
impl UrlTableFactory for HostFileTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let path = Path::new(url);
        if path.is_file() && is_csv(url) {
            check_csv_file(url).await?;
        }
        let table = match AssertUnwindSafe(self.listing.try_new(url))
            .catch_unwind()
            .await
        {
            Ok(table) => table?,
            Err(_) => return Err(damaged(url)),
        };
        if table.is_none() && path.is_file() {
            return plan_err!("'{url}' is a file, but not one pondsql reads as a table: name a .csv, .json, .ndjson or .parquet file");
        }
        Ok(table)
    }
}

/// A host file whose reader panicked on it.
pub(crate) fn damaged(file: &str) -> DataFusionError {
    exec_datafusion_err!(
        "reading {file}: the file is damaged (its reader failed on it); check it with another tool or take it from its source again"
    )
}

/// Is `path` read as CSV (by its extension)?
fn is_csv(path: &str) -> bool {
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Checks a CSV file's quoting, off the async runtime (it reads the file).
pub(crate) async fn check_csv_file(path: &str) -> Result<()> {
    let owned = path.to_string();
    let checked = tokio::task::spawn_blocking(move || -> std::io::Result<Option<u64>> {
        unterminated_quote(File::open(&owned)?)
    })
    .await
    .map_err(|e| exec_datafusion_err!("reading {path}: {e}"))?;
    match checked {
        Ok(None) => Ok(()),
        Ok(Some(line)) => exec_err!(
            "reading {path}: the quote opened at line {line} is never closed (the file ends inside it): close it with \", or double a quote meant as text (\"\")"
        ),
        Err(err) => exec_err!("reading {path}: {err}"),
    }
}

/// Where a field's quote opened and never closed (1-based line), reading
/// CSV as DataFusion's reader does: `,` between fields, `"` opening a quote
/// only at a field's start, `""` a quote inside one.
fn unterminated_quote(mut reader: impl Read) -> std::io::Result<Option<u64>> {
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// A `"` inside a quoted field: closes it, or doubles as text.
        QuotePending,
    }
    let mut state = State::FieldStart;
    let (mut line, mut opened_at) = (1u64, 1u64);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &byte in &buffer[..n] {
            state = match (state, byte) {
                (State::FieldStart, b'"') => {
                    opened_at = line;
                    State::Quoted
                }
                (State::Quoted, b'"') => State::QuotePending,
                (State::QuotePending, b'"') => State::Quoted,
                (State::Quoted, _) => State::Quoted,
                (_, b',' | b'\n' | b'\r') => State::FieldStart,
                _ => State::Unquoted,
            };
            if byte == b'\n' {
                line += 1;
            }
        }
    }
    Ok(matches!(state, State::Quoted).then_some(opened_at))
}

#[cfg(test)]
mod tests {
    use super::unterminated_quote;

    fn check(text: &str) -> Option<u64> {
        unterminated_quote(text.as_bytes()).unwrap()
    }

    #[test]
    fn finds_the_quote_that_never_closes() {
        assert_eq!(check("a,b\n1,2\n"), None);
        assert_eq!(check("a,b\n1,\"x\ny\"\n2,\"say \"\"hi\"\"\"\n"), None);
        assert_eq!(
            check("a,b\n1,ab\"c\n"),
            None,
            "a quote inside a field is text"
        );
        assert_eq!(check("a,b\n1,\"x\"y\n"), None, "text after a closing quote");
        assert_eq!(check("a,b\n1,2\n3,\"4\n"), Some(3));
        assert_eq!(check("a,b\n1,\"2\n3,4\n5,6\n"), Some(2));
        assert_eq!(check("a,b\r\n1,\"\"\"\r\n"), Some(2));
    }
}
