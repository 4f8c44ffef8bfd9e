//! Counters of one open pond, shown by `pond.system.metrics`.
//!
//! They count work since this process opened the pond, so that pruning can
//! be seen (and tested) as files not opened rather than as time saved, and
//! a lost commit race as a retry rather than as a slow statement.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        /// Counters since the pond was opened; every field is monotonic.
        #[derive(Debug, Default)]
        pub(crate) struct Metrics {
            $(#[doc = $doc] pub(crate) $name: AtomicU64,)*
        }

        impl Metrics {
            /// (name, value, description) of every counter, in a fixed order.
            pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64, &'static str)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed), $doc),)*]
            }
        }
    };
}

counters! {
    scans: "table and glob() scans planned",
    tables_matched: "tables matched by glob() patterns",
    tables_skipped_by_capture: "glob() tables skipped because a filter on a capture column excluded them",
    versions_listed: "live table versions considered by scans",
    versions_skipped_by_time: "versions skipped because their event-time range cannot match the filter",
    contents_opened: "distinct table contents (Parquet files) read (distinct among the last 100,000)",
    content_requests: "read requests to table contents",
    content_bytes_read: "bytes of table contents read",
    commits_retried: "commit attempts that lost a race to another writer and started over",
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
