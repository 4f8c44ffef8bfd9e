//! A progress line on the terminal for statements that run longer than a
//! second: rows and bytes so far, and elapsed time. Only on a TTY.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::SessionPond;

/// Shows progress until dropped.
pub struct ProgressLine {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressLine {
    /// No progress: the work is done elsewhere (a server).
    pub fn start_elsewhere() -> Self {
        ProgressLine { task: None }
    }

    /// Starts showing progress after a second, on stderr, if `enabled`.
    pub fn start(pond: Arc<SessionPond>, enabled: bool) -> Self {
        if !enabled {
            return ProgressLine { task: None };
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            loop {
                let (rows, bytes) = pond.progress().get();
                let mut err = std::io::stderr();
                let _ = write!(
                    err,
                    "\r\x1b[K{} rows, {}, {:.1} s (Ctrl-C cancels)",
                    rows,
                    human_bytes(bytes),
                    started.elapsed().as_secs_f64()
                );
                let _ = err.flush();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        ProgressLine { task: Some(task) }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
