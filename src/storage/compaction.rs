//! Pure planning of merges: which table versions OPTIMIZE merges (runs of
//! consecutive small live versions, up to a target size per merged chunk;
//! the SQL layer writes the chunks and commits a [`Change::Compact`](super::Change)),
//! and which oplog data files oplog compaction merges (the pond does it).

use std::sync::Arc;

use super::node::{ContentRef, NodeVersion};

/// Merged chunks aim at this many bytes of (compressed) content.
pub(crate) const TARGET_CHUNK_BYTES: i64 = 64 * 1024 * 1024;

/// Groups a table's live versions (oldest first) into runs to merge. A run
/// has at least two versions, one of them with rows; versions without
/// content (an empty CREATE, an ALTER) join runs so that they fold away.
/// Versions of half the target size or more are left alone, so a compacted
/// table plans nothing.
pub(crate) fn plan_chunks(live: &[Arc<NodeVersion>], target: i64) -> Vec<Vec<Arc<NodeVersion>>> {
    let mut chunks = Vec::new();
    let mut run: Vec<Arc<NodeVersion>> = Vec::new();
    let mut size = 0;
    let mut flush = |run: &mut Vec<Arc<NodeVersion>>, size: &mut i64| {
        let has_rows = run.iter().any(|v| v.content != ContentRef::None);
        if run.len() >= 2 && has_rows {
            chunks.push(std::mem::take(run));
        }
        run.clear();
        *size = 0;
    };
    for v in live {
        if v.size >= target / 2 {
            flush(&mut run, &mut size);
            continue;
        }
        if !run.is_empty() && size + v.size > target {
            flush(&mut run, &mut size);
        }
        size += v.size;
        run.push(v.clone());
    }
    flush(&mut run, &mut size);
    chunks
}

/// Which of a directory partition's oplog files (path, bytes) to merge:
/// leaving out, largest first, any file bigger than all the smaller ones
/// together, then all of the rest once there are at least `at` of them;
/// none otherwise. Size-tiered, so a byte is rewritten O(log n) times
/// rather than at every merge (a directory's big file would be otherwise),
/// and the files left out at least double in size one to the next, so
/// they stay few. Returned in name (= txn) order.
pub(crate) fn plan_oplog_merge(mut files: Vec<(Arc<str>, u64)>, at: usize) -> Vec<(Arc<str>, u64)> {
    files.sort_by_key(|(_, bytes)| *bytes);
    let mut total: u64 = files.iter().map(|(_, bytes)| bytes).sum();
    while let Some((_, largest)) = files.last() {
        let rest = total - largest;
        if *largest <= rest {
            break;
        }
        total = rest;
        files.pop();
    }
    if files.len() < at {
        return Vec::new();
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::node::{Attrs, Kind, NodeId, VersionOp};

    fn version(n: i64, size: i64) -> Arc<NodeVersion> {
        Arc::new(NodeVersion {
            part_id: NodeId::root(),
            node_id: NodeId::root(),
            version: n,
            txn: n,
            timestamp: 0,
            kind: Kind::Table,
            op: VersionOp::Append,
            content: ContentRef::Blob,
            size,
            rows: Some(1),
            checksum: Some(String::new()),
            min_time: None,
            max_time: None,
            attrs: Arc::new(Attrs::default()),
            sql: None,
            listing: Default::default(),
            previous: None,
        })
    }

    fn numbers(chunks: &[Vec<Arc<NodeVersion>>]) -> Vec<Vec<i64>> {
        chunks
            .iter()
            .map(|c| c.iter().map(|v| v.version).collect())
            .collect()
    }

    #[test]
    fn merges_runs_of_small_versions_up_to_the_target() {
        let live: Vec<_> = (1..=7).map(|n| version(n, 30)).collect();
        assert_eq!(
            numbers(&plan_chunks(&live, 100)),
            [vec![1, 2, 3], vec![4, 5, 6]]
        );
    }

    #[test]
    fn versions_without_content_fold_into_runs() {
        let mut empty = (*version(1, 0)).clone();
        empty.content = ContentRef::None;
        let live = vec![Arc::new(empty.clone()), version(2, 10)];
        assert_eq!(numbers(&plan_chunks(&live, 100)), [vec![1, 2]]);
        let only_empty = vec![Arc::new(empty.clone()), Arc::new(empty)];
        assert!(plan_chunks(&only_empty, 100).is_empty());
    }

    #[test]
    fn oplog_merges_leave_out_files_bigger_than_the_rest() {
        let files = |sizes: &[u64]| -> Vec<(Arc<str>, u64)> {
            sizes
                .iter()
                .enumerate()
                .map(|(i, s)| (Arc::from(format!("{i:02}")), *s))
                .collect()
        };
        let names = |plan: Vec<(Arc<str>, u64)>| -> Vec<String> {
            plan.into_iter().map(|(n, _)| n.to_string()).collect()
        };
        // A directory's big file stays; the 16 small ones merge.
        let mut sizes = vec![400_000];
        sizes.extend([2_000; 16]);
        let plan = names(plan_oplog_merge(files(&sizes), 16));
        assert_eq!(plan.len(), 16);
        assert!(!plan.contains(&"00".to_string()));
        // Equal tiers merge together; too few candidates, nothing.
        assert_eq!(
            plan_oplog_merge(files(&[32_000, 2_000, 30_000]), 3).len(),
            3
        );
        assert!(plan_oplog_merge(files(&[400_000, 2_000, 2_000]), 3).is_empty());
        assert!(plan_oplog_merge(files(&[2_000; 15]), 16).is_empty());
    }

    #[test]
    fn big_versions_break_runs_and_stay() {
        let live = vec![
            version(1, 10),
            version(2, 60),
            version(3, 10),
            version(4, 10),
        ];
        assert_eq!(numbers(&plan_chunks(&live, 100)), [vec![3, 4]]);
        assert!(plan_chunks(&[version(1, 10)], 100).is_empty());
    }
}
