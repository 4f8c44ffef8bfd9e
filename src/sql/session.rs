//! [`PondSession`]: a DataFusion `SessionContext` with the pond registered,
//! and the statement loop that makes each statement one pond transaction.
//!
//! This module only dispatches: each statement is parsed, its numbers and
//! names checked (literals.rs, references.rs), and handed to the room that
//! carries it out: pond statements (parser.rs, maintenance.rs, refresh.rs),
//! DDL after DataFusion planned or parsed it (ddl.rs), INSERT (insert.rs),
//! BEGIN/COMMIT and `SET pond.as_of` (the session's [`SessionPond`]), and
//! queries to DataFusion.

use std::future::Future;
use std::path::Path as FsPath;
use std::sync::Arc;

use crate::storage::event_time::UTC;
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::DynamicFileCatalog;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{exec_err, plan_datafusion_err, plan_err};
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::error::Result;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, DmlStatement, LogicalPlan, WriteOp};
use datafusion::sql::parser::{ResetStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{self, Expr as SqlExpr, ObjectName, Set, Value};
use futures::StreamExt;

use super::bulk_ingest::{self, IngestMode};
use super::copy_chart;
use super::copy_target::check_copy_target;
use super::ddl;
use super::ingest::HostIngest;
use super::insert;
use super::literals;
use super::maintenance;
use super::names::{object_name_path, table_path};
use super::params;
use super::parser::{Parsed, PondStatement, Statement};
use super::references;
use super::refresh;
use super::refresh::Planned;
use super::script::ScriptStatement;
use super::time_literals::TimeLiterals;
use super::{export, update, upsert};
use crate::catalog::fetched::FetchedTable;
use crate::catalog::host_access::HostAccess;
use crate::catalog::host_files::HostFileTables;
use crate::catalog::host_read::FileFormat;
use crate::catalog::lineage::Lineages;
use crate::catalog::open_first::{self, plan_statement};
use crate::catalog::refresh_strategy::RefreshStrategies;
use crate::catalog::scan::CONTENT_STORE_URL;
use crate::catalog::source_access::SourceAccess;
use crate::catalog::table::PondTable;
use crate::catalog::view::StoredView;
use crate::catalog::{PondCatalog, SessionPond, CATALOG, ROOT_SCHEMA};
use crate::progress::Progress;
use crate::storage::{Change, Kind, Pond, PondPath, StorageError};
use crate::udf::downsample::DownsampleTable;
use crate::udf::float_min_max;
use crate::udf::gapfill::Gapfill;
use crate::udf::glob::GlobTable;
use crate::udf::named_args::NamedArguments;
use crate::udf::read_files::ReadFiles;
use crate::udf::{Downsample, Glob, History, Ls};
use datafusion::datasource::listing::ListingTable;

pub use super::output::{Described, Output, Reply, ScriptError, SessionOptions, Tree, TreeEntry};

pub struct PondSession {
    ctx: SessionContext,
    pond: Arc<SessionPond>,
}

impl std::fmt::Debug for PondSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PondSession({:?})", self.pond)
    }
}

impl PondSession {
    pub async fn open(path: impl AsRef<FsPath>) -> Result<Self, StorageError> {
        Ok(Self::new(
            Arc::new(Pond::open(path).await?),
            SessionOptions::default(),
        ))
    }

