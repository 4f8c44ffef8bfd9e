//! The oplog's row format: the Delta schema, and node versions ⇄ Arrow batches.
//!
//! Owns the column layout of `oplog/` and the naming of its data files, and
//! nothing else: no Delta commits, no object-store IO. `part_id` is the Delta partition column, so it lives in the
//! Add action's partition values and never in the data files.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::kernels::aggregate::{max, max_string, min, min_string};
use datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use deltalake::kernel::{DataType as DeltaType, StructField};
use sha2::{Digest, Sha256};

use super::error::StorageError;
use super::node::{stored_listing, Attrs, ContentRef, Kind, NodeId, NodeVersion, VersionOp};

pub(crate) const PARTITION_COLUMN: &str = "part_id";

/// Columns of the oplog data files, in order (everything but `part_id`).
pub(crate) const COLUMNS: &[&str] = &[
    "node_id",
    "version",
    "txn",
    "timestamp",
    "kind",
    "op",
    "content",
    "blob",
    "size",
    "rows",
    "checksum",
    "min_time",
    "max_time",
    "attrs",
    "sql",
];

/// The columns written zstd-compressed: contents and long texts. The others
/// are a few bytes a row and stay uncompressed (older files have every
/// column compressed; readers take either).
pub(crate) const COMPRESSED_COLUMNS: &[&str] = &["content", "attrs", "sql"];

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of an oplog data file.
pub(crate) fn file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("node_id", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("txn", DataType::Int64, false),
        Field::new("timestamp", utc_micros(), false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("op", DataType::Utf8, false),
        Field::new("content", DataType::Binary, true),
        Field::new("blob", DataType::Utf8, true),
        Field::new("size", DataType::Int64, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("checksum", DataType::Utf8, true),
        Field::new("min_time", utc_micros(), true),
        Field::new("max_time", utc_micros(), true),
        Field::new("attrs", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, false),
    ]))
}

/// The Delta table schema of `oplog/` (partition column first).
pub(crate) fn delta_columns() -> Vec<StructField> {
    let mut fields = vec![StructField::new(PARTITION_COLUMN, DeltaType::STRING, false)];
    for field in file_schema().fields() {
        let ty = match field.data_type() {
            DataType::Utf8 => DeltaType::STRING,
            DataType::Int64 => DeltaType::LONG,
            DataType::Binary => DeltaType::BINARY,
            _ => DeltaType::TIMESTAMP,
        };
        fields.push(StructField::new(
            field.name().clone(),
            ty,
            field.is_nullable(),
        ));
    }
    fields
}

/// A version ready to be written: the metadata plus its inline bytes, if any.
pub(crate) struct RowToWrite<'a> {
    pub version: &'a NodeVersion,
    pub inline: Option<&'a [u8]>,
}

