//! Writing table contents: Parquet, hashed whole and per block as it is
//! written, then kept inline in the oplog row or as a blob.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::content::{BLOCK_SIZE, INLINE_LIMIT, ROW_GROUP_ROWS};
use super::error::Result;
use super::event_time;
use super::node::BlockSums;
use super::txn::Content;

/// A `Write` that hashes what passes through it, whole and per block.
struct HashingFile {
    file: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    written: u64,
    block: Sha256,
    /// Hex sha256 of each finished block.
    blocks: String,
}

impl HashingFile {
    fn new(file: std::fs::File) -> Self {
        HashingFile {
            file: std::io::BufWriter::new(file),
            hasher: Sha256::new(),
            written: 0,
            block: Sha256::new(),
            blocks: String::new(),
        }
    }

    /// The block sums of everything written.
    fn block_sums(&mut self) -> BlockSums {
        if !self.written.is_multiple_of(BLOCK_SIZE) {
            let last = std::mem::take(&mut self.block);
            self.blocks.push_str(&hex::encode(last.finalize()));
        }
        BlockSums {
            size: BLOCK_SIZE,
            sha256: std::mem::take(&mut self.blocks),
        }
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let room = (BLOCK_SIZE - self.written % BLOCK_SIZE) as usize;
            let (head, tail) = rest.split_at(room.min(rest.len()));
            self.block.update(head);
            self.written += head.len() as u64;
            if self.written.is_multiple_of(BLOCK_SIZE) {
                let full = std::mem::take(&mut self.block);
                self.blocks.push_str(&hex::encode(full.finalize()));
            }
            rest = tail;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Streams record batches into one Parquet content, tracking rows and time
/// range. The bytes go to a spool file; [`Pond::land`](super::Pond::land)
/// then puts a large content where it belongs (a rename into `blobs/` on a
/// local disk, a multipart upload to an object store).
pub(crate) struct ContentWriter {
    /// `None` once finished.
    writer: Option<ArrowWriter<HashingFile>>,
    tmp_path: PathBuf,
    /// What to call the pond in errors.
    pond: String,
    time_column: Option<usize>,
    rows: i64,
    min_time: Option<i64>,
    max_time: Option<i64>,
}

/// A finished content. A large one is still in its spool file, to be landed.
pub(crate) struct Written {
    pub(crate) content: Content,
    spooled: Option<PathBuf>,
}

impl Written {
    /// The spool file of a content that is not inline, handed over to land it.
    pub(crate) fn take_spooled(&mut self) -> Option<PathBuf> {
        self.spooled.take()
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        // Never landed (an error on the way): leave no spool file behind.
        if let Some(path) = &self.spooled {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ContentWriter {
    /// A writer spooling into `spool_dir` (created if missing). Blocks.
    pub(crate) fn new(
        spool_dir: &FsPath,
        pond: &str,
        schema: SchemaRef,
        time_column: Option<&str>,
    ) -> Result<Self> {
        Self::create(spool_dir, pond, schema, time_column).map_err(|e| e.on_write(pond))
    }

    fn create(
        spool_dir: &FsPath,
        pond: &str,
        schema: SchemaRef,
        time_column: Option<&str>,
    ) -> Result<Self> {
        std::fs::create_dir_all(spool_dir)?;
        let tmp_path = spool_dir.join(format!("{}.parquet", uuid::Uuid::new_v4().simple()));
        let file = HashingFile::new(std::fs::File::create(&tmp_path)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let time_column = time_column.and_then(|name| schema.index_of(name).ok());
        let writer = ArrowWriter::try_new(file, schema, Some(props))?;
        Ok(ContentWriter {
            writer: Some(writer),
            tmp_path,
            pond: pond.to_string(),
            time_column,
            rows: 0,
            min_time: None,
            max_time: None,
        })
    }

    /// Blocks (file IO).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let pond = self.pond.clone();
        self.write_batch(batch).map_err(|e| e.on_write(&pond))
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as i64;
        if let Some((lo, hi)) = self
            .time_column
            .and_then(|i| event_time::range_micros(batch.column(i)))
        {
            self.min_time = Some(self.min_time.map_or(lo, |m| m.min(lo)));
            self.max_time = Some(self.max_time.map_or(hi, |m| m.max(hi)));
        }
        self.writer
            .as_mut()
            .expect("write after finish")
            .write(batch)?;
        Ok(())
    }

    /// Finishes the file. Returns `None` when no row was written (nothing
    /// to store). Blocks (file IO).
    pub(crate) fn finish(self) -> Result<Option<Written>> {
        let pond = self.pond.clone();
        self.finish_file().map_err(|e| e.on_write(&pond))
    }

    fn finish_file(mut self) -> Result<Option<Written>> {
        let writer = self.writer.take().expect("finish is called once, by value");
        let (tmp_path, rows) = (self.tmp_path.clone(), self.rows);
        let (min_time, max_time) = (self.min_time, self.max_time);
        let mut file = writer.into_inner()?;
        file.flush()?;
        if rows == 0 {
            std::fs::remove_file(&tmp_path)?;
            return Ok(None);
        }
        let blocks = file.block_sums();
        let checksum = hex::encode(file.hasher.finalize());
        let size = file.written;
        let (inline, spooled) = if size <= INLINE_LIMIT {
            let bytes = Bytes::from(std::fs::read(&tmp_path)?);
            std::fs::remove_file(&tmp_path)?;
            (Some(bytes), None)
        } else {
            // Durable before any commit can name it (durable.rs).
            file.file.get_ref().sync_all()?;
            (None, Some(tmp_path.clone()))
        };
        // The spool file now belongs to `Written`.
        self.tmp_path = PathBuf::new();
        Ok(Some(Written {
            content: Content {
                checksum,
                size: size as i64,
                rows,
                min_time,
                max_time,
                blocks: inline.is_none().then(|| Arc::new(blocks)),
                inline,
            },
            spooled,
        }))
    }
}

impl Drop for ContentWriter {
    fn drop(&mut self) {
        // A writer dropped before `finish` (an error or a cancel) leaves no file
        // behind; after `finish` the file is removed or handed to `Written`.
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sums_are_the_sha256_of_each_block() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(5 * BLOCK_SIZE / 2))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut file = HashingFile::new(std::fs::File::create(dir.path().join("f")).unwrap());
        for chunk in data.chunks(300_001) {
            file.write_all(chunk).unwrap();
        }
        let sums = file.block_sums();
        assert_eq!(sums.count(), 3);
        for (i, block) in data.chunks(BLOCK_SIZE as usize).enumerate() {
            assert_eq!(
                sums.block(i as u64),
                Some(hex::encode(Sha256::digest(block)).as_str())
            );
        }
        assert_eq!(sums.block(3), None);
    }
}