    pub fn new(pond: Arc<Pond>, options: SessionOptions) -> Self {
        let session_pond = Arc::new(SessionPond::new(pond.clone(), options.read_only));
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, ROOT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            // TIMESTAMP WITH TIME ZONE is an instant, kept in UTC (docs/sql.md,
            // "Time"); without a session zone DataFusion makes it naive.
            .set_str("datafusion.execution.time_zone", UTC)
            // COPY … TO Parquet writes standard Parquet types only: an
            // embedded Arrow schema would hand readers Utf8View (pyarrow
            // cannot sort it) where Parquet says string.
            .set_bool("datafusion.execution.parquet.skip_arrow_metadata", true)
            // Wrong results otherwise: DataFusion 55 remaps join dynamic
            // filters by column name through projections and aggregates
            // (apache/datafusion#25244, #25263, #25264); a join over a
            // downsample (as REFRESH does) lost rows.
            .set_bool(
                "datafusion.optimizer.enable_join_dynamic_filter_pushdown",
                false,
            );
        let config = RefreshStrategies::into_config(options.host_access.into_config(config));
        // The providers that report what they read (materialized views watch it).
        let config = Lineages::default()
            .with::<PondTable>()
            .with::<StoredView>()
            .with::<FetchedTable>()
            .with::<ListingTable>()
            .with::<GlobTable>()
            .with::<DownsampleTable>()
            .into_config(config);
        let config = SourceAccess {
            allowed: !options.no_api_sources,
        }
        .into_config(config);
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(pool) = options.memory_pool {
            runtime = runtime.with_memory_pool(pool);
        }
        let runtime = runtime
            .build_arc()
            .expect("the default runtime always builds");
        let content_url = url::Url::parse(CONTENT_STORE_URL).expect("constant URL parses");
        runtime.register_object_store(&content_url, pond.content_store().clone());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_relation_planners(vec![Arc::new(NamedArguments)])
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_catalog(CATALOG, Arc::new(PondCatalog::new(session_pond.clone())));
        ctx.add_analyzer_rule(Arc::new(TimeLiterals));
        RefreshStrategies::register(&ctx, Arc::new(HostIngest));
        crate::sources::register(&ctx); // why: the session is where the API sources are plugged in
                                        // Last: it claims any query the others do not.
        RefreshStrategies::register(&ctx, Arc::new(Planned));
        // Grouped float min/max in the same order as ungrouped ones (NaN on top).
        ctx.register_udaf(Arc::unwrap_or_clone(float_min_max::min_udaf_total()));
        ctx.register_udaf(Arc::unwrap_or_clone(float_min_max::max_udaf_total()));
        ctx.register_udtf("ls", Arc::new(Ls::new(session_pond.clone())));
        ctx.register_udtf("history", Arc::new(History::new(session_pond.clone())));
        ctx.register_udtf("glob", Arc::new(Glob::new(session_pond.clone())));
        ctx.register_udtf(
            "downsample",
            Arc::new(Downsample::new(session_pond.clone())),
        );
        open_first::register(&ctx, crate::udf::series::Series::new(session_pond.clone()));
        ctx.register_udtf("gapfill", Arc::new(Gapfill::new(session_pond.clone())));
        for format in [FileFormat::Csv, FileFormat::Json, FileFormat::Parquet] {
            open_first::register(&ctx, ReadFiles::new(format));
        }
        PondSession {
            ctx: with_host_file_tables(ctx),
            pond: session_pond,
        }
    }

    /// The DataFusion context beneath (for catalog browsing).
    pub(crate) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The session's view of the pond and its open statement and block.
    pub(crate) fn pond(&self) -> &Arc<SessionPond> {
        &self.pond
    }

    /// The storage beneath: for opening, vacuuming and inspecting, not for
    /// writing (writes are statements).
    pub fn storage(&self) -> &Arc<Pond> {
        self.pond.pond()
    }

    /// The tree this session's statements see (a live handle).
    pub fn tree(&self) -> Tree {
        Tree(self.pond.clone())
    }

    /// Outside a block, catches up with commits made by anyone since the
    /// session's last statement (what each statement does first).
    pub async fn catch_up(&self) -> Result<()> {
        self.pond.begin_statement().await
    }

    /// The running statement's work so far (rows, bytes, a transfer), for
    /// progress displays.
    pub fn progress(&self) -> Arc<Progress> {
        self.pond.progress().clone()
    }

    /// Changes an open `BEGIN` block holds (`None` outside a block).
    pub fn open_block_len(&self) -> Option<usize> {
        self.pond.open_block_len()
    }

    /// Runs every statement in `script`, stopping at the first error;
    /// returns the output of the last one.
    pub async fn sql(&self, script: &str) -> Result<Output> {
        let mut last = Output::empty();
        for statement in ScriptStatement::split(script)? {
            last = self.run(statement.parse()?).await?;
        }
        Ok(last)
    }