/// Encodes the versions of one partition as one batch.
pub(crate) fn encode(rows: &[RowToWrite<'_>]) -> Result<RecordBatch, StorageError> {
    let n = rows.len();
    let mut node_id = StringBuilder::new();
    let mut version = Int64Builder::with_capacity(n);
    let mut txn = Int64Builder::with_capacity(n);
    let mut timestamp = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut kind = StringBuilder::new();
    let mut op = StringBuilder::new();
    let mut content = BinaryBuilder::new();
    let mut blob = StringBuilder::new();
    let mut size = Int64Builder::with_capacity(n);
    let mut row_count = Int64Builder::with_capacity(n);
    let mut checksum = StringBuilder::new();
    let mut min_time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut max_time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut attrs = StringBuilder::new();
    let mut sql = StringBuilder::new();
    for RowToWrite { version: v, inline } in rows {
        node_id.append_value(v.node_id.as_str());
        version.append_value(v.version);
        txn.append_value(v.txn);
        timestamp.append_value(v.timestamp);
        kind.append_value(v.kind.as_str());
        op.append_value(v.op.as_str());
        content.append_option(*inline);
        match (&v.content, &v.checksum) {
            (ContentRef::Blob, Some(hash)) => blob.append_value(hash),
            _ => blob.append_null(),
        }
        size.append_value(v.size);
        row_count.append_option(v.rows);
        checksum.append_option(v.checksum.as_deref());
        min_time.append_option(v.min_time);
        max_time.append_option(v.max_time);
        attrs.append_value(serde_json::to_string(v.attrs.as_ref())?);
        let Some(text) = v.sql.as_deref() else {
            return Err(StorageError::Invalid(format!(
                "version {} of node {} has no SQL text to store (read for the index without it)",
                v.version, v.node_id
            )));
        };
        sql.append_value(text);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(node_id.finish()),
        Arc::new(version.finish()),
        Arc::new(txn.finish()),
        Arc::new(timestamp.finish()),
        Arc::new(kind.finish()),
        Arc::new(op.finish()),
        Arc::new(content.finish()),
        Arc::new(blob.finish()),
        Arc::new(size.finish()),
        Arc::new(row_count.finish()),
        Arc::new(checksum.finish()),
        Arc::new(min_time.finish()),
        Arc::new(max_time.finish()),
        Arc::new(attrs.finish()),
        Arc::new(sql.finish()),
    ];
    Ok(RecordBatch::try_new(file_schema(), columns)?)
}

/// Decodes a batch read with [`OplogColumns::Index`]: the versions without
/// their SQL text ([`decode_statements`] reads it).
pub(crate) fn decode(
    batch: &RecordBatch,
    part_id: &NodeId,
    oplog_file: &Arc<str>,
    first_row: usize,
) -> Result<Vec<NodeVersion>, StorageError> {
    let bad = |what: &str| StorageError::CorruptOplog(format!("{oplog_file}: {what}"));
    let strings = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| bad(&format!("column {name} missing or not a string")))
    };
    let ints = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| bad(&format!("column {name} missing or not an int64")))
    };
    let times = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| bad(&format!("column {name} missing or not a timestamp")))
    };
    let (node_id, kind, op, blob, checksum, attrs) = (
        strings("node_id")?,
        strings("kind")?,
        strings("op")?,
        strings("blob")?,
        strings("checksum")?,
        strings("attrs")?,
    );
    let (version, txn, size, rows) = (ints("version")?, ints("txn")?, ints("size")?, ints("rows")?);
    let (timestamp, min_time, max_time) =
        (times("timestamp")?, times("min_time")?, times("max_time")?);
    let opt_i64 = |a: &datafusion::arrow::array::PrimitiveArray<Int64Type>, i| {
        a.is_valid(i).then(|| a.value(i))
    };
    let opt_ts = |a: &datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>, i| {
        a.is_valid(i).then(|| a.value(i))
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut parsed_attrs: HashMap<&str, Arc<Attrs>> = HashMap::new();
    for i in 0..batch.num_rows() {
        let kind_value = Kind::parse(kind.value(i))
            .ok_or_else(|| bad(&format!("unknown kind {}", kind.value(i))))?;
        let op_value = VersionOp::parse(op.value(i))
            .ok_or_else(|| bad(&format!("unknown op {}", op.value(i))))?;
        // Versions of one table repeat their attrs (its schema, time
        // column): each distinct text is parsed once.
        let attrs_value = match parsed_attrs.entry(attrs.value(i)) {
            Entry::Occupied(seen) => seen.get().clone(),
            Entry::Vacant(new) => {
                let parsed: Attrs = serde_json::from_str(new.key())
                    .map_err(|e| bad(&format!("attrs of row {i} are not valid: {e}")))?;
                new.insert(Arc::new(parsed)).clone()
            }
        };
        let checksum_value = checksum.is_valid(i).then(|| checksum.value(i).to_string());
        let content = if blob.is_valid(i) {
            ContentRef::Blob
        } else if checksum_value.is_some() {
            ContentRef::Inline {
                oplog_file: oplog_file.clone(),
                row: first_row + i,
            }
        } else {
            ContentRef::None
        };
        out.push(NodeVersion {
            part_id: part_id.clone(),
            node_id: NodeId::from_stored(node_id.value(i)),
            version: version.value(i),
            txn: txn.value(i),
            timestamp: timestamp.value(i),
            kind: kind_value,
            op: op_value,
            content,
            size: size.value(i),
            rows: opt_i64(rows, i),
            checksum: checksum_value,
            min_time: opt_ts(min_time, i),
            max_time: opt_ts(max_time, i),
            listing: stored_listing(&attrs_value),
            previous: None,
            attrs: attrs_value,
            sql: None,
        });
    }
    Ok(out)
}

