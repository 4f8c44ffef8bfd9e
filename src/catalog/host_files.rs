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
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use futures::FutureExt;

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
            return plan_err!("'{url}' is a file, but not one pondsql reads as a table: name a .csv, .json, .ndjson or .parquet file");
        }
        Ok(table)
    }
}

/// A name that can only mean a host file: one of a readable format, a
/// glob, or a URL.
fn looks_like_a_file(name: &str) -> bool {
    let readable = Path::new(name)
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
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Checks a CSV file's quoting, off the async runtime (it reads the file).
pub(crate) async fn check_csv_file(path: &str, delimiter: u8) -> Result<()> {
    let owned = path.to_string();
    let checked = tokio::task::spawn_blocking(move || -> std::io::Result<Option<u64>> {
        match unterminated_quote(File::open(&owned)?, delimiter)? {
            Some(offset) => line_at(File::open(&owned)?, offset).map(Some),
            None => Ok(None),
        }
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

/// Where (byte offset) a field's quote opened and never closed, reading
/// CSV as DataFusion's reader does: `delimiter` between fields, `"` opening a quote
/// only at a field's start, `""` a quote inside one. Runs between the bytes
/// that matter are skipped with memchr: the check costs a fraction of the
/// import it guards.
fn unterminated_quote(mut reader: impl Read, delimiter: u8) -> std::io::Result<Option<u64>> {
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// A `"` inside a quoted field: closes it, or doubles as text.
        QuotePending,
    }
    let mut state = State::FieldStart;
    let (mut offset, mut opened_at) = (0u64, 0u64);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..n];
        let mut i = 0;
        while i < n {
            // Skip to the next byte that can change the state.
            let skip = match state {
                State::Quoted => memchr::memchr(b'"', &chunk[i..]),
                State::Unquoted => memchr::memchr3(delimiter, b'\n', b'\r', &chunk[i..]),
                _ => Some(0),
            };
            let Some(skip) = skip else {
                break; // the rest of the chunk leaves the state as it is
            };
            i += skip;
            let byte = chunk[i];
            state = match (state, byte) {
                (State::FieldStart, b'"') => {
                    opened_at = offset + i as u64;
                    State::Quoted
                }
                (State::Quoted, b'"') => State::QuotePending,
                (State::QuotePending, b'"') => State::Quoted,
                (State::Quoted, _) => State::Quoted,
                (_, b'\n' | b'\r') => State::FieldStart,
                (_, byte) if byte == delimiter => State::FieldStart,
                _ => State::Unquoted,
            };
            i += 1;
        }
        offset += n as u64;
    }
    Ok(matches!(state, State::Quoted).then_some(opened_at))
}

/// The 1-based line holding byte `offset` (for the error message only).
fn line_at(reader: impl Read, offset: u64) -> std::io::Result<u64> {
    let mut line = 1;
    for byte in std::io::BufReader::new(reader).take(offset).bytes() {
        line += u64::from(byte? == b'\n');
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::{line_at, unterminated_quote};

    /// A reader that hands out one byte per read: every byte a chunk edge.
    struct ByteByByte<'a>(&'a [u8]);

    impl std::io::Read for ByteByByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    fn check(text: &str) -> Option<u64> {
        let whole = unterminated_quote(text.as_bytes(), b',').unwrap();
        let split = unterminated_quote(ByteByByte(text.as_bytes()), b',').unwrap();
        assert_eq!(whole, split, "chunk edges change the answer for {text:?}");
        Some(line_at(text.as_bytes(), whole?).unwrap())
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
        // Another delimiter: a quote opens only after it.
        let semicolon = |text: &str| unterminated_quote(text.as_bytes(), b';').unwrap();
        assert_eq!(semicolon("a;b\n1;\"x;y\"\n"), None);
        assert_eq!(
            semicolon("a;b\n1,\"x;y\n"),
            None,
            "after a comma it is text"
        );
        assert_eq!(semicolon("a;b\n1;\"x\n"), Some(6));
    }
}
