//! Where the CLI's statements go: a pond opened in this process, or a
//! `pondsql serve` reached with `--connect`. Script mode and the REPL run
//! the same way against either.

use std::future::Future;

use crate::flight::client::RemoteSession;
use crate::{Error, Output, PondSession, ScriptStatement};

pub enum Target {
    Local(PondSession),
    Remote(RemoteSession),
}

impl Target {
    /// Runs one statement of a script; gives up when `cancel` completes
    /// first. An error is the one-line message the user sees.
    pub async fn execute_until(
        &self,
        statement: &ScriptStatement,
        cancel: impl Future<Output = ()>,
    ) -> Result<Output, Error> {
        match self {
            Target::Local(session) => session
                .run_until(statement.parse()?, cancel)
                .await
                .map_err(Error::from),
            // The server parses the text it is sent; dropping the call
            // stops its work on it.
            Target::Remote(remote) => tokio::select! {
                result = remote.execute(statement.text()) => result,
                _ = cancel => Err(Error::invalid("cancelled")),
            },
        }
    }

    pub async fn execute(&self, statement: &ScriptStatement) -> Result<Output, Error> {
        self.execute_until(statement, std::future::pending()).await
    }

    /// Runs `sql`, exactly one statement.
    pub async fn execute_sql(&self, sql: &str) -> Result<Output, Error> {
        self.execute(&ScriptStatement::one(sql)?).await
    }

    /// Changes an open `BEGIN` block holds here (local ponds only: a
    /// server's block ends with the connection, uncommitted).
    pub fn open_block_len(&self) -> Option<usize> {
        match self {
            Target::Local(session) => session.open_block_len(),
            Target::Remote(_) => None,
        }
    }
}
