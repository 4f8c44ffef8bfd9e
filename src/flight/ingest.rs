//! Bulk ingest (`CommandStatementIngest`): the client's DoPut stream, read
//! once as a table, into the pond through `PondSession::ingest`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{CommandStatementIngest, TableExistsOption, TableNotExistOption};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{StreamExt, TryStreamExt};
use tonic::{Request, Status};

use super::auth::ClientSession;
use super::status::{log_statement, status_of};
use crate::error::Error;
use crate::IngestMode;
use crate::PondPath;
use crate::CATALOG;

/// Streams the client's rows into the table the command names.
pub(super) async fn ingest(
    client: &ClientSession,
    command: CommandStatementIngest,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
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
        .map_err(|e| Status::invalid_argument(e.message()))?;
    let options = command.table_definition_options.unwrap_or_default();
    let if_missing = TableNotExistOption::try_from(options.if_not_exist)
        .unwrap_or(TableNotExistOption::Unspecified);
    let if_exists =
        TableExistsOption::try_from(options.if_exists).unwrap_or(TableExistsOption::Unspecified);

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

    let exists = client.session.tree().get(&path).is_some();
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

/// A pond path from a client's catalog/schema/table triple (bulk ingest):
/// the table in schema (directory) `schema`, or an absolute path.
fn ingest_path(schema: Option<&str>, table: &str) -> std::result::Result<PondPath, Error> {
    let text = match schema.filter(|s| !s.is_empty()) {
        Some(dir) if !table.starts_with('/') => format!("{}/{table}", dir.trim_end_matches('/')),
        _ if table.starts_with('/') => table.to_string(),
        _ => format!("/{table}"),
    };
    PondPath::parse(&text).map_err(|e| Error::invalid(format!("'{text}' is not a pond path: {e}")))
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
        match self.stream.lock().expect("ingest lock poisoned").take() {
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
