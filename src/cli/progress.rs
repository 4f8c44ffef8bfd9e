//! A progress line on the terminal for statements that run longer than a
//! second: rows and bytes so far, and elapsed time. Only on a TTY.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Moved, Progress};

/// Shows progress until dropped.
pub(super) struct ProgressLine {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressLine {
    /// No progress: the work is done elsewhere (a server).
    pub(super) fn start_elsewhere() -> Self {
        ProgressLine { task: None }
    }

    /// Starts showing a statement's progress after a second, on stderr, if `enabled`.
    pub(super) fn start(progress: Arc<Progress>, enabled: bool) -> Self {
        Self::start_with(enabled, move |elapsed| match progress.transfer() {
            Some(moved) => transfer_line(&moved, elapsed),
            None => {
                let (rows, bytes) = progress.get();
                format!(
                    "{} rows, {}, {:.1} s (Ctrl-C cancels)",
                    rows,
                    human_bytes(bytes),
                    elapsed.as_secs_f64()
                )
            }
        })
    }

    /// Shows a transfer's progress (`pondsql restore`).
    pub(super) fn start_transfer(moved: Arc<Moved>, enabled: bool) -> Self {
        Self::start_with(enabled, move |elapsed| transfer_line(&moved, elapsed))
    }

    fn start_with(enabled: bool, line: impl Fn(Duration) -> String + Send + 'static) -> Self {
        if !enabled {
            return ProgressLine { task: None };
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            loop {
                let mut err = std::io::stderr();
                let _ = write!(err, "\r\x1b[K{}", line(started.elapsed()));
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

/// Objects and bytes sent, rate and time left of a transfer (BACKUP, restore).
pub(super) fn transfer_line(moved: &Moved, elapsed: Duration) -> String {
    let (objects, _) = moved.get();
    let (sent, remaining) = moved.bytes_and_remaining();
    let seconds = elapsed.as_secs_f64().max(0.001);
    let rate = sent as f64 / seconds;
    let eta = if rate > 0.0 && remaining > 0 {
        format!(", {:.0} s left", remaining as f64 / rate)
    } else {
        String::new()
    };
    format!(
        "{objects} of {} objects, {} sent, {}/s{eta}, {:.1} s (Ctrl-C stops; the next run resumes)",
        moved.planned_objects(),
        human_bytes(sent),
        human_bytes(rate as u64),
        seconds
    )
}

pub(super) fn human_bytes(bytes: u64) -> String {
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
