//! Table contents: serving them to DataFusion's Parquet reader through an
//! [`ObjectStore`] (writing them is `content_writer`'s).
//!
//! Content is addressed by the sha256 of its bytes. The store's object paths
//! say where the bytes are, so no lookup table is needed:
//! - `blob/<sha256>`: the file `blobs/<sha256>` under the pond root;
//! - `inline/<sha256>/<row>/<oplog data file>`: the `content` cell of that row;
//! - `staged/<sha256>`: written by this process, not yet committed.
//!
//! Every content is verified against its checksum the first time this process
//! reads it; a mismatch is a [`StorageError::ChecksumMismatch`]. A blob with
//! block checksums ([`BlockSums`]) is verified block by block, as a scan
//! reads it: a query reading a day of a year-long table checks that day's
//! blocks, not the year.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::error::{Result, StorageError};
use super::metrics::Metrics;
use super::node::{BlockSums, ContentRef, NodeVersion};
use super::transfer::hash_object;
use super::txn::Content;

/// Contents up to this size are stored inline in the oplog row.
pub(crate) const INLINE_LIMIT: u64 = 64 * 1024;

/// Rows per Parquet row group of a content. The writer's default (1 Mi)
/// left a 1.4 M-row table two row groups: a one-day filter skipped neither
/// and a scan used two cores at most. 64 Ki rows (about a day of minute
/// readings from 40 series) let row-group statistics skip by time and
/// split scans evenly (docs/benchmarks.md, `range` and `scan_agg`).
pub(super) const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The object path under which the content store serves a version's content.
pub(crate) fn object_path(version: &NodeVersion) -> Option<Path> {
    let sum = version.checksum.as_deref()?;
    let text = match &version.content {
        ContentRef::None => return None,
        ContentRef::Blob => format!("blob/{sum}"),
        ContentRef::Staged => format!("staged/{sum}"),
        ContentRef::Inline { oplog_file, row } => format!("inline/{sum}/{row}/{oplog_file}"),
    };
    Some(Path::from(text))
}

/// Picks the event-time column: the first timestamp column, preferring the
/// names `timestamp`, `ts`, `time`.
pub(crate) fn time_column(schema: &SchemaRef) -> Option<String> {
    let timestamps: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::Timestamp(..)))
        .map(|f| f.name().as_str())
        .collect();
    ["timestamp", "ts", "time"]
        .iter()
        .find(|preferred| timestamps.contains(preferred))
        .copied()
        .or(timestamps.first().copied())
        .map(str::to_string)
}

/// Bytes per checksummed block of a blob ([`BlockSums`]). A scan reads
/// and checks whole blocks: small enough that a one-day query on a
/// year-long table checks a few MiB, large enough that the sums of a 100 MB
/// blob are a few KB in its oplog row.
pub(super) const BLOCK_SIZE: u64 = 1024 * 1024;

pub(crate) use super::content_writer::{ContentWriter, Written};

mod serving;

/// Serves contents to DataFusion. Read-only.
pub(crate) struct ContentStore {
    /// The pond root (blobs/ and oplog/ are below it).
    root: Arc<dyn ObjectStore>,
    /// Inline and staged contents by checksum. Inline contents are small.
    bytes: Mutex<ByteCache>,
    /// Blobs whose checksum this process has verified (an initialised
    /// cell), or is verifying: scans of one blob in several partitions
    /// wait for one verification instead of each reading the blob.
    verified: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
    /// Blobs whose block checksums the scans planned so far carry, and
    /// their sizes: these are checked block by block as they are read.
    blocks: Mutex<HashMap<String, (u64, Arc<BlockSums>)>>,
    /// Blocks checked by this process, by blob checksum.
    verified_blocks: Mutex<HashSet<(String, u64)>>,
    /// Remote stores: small blobs are read whole once (one request) and
    /// kept, instead of one request per range a scan reads.
    hold_small_blobs: bool,
    /// Contents read so far (for `contents_opened`).
    opened: Mutex<HashSet<Path>>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for ContentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentStore")
    }
}

impl fmt::Display for ContentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentStore({})", self.root)
    }
}

/// Inline contents and small verified blobs by checksum, and their total
/// size (kept, not summed per insert).
#[derive(Default)]
struct ByteCache {
    map: HashMap<String, Bytes>,
    held: usize,
}

/// Contents remembered for `contents_opened`; past it the set starts again.
const OPENED_REMEMBERED: usize = 100_000;

/// Blobs up to this size are kept in memory once verified: verifying read
/// them whole anyway, and on object storage every range a scan reads from
/// the blob would be another request (a scan reads a few per row group).
const BLOB_HELD: u64 = 16 * 1024 * 1024;

