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

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{exec_datafusion_err, plan_datafusion_err, plan_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::ident;
use datafusion::prelude::{JsonReadOptions, ParquetReadOptions};
use datafusion::sql::sqlparser::ast;
use futures::{FutureExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::catalog::compressed;
use crate::catalog::contents::write_content;
use crate::catalog::host_files::damaged;
use crate::catalog::host_read::{self, FileFormat, ReadOptions};
use crate::catalog::refresh_strategy::{only_relation, RefreshStrategy, ViewJob};
use crate::catalog::session_pond::SessionPond;
use crate::catalog::table::stored_columns;
use crate::storage::content::time_column;
use crate::storage::node::{IngestedFile, RefreshMode, StoredQuery};
use crate::storage::{Placement, PondPath, Resolved, ViewOutput};
use crate::values::constants::fold;
use crate::values::exact_cast::exact_cast;

/// What an ingesting view reads: its host file pattern, and how to read
/// the files (`read_csv('…', {options})`; by extension for `'pattern'`).
pub(super) struct HostSource {
    pub(super) pattern: String,
    function: Option<(FileFormat, Option<ast::Expr>)>,
}

/// The host source of a query that is exactly `SELECT * FROM 'pattern'` or
/// `SELECT * FROM read_csv('pattern' [, {options}])` (or read_json, read_parquet).
pub(super) fn host_source(query: &ast::Query) -> Option<HostSource> {
    let ast::TableFactor::Table { name, args, .. } = only_relation(query)? else {
        return None;
    };
    let [ast::ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
        return None;
    };
    let Some(args) = args else {
        return (ident.quote_style == Some('\'')).then(|| HostSource {
            pattern: ident.value.clone(),
            function: None,
        });
    };
    let format = [FileFormat::Csv, FileFormat::Json, FileFormat::Parquet]
        .into_iter()
        .find(|f| ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case(f.function()))?;
    let unnamed = |arg: &ast::FunctionArg| match arg {
        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
        _ => None,
    };
    let (pattern, options) = match args.args.as_slice() {
        [path] => (unnamed(path)?, None),
        [path, options] => (unnamed(path)?, Some(unnamed(options)?)),
        _ => return None,
    };
    let ast::Expr::Value(value) = pattern else {
        return None;
    };
    let ast::Value::SingleQuotedString(pattern) = value.value else {
        return None;
    };
    Some(HostSource {
        pattern,
        function: Some((format, options)),
    })
}

/// How each file of `source` is read: its format (None: by extension) and options.
async fn read_options(
    ctx: &SessionContext,
    source: &HostSource,
) -> Result<(Option<FileFormat>, ReadOptions)> {
    let Some((format, options)) = &source.function else {
        return Ok((None, ReadOptions::default()));
    };
    let Some(options) = options else {
        return Ok((Some(*format), ReadOptions::default()));
    };
    let what = format!("{}() options", format.function());
    let [value] =
        <[ScalarValue; 1]>::try_from(fold(&ctx.state(), std::slice::from_ref(options), &what)?)
            .map_err(|_| plan_datafusion_err!("{what} are one value in braces"))?;
    Ok((Some(*format), ReadOptions::from_struct(*format, &value)?))
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

/// Reads one host file with the view's columns, as `how` says (by its
/// extension when no read_* function names the format).
async fn read(
    ctx: &SessionContext,
    file: &str,
    how: &(Option<FileFormat>, ReadOptions),
    schema: Option<&Schema>,
) -> Result<DataFrame> {
    // The format is named before any compression extension (`a.json.gz`).
    let named = compressed::without_compression(file);
    let extension = FsPath::new(named)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    // The readers list files by their whole ending, compression included.
    let dotted = file[named.len() - extension.len() - 1..].to_string();
    let (format, options) = how;
    let format = format.unwrap_or(match extension.as_str() {
        "parquet" => FileFormat::Parquet,
        "json" | "ndjson" | "jsonl" => FileFormat::Json,
        _ => FileFormat::Csv,
    });
    let frame = match format {
        _ if options != &ReadOptions::default() || format == FileFormat::Csv => {
            let state = ctx.state();
            ctx.read_table(host_read::open(&state, file, format, options).await?)?
        }
        FileFormat::Parquet => {
            // The parquet crate panics on some damaged footers: an error here.
            let reading =
                ctx.read_parquet(file, ParquetReadOptions::default().file_extension(&dotted));
            match AssertUnwindSafe(reading).catch_unwind().await {
                Ok(frame) => frame?,
                Err(_) => return Err(damaged(file)),
            }
        }
        FileFormat::Json => {
            let mut options = JsonReadOptions::default()
                .file_extension(&dotted)
                .file_compression_type(compressed::compression_of(file));
            if let Some(schema) = schema {
                options = options.schema(schema);
            }
            ctx.read_json(file, options).await?
        }
        FileFormat::Csv => unreachable!("read through host_read above"),
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

fn sha256_of(path: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| exec_datafusion_err!("reading {path}: {e}"))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Reads `files` into one content of `schema`, recording each file.
async fn ingest(
    ctx: &SessionContext,
    pond: &SessionPond,
    how: &(Option<FileFormat>, ReadOptions),
    schema: &SchemaRef,
    files: &[HostFile],
) -> Result<(Option<crate::storage::Content>, Vec<IngestedFile>)> {
    let mut frames: Option<DataFrame> = None;
    let mut ingested = Vec::with_capacity(files.len());
    for file in files {
        let frame = read(ctx, &file.path, how, Some(schema)).await?;
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
        crate::error::user_message(&err)
    )
}

/// CREATE: learns the columns from every matching file and ingests them.
/// Ingesting views, as a refresh strategy.
#[derive(Debug)]
pub(super) struct HostIngest;

#[async_trait]
impl RefreshStrategy for HostIngest {
    fn handles(&self, mode: RefreshMode) -> bool {
        mode == RefreshMode::Ingest
    }

    fn claims(&self, query: &ast::Query) -> bool {
        host_source(query).is_some()
    }

    async fn create(&self, job: &ViewJob<'_>) -> Result<(SchemaRef, ViewOutput)> {
        let source = host_source(job.query).ok_or_else(|| {
            DataFusionError::Internal(format!("{}: not an ingesting query", job.path))
        })?;
        first_refresh(job.ctx, job.pond, job.path, &source).await
    }

    async fn refresh(
        &self,
        job: &ViewJob<'_>,
        node: &Resolved,
        full: bool,
    ) -> Result<Option<ViewOutput>> {
        refresh(job, node, full).await
    }
}

/// CREATE: ingests every file that matches now; the first file's columns
/// are the view's.
async fn first_refresh(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: &PondPath,
    source: &HostSource,
) -> Result<(SchemaRef, ViewOutput)> {
    let how = read_options(ctx, source).await?;
    let pattern = absolute(&source.pattern)?;
    let files = list(ctx, &pattern).await?;
    let Some(first) = files.first() else {
        return plan_err!(
            "materialized view {path}: no host file matches '{pattern}': it needs one to learn the columns; create it when the first file has arrived"
        );
    };
    let inferred = read(ctx, &first.path, &how, None).await?;
    let schema = stored_columns(inferred.schema().as_arrow());
    let (content, ingested) = ingest(ctx, pond, &how, &schema, &files).await?;
    let state = Arc::new(StoredQuery {
        mode: RefreshMode::Ingest,
        sources: Vec::new(),
        host_pattern: Some(pattern),
        not_aggregated: Vec::new(),
    });
    Ok((
        schema,
        ViewOutput {
            content,
            placement: Placement::Replace,
            state,
            ingested,
            schema: None,
        },
    ))
}

/// REFRESH: appends the files not seen before; `full` rebuilds from every file.
async fn refresh(job: &ViewJob<'_>, node: &Resolved, full: bool) -> Result<Option<ViewOutput>> {
    let (ctx, pond, path) = (job.ctx, job.pond, job.path);
    let attrs = &node.latest.attrs;
    let (Some(state), Some(schema)) = (&attrs.stored_query, &attrs.schema) else {
        return Err(DataFusionError::Internal(format!(
            "{path} has no stored query"
        )));
    };
    let pattern = state.host_pattern.clone().unwrap_or_default();
    let files = list(ctx, &pattern).await?;
    // How to read the files is in the view's query (its read_* options).
    let how = match host_source(job.query) {
        Some(source) => read_options(ctx, &source).await?,
        None => (None, ReadOptions::default()),
    };
    if full {
        let (content, ingested) = ingest(ctx, pond, &how, schema, &files).await?;
        return Ok(Some(ViewOutput {
            content,
            placement: Placement::Replace,
            state: state.clone(),
            ingested,
            schema: None,
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
    let (content, ingested) = ingest(ctx, pond, &how, schema, &new).await?;
    Ok(Some(ViewOutput {
        content,
        placement: Placement::Append,
        state: state.clone(),
        ingested,
        schema: None,
    }))
}
