//! `pond.system`: the tree, the oplog, the transactions and the counters
//! as tables, built from the session's view when a statement scans them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::common::internal_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use super::session_pond::{external, SessionPond};
use crate::storage::backup::{self, BackupRecord};
use crate::storage::node::ContentRef;
use crate::storage::oplog::{self, RowToWrite};
use crate::storage::{Metrics, NodeId, NodeVersion};
use crate::storage::{Resolved, View};

pub const SYSTEM_SCHEMA: &str = "system";
const TABLES: &[&str] = &[
    "entries",
    "oplog",
    "transactions",
    "metrics",
    "stored_queries",
    "backups",
];

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn naive_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

pub(crate) fn entries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("node_id", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("versions", DataType::Int64, false),
        Field::new("size", DataType::Int64, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("modified", utc_micros(), false),
        // Event time as the time column holds it: naive wall-clock time
        // for a TIMESTAMP column (never shifted), UTC for a zone-aware one.
        Field::new("min_time", naive_micros(), true),
        Field::new("max_time", naive_micros(), true),
        Field::new("time_column", DataType::Utf8, true),
    ]))
}

/// One row per node: size and rows sum the live versions of a table; the
/// time range spans them.
pub(crate) fn entries_batch(view: &View, nodes: &[Resolved]) -> Result<RecordBatch> {
    let mut path = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut node_id = StringBuilder::new();
    let mut version = Int64Builder::new();
    let mut versions = Int64Builder::new();
    let mut size = Int64Builder::new();
    let mut rows = Int64Builder::new();
    let mut modified = timestamps();
    let mut min_time = TimestampMicrosecondBuilder::new();
    let mut max_time = TimestampMicrosecondBuilder::new();
    let mut time_column = StringBuilder::new();
    for node in nodes {
        time_column.append_option(node.latest.attrs.time_column.as_deref());
        let latest = &node.latest;
        path.append_value(node.path.as_str());
        name.append_value(if node.path.is_root() {
            "/"
        } else {
            node.path.name()
        });
        kind.append_value(latest.kind.as_str());
        node_id.append_value(latest.node_id.as_str());
        version.append_value(latest.version);
        modified.append_value(latest.timestamp);
        if latest.kind.holds_rows() {
            let live = view.live_versions(&latest.node_id);
            versions.append_value(live.len() as i64);
            size.append_value(live.iter().map(|v| v.size).sum());
            rows.append_value(live.iter().map(|v| v.rows.unwrap_or(0)).sum());
            min_time.append_option(live.iter().filter_map(|v| v.min_time).min());
            max_time.append_option(live.iter().filter_map(|v| v.max_time).max());
        } else {
            versions.append_value(latest.version);
            size.append_value(latest.size);
            rows.append_null();
            min_time.append_null();
            max_time.append_null();
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(node_id.finish()),
        Arc::new(version.finish()),
        Arc::new(versions.finish()),
        Arc::new(size.finish()),
        Arc::new(rows.finish()),
        Arc::new(modified.finish()),
        Arc::new(min_time.finish()),
        Arc::new(max_time.finish()),
        Arc::new(time_column.finish()),
    ];
    Ok(RecordBatch::try_new(entries_schema(), columns)?)
}

/// Oplog rows as stored (see `storage::oplog`), with `part_id` first and the
/// content bytes replaced by `inline` (`size` and `blob` say where they are);
/// `statements` gives each txn's SQL text, which the index does not keep.
pub(crate) fn versions_batch(
    versions: &[Arc<NodeVersion>],
    statements: &HashMap<i64, Arc<str>>,
) -> Result<RecordBatch> {
    let with_sql: Vec<NodeVersion> = versions
        .iter()
        .map(|v| {
            let mut v = v.as_ref().clone();
            if v.sql.is_none() {
                v.sql = statements.get(&v.txn).cloned();
            }
            v
        })
        .collect();
    let rows: Vec<RowToWrite<'_>> = with_sql
        .iter()
        .map(|v| RowToWrite {
            version: v,
            inline: None,
        })
        .collect();
    let stored = oplog::encode(&rows).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let part_id: StringArray = versions.iter().map(|v| Some(v.part_id.as_str())).collect();
    let inline: BooleanArray = versions
        .iter()
        .map(|v| {
            Some(matches!(
                v.content,
                ContentRef::Inline { .. } | ContentRef::Staged
            ))
        })
        .collect();
    let mut fields = vec![Field::new("part_id", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(part_id)];
    for (field, column) in stored.schema().fields().iter().zip(stored.columns()) {
        if field.name() == "content" {
            fields.push(Field::new("inline", DataType::Boolean, false));
            columns.push(Arc::new(inline.clone()));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `pond.system.metrics`: read counters since this process opened the pond.
fn metrics_batch(metrics: &Metrics) -> Result<RecordBatch> {
    let counters = metrics.snapshot();
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Int64, false),
        Field::new("description", DataType::Utf8, false),
    ]));
    let names: StringArray = counters.iter().map(|c| Some(c.0)).collect();
    let values: Int64Array = counters.iter().map(|c| Some(c.1 as i64)).collect();
    let descriptions: StringArray = counters.iter().map(|c| Some(c.2)).collect();
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(names), Arc::new(values), Arc::new(descriptions)],
    )?)
}