/// Cap on cached content bytes; past it the cache starts again empty.
const CACHE_LIMIT: usize = 256 * 1024 * 1024;

impl ContentStore {
    /// `local`: the pond is on a local disk, where reading a range costs
    /// no more than reading it from memory.
    pub(crate) fn new(root: Arc<dyn ObjectStore>, metrics: Arc<Metrics>, local: bool) -> Self {
        ContentStore {
            root,
            bytes: Mutex::default(),
            verified: Mutex::default(),
            blocks: Mutex::default(),
            verified_blocks: Mutex::default(),
            hold_small_blobs: !local,
            opened: Mutex::default(),
            metrics,
        }
    }

    /// Counts one read request of `bytes` bytes from `location`.
    fn count_read(&self, location: &Path, bytes: u64) {
        Metrics::add(&self.metrics.content_requests, 1);
        Metrics::add(&self.metrics.content_bytes_read, bytes);
        let first = {
            let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
            // Bounded for long-lived processes; past it, a content may count twice.
            if opened.len() >= OPENED_REMEMBERED {
                opened.clear();
            }
            opened.insert(location.clone())
        };
        if first {
            Metrics::add(&self.metrics.contents_opened, 1);
        }
    }

    /// Makes staged (uncommitted) inline content readable.
    /// Tells the store the block checksums of `version`'s blob (if it has
    /// them): reads of it then check only the blocks they touch.
    pub(crate) fn know_blocks(&self, version: &NodeVersion) {
        if let (ContentRef::Blob, Some(sum), Some(blocks)) =
            (&version.content, &version.checksum, &version.attrs.blocks)
        {
            let mut known = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
            if known.len() >= OPENED_REMEMBERED {
                known.clear();
            }
            known
                .entry(sum.clone())
                .or_insert_with(|| (version.size as u64, blocks.clone()));
        }
    }

    pub(crate) fn stage(&self, content: &Content) {
        if let Some(bytes) = &content.inline {
            self.remember(&content.checksum, bytes.clone());
        }
    }

    fn remember(&self, checksum: &str, bytes: Bytes) {
        let mut cache = self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.held + bytes.len() > CACHE_LIMIT {
            *cache = ByteCache::default();
        }
        cache.held += bytes.len();
        if let Some(old) = cache.map.insert(checksum.to_string(), bytes) {
            cache.held -= old.len();
        }
    }