/// Delta file statistics of one oplog data file: row count and, for every
/// column a reader may filter on (all but `content`, `attrs` and `sql`, which
/// are long texts), min, max and null count. Timestamps are written at
/// millisecond precision as the Delta protocol has them, the minimum rounded
/// down and the maximum up, so that they stay bounds.
pub(crate) fn file_stats(batch: &RecordBatch) -> Result<serde_json::Value, StorageError> {
    let (mut min_values, mut max_values, mut null_count) = (
        serde_json::Map::new(),
        serde_json::Map::new(),
        serde_json::Map::new(),
    );
    for name in COLUMNS {
        if matches!(*name, "content" | "attrs" | "sql") {
            continue;
        }
        let column = batch.column_by_name(name).ok_or_else(|| {
            StorageError::CorruptOplog(format!("oplog rows without column {name}"))
        })?;
        null_count.insert(name.to_string(), column.null_count().into());
        let (low, high) = match column.data_type() {
            DataType::Utf8 => {
                let strings = column.as_string::<i32>();
                (
                    min_string(strings).map(Into::into),
                    max_string(strings).map(Into::into),
                )
            }
            DataType::Int64 => {
                let ints = column.as_primitive::<Int64Type>();
                (min(ints).map(Into::into), max(ints).map(Into::into))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let times = column.as_primitive::<TimestampMicrosecondType>();
                let millis = |micros: i64, round_up: bool| {
                    let ms = micros.div_euclid(1000)
                        + i64::from(round_up && micros.rem_euclid(1000) != 0);
                    chrono::DateTime::from_timestamp_millis(ms)
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into())
                };
                (
                    min(times).and_then(|t| millis(t, false)),
                    max(times).and_then(|t| millis(t, true)),
                )
            }
            other => {
                return Err(StorageError::CorruptOplog(format!(
                    "oplog column {name} has unexpected type {other}"
                )))
            }
        };
        if let (Some(low), Some(high)) = (low, high) {
            min_values.insert(name.to_string(), low);
            max_values.insert(name.to_string(), high);
        }
    }
    Ok(serde_json::json!({
        "numRecords": batch.num_rows(),
        "minValues": min_values,
        "maxValues": max_values,
        "nullCount": null_count,
    }))
}

/// Which columns of an oplog data file to read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OplogColumns {
    /// Every column: to copy or check the file.
    All,
    /// What the index keeps: all but `content` and `sql` (the SQL text
    /// grows with the pond's history and only history tables show it).
    Index,
    /// `txn` and `sql`: the statements, for the history tables.
    Statements,
}

impl OplogColumns {
    /// The column names to project; `None` for all.
    pub(crate) fn names(self) -> Option<Vec<&'static str>> {
        match self {
            OplogColumns::All => None,
            OplogColumns::Index => Some(
                COLUMNS
                    .iter()
                    .copied()
                    .filter(|c| !matches!(*c, "content" | "sql"))
                    .collect(),
            ),
            OplogColumns::Statements => Some(vec!["txn", "sql"]),
        }
    }
}

/// The SQL text of each transaction in a batch read with
/// [`OplogColumns::Statements`] (or all columns).
pub(crate) fn decode_statements(
    batch: &RecordBatch,
    oplog_file: &str,
) -> Result<Vec<(i64, Arc<str>)>, StorageError> {
    let txn = batch
        .column_by_name("txn")
        .and_then(|c| c.as_primitive_opt::<Int64Type>());
    let sql = batch
        .column_by_name("sql")
        .and_then(|c| c.as_string_opt::<i32>());
    let (Some(txn), Some(sql)) = (txn, sql) else {
        return Err(StorageError::CorruptOplog(format!(
            "{oplog_file}: columns txn and sql missing or of the wrong type"
        )));
    };
    let mut out: Vec<(i64, Arc<str>)> = Vec::new();
    for i in 0..batch.num_rows() {
        // A transaction's rows repeat its text: one copy per run of rows.
        if out.last().is_none_or(|(t, _)| *t != txn.value(i)) {
            out.push((txn.value(i), Arc::from(sql.value(i))));
        }
    }
    Ok(out)
}

