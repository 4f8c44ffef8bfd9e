//! Ingestion: a materialized view over host files
//! (`CREATE MATERIALIZED VIEW "/raw/s1" AS SELECT * FROM 'incoming/s1-*.csv'`).
//!
//! It is append-only. Each refresh lists the files that match, appends the
//! rows of those it has not seen in one new version, and records each
//! file's path, size, modification time and sha256 in that version. A file
//! seen before whose bytes changed is an error (its rows are already in the
//! pond); `REFRESH … FULL` rebuilds the view from the files as they are now.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::Path as FsPath;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::{exec_datafusion_err, plan_datafusion_err, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::ident;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions};
use datafusion::sql::sqlparser::ast;
use futures::{FutureExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::exact_cast::exact_cast;
use crate::catalog::host_files::{check_csv_file, damaged};
use crate::catalog::session_pond::SessionPond;
use crate::catalog::table::{stored_columns, write_content};
use crate::storage::content::time_column;
use crate::storage::node::{IngestedFile, RefreshMode, StoredQuery};
use crate::storage::{PondPath, Resolved, ViewOutput};

/// The host file pattern of a query that is exactly `SELECT * FROM 'pattern'`.
pub(super) fn host_pattern(query: &ast::Query) -> Option<String> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let plain = query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.with.is_none()
        && select.selection.is_none()
        && select.having.is_none()
        && select.distinct.is_none()
        && matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty())
        && matches!(select.projection.as_slice(), [ast::SelectItem::Wildcard(_)]);
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !plain || !from.joins.is_empty() {
        return None;
    }
    let ast::TableFactor::Table {
        name, args: None, ..
    } = &from.relation
    else {
        return None;
    };
    match name.0.as_slice() {
        [ast::ObjectNamePart::Identifier(ident)] if ident.quote_style == Some('\'') => {
            Some(ident.value.clone())
        }
        _ => None,
    }
}

/// A host file that matches the pattern now.
struct HostFile {
    path: String,
    size: u64,
    modified: i64,
}