fn transactions_batch(view: &View, statements: &HashMap<i64, Arc<str>>) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("txn", DataType::Int64, false),
        Field::new("timestamp", utc_micros(), false),
        Field::new("sql", DataType::Utf8, false),
        Field::new("nodes", DataType::Int64, false),
        Field::new("rows_added", DataType::Int64, false),
    ]));
    let mut txn = Int64Builder::new();
    let mut timestamp = timestamps();
    let mut sql = StringBuilder::new();
    let mut nodes = Int64Builder::new();
    let mut rows_added = Int64Builder::new();
    for t in view.transactions() {
        txn.append_value(t.txn);
        timestamp.append_value(t.timestamp);
        let Some(text) = statements.get(&t.txn) else {
            return internal_err!("no SQL text of txn {} in the oplog's live files", t.txn);
        };
        sql.append_value(text.as_ref());
        nodes.append_value(t.nodes);
        rows_added.append_value(t.rows_added);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(txn.finish()),
        Arc::new(timestamp.finish()),
        Arc::new(sql.finish()),
        Arc::new(nodes.finish()),
        Arc::new(rows_added.finish()),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `pond.system.backups`: one row per completed BACKUP of this pond.
fn backups_batch(records: &[BackupRecord]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("target", DataType::Utf8, false),
        Field::new("txn", DataType::Int64, false),
        Field::new("started", utc_micros(), false),
        Field::new("finished", utc_micros(), false),
        Field::new("objects_sent", DataType::Int64, false),
        Field::new("bytes_sent", DataType::Int64, false),
        Field::new("objects_present", DataType::Int64, false),
        Field::new("verified", DataType::Boolean, false),
    ]));
    let millis = |f: fn(&BackupRecord) -> i64| {
        let mut b = timestamps();
        for r in records {
            b.append_value(f(r).saturating_mul(1000));
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let ints = |f: fn(&BackupRecord) -> u64| {
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| f(r) as i64),
        )) as ArrayRef
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.target.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.txn))),
        millis(|r| r.started),
        millis(|r| r.finished),
        ints(|r| r.objects),
        ints(|r| r.bytes),
        ints(|r| r.skipped),
        Arc::new(BooleanArray::from_iter(
            records.iter().map(|r| Some(r.verified)),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `pond.system.stored_queries`: one row per materialized view.
fn stored_queries_batch(view: &View) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("sources", DataType::Utf8, false),
        Field::new("last_refresh_txn", DataType::Int64, false),
        Field::new("consumed", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("not_aggregated", DataType::Utf8, false),
    ]));
    let mut path = StringBuilder::new();
    let mut sql = StringBuilder::new();
    let mut mode = StringBuilder::new();
    let mut sources = StringBuilder::new();
    let mut last_refresh = Int64Builder::new();
    let mut consumed = StringBuilder::new();
    let mut rows = Int64Builder::new();
    let mut not_aggregated = StringBuilder::new();
    let Some(root) = view.resolve(&crate::storage::PondPath::root()) else {
        return Err(DataFusionError::Internal("the pond has no root".into()));
    };
    for node in view.walk(&root) {
        let Some(state) = node.latest.attrs.stored_query.as_ref() else {
            continue;
        };
        path.append_value(node.path.as_str());
        sql.append_value(node.latest.attrs.query.as_deref().unwrap_or(""));
        mode.append_value(state.mode.as_str());
        // A refresh writes a version; OPTIMIZE's compacted chunks are not refreshes.
        last_refresh.append_value(
            view.data_version(node.id())
                .map_or(node.latest.txn, |v| v.txn),
        );
        match &state.host_pattern {
            Some(pattern) => {
                sources.append_value(pattern);
                let files: usize = view
                    .versions_since_base(node.id())
                    .iter()
                    .map(|v| v.attrs.ingested.as_ref().map_or(0, |f| f.len()))
                    .sum();
                consumed.append_value(format!("{files} file(s)"));
            }
            None => {
                let mut marks: Vec<_> = state.sources.iter().collect();
                marks.sort_by(|a, b| a.path.cmp(&b.path));
                let paths: Vec<&str> = marks.iter().map(|m| m.path.as_str()).collect();
                sources.append_value(paths.join(", "));
                let versions: Vec<String> = marks
                    .iter()
                    .map(|m| format!("{}@{}", m.path, m.version))
                    .collect();
                consumed.append_value(versions.join(", "));
            }
        }
        rows.append_value(
            view.live_versions(node.id())
                .iter()
                .map(|v| v.rows.unwrap_or(0))
                .sum(),
        );
        not_aggregated.append_value(state.not_aggregated.join(", "));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(sql.finish()),
        Arc::new(mode.finish()),
        Arc::new(sources.finish()),
        Arc::new(last_refresh.finish()),
        Arc::new(consumed.finish()),
        Arc::new(rows.finish()),
        Arc::new(not_aggregated.finish()),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

pub(crate) fn mem_table(batch: RecordBatch) -> Result<Arc<dyn TableProvider>> {
    Ok(Arc::new(MemTable::try_new(
        batch.schema(),
        vec![vec![batch]],
    )?))
}

/// The rows of system table `name` as `view` sees the pond; `statements`
/// is every txn's SQL text (`Pond::statements`) for `oplog` and `transactions`.
fn system_batch(
    pond: &SessionPond,
    name: &str,
    view: &View,
    statements: &HashMap<i64, Arc<str>>,
) -> Result<RecordBatch> {
    match name {
        "entries" => {
            let mut nodes = Vec::new();
            if let Some(root) = view.resolve(&crate::storage::PondPath::root()) {
                nodes.push(root.clone());
                nodes.extend(view.walk(&root));
            }
            entries_batch(view, &nodes)
        }
        "oplog" => versions_batch(&view.all_versions(), statements),
        "transactions" => transactions_batch(view, statements),
        "metrics" => metrics_batch(pond.pond().metrics()),
        "stored_queries" => stored_queries_batch(view),
        // Listed from the store when scanned (`execute`); here its schema.
        "backups" => backups_batch(&[]),
        other => internal_err!("no system table {other}"),
    }
}

/// `versions` (of `view`) as [`versions_batch`] has them, read when scanned:
/// their SQL text is read from the oplog then.
pub(crate) fn versions_table(
    pond: Arc<SessionPond>,
    view: View,
    versions: Vec<Arc<NodeVersion>>,
) -> Result<Arc<dyn TableProvider>> {
    let schema = versions_batch(&[], &HashMap::new())?.schema();
    let rows = VersionRows {
        pond,
        view,
        versions,
        schema: schema.clone(),
    };
    Ok(Arc::new(StreamingTable::try_new(
        schema,
        vec![Arc::new(rows)],
    )?))
}

struct VersionRows {
    pond: Arc<SessionPond>,
    view: View,
    versions: Vec<Arc<NodeVersion>>,
    schema: SchemaRef,
}

impl std::fmt::Debug for VersionRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VersionRows({} versions)", self.versions.len())
    }
}

