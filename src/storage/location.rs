//! Where a pond lives: a local directory, or a prefix in an S3-compatible
//! bucket (`s3://bucket/prefix`), and the [`ObjectStore`] that reaches it.
//!
//! Owns the choice of store and its settings (credentials and endpoint come
//! from the usual `AWS_*` environment, never from the pond). Knows nothing
//! of the pond's layout.

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use deltalake::logstore::{
    default_logstore, logstore_factories, LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableBuilder};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use super::error::{cause_of, Result, StorageError};
use super::local_listing::LocalListing;

/// A pond root. For a local directory, `local` is its absolute path and
/// IO is made durable with fsync (durable.rs); an object store's PUT is
/// durable when acknowledged.
#[derive(Clone)]
pub(crate) struct Location {
    /// The root as a URL, ending in `/`.
    url: Url,
    /// Rooted at the pond root: `oplog/…`, `blobs/…`.
    store: Arc<dyn ObjectStore>,
    /// Rooted at the bucket (delta-rs prefixes it with the table's path itself).
    bucket: Arc<dyn ObjectStore>,
    local: Option<PathBuf>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Says whether `text` names an object store (`s3://…`) rather than a local path.
pub(crate) fn is_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    })
}

impl Location {
    /// A local path (`./pond`, `/data/pond`, `file:///data/pond`) or `s3://bucket/prefix`.
    pub(crate) fn parse(path: &FsPath) -> Result<Location> {
        let text = path.to_string_lossy();
        if !is_url(&text) {
            return Location::local(path);
        }
        let url = Url::parse(&text)
            .map_err(|e| StorageError::Invalid(format!("'{text}' is not a valid URL: {e}")))?;
        match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|()| {
                    StorageError::Invalid(format!("'{text}' is not a local path"))
                })?;
                Location::local(&dir)
            }
            "s3" | "s3a" => Location::s3(url),
            other => Err(StorageError::Invalid(format!(
                "'{text}': pondsql reaches ponds on local disks and on S3-compatible storage (s3://bucket/path), not {other}://"
            ))),
        }
    }

    fn local(path: &FsPath) -> Result<Location> {
        let dir = std::path::absolute(path)?;
        let url = Url::from_directory_path(&dir).map_err(|()| {
            StorageError::Invalid(format!("cannot make a URL of {}", dir.display()))
        })?;
        // Not `new_with_prefix`: it needs the directory to exist (init makes it).
        let prefix = Path::from_absolute_path(&dir)
            .map_err(|e| StorageError::Invalid(format!("{}: {e}", dir.display())))?;
        Ok(Location {
            url,
            store: Arc::new(PrefixStore::new(LocalFileSystem::new(), prefix)),
            bucket: Arc::new(LocalListing::new()),
            local: Some(dir),
        })
    }

    fn s3(mut url: Url) -> Result<Location> {
        let text = url.to_string();
        if url.host_str().unwrap_or_default().is_empty() {
            return Err(StorageError::Invalid(format!(
                "'{text}' names no bucket: write s3://BUCKET/path"
            )));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        crate::tls::choose_backend();
        // Fail in seconds, not minutes, when the endpoint is unreachable,
        // and within a bound when it accepts connections but never answers
        // (a stalled server or proxy): every attempt ends after the request
        // timeout, and no retry starts after RETRY_WINDOW. AWS_TIMEOUT and
        // AWS_CONNECT_TIMEOUT (below) override the defaults.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: RETRY_WINDOW,
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(REQUEST_TIMEOUT);
        // The usual AWS_* variables (as AmazonS3Builder::from_env reads
        // them) go over these defaults; the URL names bucket and prefix.
        let mut builder = AmazonS3Builder::new()
            .with_retry(retry)
            .with_client_options(client);
        for (key, value) in std::env::vars() {
            if key.starts_with("AWS_") {
                if let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                    builder = builder.with_config(key, value);
                }
            }
        }
        let bucket: Arc<dyn ObjectStore> = Arc::new(
            builder
                .with_url(url.as_str())
                .build()
                .map_err(|e| StorageError::Invalid(format!("{text}: {e}")))?,
        );
        register_s3_log_store();
        let prefix = Path::from(url.path().trim_matches('/'));
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            bucket.clone()
        } else {
            Arc::new(PrefixStore::new(bucket.clone(), prefix))
        };
        Ok(Location {
            url,
            store,
            bucket,
            local: None,
        })
    }

    /// The store rooted at the pond root.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The directory, when the pond is on a local disk.
    pub(crate) fn local_dir(&self) -> Option<&FsPath> {
        self.local.as_deref()
    }

    /// What to call the pond in messages: its path, or its URL.
    pub(crate) fn display(&self) -> String {
        match &self.local {
            Some(dir) => dir.display().to_string(),
            None => self.url.to_string().trim_end_matches('/').to_string(),
        }
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of the oplog Delta table (`…/oplog/`).
    pub(crate) fn oplog_url(&self) -> Url {
        self.url.join("oplog/").expect("a relative path joins")
    }

    /// A builder for the oplog Delta table, through this location's store
    /// (on a local disk, [`LocalListing`]). Commits go through delta-rs's
    /// default log store: put-if-absent, which S3 does with `If-None-Match: *`.
    pub(crate) fn delta_builder(&self) -> Result<DeltaTableBuilder> {
        Ok(DeltaTableBuilder::from_url(self.oplog_url())?
            .with_storage_backend(self.bucket.clone(), self.oplog_url()))
    }

    /// The same, with `store` (rooted at the bucket) in place of the bucket.
    pub(crate) fn delta_builder_over(
        &self,
        store: Arc<dyn ObjectStore>,
    ) -> Result<DeltaTableBuilder> {
        Ok(DeltaTableBuilder::from_url(self.oplog_url())?
            .with_storage_backend(store, self.oplog_url()))
    }

    /// The store rooted at the bucket (or the file system's root).
    pub(crate) fn bucket(&self) -> &Arc<dyn ObjectStore> {
        &self.bucket
    }

    /// A path under the pond root as the bucket's store names it.
    pub(crate) fn in_bucket(&self, path: &str) -> Result<Path> {
        match &self.local {
            Some(dir) => Path::from_absolute_path(dir.join(path))
                .map_err(|e| StorageError::Invalid(format!("{}: {e}", dir.display()))),
            None => Ok(Path::from(format!(
                "{}{path}",
                self.url.path().trim_start_matches('/')
            ))),
        }
    }
}

