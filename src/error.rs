//! pondsql's errors: [`Error`] (a kind and the one line a user sees),
//! its conversion to and from DataFusion's error, and how any error's
//! message and kind are found ([`user_message`], [`error_kind`]).

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::storage::StorageError;

/// A failure as pondsql reports it: its kind (what a front door maps to a
/// gRPC code or an exit code) and its message (one line, no library's
/// prefix). Made from a [`DataFusionError`] with `?`; turned back into one
/// (as an external error that keeps both) where DataFusion needs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// Input that is wrong: a bad argument, option or file.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Something the machine or the network cannot give now: a port, a
    /// server, a file to write.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same failure, with what was being done first: `what: message`.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        Error {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

/// A message a front door wrote itself (a bad flag, a file it cannot
/// read): wrong input unless it says otherwise with [`Error::new`].
impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::invalid(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::invalid(message)
    }
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        Error::from(DataFusionError::External(Box::new(err)))
    }
}

impl From<DataFusionError> for Error {
    fn from(err: DataFusionError) -> Self {
        Error::new(error_kind(&err), user_message(&err))
    }
}

impl From<Error> for DataFusionError {
    fn from(err: Error) -> Self {
        DataFusionError::External(Box::new(err))
    }
}

/// The message for `err`: the pond's own errors without DataFusion's
/// wrapping ("External error: …"), DataFusion's as DataFusion words them,
/// always on one line.
pub fn user_message(err: &DataFusionError) -> String {
    let message = match innermost(err) {
        Some(message) => message,
        None => match err.find_root() {
            DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
            DataFusionError::ResourcesExhausted(m) => {
                // DataFusion's text lists every memory consumer; keep its first sentence.
                let first = m.split(" with top memory consumers").next().unwrap_or(m);
                format!("out of memory for this query ({first}): raise --memory-limit or narrow the query")
            }
            DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
                ArrowError::DivideByZero => "division by zero".to_string(),
                ArrowError::CastError(m)
                | ArrowError::ComputeError(m)
                | ArrowError::ParseError(m)
                | ArrowError::InvalidArgumentError(m)
                | ArrowError::ArithmeticOverflow(m)
                | ArrowError::CsvError(m)
                | ArrowError::JsonError(m) => m.clone(),
                other => other.to_string(),
            },
            DataFusionError::SQL(parser, _) => match parser.as_ref() {
                ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                    format!("syntax error: {m}")
                }
                ParserError::RecursionLimitExceeded => "syntax error: the statement nests deeper than 50 levels of parentheses or subqueries: flatten it".to_string(),
            },
            root => root.to_string(),
        },
    };
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pond error (or an object-store error's source) inside `err`, if any.
fn innermost(err: &DataFusionError) -> Option<String> {
    match err {
        DataFusionError::External(e) => Some(external_message(e.as_ref())),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            innermost(inner)
        }
        DataFusionError::Shared(inner) => innermost(inner),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::ExternalError(e) => Some(external_message(e.as_ref())),
            _ => None,
        },
        DataFusionError::ParquetError(parquet) => match parquet.as_ref() {
            ParquetError::External(e) => Some(external_message(e.as_ref())),
            _ => None,
        },
        DataFusionError::ObjectStore(store) => match store.as_ref() {
            object_store::Error::Generic { source, .. } => Some(external_message(source.as_ref())),
            _ => None,
        },
        _ => None,
    }
}

fn external_message(e: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    if let Some(error) = e.downcast_ref::<Error>() {
        return error.message.clone();
    }
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return user_message(df);
    }
    if let Some(storage) = e.downcast_ref::<StorageError>() {
        return storage.to_string();
    }
    if let Some(object_store::Error::Generic { source, .. }) = e.downcast_ref() {
        return external_message(source.as_ref());
    }
    e.to_string()
}

/// What kind of failure an error is, decided from its types (never its
/// text): the one fact a front door maps to a gRPC code or an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A path, table or ticket that is not there.
    NotFound,
    /// A path that is already taken.
    AlreadyExists,
    /// Lost to another writer, or to a VACUUM: nothing was committed; run again.
    Conflict,
    /// Not allowed: a read-only session, host files, API sources.
    PermissionDenied,
    /// The pond's storage cannot be reached or written (disk, network, S3).
    Unavailable,
    /// Stored data failed its checks: restore from a backup.
    Corrupt,
    /// Past a memory or count limit.
    ResourceExhausted,
    /// Not supported by pondsql or DataFusion.
    Unimplemented,
    /// A bug: pondsql or a library broke an invariant.
    Internal,
    /// Anything else the statement or its data got wrong.
    InvalidInput,
}

