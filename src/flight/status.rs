//! What a client and the server's log are told of a statement: the
//! gRPC code a failure's cause calls for, the rows a write changed, and
//! one log line per statement.

use std::time::Instant;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use tonic::Status;

use crate::{error_kind, user_message, ErrorKind, Output};

/// What a client is told of a failed statement: the CLI's one-line
/// message, with the gRPC code its kind calls for.
pub(crate) fn status_of(err: &DataFusionError) -> Status {
    let message = user_message(err);
    match error_kind(err) {
        ErrorKind::NotFound => Status::not_found(message),
        ErrorKind::AlreadyExists => Status::already_exists(message),
        ErrorKind::Conflict => Status::aborted(message),
        ErrorKind::PermissionDenied => Status::permission_denied(message),
        ErrorKind::Unavailable => Status::unavailable(message),
        ErrorKind::Corrupt => Status::data_loss(message),
        ErrorKind::ResourceExhausted => Status::resource_exhausted(format!(
            "{message} (the server's limit is shared by all sessions; results waiting to be fetched hold theirs until fetched or cancelled)"
        )),
        ErrorKind::Unimplemented => Status::unimplemented(message),
        ErrorKind::Internal => Status::internal(message),
        ErrorKind::InvalidInput => Status::invalid_argument(message),
    }
}

/// The kind of failure a gRPC code stands for: the inverse of
/// [`status_of`], so a `--connect` script exits as a local one would.
pub(crate) fn kind_of(code: tonic::Code) -> ErrorKind {
    use tonic::Code;
    match code {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::Aborted => ErrorKind::Conflict,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
        Code::DataLoss => ErrorKind::Corrupt,
        Code::ResourceExhausted => ErrorKind::ResourceExhausted,
        Code::Unimplemented => ErrorKind::Unimplemented,
        Code::Internal | Code::Unknown => ErrorKind::Internal,
        _ => ErrorKind::InvalidInput,
    }
}

/// One line per statement on stderr: when, who, how long, outcome, what.
pub(super) fn log_statement(
    user: &str,
    sql: &str,
    started: Instant,
    error: Option<&DataFusionError>,
) {
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
pub(super) fn log_line(user: &str, what: &str, sql: &str) {
    let text: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    };
    tracing::info!(
        target: super::STATEMENT_LOG,
        "{} {user} {what} | {text}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
    );
}

/// Rows a statement changed: the count DataFusion's writes return; 0 for
/// DDL and other commands.
pub(super) fn affected(output: &Output) -> i64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// Every kind has its own code, and a `--connect` client reads the
    /// kind back from it (so it exits as a local script would).
    #[test]
    fn each_kind_has_a_code_that_reads_back_as_the_kind() {
        let kinds = [
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::Conflict,
            ErrorKind::PermissionDenied,
            ErrorKind::Unavailable,
            ErrorKind::Corrupt,
            ErrorKind::ResourceExhausted,
            ErrorKind::Unimplemented,
            ErrorKind::Internal,
            ErrorKind::InvalidInput,
        ];
        let mut codes = Vec::new();
        for kind in kinds {
            let status = status_of(&DataFusionError::from(Error::new(kind, "m")));
            assert_eq!(kind_of(status.code()), kind, "{status:?}");
            codes.push(status.code());
        }
        codes.dedup();
        assert_eq!(codes.len(), kinds.len(), "{codes:?}");
    }
}
