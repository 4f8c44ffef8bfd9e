//! Rows on the wire: record batches as Flight data (in their wire types)
//! and back, and schemas as IPC bytes.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::{IpcMessage, SchemaAsIpc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::{Request, Status};

use super::metadata;
use super::status::status_of;

/// Flight data as a gRPC response stream.
pub(super) type Rows = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

pub(super) fn batches_stream(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    ))
}

/// Rows as Flight data, in their wire types ([`metadata::wire_schema`]).
pub(super) fn encode(stream: SendableRecordBatchStream) -> Rows {
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

pub(super) fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?;
    Ok(message.0)
}

/// Reads the record batches a client sent with DoPut.
pub(super) async fn received(
    request: Request<PeekableFlightDataStream>,
) -> Result<Vec<RecordBatch>, Status> {
    FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(FlightError::from))
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("cannot read the data sent: {e}")))
}

/// The rows of bound values, as one batch (a client may send several).
pub(super) fn concat(batches: &[RecordBatch]) -> Result<Option<RecordBatch>, Status> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    datafusion::arrow::compute::concat_batches(&first.schema(), batches)
        .map(Some)
        .map_err(|e| {
            Status::invalid_argument(format!("the bound values do not make one batch: {e}"))
        })
}
