//! Prepared statements of the server's clients: their text, the values
//! last bound to them, the bound on how many one user keeps open, and
//! their expiry when unused for the server's idle timeout (a client that
//! went away never closes its own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use tonic::Status;

use super::status::{log_line, status_of};
use crate::{Parameterised, Statement};

/// At most this many prepared statements stay open for one user.
const PREPARED_PER_USER: usize = 256;

/// A prepared statement, parsed, and the values last bound to it.
#[derive(Clone)]
pub(super) struct Prepared {
    user: String,
    pub(super) statement: Parameterised,
    pub(super) bound: Option<RecordBatch>,
    last_used: Instant,
}

impl Prepared {
    /// The statements to run with `values` (or the values last bound): one
    /// per row of values, or the statement as it is when it takes none.
    pub(super) fn statements(
        &self,
        values: Option<&RecordBatch>,
    ) -> Result<Vec<Statement>, Status> {
        let p = &self.statement;
        match (p.count, values.or(self.bound.as_ref())) {
            (0, None) => Ok(vec![p.statement.clone()]),
            (0, Some(values)) if values.num_columns() == 0 => Ok(vec![p.statement.clone()]),
            (0, Some(values)) => Err(Status::invalid_argument(format!(
                "the statement takes no parameters, but {} were bound",
                values.num_columns()
            ))),
            (count, None) => Err(Status::invalid_argument(format!(
                "the statement takes {count} parameter(s): bind them before executing it"
            ))),
            (_, Some(values)) => (0..values.num_rows())
                .map(|row| p.bind(values, row).map_err(|e| status_of(&e)))
                .collect(),
        }
    }
}

/// The open prepared statements of one server, by handle.
pub(super) struct PreparedStatements {
    open: Mutex<HashMap<String, Prepared>>,
    /// How long a statement stays open unused.
    idle: Duration,
}

impl PreparedStatements {
    pub(super) fn new(idle: Duration) -> Self {
        PreparedStatements {
            open: Mutex::default(),
            idle,
        }
    }

    /// Closes the statements unused for the idle timeout.
    pub(super) fn drop_idle(&self) {
        self.lock().retain(|_, p| {
            let keep = p.last_used.elapsed() < self.idle;
            if !keep {
                log_line(
                    &p.user,
                    "expired prepared statement",
                    p.statement.statement.text(),
                );
            }
            keep
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Prepared>> {
        // Nothing under this lock panics.
        self.open.lock().expect("prepared statements lock poisoned")
    }

    /// Keeps `statement` for `user`; its handle.
    pub(super) fn open(&self, user: &str, statement: Parameterised) -> Result<String, Status> {
        let mut open = self.lock();
        if open.values().filter(|p| p.user == user).count() >= PREPARED_PER_USER {
            return Err(Status::resource_exhausted(format!(
                "{PREPARED_PER_USER} prepared statements are open for {user}: close those no longer used (ClosePreparedStatement; a driver does it when a statement is closed)"
            )));
        }
        let handle = uuid::Uuid::new_v4().simple().to_string();
        open.insert(
            handle.clone(),
            Prepared {
                user: user.to_string(),
                statement,
                bound: None,
                last_used: Instant::now(),
            },
        );
        Ok(handle)
    }

    /// `user`'s statement under `handle`.
    pub(super) fn get(&self, user: &str, handle: &[u8]) -> Result<Prepared, Status> {
        let key = String::from_utf8_lossy(handle);
        self.lock()
            .get_mut(key.as_ref())
            .filter(|p| p.user == user)
            .map(|p| {
                p.last_used = Instant::now();
                p.clone()
            })
            .ok_or_else(|| {
                Status::not_found(
                    "no such prepared statement: it was closed, or belongs to another session",
                )
            })
    }

    /// Binds `values` to `user`'s statement under `handle` for its next runs.
    pub(super) fn bind(
        &self,
        user: &str,
        handle: &[u8],
        values: Option<RecordBatch>,
    ) -> Result<(), Status> {
        let key = String::from_utf8_lossy(handle);
        let mut open = self.lock();
        let statement = open
            .get_mut(key.as_ref())
            .filter(|p| p.user == user)
            .ok_or_else(|| Status::not_found("no such prepared statement: it was closed"))?;
        let count = statement.statement.count;
        if let Some(v) = values
            .as_ref()
            .filter(|v| count > 0 && v.num_columns() != count)
        {
            return Err(Status::invalid_argument(format!(
                "the statement takes {count} parameter(s), but {} were bound",
                v.num_columns()
            )));
        }
        statement.bound = values;
        statement.last_used = Instant::now();
        Ok(())
    }

    /// Closes `user`'s statement under `handle` (nothing when there is none).
    pub(super) fn close(&self, user: &str, handle: &[u8]) {
        let key = String::from_utf8_lossy(handle);
        let mut open = self.lock();
        if open.get(key.as_ref()).is_some_and(|p| p.user == user) {
            open.remove(key.as_ref());
        }
    }
}
