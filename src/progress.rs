//! Counters of the work a running statement has done (rows and bytes, or
//! a transfer's objects and bytes), for a progress display. Updated by
//! writers, result collection and BACKUP; read by whoever shows progress.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::storage::transfer::Moved;

#[derive(Debug, Default)]
pub struct Progress {
    rows: AtomicU64,
    bytes: AtomicU64,
    /// Set while the statement copies objects (BACKUP).
    transfer: Mutex<Option<Arc<Moved>>>,
}

impl Progress {
    pub fn reset(&self) {
        self.rows.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        *self.transfer.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Counters for a transfer that this statement starts.
    pub(crate) fn start_transfer(&self) -> Arc<Moved> {
        let moved = Arc::new(Moved::default());
        *self.transfer.lock().unwrap_or_else(PoisonError::into_inner) = Some(moved.clone());
        moved
    }

    /// The running statement's transfer, if it is one.
    pub fn transfer(&self) -> Option<Arc<Moved>> {
        self.transfer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn add(&self, rows: usize, bytes: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// (rows, bytes) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.rows.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}