impl Location {
    /// An object store's error in the user's terms, for the first
    /// contact with a location (its kind decides, not its text).
    pub(crate) fn explain(&self, err: object_store::Error) -> StorageError {
        let at = self.display();
        match err {
            object_store::Error::NotFound { .. } if self.local.is_none() => {
                StorageError::Invalid(format!(
                    "{at}: the bucket does not exist (or the endpoint in AWS_ENDPOINT_URL is not S3): create the bucket first"
                ))
            }
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => StorageError::Invalid(format!(
                "{at}: the storage refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION)"
            )),
            other if self.local.is_none() && timed_out(&other) => StorageError::Unreachable {
                at,
                cause: format!(
                    "the server accepted the connection but did not answer: the request timed out (each attempt may take AWS_TIMEOUT, {}s by default)",
                    REQUEST_TIMEOUT.as_secs()
                ),
            },
            other if self.local.is_none() => {
                // The server's status, without the XML body object_store appends.
                let cause = other.to_string();
                let cause = cause.split(": <?xml").next().unwrap_or_default().to_string();
                StorageError::Unreachable { at, cause }
            }
            other => other.into(),
        }
    }
}

impl StorageError {
    /// A failed write said in the user's terms when its cause is one they
    /// can fix: permissions or a full disk (local), credentials or a
    /// missing bucket (object stores).
    pub(crate) fn at(self, location: &Location) -> StorageError {
        match self {
            StorageError::ObjectStore(err) if location.local.is_none() => location.explain(err),
            other => other.on_write(&location.display()),
        }
    }
}

/// Did an object-store request end because an attempt timed out (by the
/// HTTP error's kind anywhere in the chain of causes)?
fn timed_out(err: &object_store::Error) -> bool {
    cause_of::<object_store::client::HttpError>(err)
        .is_some_and(|http| http.kind() == object_store::client::HttpErrorKind::Timeout)
}

/// How long one attempt of an object-store request may take, whole (a
/// 5 MiB upload part needs 85 KiB/s to make it). docs/storage.md.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// No retry of a failed request starts later than this after the first
/// attempt: a request gives up within REQUEST_TIMEOUT + RETRY_WINDOW.
const RETRY_WINDOW: Duration = Duration::from_secs(30);

/// delta-rs knows `file://` and `memory://` without its AWS crate; for
/// `s3://` it gets its default log store (put-if-absent commits) over
/// the store pondsql builds.
fn register_s3_log_store() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let scheme = Url::parse(scheme).expect("constant URL parses");
            logstore_factories()
                .entry(scheme)
                .or_insert_with(|| Arc::new(PutIfAbsentLogStore));
        }
    });
}

struct PutIfAbsentLogStore;

impl LogStoreFactory for PutIfAbsentLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert!(is_url("s3://bucket/pond"));
        assert!(is_url("file:///tmp/pond"));
        assert!(!is_url("./pond"));
        assert!(!is_url("/data/my://odd"));
        let local = Location::parse(FsPath::new("rel/pond")).unwrap();
        assert!(local.local_dir().unwrap().is_absolute());
        assert!(local.url().as_str().ends_with("rel/pond/"));
        let err = Location::parse(FsPath::new("gs://bucket/pond")).unwrap_err();
        assert!(err.to_string().contains("not gs://"), "{err}");
        let err = Location::parse(FsPath::new("s3:///pond")).unwrap_err();
        assert!(err.to_string().contains("names no bucket"), "{err}");
    }

    #[test]
    fn s3_paths_in_bucket() {
        let at = Location::parse(FsPath::new("s3://bucket/ponds/a")).unwrap();
        assert_eq!(at.display(), "s3://bucket/ponds/a");
        assert_eq!(
            at.in_bucket("oplog/_delta_log/x").unwrap().as_ref(),
            "ponds/a/oplog/_delta_log/x"
        );
        assert_eq!(at.oplog_url().as_str(), "s3://bucket/ponds/a/oplog/");
    }
}
