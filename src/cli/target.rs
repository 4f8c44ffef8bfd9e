//! Where the CLI's statements go: a pond opened in this process, or a
//! `pondsql serve` reached with `--connect`. Script mode and the REPL run
//! the same way against either.

use std::future::Future;

use crate::flight::client::RemoteSession;
use crate::{Error, Output, PondSession};

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
    ) -> Result<Output, Error> {
        match self {
            Target::Local(session) => session
                .execute_until(sql, cancel)
                .await
                .map_err(Error::from),
            // Dropping the call stops the server's work on it.
            Target::Remote(remote) => tokio::select! {
                result = remote.execute(sql) => result,
                _ = cancel => Err(Error::invalid("cancelled")),
            },
        }
    }

    pub async fn execute(&self, sql: &str) -> Result<Output, Error> {
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
