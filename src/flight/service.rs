//! The Flight SQL service: each call authenticated ([`Authority`]), each
//! statement run through the caller's `PondSession` (the CLI's path: same
//! commits, same errors), results streamed.
//!
//! A statement runs when its FlightInfo is asked for (GetFlightInfo), so it
//! runs once and its schema is the one the rows have; the rows wait under
//! an unguessable ticket for the DoGet that fetches them (or are dropped,
//! and the query with them, on cancel, after [`UNCLAIMED`], or for newer
//! ones past [`WAITING_PER_USER`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetCrossReference,
    CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TableExistsOption, TableNotExistOption, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authority, ClientSession};
use super::metadata;
use crate::catalog::host_access::HostFilesRefused;
use crate::catalog::session_pond::WriteRefused;
use crate::catalog::CATALOG;
use crate::sources::SourcesRefused;
use crate::sql::params::{self, Parameterised};

use crate::sql::user_message;
use crate::storage::PondPath;
use crate::{IngestMode, Output, Reply};

/// Rows nobody fetched are dropped (and their query stopped) after this.
/// A client fetches right after GetFlightInfo; an unfetched result holds
/// what its query has computed ahead (a sort holds all its rows).
const UNCLAIMED: Duration = Duration::from_secs(120);

/// At most this many results wait unfetched for one user: the oldest goes
/// (its query stopped) when another arrives.
const WAITING_PER_USER: usize = 16;

/// At most this many results wait unfetched on the server: past it a
/// statement is refused (RESOURCE_EXHAUSTED) until some are fetched.
const WAITING_IN_ALL: usize = 64;

/// At most this many prepared statements stay open for one user.
const PREPARED_PER_USER: usize = 256;

type Rows = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

/// Rows waiting for their DoGet.
struct Pending {
    user: String,
    /// The statement, for the log line of a cancel.
    sql: String,
    stream: SendableRecordBatchStream,
    since: Instant,
}

/// A prepared statement: its text and the values last bound to it.
struct Prepared {
    user: String,
    sql: String,
    parameters: Option<Parameterised>,
    bound: Option<RecordBatch>,
}

/// The Flight SQL service of one pond.
pub(crate) struct PondFlightService {
    auth: Arc<Authority>,
    sql_info: SqlInfoData,
    xdbc: XdbcTypeInfoData,
    pending: Mutex<HashMap<String, Pending>>,
    prepared: Mutex<HashMap<String, Prepared>>,
}

