//! DataFusion's CSV reader ends a record at the end of the file even inside
//! an open quote, so an unterminated quote imports a wrong value (or
//! swallows the rest of the file) without a word: every CSV file is checked
//! for that here before DataFusion sees it.

use std::io::Read;

use datafusion::common::{exec_datafusion_err, exec_err};
use datafusion::error::Result;

/// Checks a CSV file's quoting, off the async runtime (it reads the file).
pub(crate) async fn check_csv_file(path: &str, delimiter: u8) -> Result<()> {
    let owned = path.to_string();
    let checked = tokio::task::spawn_blocking(move || -> std::io::Result<Option<u64>> {
        // Compressed files are checked as DataFusion reads them: decompressed.
        let open = || super::compressed::open(&owned).map_err(std::io::Error::other);
        match unterminated_quote(open()?, delimiter)? {
            Some(offset) => line_at(open()?, offset).map(Some),
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
