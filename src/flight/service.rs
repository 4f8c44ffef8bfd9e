//! The Flight SQL service: each call authenticated ([`Authority`]), each
//! statement run through the caller's `PondSession` (the CLI's path: same
//! commits, same errors), results streamed.
//!
//! A statement runs when its FlightInfo is asked for (GetFlightInfo), so it
//! runs once and its schema is the one the rows have; the rows wait for
//! their DoGet in [`WaitingResults`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authority, ClientSession};
use super::metadata;
use super::prepared::PreparedStatements;
use super::results::WaitingResults;
use super::run::{parse, parse_and_run, run, run_updates};
use super::status::{log_statement, status_of};
use super::wire::{batches_stream, concat, encode, received, schema_bytes, Rows};
use crate::CATALOG;
use crate::{Parameterised, Statement};

use crate::{Output, Reply};

/// The Flight SQL service of one pond.
pub(crate) struct PondFlightService {
    auth: Arc<Authority>,
    sql_info: SqlInfoData,
    xdbc: XdbcTypeInfoData,
    waiting: WaitingResults,
    prepared: PreparedStatements,
}

impl PondFlightService {
    pub(crate) fn new(
        auth: Arc<Authority>,
        read_only: bool,
        result_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        PondFlightService {
            auth,
            sql_info: metadata::sql_info(read_only),
            xdbc: metadata::xdbc_types(),
            waiting: WaitingResults::new(result_timeout),
            prepared: PreparedStatements::new(idle_timeout),
        }
    }

    pub(crate) fn auth(&self) -> &Authority {
        &self.auth
    }

    /// The caller's session, resolved before the call reached the service
    /// (authenticate.rs).
    /// Frees what clients left behind: results nobody fetched in time,
    /// prepared statements and sessions unused for the idle timeout (the
    /// server's sweeper calls it, so they go even when no client comes).
    pub(crate) fn sweep(&self) {
        self.waiting.drop_unclaimed();
        self.prepared.drop_idle();
        self.auth.drop_idle();
    }

    fn session<T>(&self, request: &Request<T>) -> Result<Arc<ClientSession>, Status> {
        request
            .extensions()
            .get::<Arc<ClientSession>>()
            .cloned()
            .ok_or_else(|| Status::internal("the call reached the service unauthenticated"))
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
        self.waiting.park(&client.user, sql, stream, descriptor)
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
            client.session.catch_up().await.map_err(|e| status_of(&e))?;
            metadata::db_schemas(&client.session, query)
                .map_err(|e| status_of(&e))
                .map(Ok)?
        } else if let Ok(Some(query)) = message.unpack::<CommandGetTables>() {
            client.session.catch_up().await.map_err(|e| status_of(&e))?;
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
        } else if message.is::<CommandGetPrimaryKeys>()
            || message.is::<CommandGetExportedKeys>()
            || message.is::<CommandGetImportedKeys>()
            || message.is::<CommandGetCrossReference>()
        {
            Ok(RecordBatch::new_empty(metadata::empty_keys_schema(
                &message,
            )))
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
        let reply = parse_and_run(&client, &query.query).await?;
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
        let prepared = self
            .prepared
            .get(&client.user, &query.prepared_statement_handle)?;
        let mut statements = prepared.statements(None)?;
        let reply = match statements.len() {
            1 => run(&client, statements.remove(0)).await?,
            _ => {
                // One result of the rows of every set of values, in order.
                let mut schema = None;
                let mut batches = Vec::new();
                for statement in statements {
                    let stream = match run(&client, statement).await? {
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
            .statement_info(
                &client,
                prepared.statement.statement.text(),
                reply,
                request.into_inner(),
            )
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let client = self.session(&request)?;
        let key = String::from_utf8_lossy(&ticket.statement_handle);
        let rows = self.waiting.take(&client.user, &key)?;
        Ok(Response::new(encode(rows)))
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
        let schema = metadata::primary_keys_schema();
        self.command_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(
            query,
            &metadata::foreign_keys_schema(),
            request.into_inner(),
        )
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(
            query,
            &metadata::foreign_keys_schema(),
            request.into_inner(),
        )
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        self.command_info(
            query,
            &metadata::foreign_keys_schema(),
            request.into_inner(),
        )
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.session(&request)?;
        let statement = parse(&client, &command.query)?;
        run_updates(&client, vec![statement]).await
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.session(&request)?;
        super::ingest::ingest(&client, command, request).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let client = self.session(&request)?;
        let values = concat(&received(request).await?)?;
        self.prepared
            .bind(&client.user, &query.prepared_statement_handle, values)?;
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
        let sent = concat(&received(request).await?)?;
        let prepared = self
            .prepared
            .get(&client.user, &query.prepared_statement_handle)?;
        let statements = prepared.statements(sent.filter(|v| v.num_columns() > 0).as_ref())?;
        run_updates(&client, statements).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let client = self.session(&request)?;
        let described = match Statement::parse(&query.query) {
            Ok(statement) => {
                let prepared = Parameterised::new(statement);
                let _turn = client.turn.lock().await;
                let described = client.session.describe(&prepared.statement).await;
                described.map(|d| (d, prepared))
            }
            Err(e) => Err(e),
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
        let (described, prepared) = described;
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
        let handle = self.prepared.open(&client.user, prepared)?;
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
        self.prepared
            .close(&client.user, &query.prepared_statement_handle);
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
            let key = String::from_utf8_lossy(&statement.statement_handle);
            // Dropping the stream stops the query.
            if self.waiting.cancel(&client.user, &key) {
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