    fn cached(&self, checksum: &str) -> Option<Bytes> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(checksum)
            .cloned()
    }

    /// The bytes of an inline content, read from its oplog row and verified.
    /// Every other inline content of that oplog file is verified and cached
    /// too: a table of many small versions shares few oplog files, and
    /// reading a file once per version would cost O(versions²).
    async fn inline(&self, checksum: &str, row: usize, oplog_file: &str) -> Result<Bytes> {
        if let Some(bytes) = self.cached(checksum) {
            return Ok(bytes);
        }
        let path = Path::from(format!("oplog/{oplog_file}"));
        // Oplog data files are small (inline contents are at most 64 KiB each): read whole.
        let file = self
            .root
            .get_opts(&path, GetOptions::default())
            .await?
            .bytes()
            .await?;
        super::oplog::verify_data_file(oplog_file, &file)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["content", "checksum"]);
        let mut wanted = None;
        let mut first_row = 0;
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let contents = batch.column(0).as_binary::<i32>();
            let sums = batch.column(1).as_string::<i32>();
            for i in 0..batch.num_rows() {
                if contents.is_null(i) || sums.is_null(i) {
                    continue;
                }
                let at = first_row + i;
                let bytes = Bytes::copy_from_slice(contents.value(i));
                let sum = if at == row { checksum } else { sums.value(i) };
                verify(
                    &format!("inline in oplog/{oplog_file} row {at}"),
                    sum,
                    &bytes,
                )?;
                self.remember(sum, bytes.clone());
                if at == row {
                    wanted = Some(bytes);
                }
            }
            first_row += batch.num_rows();
        }
        wanted.ok_or_else(|| {
            StorageError::CorruptOplog(format!("oplog/{oplog_file} has no content in row {row}"))
        })
    }

    /// Checks a blob's bytes once per process. A blob of at most
    /// [`BLOB_HELD`] bytes is read whole for it and its bytes are kept
    /// (with the inline contents, [`CACHE_LIMIT`]) for the scan to read.
    async fn verify_blob(&self, checksum: &str) -> Result<()> {
        let cell = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(checksum.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let path = blob_path(checksum);
            let missing = || StorageError::MissingContent(format!("blob blobs/{checksum}"));
            let (found, held) = match self.root.head(&path).await {
                Ok(meta) if meta.size <= BLOB_HELD => {
                    let bytes = self.root.get(&path).await?.bytes().await?;
                    let hashed = bytes.clone();
                    let found =
                        tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&hashed)))
                            .await
                            .map_err(|e| {
                                StorageError::Invalid(format!("hashing blob {checksum}: {e}"))
                            })?;
                    (found, Some(bytes))
                }
                Ok(_) => {
                    let (found, _) = hash_object(self.root.as_ref(), &path)
                        .await?
                        .ok_or_else(missing)?;
                    (found, None)
                }
                Err(object_store::Error::NotFound { .. }) => return Err(missing()),
                Err(err) => return Err(err.into()),
            };
            if found != checksum {
                return Err(StorageError::ChecksumMismatch {
                    what: format!("blob blobs/{checksum}"),
                    expected: checksum.to_string(),
                    found,
                });
            }
            if let Some(bytes) = held {
                self.remember(checksum, bytes);
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    async fn resolve(&self, location: &Path) -> Result<Located> {
        let text = location.as_ref();
        let mut parts = text.splitn(4, '/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("blob"), Some(sum), None, None) => {
                if let Some(bytes) = self.cached(sum) {
                    return Ok(Located::Bytes(bytes));
                }
                let known = self
                    .blocks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(sum)
                    .cloned();
                match known {
                    Some((size, blocks)) if !(self.hold_small_blobs && size <= BLOB_HELD) => {
                        Ok(Located::Blocks(sum.to_string(), size, blocks))
                    }
                    _ => {
                        self.verify_blob(sum).await?;
                        Ok(match self.cached(sum) {
                            Some(bytes) => Located::Bytes(bytes),
                            None => Located::Blob(blob_path(sum)),
                        })
                    }
                }
            }
            (Some("staged"), Some(sum), None, None) => self
                .cached(sum)
                .map(Located::Bytes)
                .ok_or_else(|| StorageError::Invalid(format!("staged content {sum} is gone"))),
            (Some("inline"), Some(sum), Some(row), Some(file)) => {
                let row = row
                    .parse()
                    .map_err(|_| StorageError::Invalid(format!("bad content path {text}")))?;
                Ok(Located::Bytes(self.inline(sum, row, file).await?))
            }
            _ => Err(StorageError::Invalid(format!("bad content path {text}"))),
        }
    }
}

enum Located {
    Bytes(Bytes),
    /// A blob verified whole.
    Blob(Path),
    /// A blob checked block by block as it is read: checksum, size, sums.
    Blocks(String, u64, Arc<BlockSums>),
}

impl ContentStore {
    /// `ranges` of the blob `sum`, every block they touch checked once per
    /// process against `blocks`. Reads whole blocks while any is unchecked
    /// (the bytes served are the bytes checked), exact ranges after.
    async fn read_checked(
        &self,
        sum: &str,
        size: u64,
        blocks: &Arc<BlockSums>,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>> {
        let path = blob_path(sum);
        let block = blocks.size;
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > size) {
            return Err(StorageError::Invalid(format!(
                "a read of bytes {}..{} of blob blobs/{sum}, which holds {size} bytes",
                r.start, r.end
            )));
        }
        let touched: std::collections::BTreeSet<u64> = ranges
            .iter()
            .filter(|r| r.end > r.start)
            .flat_map(|r| r.start / block..=(r.end - 1) / block)
            .collect();
        if touched.iter().any(|&b| b >= blocks.count()) {
            return Err(StorageError::Invalid(format!(
                "blob blobs/{sum}: its {size} bytes need more block checksums than the oplog records ({}): the pond is damaged",
                blocks.count()
            )));
        }
        let unchecked: Vec<u64> = {
            let checked = self
                .verified_blocks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            touched
                .iter()
                .copied()
                .filter(|&b| !checked.contains(&(sum.to_string(), b)))
                .collect()
        };
        let missing = |err| match err {
            object_store::Error::NotFound { .. } => {
                StorageError::MissingContent(format!("blob blobs/{sum}"))
            }
            other => other.into(),
        };
        if unchecked.is_empty() {
            return self.root.get_ranges(&path, ranges).await.map_err(missing);
        }
        let spans: Vec<Range<u64>> = touched
            .iter()
            .map(|&b| b * block..((b + 1) * block).min(size))
            .collect();
        let read = self.root.get_ranges(&path, &spans).await.map_err(missing)?;
        let to_check: Vec<(u64, Bytes, String)> = touched
            .iter()
            .zip(&read)
            .filter(|(b, _)| unchecked.contains(b))
            .map(|(&b, bytes)| {
                (
                    b,
                    bytes.clone(),
                    blocks.block(b).unwrap_or_default().to_string(),
                )
            })
            .collect();
        let name = format!("blob blobs/{sum}");
        let checked = tokio::task::spawn_blocking(move || {
            let what = |b: u64| format!("block {b} (bytes from {}) of {name}", b * block);
            to_check
                .into_iter()
                .map(|(b, bytes, expected)| verify(&what(b), &expected, &bytes).map(|()| b))
                .collect::<Result<Vec<u64>>>()
        })
        .await
        .map_err(|e| StorageError::Invalid(format!("checking blob blobs/{sum}: {e}")))??;
        {
            let mut verified = self
                .verified_blocks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Bounded for long-lived processes; past it, blocks are checked again.
            if verified.len() >= OPENED_REMEMBERED {
                verified.clear();
            }
            verified.extend(checked.into_iter().map(|b| (sum.to_string(), b)));
        }
        let index: HashMap<u64, &Bytes> = touched.iter().copied().zip(&read).collect();
        Ok(ranges
            .iter()
            .map(|r| slice_blocks(&index, block, r))
            .collect())
    }
}

