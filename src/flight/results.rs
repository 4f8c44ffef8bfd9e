//! Results waiting for their DoGet. A statement runs when its FlightInfo
//! is asked for; its rows wait under an unguessable ticket until fetched,
//! and are dropped (their query stopped) on cancel, when unclaimed for the
//! server's result timeout ([`UNCLAIMED`] by default),
//! or for newer ones past [`WAITING_PER_USER`]; past [`WAITING_IN_ALL`] a
//! statement is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::execution::SendableRecordBatchStream;
use prost::Message;
use tonic::Status;

use super::metadata;
use super::status::log_line;

/// Rows nobody fetched are dropped (and their query stopped) after this,
/// unless `pondsql serve --result-timeout` says otherwise. A client
/// fetches right after GetFlightInfo; an unfetched result holds what its
/// query has computed ahead (a sort holds all its rows).
pub(crate) const UNCLAIMED: Duration = Duration::from_secs(120);

/// At most this many results wait unfetched for one user: the oldest goes
/// (its query stopped) when another arrives.
const WAITING_PER_USER: usize = 16;

/// At most this many results wait unfetched on the server: past it a
/// statement is refused (RESOURCE_EXHAUSTED) until some are fetched.
const WAITING_IN_ALL: usize = 64;

/// Rows waiting for their DoGet.
struct Pending {
    user: String,
    /// The statement, for the log line of a cancel.
    sql: String,
    stream: SendableRecordBatchStream,
    since: Instant,
}

/// The results waiting on one server, by ticket handle.
pub(super) struct WaitingResults {
    pending: Mutex<HashMap<String, Pending>>,
    /// How long a result waits unfetched.
    unclaimed: Duration,
}

impl WaitingResults {
    pub(super) fn new(unclaimed: Duration) -> Self {
        WaitingResults {
            pending: Mutex::default(),
            unclaimed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        // Nothing under this lock panics.
        self.pending.lock().expect("results lock poisoned")
    }

    /// Keeps rows for their DoGet; returns the FlightInfo that points at them.
    pub(super) fn park(
        &self,
        user: &str,
        sql: &str,
        stream: SendableRecordBatchStream,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let schema = metadata::wire_schema(&stream.schema());
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_total_records(-1)
            .with_ordered(true);
        self.drop_unclaimed();
        let mut pending = self.lock();
        let mut mine: Vec<(&String, Instant)> = pending
            .iter()
            .filter(|(_, p)| p.user == user)
            .map(|(k, p)| (k, p.since))
            .collect();
        if mine.len() >= WAITING_PER_USER {
            mine.sort_by_key(|(_, since)| *since);
            let oldest = mine[0].0.clone();
            pending.remove(&oldest);
        }
        if pending.len() >= WAITING_IN_ALL {
            return Err(Status::resource_exhausted(format!(
                "{WAITING_IN_ALL} results wait unfetched on this server: fetch them (DoGet) or cancel them, or wait {}s for them to expire",
                self.unclaimed.as_secs()
            )));
        }
        pending.insert(
            handle,
            Pending {
                user: user.to_string(),
                sql: sql.to_string(),
                stream,
                since: Instant::now(),
            },
        );
        Ok(info)
    }

    /// Drops the results nobody fetched in time (and stops their queries);
    /// the server calls it now and then, so they go even when no new
    /// statement comes.
    pub(crate) fn drop_unclaimed(&self) {
        self.lock().retain(|_, p| {
            let keep = p.since.elapsed() < self.unclaimed;
            if !keep {
                log_line(&p.user, "expired unfetched", &p.sql);
            }
            keep
        });
    }

    /// The rows under `handle` if `user` parked them; they are fetched once.
    pub(super) fn take(
        &self,
        user: &str,
        handle: &str,
    ) -> Result<SendableRecordBatchStream, Status> {
        let mut pending = self.lock();
        match pending.get(handle) {
            Some(p) if p.user == user => Ok(pending.remove(handle).expect("just found").stream),
            _ => Err(Status::not_found(format!("no rows wait under this ticket: they were fetched already, cancelled, expired ({}s), or dropped for newer ones ({WAITING_PER_USER} results at most wait for one user): run the statement again", self.unclaimed.as_secs()))),
        }
    }

    /// Drops the rows under `handle` (stopping their query) if `user`
    /// parked them; says whether it did.
    pub(super) fn cancel(&self, user: &str, handle: &str) -> bool {
        let mut pending = self.lock();
        if pending.get(handle).is_none_or(|p| p.user != user) {
            return false;
        }
        if let Some(cancelled) = pending.remove(handle) {
            log_line(user, "cancelled", &cancelled.sql);
        }
        true
    }
}