impl PondFlightService {
    pub(crate) fn new(auth: Arc<Authority>, read_only: bool) -> Self {
        PondFlightService {
            auth,
            sql_info: metadata::sql_info(read_only),
            xdbc: metadata::xdbc_types(),
            pending: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn auth(&self) -> &Authority {
        &self.auth
    }

    /// The caller's session, resolved before the call reached the service
    /// (authenticate.rs).
    fn session<T>(&self, request: &Request<T>) -> Result<Arc<ClientSession>, Status> {
        request
            .extensions()
            .get::<Arc<ClientSession>>()
            .cloned()
            .ok_or_else(|| Status::internal("the call reached the service unauthenticated"))
    }

    /// Runs one statement in the caller's session, logging who ran what.
    async fn run(&self, client: &ClientSession, sql: &str) -> Result<Reply, Status> {
        let _turn = client.turn.lock().await;
        let started = Instant::now();
        let result = client.session.execute_streaming(sql).await;
        log_statement(&client.user, sql, started, result.as_ref().err());
        result.map_err(|e| status_of(&e))
    }

    /// Runs a statement that returns no rows to the client (an update),
    /// giving the rows it changed.
    async fn run_update(&self, client: &ClientSession, sql: &str) -> Result<i64, Status> {
        match self.run(client, sql).await? {
            Reply::Done(output) => Ok(affected(&output)),
            Reply::Rows(stream) => {
                // A query sent as an update: run it, report its rows.
                let rows = stream
                    .try_fold(0i64, |n, b| async move { Ok(n + b.num_rows() as i64) })
                    .await
                    .map_err(|e| status_of(&e))?;
                Ok(rows)
            }
        }
    }

    /// Keeps rows for their DoGet; returns the FlightInfo that points at them.
    fn park(
        &self,
        user: &str,
        sql: &str,
        stream: SendableRecordBatchStream,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let schema = metadata::wire_schema(&stream.schema());
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_total_records(-1)
            .with_ordered(true);
        self.drop_unclaimed();
        let mut pending = lock(&self.pending);
        let mut mine: Vec<(&String, Instant)> = pending
            .iter()
            .filter(|(_, p)| p.user == user)
            .map(|(k, p)| (k, p.since))
            .collect();
        if mine.len() >= WAITING_PER_USER {
            mine.sort_by_key(|(_, since)| *since);
            let oldest = mine[0].0.clone();
            pending.remove(&oldest);
        }
        if pending.len() >= WAITING_IN_ALL {
            return Err(Status::resource_exhausted(format!(
                "{WAITING_IN_ALL} results wait unfetched on this server: fetch them (DoGet) or cancel them, or wait {}s for them to expire",
                UNCLAIMED.as_secs()
            )));
        }
        pending.insert(
            handle,
            Pending {
                user: user.to_string(),
                sql: sql.to_string(),
                stream,
                since: Instant::now(),
            },
        );
        Ok(info)
    }

    /// Drops the results nobody fetched in time (and stops their queries);
    /// the server calls it now and then, so they go even when no new
    /// statement comes.
    pub(crate) fn drop_unclaimed(&self) {
        lock(&self.pending).retain(|_, p| p.since.elapsed() < UNCLAIMED);
    }

    /// The FlightInfo of a statement's result, running it now.
    async fn statement_info(
        &self,
        client: &ClientSession,
        sql: &str,
        reply: Reply,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let stream = match reply {
            Reply::Rows(stream) => stream,
            Reply::Done(output) => batches_stream(output.schema, output.batches),
        };
        self.park(&client.user, sql, stream, descriptor)
    }

    /// The rows of a small fixed answer (metadata) as a FlightInfo whose
    /// ticket is the command itself.
    fn command_info(
        &self,
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(command.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn take_prepared_text(
        &self,
        client: &ClientSession,
        handle: &[u8],
    ) -> Result<(String, Option<Parameterised>, Option<RecordBatch>), Status> {
        let key = String::from_utf8_lossy(handle).to_string();
        let prepared = lock(&self.prepared);
        let statement = prepared
            .get(&key)
            .filter(|p| p.user == client.user)
            .ok_or_else(|| {
                Status::not_found(
                    "no such prepared statement: it was closed, or belongs to another session",
                )
            })?;
        Ok((
            statement.sql.clone(),
            statement.parameters.clone(),
            statement.bound.clone(),
        ))
    }

    /// The statements to run for a prepared statement with `bound` values:
    /// one per row of values, or the text as it is when it takes none.
    fn bound_statements(
        sql: &str,
        parameters: Option<&Parameterised>,
        bound: Option<&RecordBatch>,
    ) -> Result<Vec<String>, Status> {
        match (parameters, bound) {
            (None, None) => Ok(vec![sql.to_string()]),
            (None, Some(values)) if values.num_columns() == 0 => Ok(vec![sql.to_string()]),
            (None, Some(values)) => Err(Status::invalid_argument(format!(
                "the statement takes no parameters, but {} were bound",
                values.num_columns()
            ))),
            (Some(p), None) => Err(Status::invalid_argument(format!(
                "the statement takes {} parameter(s): bind them before executing it",
                p.count
            ))),
            (Some(p), Some(values)) => (0..values.num_rows())
                .map(|row| p.bind(values, row).map_err(|e| status_of(&e)))
                .collect(),
        }
    }

    /// Runs updates as one commit: inside the session's own block if it
    /// has one open, else in a block of their own.
    async fn run_updates(
        &self,
        client: &ClientSession,
        statements: &[String],
    ) -> Result<i64, Status> {
        let wrap = statements.len() > 1 && !client.session.in_block();
        if wrap {
            client.session.begin().await.map_err(|e| status_of(&e))?;
        }
        let mut total = 0;
        for sql in statements {
            match self.run_update(client, sql).await {
                Ok(n) => total += n,
                Err(status) => {
                    if wrap {
                        let _ = client.session.rollback();
                    }
                    return Err(status);
                }
            }
        }
        if wrap {
            client.session.commit().await.map_err(|e| status_of(&e))?;
        }
        Ok(total)
    }
}

impl PondFlightService {
    /// The rows of a metadata command (a ticket this server gave for one).
    async fn metadata_rows(
        &self,
        request: &Request<Ticket>,
        message: Any,
    ) -> Result<Response<Rows>, Status> {
        let client = self.session(request)?;
        let batch = if let Ok(Some(query)) = message.unpack::<CommandGetCatalogs>() {
            let mut builder = query.into_builder();
            builder.append(CATALOG);
            builder.build()
        } else if let Ok(Some(query)) = message.unpack::<CommandGetDbSchemas>() {
            client
                .session
                .pond()
                .begin_statement()
                .await
                .map_err(|e| status_of(&e))?;
            metadata::db_schemas(&client.session, query)
                .map_err(|e| status_of(&e))
                .map(Ok)?
        } else if let Ok(Some(query)) = message.unpack::<CommandGetTables>() {
            client
                .session
                .pond()
                .begin_statement()
                .await
                .map_err(|e| status_of(&e))?;
            metadata::tables(&client.session, query)
                .await
                .map_err(|e| status_of(&e))
                .map(Ok)?
        } else if let Ok(Some(query)) = message.unpack::<CommandGetTableTypes>() {
            let mut builder = query.into_builder();
            for table_type in metadata::TABLE_TYPES {
                builder.append(table_type);
            }
            builder.build()
        } else if let Ok(Some(query)) = message.unpack::<CommandGetSqlInfo>() {
            query.into_builder(&self.sql_info).build()
        } else if let Ok(Some(query)) = message.unpack::<CommandGetXdbcTypeInfo>() {
            query.into_builder(&self.xdbc).build()
        } else if let Ok(Some(_)) = message.unpack::<CommandGetPrimaryKeys>() {
            Ok(RecordBatch::new_empty(empty_keys_schema(&message)))
        } else if let Ok(Some(_)) = message.unpack::<CommandGetExportedKeys>() {
            Ok(RecordBatch::new_empty(empty_keys_schema(&message)))
        } else if let Ok(Some(_)) = message.unpack::<CommandGetImportedKeys>() {
            Ok(RecordBatch::new_empty(empty_keys_schema(&message)))
        } else if let Ok(Some(_)) = message.unpack::<CommandGetCrossReference>() {
            Ok(RecordBatch::new_empty(empty_keys_schema(&message)))
        } else {
            return Err(Status::invalid_argument(format!(
                "this ticket is not one the server gave: {}",
                message.type_url
            )));
        };
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let stream = batches_stream(batch.schema(), vec![batch]);
        Ok(Response::new(encode(stream)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing under these locks panics.
    mutex.lock().expect("server lock poisoned")
}

/// What a client is told of a failed statement: the CLI's one-line
/// message, with the gRPC code its cause calls for.
pub(crate) fn status_of(err: &DataFusionError) -> Status {
    let message = user_message(err);
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<WriteRefused>() || e.is::<HostFilesRefused>() || e.is::<SourcesRefused>() {
            return Status::permission_denied(message);
        }
        cause = e.source();
    }
    match err.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(format!(
            "{message} (the server's limit is shared by all sessions; results waiting to be fetched hold theirs until fetched or cancelled)"
        )),
        DataFusionError::NotImplemented(_) => Status::unimplemented(message),
        DataFusionError::Internal(_) => Status::internal(message),
        _ => Status::invalid_argument(message),
    }
}

/// One line per statement on stderr: when, who, how long, outcome, what.
fn log_statement(user: &str, sql: &str, started: Instant, error: Option<&DataFusionError>) {
    let outcome = match error {
        None => "ok".to_string(),
        Some(err) => format!("error: {}", user_message(err)),
    };
    let took = format!(
        "{:.1}ms {outcome}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    log_line(user, &took, sql);
}

/// One log line: when, who, what happened, the statement (its first 300
/// characters, on one line). A query's "ok" says it started; a later
/// "cancelled" line says a client dropped its rows unfetched.
fn log_line(user: &str, what: &str, sql: &str) {
    let text: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    };
    eprintln!(
        "{} {user} {what} | {text}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
    );
}

/// Rows a statement changed: the count DataFusion's writes return; 0 for
/// DDL and other commands.
fn affected(output: &Output) -> i64 {
    let fields = output.schema.fields();
    if fields.len() != 1 || fields[0].name() != "count" || !fields[0].data_type().is_integer() {
        return 0;
    }
    output
        .batches
        .iter()
        .filter_map(|b| cast(b.column(0), &DataType::Int64).ok())
        .filter_map(|a| {
            a.as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .map(|a| a.iter().flatten().sum::<i64>())
        })
        .sum()
}

fn batches_stream(schema: SchemaRef, batches: Vec<RecordBatch>) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    ))
}

/// Rows as Flight data, in their wire types ([`metadata::wire_schema`]).
fn encode(stream: SendableRecordBatchStream) -> Rows {
    let schema = Arc::new(metadata::wire_schema(&stream.schema()));
    let convert = !metadata::is_wire_ready(&stream.schema());
    let wire = schema.clone();
    let batches = stream.map(move |batch| {
        let batch = batch.map_err(|e| FlightError::Tonic(Box::new(status_of(&e))))?;
        if !convert {
            return Ok(batch);
        }
        let columns = batch
            .columns()
            .iter()
            .zip(wire.fields())
            .map(|(c, f)| cast(c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(wire.clone(), columns)?)
    });
    let flight = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(|e| match e {
            FlightError::Tonic(status) => *status,
            other => Status::internal(other.to_string()),
        });
    Box::pin(flight)
}

fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?;
    Ok(message.0)
}

/// Reads the record batches a client sent with DoPut.
async fn received(request: Request<PeekableFlightDataStream>) -> Result<Vec<RecordBatch>, Status> {
    FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(FlightError::from))
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("cannot read the data sent: {e}")))
}

