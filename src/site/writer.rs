//! The site's files on disk: written whole, only when their bytes change,
//! and what a build no longer makes removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::BuildReport;
use crate::error::Error;

/// Writes files whose bytes changed, and removes data files a build no
/// longer produces.
pub(super) struct Writer {
    root: PathBuf,
    kept: BTreeSet<PathBuf>,
    report: BuildReport,
}

impl Writer {
    pub(super) fn new(root: &Path) -> Result<Writer, Error> {
        std::fs::create_dir_all(root).map_err(|e| {
            Error::unavailable(format!("site: cannot create {}: {e}", root.display()))
        })?;
        Ok(Writer {
            root: root.to_path_buf(),
            kept: BTreeSet::new(),
            report: BuildReport::default(),
        })
    }

    pub(super) fn put(&mut self, relative: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.root.join(relative);
        self.kept.insert(path.clone());
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            self.report.unchanged += 1;
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::unavailable(format!("site: cannot create {}: {e}", parent.display()))
            })?;
        }
        // Whole files only: a reader never sees half of one.
        let staged = path.with_extension("partial");
        std::fs::write(&staged, bytes)
            .and_then(|_| std::fs::rename(&staged, &path))
            .map_err(|e| {
                Error::unavailable(format!("site: cannot write {}: {e}", path.display()))
            })?;
        self.report.written += 1;
        Ok(())
    }

    /// Removes what earlier builds wrote under data/ and series/ and this one did not.
    pub(super) fn finish(mut self) -> Result<BuildReport, Error> {
        for dir in ["data", "series"] {
            let mut stack = vec![self.root.join(dir)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if !self.kept.contains(&path) {
                        std::fs::remove_file(&path).map_err(|e| {
                            Error::unavailable(format!(
                                "site: cannot remove {}: {e}",
                                path.display()
                            ))
                        })?;
                        self.report.removed += 1;
                    }
                }
            }
        }
        Ok(self.report)
    }
}
