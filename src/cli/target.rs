//! Where the CLI's statements go: a pond opened in this process, or a
//! `pondsql serve` reached with `--connect`. Script mode and the REPL run
//! the same way against either.

use std::future::Future;

use crate::flight::client::RemoteSession;
use crate::{error_kind, user_message, ErrorKind, Output, PondSession};

/// A statement that failed: the one-line message the user sees, and its
/// kind where the pond is local (it decides the exit code).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub kind: Option<ErrorKind>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Failure> for String {
    fn from(failure: Failure) -> String {
        failure.message
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            kind: None,
        }
    }
}

pub enum Target {
    Local(PondSession),
    Remote(RemoteSession),
}

impl Target {
    /// Runs one statement; gives up when `cancel` completes first. An error
    /// is the one-line message the user sees.
    pub async fn execute_until(
        &self,
        sql: &str,
        cancel: impl Future<Output = ()>,
    ) -> Result<Output, Failure> {
        match self {
            Target::Local(session) => {
                session
                    .execute_until(sql, cancel)
                    .await
                    .map_err(|e| Failure {
                        message: user_message(&e),
                        kind: Some(error_kind(&e)),
                    })
            }
            // Dropping the call stops the server's work on it.
            Target::Remote(remote) => tokio::select! {
                result = remote.execute(sql) => result.map_err(Failure::from),
                _ = cancel => Err(Failure::from("cancelled".to_string())),
            },
        }
    }

    pub async fn execute(&self, sql: &str) -> Result<Output, Failure> {
        self.execute_until(sql, std::future::pending()).await
    }

    /// Changes an open `BEGIN` block holds here (local ponds only: a
    /// server's block ends with the connection, uncommitted).
    pub fn open_block_len(&self) -> Option<usize> {
        match self {
            Target::Local(session) => session.pond().open_block_len(),
            Target::Remote(_) => None,
        }
    }
}