/// Bytes `range` of a blob out of its whole blocks in `index` (by block number).
fn slice_blocks(index: &HashMap<u64, &Bytes>, block: u64, range: &Range<u64>) -> Bytes {
    if range.end <= range.start {
        return Bytes::new();
    }
    let (first, last) = (range.start / block, (range.end - 1) / block);
    let within = |b: u64, from: u64, to: u64| {
        index[&b].slice((from - b * block) as usize..(to - b * block) as usize)
    };
    if first == last {
        return within(first, range.start, range.end);
    }
    let mut joined = Vec::with_capacity((range.end - range.start) as usize);
    for b in first..=last {
        let from = range.start.max(b * block);
        let to = range.end.min((b + 1) * block);
        joined.extend_from_slice(&within(b, from, to));
    }
    Bytes::from(joined)
}

fn blob_path(checksum: &str) -> Path {
    Path::from(format!("blobs/{checksum}"))
}

fn verify(what: &str, expected: &str, bytes: &[u8]) -> Result<()> {
    let found = hex::encode(Sha256::digest(bytes));
    if found != expected {
        return Err(StorageError::ChecksumMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use datafusion::parquet::arrow::ArrowWriter;

    use super::serving::slice_checked;
    use super::*;
    use crate::storage::node::NodeId;
    use crate::storage::oplog::{self, RowToWrite};

    /// The oplog file is whole (its name's sha256 matches), but the inline
    /// content in it is not the one its row's checksum names.
    #[tokio::test]
    async fn an_inline_content_unlike_its_checksum_is_refused() {
        let mut version = NodeVersion::root_directory(0);
        version.checksum = Some(hex::encode(Sha256::digest(b"what was written")));
        let batch = oplog::encode(&[RowToWrite {
            version: &version,
            inline: Some(b"what is stored"),
        }])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let name = oplog::data_file_name(1, &NodeId::root(), &bytes);
        let store = Arc::new(InMemory::new());
        store
            .put(&Path::from(format!("oplog/{name}")), bytes.into())
            .await
            .unwrap();
        let contents = ContentStore::new(store, Arc::new(Metrics::default()), false);
        let checksum = version.checksum.clone().unwrap();
        let err = contents.inline(&checksum, 0, &name).await.unwrap_err();
        assert!(
            matches!(&err, StorageError::ChecksumMismatch { what, .. } if what.contains(&name)),
            "{err}"
        );
    }

    /// Block sums cover every byte once, whatever sizes the writes come in.
    #[test]
    fn a_read_spanning_blocks_joins_them() {
        let (a, b) = (Bytes::from(vec![1u8; 4]), Bytes::from(vec![2u8, 3]));
        let index = HashMap::from([(0, &a), (1, &b)]);
        assert_eq!(&slice_blocks(&index, 4, &(3..6))[..], [1, 2, 3]);
        assert_eq!(&slice_blocks(&index, 4, &(4..5))[..], [2]);
        assert!(slice_blocks(&index, 4, &(2..2)).is_empty());
    }

    #[test]
    fn a_read_past_an_inline_content_is_an_error_not_a_panic() {
        let location = Path::from("inline/abc");
        let bytes = Bytes::from_static(b"0123456789");
        assert_eq!(slice_checked(&location, &bytes, &(2..5)).unwrap(), "234");
        let backwards = Range { start: 6, end: 3 };
        for range in [5..20, 11..12, backwards] {
            let err = slice_checked(&location, &bytes, &range)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("inline/abc") && err.contains("damaged"),
                "{err}"
            );
        }
    }
}