impl PartitionStream for VersionRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (pond, view, versions) = (self.pond.clone(), self.view.clone(), self.versions.clone());
        let batch = async move {
            // Only the partitions holding these versions: one node's history
            // does not read every directory's oplog.
            let parts: HashSet<NodeId> = versions.iter().map(|v| v.part_id.clone()).collect();
            let statements = pond
                .pond()
                .statements(&view, Some(&parts))
                .await
                .map_err(external)?;
            versions_batch(&versions, &statements)
        };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(batch),
        ))
    }
}

/// A system table's rows in a pond that holds only its root (for the schema).
fn empty_batch(pond: &SessionPond, name: &str) -> Result<RecordBatch> {
    let view = View::of_empty_pond();
    // Its one version, `pondsql init`'s, carries its SQL text in memory.
    let statements = view
        .all_versions()
        .iter()
        .filter_map(|v| Some((v.txn, v.sql.clone()?)))
        .collect();
    system_batch(pond, name, &view, &statements)
}

/// One system table's rows, built from the session's view when executed.
#[derive(Debug)]
struct SystemTable {
    pond: Arc<SessionPond>,
    name: &'static str,
    schema: SchemaRef,
}

impl PartitionStream for SystemTable {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (pond, name) = (self.pond.clone(), self.name);
        let batch = async move {
            if name == "backups" {
                let records = backup::records(pond.pond()).await.map_err(external)?;
                return backups_batch(&records);
            }
            let view = pond.view();
            let statements = match name {
                "oplog" | "transactions" => pond
                    .pond()
                    .statements(&view, None)
                    .await
                    .map_err(external)?,
                _ => HashMap::new(),
            };
            system_batch(&pond, name, &view, &statements)
        };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(batch),
        ))
    }
}

/// The `pond.system` schema.
#[derive(Debug)]
pub(crate) struct SystemSchema {
    pond: Arc<SessionPond>,
}

impl SystemSchema {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        SystemSchema { pond }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    /// A table that builds its rows when scanned: naming it (`\d`,
    /// information_schema.columns) encodes nothing.
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(name) = TABLES.iter().find(|t| **t == name).copied() else {
            return Ok(None);
        };
        let table = SystemTable {
            pond: self.pond.clone(),
            name,
            schema: empty_batch(&self.pond, name)?.schema(),
        };
        let schema = table.schema.clone();
        Ok(Some(Arc::new(StreamingTable::try_new(
            schema,
            vec![Arc::new(table)],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}