/// Names an oplog data file of `part` written by `txn`:
/// `part_id=<part>/<txn>-<uuid>-<sha256 of its bytes>.parquet`. The txn
/// first keeps name order in txn order; the uuid keeps two writers' files
/// apart even when their bytes are equal (two merges of the same files);
/// the checksum lets every reader verify the file before decoding it.
pub(crate) fn data_file_name(txn: i64, part: &NodeId, bytes: &[u8]) -> String {
    format!(
        "{PARTITION_COLUMN}={part}/{txn:020}-{}-{}.parquet",
        uuid::Uuid::new_v4().simple(),
        hex::encode(Sha256::digest(bytes))
    )
}

/// The sha256 a data file's name carries (`<txn>-<uuid>-<sha256>.parquet`);
/// `None` for names from before checksummed names.
pub(crate) fn data_file_sha256(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".parquet")
        .and_then(|stem| stem.splitn(3, '-').nth(2))
}

/// Checks an oplog data file's bytes against the checksum in its name, so
/// that damage is an error naming the file, never a wrong value or a
/// decoder panic. Files written before names carried checksums (`<txn>-<uuid>.parquet`)
/// have nothing to check against.
pub(crate) fn verify_data_file(path: &str, bytes: &[u8]) -> Result<(), StorageError> {
    let Some(expected) = data_file_sha256(path) else {
        return Ok(());
    };
    let found = hex::encode(Sha256::digest(bytes));
    if found != expected {
        return Err(StorageError::CorruptOplog(format!(
            "oplog/{path} does not match the sha256 in its name (found {found}): the file was damaged after it was written; restore the pond from a backup"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_names_carry_their_checksum() {
        let bytes = b"some parquet bytes";
        let name = data_file_name(7, &NodeId::root(), bytes);
        assert!(name.starts_with(&format!("part_id={}/00000000000000000007-", NodeId::ROOT)));
        verify_data_file(&name, bytes).unwrap();
        let err = verify_data_file(&name, b"some parquet bytez").unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        // Files named before checksums: nothing to check.
        let legacy = format!(
            "part_id={}/00000000000000000007-{}.parquet",
            NodeId::ROOT,
            "a".repeat(32)
        );
        verify_data_file(&legacy, b"anything").unwrap();
    }

    #[test]
    fn time_statistics_are_bounds_at_millisecond_precision() {
        let times = |values: Vec<Option<i64>>| -> ArrayRef {
            Arc::new(
                datafusion::arrow::array::TimestampMicrosecondArray::from(values)
                    .with_timezone("UTC"),
            )
        };
        let schema = file_schema();
        let mut columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| datafusion::arrow::array::new_null_array(f.data_type(), 2))
            .collect();
        let at = |name: &str| schema.index_of(name).unwrap();
        columns[at("min_time")] = times(vec![Some(-1_500), Some(2_000)]);
        columns[at("max_time")] = times(vec![Some(1_500), None]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            columns,
        )
        .unwrap();
        let stats = file_stats(&batch).unwrap();
        assert_eq!(stats["minValues"]["min_time"], "1969-12-31T23:59:59.998Z");
        assert_eq!(stats["maxValues"]["min_time"], "1970-01-01T00:00:00.002Z");
        assert_eq!(stats["maxValues"]["max_time"], "1970-01-01T00:00:00.002Z");
        assert_eq!(stats["nullCount"]["max_time"], 1);
        assert_eq!(stats["nullCount"]["txn"], 2);
        assert!(
            stats["minValues"].get("txn").is_none(),
            "no bounds for an all-null column"
        );
    }
}