    /// What `statement` would return and which parameters it takes, without
    /// running it: the schema of a query's rows (empty for commands) and
    /// each parameter's type where the statement decides it.
    pub async fn describe(&self, statement: &Statement) -> Result<Described> {
        let count = params::count(statement);
        self.pond.begin_statement().await?;
        let planned = self.plan_only(&statement.parsed).await;
        self.pond.abort_statement()?;
        let (plan, is_query) = planned?;
        let dataset = match &plan {
            Some(plan) if is_query => Arc::new(plan.schema().as_arrow().clone()),
            _ => Arc::new(Schema::empty()),
        };
        let types = match &plan {
            Some(plan) => plan.get_parameter_types()?,
            None => Default::default(),
        };
        let parameters = (1..=count)
            .map(|n| types.get(&format!("${n}")).cloned().flatten())
            .collect();
        Ok(Described {
            dataset,
            parameters,
        })
    }

    /// The plan DataFusion makes of a statement, and whether it is a query.
    /// A query that cannot be planned is an error now; other statements are
    /// checked when they run (the pond plans many of them itself).
    async fn plan_only(&self, parsed: &Parsed) -> Result<(Option<LogicalPlan>, bool)> {
        let Parsed::DataFusion(statement) = parsed else {
            return Ok((None, false));
        };
        let is_query = matches!(
            statement,
            DFStatement::Statement(s) if matches!(s.as_ref(), ast::Statement::Query(_))
        ) || matches!(statement, DFStatement::Explain(_));
        match plan_statement(&self.ctx.state(), statement).await {
            Ok(plan) => Ok((Some(plan), is_query)),
            Err(err) if is_query => Err(err),
            Err(_) => Ok((None, false)),
        }
    }

    /// Bulk ingest: `rows` (a client's stream) into the table at `path`,
    /// as one statement: one commit, or part of an open block.
    pub async fn ingest(
        &self,
        path: &str,
        mode: IngestMode,
        rows: Arc<dyn TableProvider>,
    ) -> Result<Output> {
        let path = PondPath::parse(path).map_err(|e| plan_datafusion_err!("{e}"))?;
        self.pond.begin_statement().await?;
        let result = async {
            match bulk_ingest::plan(&self.ctx, &self.pond, path.clone(), mode, rows).await? {
                Some(insert) => self.execute_command_plan(insert).await,
                None => Ok(Output::empty()),
            }
        }
        .await;
        let what = format!("bulk ingest into {path} ({mode})"); // why: the log's description, not SQL
        self.end_statement(&what, result).await
    }

    /// `BACKUP TO target` (`pondsql backup`): copies what the backup lacks.
    pub async fn backup(&self, target: &str) -> Result<Output> {
        self.pond.begin_statement().await?;
        let result = self.run_backup(target).await;
        let what = format!("BACKUP TO {target}"); // why: the log's description, not SQL
        self.end_statement(&what, result).await
    }

    async fn run_backup(&self, target: &str) -> Result<Output> {
        if self.pond.in_block() {
            return plan_err!("BACKUP cannot run inside BEGIN … COMMIT: it copies committed transactions; COMMIT first");
        }
        self.pond.require_writable()?;
        if !crate::storage::location::is_url(target) {
            HostAccess::of(self.ctx.state().config()).check("BACKUP TO", target)?;
        }
        Ok(Output::of(
            maintenance::run_backup(&self.pond, target).await?,
        ))
    }

    /// `BEGIN`: the statements that follow are one commit, at [`PondSession::commit`].
    pub async fn begin(&self) -> Result<()> {
        self.pond.begin_statement().await?;
        self.pond.begin_block()
    }

    /// `COMMIT`: commits the open block; its txn, if it changed anything.
    pub async fn commit(&self) -> Result<Option<i64>> {
        // The log's description, as a COMMIT statement's:
        self.pond.commit_block("COMMIT").await // why: a description, not SQL
    }

    /// `ROLLBACK`: forgets the open block.
    pub fn rollback(&self) -> Result<()> {
        self.pond.rollback_block()
    }

    /// Whether a `BEGIN` block is open.
    pub fn in_block(&self) -> bool {
        self.pond.in_block()
    }

    /// Parses and runs one statement ([`PondSession::run`]).
    pub async fn execute(&self, sql: &str) -> Result<Output> {
        self.run(Statement::parse(sql)?).await
    }

