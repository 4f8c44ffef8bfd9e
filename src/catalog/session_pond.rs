//! The pond as one session sees it: which transaction it reads (`pond.as_of`),
//! the changes its current statement and its open `BEGIN` block have staged,
//! and the [`View`] that results.
//!
//! Shared by the catalog (reads), the table sink (stages writes) and the SQL
//! layer (statement and block boundaries, commits). Owns no storage.

use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::{DataFusionError, Result};

use crate::progress::Progress;
use crate::storage::index::OplogIndex;
use crate::storage::txn::Staging;
use crate::storage::{Change, Pond, StorageError, View};

struct TxnState {
    as_of: Option<i64>,
    base: Arc<OplogIndex>,
    /// Changes of statements already run inside an open `BEGIN` block.
    block: Option<Vec<Change>>,
    /// Changes staged by the statement now running.
    statement: Vec<Change>,
    view: View,
}

pub(crate) struct SessionPond {
    pond: Arc<Pond>,
    state: Mutex<TxnState>,
    progress: Arc<Progress>,
    /// Every write is refused ([`WriteRefused`]).
    read_only: bool,
}

/// A write by a session that may only read. Structured so that a front
/// door (Flight SQL) answers PERMISSION_DENIED without reading text.
#[derive(Debug, thiserror::Error)]
#[error("this session may only read: writes need a user with the write role (pondsql user add --role write), on a server not started with --read-only")]
pub(crate) struct WriteRefused;

impl std::fmt::Debug for SessionPond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionPond({:?})", self.pond)
    }
}

