//! Host files compressed with gzip, zstd, bzip2 or xz, known by their last
//! extension (`readings.csv.gz`). DataFusion's readers decompress them as
//! they read; the pond's own checks of a file (CSV quoting, the header)
//! read it decompressed through [`open`].

use std::fs::File;
use std::io::Read;
use std::path::Path;

use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::error::Result;

/// The compressions read, by extension.
const EXTENSIONS: [(&str, FileCompressionType); 4] = [
    ("gz", FileCompressionType::GZIP),
    ("zst", FileCompressionType::ZSTD),
    ("bz2", FileCompressionType::BZIP2),
    ("xz", FileCompressionType::XZ),
];

/// How `path` is compressed, by its last extension.
pub(crate) fn compression_of(path: &str) -> FileCompressionType {
    let extension = Path::new(path).extension().and_then(|e| e.to_str());
    EXTENSIONS
        .iter()
        .find(|(name, _)| extension.is_some_and(|e| e.eq_ignore_ascii_case(name)))
        .map_or(FileCompressionType::UNCOMPRESSED, |(_, compression)| {
            *compression
        })
}

/// `path` without a compression extension (`a.csv.gz` → `a.csv`): the name
/// whose extension says the format.
pub(crate) fn without_compression(path: &str) -> &str {
    match compression_of(path).is_compressed() {
        true => path.rsplit_once('.').map_or(path, |(stem, _)| stem),
        false => path,
    }
}

/// The bytes of a host file, decompressed as its extension says.
pub(crate) fn open(path: &str) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    compression_of(path).convert_read(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_extension_names_the_compression() {
        assert_eq!(compression_of("a.csv.gz"), FileCompressionType::GZIP);
        assert_eq!(compression_of("/d/a.JSON.ZST"), FileCompressionType::ZSTD);
        assert_eq!(compression_of("a.csv"), FileCompressionType::UNCOMPRESSED);
        assert_eq!(
            compression_of("a.gz.csv"),
            FileCompressionType::UNCOMPRESSED
        );
        assert_eq!(without_compression("/d/a.csv.xz"), "/d/a.csv");
        assert_eq!(without_compression("/d/a.csv"), "/d/a.csv");
    }
}
