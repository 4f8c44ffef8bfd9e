//! Running a client's statements in its session: parsed once, run one at
//! a time (the session's turn), each logged with who ran it; updates sent
//! together commit as one.

use std::time::Instant;

use futures::TryStreamExt;
use tonic::Status;

use super::auth::ClientSession;
use super::status::{affected, log_statement, status_of};
use crate::{Reply, Statement};

/// A client's statement, parsed; a statement that does not parse is
/// logged as one that failed.
pub(super) fn parse(client: &ClientSession, sql: &str) -> Result<Statement, Status> {
    Statement::parse(sql).map_err(|e| {
        log_statement(&client.user, sql, Instant::now(), Some(&e));
        status_of(&e)
    })
}

/// Runs one statement in the caller's session, logging who ran what.
pub(super) async fn run(client: &ClientSession, statement: Statement) -> Result<Reply, Status> {
    let _turn = client.turn.lock().await;
    let started = Instant::now();
    let text = statement.text().to_string();
    let result = client.session.run_streaming(statement).await;
    log_statement(&client.user, &text, started, result.as_ref().err());
    result.map_err(|e| status_of(&e))
}

/// Runs a statement that returns no rows to the client (an update),
/// giving the rows it changed.
pub(super) async fn run_update(
    client: &ClientSession,
    statement: Statement,
) -> Result<i64, Status> {
    match run(client, statement).await? {
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

/// Runs updates as one commit: inside the session's own block if it
/// has one open, else in a block of their own.
pub(super) async fn run_updates(
    client: &ClientSession,
    statements: Vec<Statement>,
) -> Result<i64, Status> {
    let wrap = statements.len() > 1 && !client.session.in_block();
    if wrap {
        client.session.begin().await.map_err(|e| status_of(&e))?;
    }
    let mut total = 0;
    for statement in statements {
        match run_update(client, statement).await {
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

/// Parses and runs a client's statement.
pub(super) async fn parse_and_run(client: &ClientSession, sql: &str) -> Result<Reply, Status> {
    run(client, parse(client, sql)?).await
}
