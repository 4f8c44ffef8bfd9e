//! `pondsql --connect grpc://host:port`: statements sent to a `pondsql
//! serve`, one client session (BEGIN … COMMIT spans statements as locally).
//! Every statement goes as a Flight SQL statement query, which the server
//! runs whatever it is, so commands and queries take one path.

use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandGetTables, CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo, HandshakeRequest};
use base64::Engine;
use datafusion::arrow::array::{Array, BinaryArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use futures::TryStreamExt;
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use crate::error::Error;
use crate::Output;

/// A connection to a pondsql server.
pub struct RemoteSession {
    client: tokio::sync::Mutex<FlightServiceClient<Channel>>,
    token: Option<String>,
    /// What the CLI prints as the place it is connected to.
    pub url: String,
}

/// A tonic error as one line for the user.
/// What the server said, with the kind its code stands for.
fn said(status: Status) -> Error {
    Error::new(super::status::kind_of(status.code()), status.message())
}

impl RemoteSession {
    /// Connects to `url` (`grpc://` or `grpc+tls://`, whose certificate is
    /// checked against `ca` if given, else the system's roots), signing in
    /// when a user is given.
    pub async fn connect(
        url: &str,
        ca: Option<&std::path::Path>,
        credentials: Option<(&str, &str)>,
    ) -> Result<Self, Error> {
        let (tls, address) = if let Some(rest) = url.strip_prefix("grpc+tls://") {
            (true, format!("https://{rest}"))
        } else if let Some(rest) = url.strip_prefix("grpc://") {
            (false, format!("http://{rest}"))
        } else {
            return Err(
                format!("--connect {url}: use grpc://HOST:PORT (or grpc+tls://HOST:PORT)").into(),
            );
        };
        let mut endpoint =
            Endpoint::from_shared(address).map_err(|e| format!("--connect {url}: {e}"))?;
        if tls {
            crate::tls::choose_backend();
            let config = match ca {
                Some(path) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
                    std::fs::read(path)
                        .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?,
                )),
                None => ClientTlsConfig::new().with_enabled_roots(),
            };
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| format!("--connect {url}: {e}"))?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            Error::unavailable(format!("cannot connect to {url}: {}", source_text(&e)))
        })?;
        let mut client = FlightServiceClient::new(channel).max_decoding_message_size(usize::MAX);
        let token = match credentials {
            None => None,
            Some((user, password)) => {
                let mut request =
                    Request::new(futures::stream::iter([HandshakeRequest::default()]));
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                request.metadata_mut().insert(
                    "authorization",
                    MetadataValue::try_from(format!("Basic {basic}")).map_err(|_| {
                        "the user name or password cannot be sent in a header".to_string()
                    })?,
                );
                let response = client.handshake(request).await.map_err(said)?;
                let token = response
                    .metadata()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_string)
                    .ok_or("the server gave no session token")?;
                Some(token)
            }
        };
        Ok(RemoteSession {
            client: tokio::sync::Mutex::new(client),
            token,
            url: url.to_string(),
        })
    }

    fn request<T>(&self, message: T) -> Result<Request<T>, Error> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            request.metadata_mut().insert(
                "authorization",
                MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| "bad session token".to_string())?,
            );
        }
        Ok(request)
    }

    async fn fetch(&self, info: FlightInfo) -> Result<Output, Error> {
        let schema: SchemaRef = Arc::new(
            info.clone()
                .try_decode_schema()
                .map_err(|e| format!("the server sent a bad schema: {e}"))?,
        );
        let mut batches = Vec::new();
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let request = self.request(ticket)?;
            let stream = self
                .client
                .lock()
                .await
                .do_get(request)
                .await
                .map_err(said)?
                .into_inner();
            let decoded =
                FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from));
            let mut part: Vec<RecordBatch> = decoded.try_collect().await.map_err(|e| match e {
                FlightError::Tonic(status) => said(*status),
                other => Error::invalid(other.to_string()),
            })?;
            batches.append(&mut part);
        }
        Ok(Output {
            schema,
            batches,
            txn: None,
            failure: None,
        })
    }

    /// The FlightInfo the server gives for a Flight SQL command.
    async fn info(&self, command: impl ProstMessageExt) -> Result<FlightInfo, Error> {
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        let request = self.request(descriptor)?;
        let info = self
            .client
            .lock()
            .await
            .get_flight_info(request)
            .await
            .map_err(said)?;
        Ok(info.into_inner())
    }

    /// Runs one statement on the server.
    pub async fn execute(&self, sql: &str) -> Result<Output, Error> {
        let info = self
            .info(CommandStatementQuery {
                query: sql.to_string(),
                transaction_id: None,
            })
            .await?;
        self.fetch(info).await
    }

    /// Every table's path and its columns, for completion.
    pub async fn tables(&self) -> Result<Vec<(String, Vec<String>)>, Error> {
        let info = self
            .info(CommandGetTables {
                include_schema: true,
                ..Default::default()
            })
            .await?;
        let output = self.fetch(info).await?;
        let mut out = Vec::new();
        for batch in &output.batches {
            let column = |name: &str| batch.column_by_name(name).cloned();
            let (Some(schemas), Some(tables), Some(encoded)) = (
                column("db_schema_name"),
                column("table_name"),
                column("table_schema"),
            ) else {
                continue;
            };
            let (Some(schemas), Some(tables), Some(encoded)) = (
                schemas.as_any().downcast_ref::<StringArray>(),
                tables.as_any().downcast_ref::<StringArray>(),
                encoded.as_any().downcast_ref::<BinaryArray>(),
            ) else {
                continue;
            };
            for row in 0..batch.num_rows() {
                let dir = schemas.value(row);
                let path = match dir {
                    "system" => format!("pond.system.{}", tables.value(row)),
                    "/" => format!("/{}", tables.value(row)),
                    _ => format!("{dir}/{}", tables.value(row)),
                };
                let columns = if encoded.is_null(row) {
                    Vec::new()
                } else {
                    arrow_flight::IpcMessage(encoded.value(row).to_vec().into())
                        .try_into()
                        .map(|s: Schema| s.fields().iter().map(|f| f.name().clone()).collect())
                        .unwrap_or_default()
                };
                out.push((path, columns));
            }
        }
        Ok(out)
    }
}

/// The innermost cause of a connection error (tonic's outer text is
/// only "transport error").
fn source_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text = inner.to_string();
        cause = inner.source();
    }
    text
}