    /// Runs one statement as one transaction (or as part of an open BEGIN block).
    pub async fn run(&self, statement: Statement) -> Result<Output> {
        self.run_until(statement, std::future::pending()).await
    }

    /// Like [`PondSession::run`], but gives up when `cancel` completes
    /// first (Ctrl-C). Cancelling stops the work and stages nothing; the
    /// commit itself, once started, is never cut short.
    pub async fn run_until(
        &self,
        statement: Statement,
        cancel: impl Future<Output = ()>,
    ) -> Result<Output> {
        self.pond.begin_statement().await?;
        let Statement { text, parsed } = statement;
        let work = async {
            match self.execute_parsed(&text, parsed).await? {
                Reply::Done(output) => Ok(output),
                Reply::Rows(stream) => self.collect(stream).await,
            }
        };
        let result = tokio::select! {
            result = work => result,
            _ = cancel => exec_err!("cancelled"),
        };
        self.end_statement(&text, result).await
    }

    /// Runs one statement as [`PondSession::run`] does, but hands a
    /// query's rows back as a stream (a server sends them on as they come).
    pub async fn run_streaming(&self, statement: Statement) -> Result<Reply> {
        self.pond.begin_statement().await?;
        let Statement { text, parsed } = statement;
        match self.execute_parsed(&text, parsed).await {
            Ok(Reply::Rows(stream)) => {
                // A query stages nothing: ending its statement now commits
                // nothing, and the session is free for the next one.
                self.end_statement(&text, Ok(Output::empty())).await?;
                Ok(Reply::Rows(stream))
            }
            Ok(Reply::Done(output)) => self.end_statement(&text, Ok(output)).await.map(Reply::Done),
            Err(err) => self.end_statement(&text, Err(err)).await.map(Reply::Done),
        }
    }

    /// Commits what a statement staged when it succeeded (outside a block),
    /// forgets it when it failed.
    async fn end_statement(&self, statement: &str, result: Result<Output>) -> Result<Output> {
        match result {
            Ok(mut output) => {
                output.txn = output.txn.or(self.pond.finish_statement(statement).await?);
                Ok(output)
            }
            Err(err) => {
                self.pond.abort_statement()?;
                Err(err)
            }
        }
    }

