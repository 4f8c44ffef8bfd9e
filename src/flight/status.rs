//! What a client and the server's log are told of a statement: the
//! gRPC code a failure's cause calls for, and one log line per statement.

use std::time::Instant;

use datafusion::error::DataFusionError;
use tonic::Status;

use crate::{error_kind, user_message, ErrorKind};

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
