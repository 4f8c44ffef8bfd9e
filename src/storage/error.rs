//! Errors of the storage layer. User mistakes carry a message that names the
//! thing and the fix; IO and format failures carry their cause.

use std::io::ErrorKind;

use thiserror::Error;

use super::path::{PathError, PondPath};

#[derive(Debug, Error)]
pub enum StorageError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("'{0}' is not a pond (no oplog/_delta_log there): create one with `pondsql init {0}`")]
    NotAPond(String),
    #[error("'{0}' already holds a pond: open it with `pondsql --pond {0}`")]
    AlreadyAPond(String),
    #[error("{0} does not exist")]
    NotFound(PondPath),
    #[error("directory {0} does not exist: create it first with CREATE DIRECTORY '{0}'")]
    MissingDirectory(PondPath),
    #[error("{path} already exists (a {kind}){hint}")]
    AlreadyExists {
        path: PondPath,
        kind: &'static str,
        hint: &'static str,
    },
    #[error("{path} is a {actual}, not a {expected}")]
    WrongKind {
        path: PondPath,
        actual: &'static str,
        expected: &'static str,
    },
    #[error("directory {path} is not empty ({count} entries): use DROP DIRECTORY '{path}' CASCADE to drop it with everything in it")]
    NotEmpty { path: PondPath, count: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("content {what} is corrupt: expected sha256 {expected}, found {found}; restore the pond from a backup")]
    ChecksumMismatch {
        what: String,
        expected: String,
        found: String,
    },
    #[error("content {0} is missing (deleted outside pondsql?): the pond is damaged; restore it from a backup")]
    MissingContent(String),
    #[error("{0}, staged by this transaction, is gone (a VACUUM removed it while the transaction was open): nothing was committed; run the transaction again")]
    StagedContentGone(String),
    #[error("txn {0} was committed, but flushing it to the disk failed ({1}): it may not survive a power loss, and running the statement again would apply it twice; check the disk")]
    NotDurable(i64, String),
    #[error("the oplog is damaged: {}", damaged_commit(file, why, *newest, root))]
    DamagedCommit {
        file: String,
        why: String,
        newest: bool,
        root: String,
    },
    #[error("the oplog is damaged: {0}")]
    CorruptOplog(String),
    #[error(
        "gave up committing after {0} attempts: other writers kept committing first; try again"
    )]
    TooManyConflicts(usize),
    #[error("the pond at {root} cannot be written ({cause}): nothing was committed; run as a user who may write there")]
    NotWritable { root: String, cause: String },
    #[error("the disk holding the pond at {root} is full: nothing was committed; free some space and run the statement again")]
    DiskFull { root: String },
    #[error("cannot use {at}: {}; check that the bucket exists, the endpoint (AWS_ENDPOINT_URL), the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the network", first_line(cause))]
    Unreachable { at: String, cause: String },
    #[error("delta: {}", first_line(.0))]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl StorageError {
    /// A failed write said in the user's terms when its cause is one they
    /// can fix (permissions, a full disk), found by the IO error's kind
    /// anywhere in the chain of causes.
    pub(crate) fn on_write(self, root: &str) -> StorageError {
        let kind = match &self {
            StorageError::Io(e) => Some(e.kind()),
            StorageError::Delta(e) => io_kind(e),
            StorageError::ObjectStore(e) => io_kind(e),
            StorageError::Parquet(e) => io_kind(e),
            _ => None,
        };
        let root = root.to_string();
        match kind {
            Some(ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) => {
                StorageError::NotWritable {
                    root,
                    cause: io_cause(&self),
                }
            }
            Some(ErrorKind::StorageFull | ErrorKind::QuotaExceeded) => {
                StorageError::DiskFull { root }
            }
            _ => self,
        }
    }
}

/// The first error of type `T` among `err` and its causes.
pub(crate) fn cause_of<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The kind of the first IO error among `err` and its causes.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    cause_of::<std::io::Error>(err).map(std::io::Error::kind)
}

/// The IO error's own words (`Permission denied (os error 13)`).
fn io_cause(err: &StorageError) -> String {
    cause_of::<std::io::Error>(err).map_or_else(|| err.to_string(), |io| io.to_string())
}

/// An error's first line: some of delta-rs's errors carry a backtrace.
fn first_line(err: &impl std::fmt::Display) -> String {
    err.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn damaged_commit(file: &str, why: &str, newest: bool, root: &str) -> String {
    if newest {
        format!("its newest commit {file} is {why}: a crash or power loss struck while it was written, so it was never acknowledged; set it aside with `pondsql repair {root}`")
    } else {
        format!("commit {file} is {why}; restore the pond from a backup")
    }
}

pub(crate) type Result<T, E = StorageError> = std::result::Result<T, E>;