/// A client's DoPut stream as a table scanned once (bulk ingest).
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OneShot({:?})", self.schema)
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match lock(&self.stream).take() {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(DataFusionError::Execution(
                        "the ingested data can be read once only".into(),
                    ))
                }),
            )),
        }
    }
}

#[tonic::async_trait]
impl FlightSqlService for PondFlightService {
    type FlightService = PondFlightService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let token = self.auth.handshake(request.metadata())?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("cannot make the session token header"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let client = self.session(&request)?;
        let reply = self.run(&client, &query.query).await?;
        let info = self
            .statement_info(&client, &query.query, reply, request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let client = self.session(&request)?;
        let (sql, parameters, bound) =
            self.take_prepared_text(&client, &query.prepared_statement_handle)?;
        let statements = Self::bound_statements(&sql, parameters.as_ref(), bound.as_ref())?;
        let reply = match statements.as_slice() {
            [one] => self.run(&client, one).await?,
            many => {
                // One result of the rows of every set of values, in order.
                let mut schema = None;
                let mut batches = Vec::new();
                for sql in many {
                    let stream = match self.run(&client, sql).await? {
                        Reply::Rows(stream) => stream,
                        Reply::Done(output) => batches_stream(output.schema, output.batches),
                    };
                    schema.get_or_insert_with(|| stream.schema());
                    batches.extend(
                        stream
                            .try_collect::<Vec<_>>()
                            .await
                            .map_err(|e| status_of(&e))?,
                    );
                }
                let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
                Reply::Done(Output {
                    schema,
                    batches,
                    txn: None,
                    failure: None,
                })
            }
        };
        let info = self
            .statement_info(&client, &sql, reply, request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let client = self.session(&request)?;
        let key = String::from_utf8_lossy(&ticket.statement_handle).to_string();
        let pending = {
            let mut pending = lock(&self.pending);
            match pending.get(&key) {
                Some(p) if p.user == client.user => pending.remove(&key),
                _ => None,
            }
        };
        let pending = pending.ok_or_else(|| {
            Status::not_found(format!("no rows wait under this ticket: they were fetched already, cancelled, expired ({}s), or dropped for newer ones ({WAITING_PER_USER} results at most wait for one user): run the statement again", UNCLAIMED.as_secs()))
        })?;
        Ok(Response::new(encode(pending.stream)))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, message).await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn do_get_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.metadata_rows(&request, query.as_any()).await
    }

    async fn get_flight_info_fallback(
        &self,
        command: arrow_flight::sql::Command,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        Err(Status::invalid_argument(format!(
            "{} is not a command this server runs: send statements (CommandStatementQuery), prepared statements or metadata commands",
            command.type_url()
        )))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.into_builder().schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.into_builder().schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.into_builder(&self.xdbc).schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = primary_keys_schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(query, &foreign_keys_schema(), request.into_inner())
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(query, &foreign_keys_schema(), request.into_inner())
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(query, &foreign_keys_schema(), request.into_inner())
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.session(&request)?;
        self.run_updates(&client, &[command.query]).await
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.session(&request)?;
        if command.temporary {
            return Err(Status::invalid_argument(
                "temporary tables are not supported: ingest into a pond table",
            ));
        }
        if command
            .catalog
            .as_deref()
            .is_some_and(|c| !c.is_empty() && c != CATALOG)
        {
            return Err(Status::invalid_argument(format!(
                "catalog {:?} is not this server's: use {CATALOG}",
                command.catalog.unwrap_or_default()
            )));
        }
        let path = ingest_path(command.schema.as_deref(), &command.table)
            .map_err(Status::invalid_argument)?;
        let options = command.table_definition_options.unwrap_or_default();
        let if_missing = TableNotExistOption::try_from(options.if_not_exist)
            .unwrap_or(TableNotExistOption::Unspecified);
        let if_exists = TableExistsOption::try_from(options.if_exists)
            .unwrap_or(TableExistsOption::Unspecified);

        // The data streams into the statement; its schema comes first.
        let mut stream = FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        );
        let first = stream
            .next()
            .await
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("cannot read the data sent: {e}")))?;
        let schema = match (&first, stream.schema()) {
            (Some(batch), _) => batch.schema(),
            (None, Some(schema)) => schema.clone(),
            (None, None) => {
                return Err(Status::invalid_argument(
                    "no data was sent: bulk ingest needs at least a schema",
                ))
            }
        };
        let rows = Arc::new(AtomicU64::new(0));
        let counted = rows.clone();
        let input = futures::stream::iter(first.map(Ok))
            .chain(stream)
            .map(move |batch| {
                let batch = batch.map_err(|e| DataFusionError::External(Box::new(e)))?;
                counted.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                Ok(batch)
            });
        let one_shot = OneShot {
            schema: schema.clone(),
            stream: Mutex::new(Some(Box::pin(RecordBatchStreamAdapter::new(
                schema.clone(),
                input,
            )))),
        };
        let table =
            StreamingTable::try_new(schema, vec![Arc::new(one_shot)]).map_err(|e| status_of(&e))?;

        let exists = client.session.pond().view().resolve(&path).is_some();
        let mode = match (exists, if_exists, if_missing) {
            (true, TableExistsOption::Append, _) => IngestMode::Append,
            (true, TableExistsOption::Replace, _) => IngestMode::Replace,
            (true, _, _) => {
                return Err(Status::already_exists(format!(
                    "{path} exists: ingest in append mode to add rows to it"
                )))
            }
            (false, _, TableNotExistOption::Fail) => {
                return Err(Status::not_found(format!(
                    "{path} does not exist: ingest in create mode to create it"
                )))
            }
            (false, _, _) => IngestMode::Create,
        };
        let _turn = client.turn.lock().await;
        let started = Instant::now();
        let result = client
            .session
            .ingest(path.as_str(), mode, Arc::new(table))
            .await;
        let what = format!("bulk ingest into {path} ({mode})");
        log_statement(&client.user, &what, started, result.as_ref().err());
        result.map_err(|e| status_of(&e))?;
        Ok(rows.load(Ordering::Relaxed) as i64)
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let client = self.session(&request)?;
        let values = params::concat(&received(request).await?).map_err(|e| status_of(&e))?;
        let key = String::from_utf8_lossy(&query.prepared_statement_handle).to_string();
        let mut prepared = lock(&self.prepared);
        let statement = prepared
            .get_mut(&key)
            .filter(|p| p.user == client.user)
            .ok_or_else(|| Status::not_found("no such prepared statement: it was closed"))?;
        if let (Some(p), Some(v)) = (&statement.parameters, &values) {
            if v.num_columns() != p.count {
                return Err(Status::invalid_argument(format!(
                    "the statement takes {} parameter(s), but {} were bound",
                    p.count,
                    v.num_columns()
                )));
            }
        }
        statement.bound = values;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.session(&request)?;
        let sent = params::concat(&received(request).await?).map_err(|e| status_of(&e))?;
        let (sql, parameters, bound) =
            self.take_prepared_text(&client, &query.prepared_statement_handle)?;
        let values = sent.filter(|v| v.num_columns() > 0).or(bound);
        let statements = Self::bound_statements(&sql, parameters.as_ref(), values.as_ref())?;
        self.run_updates(&client, &statements).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let client = self.session(&request)?;
        let described = {
            let _turn = client.turn.lock().await;
            client.session.describe(&query.query).await
        }
        .map_err(|e| {
            log_statement(
                &client.user,
                &format!("PREPARE {}", query.query),
                Instant::now(),
                Some(&e),
            );
            status_of(&e)
        })?;
        let parameters = Schema::new(
            described
                .parameters
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Field::new(
                        format!("${}", i + 1),
                        t.clone().unwrap_or(DataType::Utf8),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        );
        let dataset = metadata::wire_schema(&described.dataset);
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let mut prepared = lock(&self.prepared);
        if prepared.values().filter(|p| p.user == client.user).count() >= PREPARED_PER_USER {
            return Err(Status::resource_exhausted(format!(
                "{PREPARED_PER_USER} prepared statements are open for {}: close those no longer used (ClosePreparedStatement; a driver does it when a statement is closed)",
                client.user
            )));
        }
        prepared.insert(
            handle.clone(),
            Prepared {
                user: client.user.clone(),
                parameters: Parameterised::parse(&query.query),
                sql: query.query,
                bound: None,
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: schema_bytes(&dataset)?,
            parameter_schema: schema_bytes(&parameters)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let client = self.session(&request)?;
        let key = String::from_utf8_lossy(&query.prepared_statement_handle).to_string();
        let mut prepared = lock(&self.prepared);
        if prepared.get(&key).is_some_and(|p| p.user == client.user) {
            prepared.remove(&key);
        }
        Ok(())
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let client = self.session(&request)?;
        let action = request.into_inner();
        if action.r#type != "CancelFlightInfo" {
            return Err(Status::invalid_argument(format!(
                "unknown action {:?}: this server offers the Flight SQL actions and CancelFlightInfo",
                action.r#type
            )));
        }
        let cancel = CancelFlightInfoRequest::decode(action.body)
            .map_err(|e| Status::invalid_argument(format!("a malformed CancelFlightInfo: {e}")))?;
        let mut status = CancelStatus::NotCancellable;
        for endpoint in cancel.info.map(|i| i.endpoint).unwrap_or_default() {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let Ok(any) = Any::decode(ticket.ticket) else {
                continue;
            };
            let Ok(Some(statement)) = any.unpack::<TicketStatementQuery>() else {
                continue;
            };
            let key = String::from_utf8_lossy(&statement.statement_handle).to_string();
            let mut pending = lock(&self.pending);
            if pending.get(&key).is_some_and(|p| p.user == client.user) {
                // Dropping the stream stops the query.
                if let Some(cancelled) = pending.remove(&key) {
                    log_line(&client.user, "cancelled", &cancelled.sql);
                }
                status = CancelStatus::Cancelled;
            }
        }
        let result = CancelFlightInfoResult {
            status: status as i32,
        };
        let body = arrow_flight::Result {
            body: result.encode_to_vec().into(),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(body)]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// A pond path from a client's catalog/schema/table triple (bulk ingest):
/// the table in schema (directory) `schema`, or an absolute path.
fn ingest_path(schema: Option<&str>, table: &str) -> std::result::Result<PondPath, String> {
    let text = match schema.filter(|s| !s.is_empty()) {
        Some(dir) if !table.starts_with('/') => format!("{}/{table}", dir.trim_end_matches('/')),
        _ if table.starts_with('/') => table.to_string(),
        _ => format!("/{table}"),
    };
    PondPath::parse(&text).map_err(|e| format!("'{text}' is not a pond path: {e}"))
}

fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

fn foreign_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ])
}

/// The (empty) answer to a keys command: the pond has no keys.
fn empty_keys_schema(message: &Any) -> SchemaRef {
    if message.is::<CommandGetPrimaryKeys>() {
        Arc::new(primary_keys_schema())
    } else {
        Arc::new(foreign_keys_schema())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_targets_are_a_directory_and_name_or_an_absolute_path() {
        let path =
            |schema: Option<&str>, table: &str| ingest_path(schema, table).map(|p| p.to_string());
        assert_eq!(path(Some("/s"), "t").unwrap(), "/s/t");
        assert_eq!(path(Some("/s/"), "t").unwrap(), "/s/t");
        assert_eq!(path(None, "t").unwrap(), "/t");
        assert_eq!(path(Some(""), "t").unwrap(), "/t");
        assert_eq!(path(Some("/ignored"), "/a/b").unwrap(), "/a/b");
        assert!(path(Some("/s"), "../x").is_err());
    }
}