pub(crate) fn external(err: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

impl SessionPond {
    pub(crate) fn new(pond: Arc<Pond>, read_only: bool) -> Self {
        let base = pond.index();
        let view = View::new(base.clone(), None);
        SessionPond {
            pond,
            state: Mutex::new(TxnState {
                as_of: None,
                base,
                block: None,
                statement: Vec::new(),
                view,
            }),
            progress: Arc::default(),
            read_only,
        }
    }

    /// Work done by the running statement, for progress displays.
    pub(crate) fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    fn lock(&self) -> MutexGuard<'_, TxnState> {
        // Poisoned only by a panic while held; nothing under this lock panics
        // (and a half-updated TxnState must not be read on).
        self.state.lock().expect("session pond lock poisoned")
    }

    pub(crate) fn pond(&self) -> &Arc<Pond> {
        &self.pond
    }

    /// What this session reads now.
    pub(crate) fn view(&self) -> View {
        self.lock().view.clone()
    }

    /// Called before each statement: outside a block, catch up with commits
    /// made by anyone since the last statement.
    pub(crate) async fn begin_statement(&self) -> Result<()> {
        self.progress.reset();
        if self.in_block() {
            return Ok(());
        }
        let base = self.pond.refresh().await.map_err(external)?;
        let mut state = self.lock();
        state.base = base;
        state.statement.clear();
        rebuild_view(&mut state)
    }

    /// Fails when the session cannot write (it reads an older txn): lets a
    /// statement fail before doing work whose result it could not stage.
    pub(crate) fn require_writable(&self) -> Result<()> {
        self.writable(self.lock().as_of)
    }

    fn writable(&self, as_of: Option<i64>) -> Result<()> {
        if self.read_only {
            return Err(DataFusionError::External(Box::new(WriteRefused)));
        }
        match as_of {
            Some(txn) => plan_err!(
                "this session reads the pond as of txn {txn}: RESET pond.as_of before writing"
            ),
            None => Ok(()),
        }
    }

    /// Checks a change against the current view without staging it.
    pub(crate) fn validate(&self, change: &Change) -> Result<()> {
        let mut state = self.lock();
        self.writable(state.as_of)?;
        let view = take_view(&mut state);
        let (mut view, result) = try_change(&state, view, change);
        view.overlay_mut().roll_back();
        state.view = view;
        result.map_err(external)
    }

    /// Validates a change against the current view and stages it.
    pub(crate) fn stage(&self, change: Change) -> Result<()> {
        let mut state = self.lock();
        self.writable(state.as_of)?;
        let view = take_view(&mut state);
        let (mut view, result) = try_change(&state, view, &change);
        if let Err(err) = result {
            // A change may fail half-applied: take back what it staged.
            view.overlay_mut().roll_back();
            state.view = view;
            return Err(external(err));
        }
        view.overlay_mut().end_trial();
        // Make this statement's inline contents readable before they are committed.
        match &change {
            Change::CreateTable {
                content: Some(c), ..
            }
            | Change::WriteTable {
                content: Some(c), ..
            } => self.pond.content_store().stage(c),
            Change::Compact { chunks, .. } => {
                for chunk in chunks {
                    self.pond.content_store().stage(&chunk.content);
                }
            }
            _ => {}
        }
        state.view = view;
        state.statement.push(change);
        Ok(())
    }

    /// Ends the statement: outside a block, commits what it staged (returns the txn).
    pub(crate) async fn finish_statement(&self, sql: &str) -> Result<Option<i64>> {
        let changes = {
            let mut state = self.lock();
            let changes = std::mem::take(&mut state.statement);
            if let Some(block) = state.block.as_mut() {
                block.extend(changes);
                return Ok(None);
            }
            changes
        };
        self.commit(changes, sql).await
    }

    /// Forgets what the failed statement staged.
    pub(crate) fn abort_statement(&self) -> Result<()> {
        let mut state = self.lock();
        state.statement.clear();
        rebuild_view(&mut state)
    }

    pub(crate) fn in_block(&self) -> bool {
        self.lock().block.is_some()
    }

    /// How many changes an open `BEGIN` block holds; `None` outside a block.
    pub(crate) fn open_block_len(&self) -> Option<usize> {
        self.lock().block.as_ref().map(Vec::len)
    }

    pub(crate) fn begin_block(&self) -> Result<()> {
        let mut state = self.lock();
        if state.block.is_some() {
            return plan_err!("a transaction is already open: COMMIT or ROLLBACK it first");
        }
        state.block = Some(Vec::new());
        Ok(())
    }

    pub(crate) async fn commit_block(&self, sql: &str) -> Result<Option<i64>> {
        let changes = {
            let mut state = self.lock();
            state.block.take().ok_or_else(|| {
                plan_datafusion_err!("COMMIT without BEGIN: no transaction is open")
            })?
        };
        self.commit(changes, sql).await
    }

    pub(crate) fn rollback_block(&self) -> Result<()> {
        let mut state = self.lock();
        if state.block.take().is_none() {
            return plan_err!("ROLLBACK without BEGIN: no transaction is open");
        }
        rebuild_view(&mut state)
    }

    async fn commit(&self, changes: Vec<Change>, sql: &str) -> Result<Option<i64>> {
        let result = if changes.is_empty() {
            Ok(None)
        } else {
            self.pond.commit(&changes, sql).await
        };
        let mut state = self.lock();
        state.base = self.pond.index();
        rebuild_view(&mut state)?;
        result.map_err(external)
    }

    pub(crate) fn set_as_of(&self, txn: Option<i64>) -> Result<()> {
        let mut state = self.lock();
        if state.block.is_some() {
            return plan_err!(
                "pond.as_of cannot change inside a transaction: COMMIT or ROLLBACK first"
            );
        }
        if let Some(t) = txn {
            let last = state.base.last_txn();
            if t < 0 || t > last {
                return plan_err!(
                    "pond.as_of = {t} is out of range: this pond has transactions 0 to {last} (see pond.system.transactions)"
                );
            }
        }
        state.as_of = txn;
        rebuild_view(&mut state)
    }
}

/// Applies `change` to `view` (the session's own, see [`take_view`]) with
/// its pushes journaled, to be kept or rolled back: neither copies what a
/// BEGIN block staged before (a copy per statement made blocks quadratic).
fn try_change(
    state: &TxnState,
    mut view: View,
    change: &Change,
) -> (View, Result<(), StorageError>) {
    view.overlay_mut().begin_trial();
    let mut staging = Staging::new(view, state.base.last_txn() + 1, now_micros(), "");
    let result = staging.apply(change);
    (staging.into_view(), result)
}

/// The session's view, leaving a placeholder: changes staged on it then
/// do not copy what it holds.
fn take_view(state: &mut TxnState) -> View {
    let placeholder = View::new(state.base.clone(), state.as_of);
    std::mem::replace(&mut state.view, placeholder)
}

/// Writes need the current pond, not an older txn.
/// Recomputes the view from the base, `as_of`, and the staged changes.
fn rebuild_view(state: &mut TxnState) -> Result<()> {
    let mut staging = Staging::new(
        View::new(state.base.clone(), state.as_of),
        state.base.last_txn() + 1,
        now_micros(),
        "",
    );
    for change in state.block.iter().flatten().chain(state.statement.iter()) {
        staging.apply(change).map_err(external)?;
    }
    state.view = staging.view().clone();
    Ok(())
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
