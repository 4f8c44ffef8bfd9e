//! Contents on their way into a commit: spooled, landed as blobs (or kept
//! inline), and checked to be still there when the commit is made.

use super::*;

impl Pond {
    /// Where content writers spool: beside `blobs/` on a local disk (so
    /// landing a blob is a rename), the system's temp directory otherwise.
    pub(crate) fn spool_dir(&self) -> PathBuf {
        match self.location.local_dir() {
            Some(dir) => dir.join("blobs").join(".tmp"),
            None => std::env::temp_dir().join("pondsql-spool"),
        }
    }

    /// Puts a written content where a commit can reference it: a large
    /// one into `blobs/<sha256>` (content-addressed: a blob already there
    /// has the same bytes).
    pub(crate) async fn land(&self, mut written: Written) -> Result<Content> {
        if let Some(spooled) = written.take_spooled() {
            let blob = format!("blobs/{}", written.content.checksum);
            let landed = self.land_blob(&spooled, &blob).await;
            let _ = tokio::fs::remove_file(&spooled).await;
            landed.map_err(|e| e.at(&self.location))?;
        }
        Ok(written.content.clone())
    }

    pub(super) async fn land_blob(&self, spooled: &FsPath, blob: &str) -> Result<()> {
        if let Some(root_dir) = self.location.local_dir() {
            let (from, to) = (spooled.to_path_buf(), root_dir.join(blob));
            return tokio::task::spawn_blocking(move || {
                std::fs::rename(&from, &to)?;
                durable::sync_now(to.parent().expect("blobs/ holds the blob"))
            })
            .await
            .map_err(std::io::Error::other)?
            .map_err(StorageError::from);
        }
        let path = Path::from(blob);
        if self.root_store.head(&path).await.is_ok() {
            return Ok(());
        }
        let chunks = file_chunks(spooled).await?;
        put_stream(self.root_store.as_ref(), &path, chunks, |_| Ok(())).await?;
        Ok(())
    }

    /// Checks that every blob the staged versions reference is still there,
    /// and renews the old ones (see [`protect_staged_blob`]).
    pub(super) async fn protect_staged_blobs(&self, staging: &Staging) -> Result<()> {
        let now = SystemTime::now();
        for v in staging.overlay().versions() {
            if let (ContentRef::Blob, Some(sum)) = (&v.content, &v.checksum) {
                protect_staged_blob(&self.location, sum, now).await?;
            }
        }
        Ok(())
    }
}