/// The kind of `err`, from the first typed cause that has one.
pub fn error_kind(err: &DataFusionError) -> ErrorKind {
    use crate::catalog::host_access::HostFilesRefused;
    use crate::catalog::session_pond::WriteRefused;
    use crate::catalog::source_access::SourcesRefused;
    use crate::storage::error::cause_of;

    if let Some(error) = cause_of::<Error>(err) {
        return error.kind;
    }
    if cause_of::<WriteRefused>(err).is_some()
        || cause_of::<HostFilesRefused>(err).is_some()
        || cause_of::<SourcesRefused>(err).is_some()
    {
        return ErrorKind::PermissionDenied;
    }
    if let Some(storage) = cause_of::<StorageError>(err) {
        if let Some(kind) = storage_kind(storage) {
            return kind;
        }
    }
    match err.find_root() {
        DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
        DataFusionError::NotImplemented(_) => ErrorKind::Unimplemented,
        DataFusionError::Internal(_) => ErrorKind::Internal,
        _ => ErrorKind::InvalidInput,
    }
}

/// The kind of a storage error; `None` for those that say nothing of one
/// (a wrapped library error whose cause decides).
fn storage_kind(err: &StorageError) -> Option<ErrorKind> {
    Some(match err {
        StorageError::NotFound(_)
        | StorageError::MissingDirectory(_)
        | StorageError::NotAPond(_) => ErrorKind::NotFound,
        StorageError::AlreadyExists { .. } | StorageError::AlreadyAPond(_) => {
            ErrorKind::AlreadyExists
        }
        StorageError::TooManyConflicts(_) | StorageError::StagedContentGone(_) => {
            ErrorKind::Conflict
        }
        StorageError::NotWritable { .. }
        | StorageError::DiskFull { .. }
        | StorageError::Unreachable { .. }
        | StorageError::NotDurable(..) => ErrorKind::Unavailable,
        StorageError::ChecksumMismatch { .. }
        | StorageError::MissingContent(_)
        | StorageError::DamagedCommit { .. }
        | StorageError::CorruptOplog(_) => ErrorKind::Corrupt,
        StorageError::WrongKind { .. }
        | StorageError::NotEmpty { .. }
        | StorageError::Invalid(_)
        | StorageError::Path(_) => ErrorKind::InvalidInput,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::PondPath;

    fn external(err: StorageError) -> DataFusionError {
        // As the catalog wraps them, and DataFusion wraps again in context.
        DataFusionError::Context(
            "reading".into(),
            Box::new(DataFusionError::External(Box::new(err))),
        )
    }

    #[test]
    fn kinds_come_from_the_error_types() {
        let path = PondPath::parse("/t").unwrap();
        let cases = [
            (
                external(StorageError::NotFound(path.clone())),
                ErrorKind::NotFound,
            ),
            (
                external(StorageError::AlreadyExists {
                    path,
                    kind: "table",
                    hint: "",
                }),
                ErrorKind::AlreadyExists,
            ),
            (
                external(StorageError::TooManyConflicts(200)),
                ErrorKind::Conflict,
            ),
            (
                external(StorageError::ChecksumMismatch {
                    what: "blob".into(),
                    expected: "a".into(),
                    found: "b".into(),
                }),
                ErrorKind::Corrupt,
            ),
            (
                external(StorageError::DiskFull { root: "/p".into() }),
                ErrorKind::Unavailable,
            ),
            (
                DataFusionError::ResourcesExhausted("pool".into()),
                ErrorKind::ResourceExhausted,
            ),
            (DataFusionError::Plan("bad".into()), ErrorKind::InvalidInput),
        ];
        for (err, kind) in cases {
            assert_eq!(error_kind(&err), kind, "{err}");
        }
    }

    #[test]
    fn arrow_s_errors_lose_their_prefix() {
        let arrow = |e: ArrowError| user_message(&DataFusionError::ArrowError(Box::new(e), None));
        assert_eq!(arrow(ArrowError::DivideByZero), "division by zero");
        assert_eq!(
            arrow(ArrowError::CastError(
                "Cannot cast string 'x' to value of Int32 type".into()
            )),
            "Cannot cast string 'x' to value of Int32 type"
        );
    }

    #[test]
    fn a_syntax_error_is_one_line_without_the_parser_s_prefix() {
        let err = crate::Statement::parse("SELEC 1").unwrap_err();
        assert_eq!(
            user_message(&err),
            "syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
        );
        assert_eq!(error_kind(&err), ErrorKind::InvalidInput);
    }

    #[test]
    fn an_error_keeps_its_kind_and_message_through_datafusion() {
        let error = Error::unavailable("port 1 is taken");
        let wrapped = DataFusionError::Context(
            "serving".into(),
            Box::new(DataFusionError::from(error.clone())),
        );
        assert_eq!(error_kind(&wrapped), ErrorKind::Unavailable);
        assert_eq!(user_message(&wrapped), "port 1 is taken");
        assert_eq!(Error::from(wrapped), error);
    }
}