/// The files matching `pattern` (absolute), sorted by path. Listed from
/// the store each time (the session's listing cache would hide new files).
async fn list(ctx: &SessionContext, pattern: &str) -> Result<Vec<HostFile>> {
    let url = ListingTableUrl::parse(pattern)?;
    let store = ctx.state().runtime_env().object_store(&url)?;
    let found: Vec<ObjectMeta> = if url.get_glob().is_some() {
        store
            .list(Some(url.prefix()))
            .try_filter(|meta| futures::future::ready(url.contains(&meta.location, false)))
            .try_collect()
            .await
            .or_else(not_found_is_empty)?
    } else {
        match store.head(url.prefix()).await {
            Ok(meta) => vec![meta],
            Err(err) => not_found_is_empty(err)?,
        }
    };
    let mut files: Vec<HostFile> = found
        .into_iter()
        .map(|meta| HostFile {
            path: format!("/{}", meta.location),
            size: meta.size,
            modified: meta.last_modified.timestamp_micros(),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A drop folder or file that does not exist (yet) has no files.
fn not_found_is_empty(err: object_store::Error) -> Result<Vec<ObjectMeta>> {
    match err {
        object_store::Error::NotFound { .. } => Ok(Vec::new()),
        other => Err(DataFusionError::ObjectStore(Box::new(other))),
    }
}

/// The pattern as an absolute path (relative ones are taken from the
/// current directory when the view is created, so cron can run anywhere).
fn absolute(pattern: &str) -> Result<String> {
    if FsPath::new(pattern).is_absolute() {
        return Ok(pattern.to_string());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| plan_datafusion_err!("cannot resolve '{pattern}': {e}"))?;
    Ok(format!("{}/{pattern}", cwd.display()))
}

/// Reads one host file with the view's columns, by its extension.
async fn read(ctx: &SessionContext, file: &str, schema: Option<&Schema>) -> Result<DataFrame> {
    let extension = FsPath::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let dotted = format!(".{extension}");
    let frame = match extension.as_str() {
        "parquet" => {
            // The parquet crate panics on some damaged footers: an error here.
            let reading =
                ctx.read_parquet(file, ParquetReadOptions::default().file_extension(&dotted));
            match AssertUnwindSafe(reading).catch_unwind().await {
                Ok(frame) => frame?,
                Err(_) => return Err(damaged(file)),
            }
        }
        "json" | "ndjson" | "jsonl" => {
            let mut options = JsonReadOptions::default().file_extension(&dotted);
            if let Some(schema) = schema {
                options = options.schema(schema);
            }
            ctx.read_json(file, options).await?
        }
        _ => {
            check_csv_file(file).await?;
            // Timestamps are read as text and cast exactly below: the CSV
            // reader would cut a finer part to the column's unit silently.
            let as_text = schema.map(timestamps_as_text);
            let mut options = CsvReadOptions::new().file_extension(&dotted);
            if let Some(schema) = &as_text {
                options = options.schema(schema);
            }
            ctx.read_csv(file, options).await?
        }
    };
    let Some(schema) = schema else {
        return Ok(frame);
    };
    // Parquet brings its own types: take the view's columns by name.
    let have = frame.schema().as_arrow().clone();
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            if have.field_with_name(f.name()).is_err() {
                return plan_err!(
                    "{file} has no column '{}' (the view's columns come from the files it was created from)",
                    f.name()
                );
            }
            let table = format!("reading {file}");
            Ok(exact_cast(ident(f.name()), f.data_type(), false, &table, f.name(), frame.schema())?.alias(f.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    frame.select(columns)
}

fn timestamps_as_text(schema: &Schema) -> Schema {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(..) => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8)),
            _ => f.clone(),
        })
        .collect();
    Schema::new(fields)
}

fn sha256_of(path: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| exec_datafusion_err!("reading {path}: {e}"))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Reads `files` into one content of `schema`, recording each file.
async fn ingest(
    ctx: &SessionContext,
    pond: &SessionPond,
    schema: &SchemaRef,
    files: &[HostFile],
) -> Result<(Option<crate::storage::Content>, Vec<IngestedFile>)> {
    let mut frames: Option<DataFrame> = None;
    let mut ingested = Vec::with_capacity(files.len());
    for file in files {
        let frame = read(ctx, &file.path, Some(schema)).await?;
        frames = Some(match frames {
            None => frame,
            Some(all) => all.union(frame)?,
        });
        ingested.push(IngestedFile {
            path: file.path.clone(),
            size: file.size,
            modified: file.modified,
            sha256: sha256_of(&file.path)?,
        });
    }
    let Some(frame) = frames else {
        return Ok((None, ingested));
    };
    let stream = frame
        .execute_stream()
        .await
        .map_err(|e| reading(files, e))?;
    let content = write_content(pond, schema.clone(), time_column(schema).as_deref(), stream)
        .await
        .map_err(|e| reading(files, e))?;
    Ok((content, ingested))
}

fn reading(files: &[HostFile], err: DataFusionError) -> DataFusionError {
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    exec_datafusion_err!(
        "reading {}: {}",
        names.join(", "),
        super::error::user_message(&err)
    )
}

/// CREATE: learns the columns from every matching file and ingests them.
pub(super) async fn first_refresh(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: &PondPath,
    pattern: &str,
) -> Result<(SchemaRef, ViewOutput)> {
    let pattern = absolute(pattern)?;
    let files = list(ctx, &pattern).await?;
    let Some(first) = files.first() else {
        return plan_err!(
            "materialized view {path}: no host file matches '{pattern}': it needs one to learn the columns; create it when the first file has arrived"
        );
    };
    let inferred = read(ctx, &first.path, None).await?;
    let schema = stored_columns(inferred.schema().as_arrow());
    let (content, ingested) = ingest(ctx, pond, &schema, &files).await?;
    let state = Arc::new(StoredQuery {
        mode: RefreshMode::Ingest,
        sources: Vec::new(),
        host_pattern: Some(pattern),
    });
    Ok((
        schema,
        ViewOutput {
            content,
            replace: true,
            state,
            ingested,
        },
    ))
}

/// REFRESH: appends the files not seen before; `full` rebuilds from every file.
pub(super) async fn refresh(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    node: &Resolved,
    state: &Arc<StoredQuery>,
    schema: &SchemaRef,
    full: bool,
) -> Result<Option<ViewOutput>> {
    let pattern = state.host_pattern.clone().unwrap_or_default();
    let files = list(ctx, &pattern).await?;
    let path = &node.path;
    if full {
        let (content, ingested) = ingest(ctx, pond, schema, &files).await?;
        return Ok(Some(ViewOutput {
            content,
            replace: true,
            state: state.clone(),
            ingested,
        }));
    }
    // What the live versions ingested (compacted ones included: their rows live on).
    let versions = pond.view().versions_since_base(node.id());
    let mut seen: HashMap<&str, (&IngestedFile, i64)> = HashMap::new();
    for version in &versions {
        for file in version.attrs.ingested.iter().flatten() {
            seen.insert(file.path.as_str(), (file, version.txn));
        }
    }
    let mut new = Vec::new();
    for file in files {
        match seen.get(file.path.as_str()) {
            None => new.push(file),
            Some((old, _)) if old.size == file.size && old.modified == file.modified => {}
            Some((old, txn)) => {
                let changed = old.size != file.size || sha256_of(&file.path)? != old.sha256;
                if changed {
                    return plan_err!(
                        "REFRESH MATERIALIZED VIEW {path}: {} changed since it was ingested at txn {txn} ({} → {} bytes); its earlier rows are kept: to take the file as it is now, rebuild the view with REFRESH MATERIALIZED VIEW \"{path}\" FULL",
                        file.path, old.size, file.size
                    );
                }
            }
        }
    }
    if new.is_empty() {
        return Ok(None);
    }
    let (content, ingested) = ingest(ctx, pond, schema, &new).await?;
    Ok(Some(ViewOutput {
        content,
        replace: false,
        state: state.clone(),
        ingested,
    }))
}