    async fn collect(&self, mut stream: SendableRecordBatchStream) -> Result<Output> {
        let schema = stream.schema();
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            self.pond
                .progress()
                .add(batch.num_rows(), batch.get_array_memory_size());
            batches.push(batch);
        }
        Ok(Output {
            schema,
            batches,
            txn: None,
            failure: None,
        })
    }

    async fn execute_parsed(&self, text: &str, parsed: Parsed) -> Result<Reply> {
        let mut statement = match parsed {
            Parsed::Pond(statement) => return self.execute_pond(statement).await,
            Parsed::DataFusion(statement) => statement,
        };
        if let DFStatement::CopyTo(copy) = &mut statement {
            export::format_option_as_stored_as(copy);
        }
        literals::check_numbers(&statement)?;
        match &statement {
            DFStatement::Statement(ast) => {
                if let Some(output) = self.pond_command(ast, text).await? {
                    return Ok(Reply::Done(output));
                }
            }
            DFStatement::CopyTo(copy) => {
                let access = HostAccess::of(self.ctx.state().config());
                check_copy_target(&copy.target, self.pond.pond().local_dir(), &access)?;
                if copy_chart::is_chart(copy) {
                    let batch = copy_chart::copy_to_chart(&self.ctx, copy).await?;
                    return Ok(Reply::Done(Output::of(batch)));
                }
                if export::is_delta(copy) {
                    let batch = export::copy_to_delta(&self.ctx, copy).await?;
                    return Ok(Reply::Done(Output::of(batch)));
                }
            }
            DFStatement::Reset(ResetStatement::Variable(name)) if is_as_of(name) => {
                self.pond.set_as_of(None)?;
                return Ok(Reply::Done(Output::empty()));
            }
            _ => {}
        }
        let state = self.ctx.state();
        let host_files = references::check(&state, &self.pond.view(), &statement).await?;
        let plan = plan_statement(&state, &statement)
            .await
            .map_err(|e| references::name_host_files(e, &host_files))?;
        self.execute_plan(plan)
            .await
            .map_err(|e| references::name_host_files(e, &host_files))
    }

    /// Runs a statement only the pond knows.
    async fn execute_pond(&self, statement: PondStatement) -> Result<Reply> {
        let output = match statement {
            PondStatement::Optimize { path } => {
                Output::of(maintenance::optimize(&self.ctx, &self.pond, path).await?)
            }
            PondStatement::Vacuum {
                retain_hours,
                dry_run,
            } => {
                if self.pond.in_block() {
                    return plan_err!("VACUUM cannot run inside BEGIN … COMMIT: it deletes files, which no ROLLBACK could bring back");
                }
                self.pond.require_writable()?;
                Output::of(maintenance::run_vacuum(&self.pond, retain_hours, dry_run).await?)
            }
            PondStatement::Backup { target } => self.run_backup(&target).await?,
            PondStatement::Check { all_versions, path } => {
                let (batch, failure) =
                    maintenance::run_check(&self.pond, all_versions, path).await?;
                Output {
                    failure,
                    ..Output::of(batch)
                }
            }
            PondStatement::Refresh {
                path: Some(path),
                full,
            } => {
                let done = refresh::refresh(&self.ctx, &self.pond, &path, full).await?;
                Output::of(refresh::result_batch(&[done])?)
            }
            PondStatement::Refresh { path: None, full } => self.refresh_all(full).await?,
            PondStatement::Stage(change) => {
                self.pond.stage(*change)?;
                Output::empty()
            }
        };
        Ok(Reply::Done(output))
    }

    /// `REFRESH ALL`: every materialized view in dependency order, each in
    /// its own transaction, so a failure keeps the views refreshed before it.
    async fn refresh_all(&self, full: bool) -> Result<Output> {
        if self.pond.in_block() {
            return plan_err!("REFRESH ALL cannot run inside BEGIN … COMMIT: it commits each view on its own; use REFRESH MATERIALIZED VIEW \"/path\" inside a block");
        }
        self.pond.require_writable()?;
        let order = refresh::refresh_order(&self.ctx, &self.pond).await?;
        let mut results = Vec::with_capacity(order.len());
        for path in &order {
            let done = match refresh::refresh(&self.ctx, &self.pond, path, full).await {
                Ok(done) => done,
                Err(err) => {
                    let before = results
                        .iter()
                        .filter(|r: &&refresh::Refreshed| r.changed)
                        .count();
                    return plan_err!(
                        "REFRESH ALL stopped at {path} ({before} view(s) before it committed, the rest not run): {}",
                        crate::error::user_message(&err)
                    );
                }
            };
            let statement = format!(
                "REFRESH MATERIALIZED VIEW \"{path}\"{}",
                if full { " FULL" } else { "" }
            );
            self.pond.finish_statement(&statement).await?;
            results.push(done);
        }
        Ok(Output::of(refresh::result_batch(&results)?))
    }

    /// Statements that DataFusion parses but the pond runs.
    async fn pond_command(&self, ast: &ast::Statement, text: &str) -> Result<Option<Output>> {
        match ast {
            ast::Statement::CreateView(create) if create.materialized => {
                refresh::create(&self.ctx, &self.pond, create).await?;
            }
            ast::Statement::Drop {
                object_type: ast::ObjectType::MaterializedView,
                if_exists,
                names,
                ..
            } => {
                for name in names {
                    self.pond.stage(Change::Drop {
                        path: object_name_path(name)?,
                        kind: Kind::MaterializedView,
                        if_exists: *if_exists,
                    })?;
                }
            }
            ast::Statement::StartTransaction { .. } => self.pond.begin_block()?,
            ast::Statement::Commit { .. } => {
                let txn = self.pond.commit_block(text).await?;
                return Ok(Some(Output {
                    txn,
                    ..Output::empty()
                }));
            }
            ast::Statement::Rollback { .. } => self.pond.rollback_block()?,
            ast::Statement::Set(Set::SingleAssignment {
                variable, values, ..
            }) if is_as_of(variable) => self.pond.set_as_of(Some(parse_txn(values)?))?,
            ast::Statement::AlterTable(alter) => {
                let change = ddl::alter_table(&self.ctx, alter).await?;
                self.pond.stage(change)?;
            }
            ast::Statement::Insert(insert)
                if matches!(insert.on, Some(ast::OnInsert::OnConflict(_))) =>
            {
                let batch = upsert::run(&self.ctx, &self.pond, insert).await?;
                return Ok(Some(Output::of(batch)));
            }
            ast::Statement::Insert(insert) => {
                let plan = insert::plan(&self.ctx, &self.pond, insert).await?;
                return self.execute_command_plan(plan).await.map(Some);
            }
            ast::Statement::Update(_) => {
                let plan = update::plan(&self.ctx, ast).await?;
                return self.execute_command_plan(plan).await.map(Some);
            }
            _ => return Ok(None),
        }
        Ok(Some(Output::empty()))
    }

    /// Runs a plan that writes (its rows are a count) to its end.
    async fn execute_command_plan(&self, plan: LogicalPlan) -> Result<Output> {
        match self.execute_plan(plan).await? {
            Reply::Done(output) => Ok(output),
            Reply::Rows(stream) => self.collect(stream).await,
        }
    }

    async fn execute_plan(&self, plan: LogicalPlan) -> Result<Reply> {
        let done = |()| Reply::Done(Output::empty());
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                ddl::create_table(&self.ctx, &self.pond, create).await.map(done)
            }
            LogicalPlan::Ddl(DdlStatement::CreateView(create)) => {
                ddl::create_view(&self.ctx, &self.pond, create).await.map(done)
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop)) => {
                let path = table_path(&drop.name)?;
                self.pond.stage(Change::Drop { path, kind: Kind::Table, if_exists: drop.if_exists }).map(done)
            }
            LogicalPlan::Ddl(DdlStatement::DropView(drop)) => {
                let path = table_path(&drop.name)?;
                self.pond.stage(Change::Drop { path, kind: Kind::View, if_exists: drop.if_exists }).map(done)
            }
            LogicalPlan::Ddl(other) => plan_err!(
                "{} is not supported in a pond: use CREATE DIRECTORY, CREATE TABLE … AS SELECT * FROM 'file', or CREATE VIEW",
                other.name()
            ),
            plan => {
                // Plans that write stage their changes as they run: they run
                // to the end inside the statement. Queries stream.
                let writes = plan.exists(|p| Ok(matches!(p, LogicalPlan::Dml(_) | LogicalPlan::Copy(_))))?;
                if let LogicalPlan::Dml(DmlStatement { op: WriteOp::Insert(_), .. }) = &plan {
                    self.pond.require_writable()?;
                }
                let frame = self.ctx.execute_logical_plan(plan).await?;
                let stream = frame.execute_stream().await?;
                if writes {
                    self.collect(stream).await.map(Reply::Done)
                } else {
                    Ok(Reply::Rows(stream))
                }
            }
        }
    }
}

/// Lets names that are host files (`'data.csv'`) be read as tables, as
/// DataFusion's `enable_url_table` does, through the pond's strict checks.
fn with_host_file_tables(ctx: SessionContext) -> SessionContext {
    let listing = Arc::new(DynamicListTableFactory::default());
    let catalogs = Arc::new(DynamicFileCatalog::new(
        ctx.state().catalog_list().clone(),
        Arc::new(HostFileTables::new(listing.clone())),
    ));
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_catalog_list(catalogs)
        .build()
        .into();
    listing.session_store().with_state(ctx.state_weak_ref());
    ctx
}

fn is_as_of(name: &ObjectName) -> bool {
    name.to_string().eq_ignore_ascii_case("pond.as_of")
}

fn parse_txn(values: &[SqlExpr]) -> Result<i64> {
    let usage = || {
        plan_datafusion_err!("usage: SET pond.as_of = <txn number> (see pond.system.transactions)")
    };
    match values {
        [SqlExpr::Value(v)] => match &v.value {
            Value::Number(n, _) => n.parse().map_err(|_| usage()),
            Value::SingleQuotedString(s) => s.trim().parse().map_err(|_| usage()),
            _ => Err(usage()),
        },
        _ => Err(usage()),
    }
}
