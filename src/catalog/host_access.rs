//! Which host files a session may read and write: all of them (the local
//! CLI), none (remote sessions of `pondsql serve`), or those under one
//! directory (`serve --allow-host-files DIR`).
//!
//! The policy travels in the session's config ([`HostAccess::of`]) so that
//! every place that opens a host file (`'f.csv'` tables, `read_*()`,
//! ingestion views, `COPY … TO`) asks the same question.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionConfig;

/// Where host files may be read and written. Kept as a config extension.
#[derive(Clone, Debug, Default)]
pub enum HostAccess {
    #[default]
    Anywhere,
    Nowhere,
    /// Only under this directory (absolute, symlinks resolved).
    Under(PathBuf),
}

/// A host file this session may not touch. A structured error so that a
/// front door (Flight SQL) can answer PERMISSION_DENIED without reading text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HostFilesRefused(String);

impl HostAccess {
    /// The policy of the session with this config (`Anywhere` when unset).
    pub(crate) fn of(config: &SessionConfig) -> HostAccess {
        config
            .get_extension::<HostAccess>()
            .map(|a| a.as_ref().clone())
            .unwrap_or_default()
    }

    pub(crate) fn into_config(self, config: SessionConfig) -> SessionConfig {
        config.with_extension(Arc::new(self))
    }

    /// `Under(dir)` with `dir` resolved now, so later checks compare real paths.
    pub fn under(dir: &Path) -> std::io::Result<HostAccess> {
        Ok(HostAccess::Under(dir.canonicalize()?))
    }

    /// Fails unless `target` (a path, glob or `file://` URL; `what` names
    /// the statement part, e.g. `read_csv()`) is within reach.
    pub(crate) fn check(&self, what: &str, target: &str) -> Result<()> {
        let refused = |why: String| {
            Err(DataFusionError::External(Box::new(HostFilesRefused(
                format!("{what} '{target}': {why}"),
            ))))
        };
        let dir = match self {
            HostAccess::Anywhere => return Ok(()),
            HostAccess::Nowhere => {
                return refused(
                    "this session cannot reach the server's files (remote sessions read and write only the pond; the operator can allow one directory with `pondsql serve --allow-host-files DIR`)".into(),
                )
            }
            HostAccess::Under(dir) => dir,
        };
        let outside = || {
            refused(format!(
                "outside {}, the one host directory this server allows",
                dir.display()
            ))
        };
        let local = match target.strip_prefix("file://") {
            Some(path) => path,
            None if target.contains("://") => return outside(),
            None => target,
        };
        // A glob reaches what is under its fixed prefix.
        let fixed = match local.find(['*', '?', '[', '{']) {
            Some(i) => &local[..i],
            None => local,
        };
        if resolve(Path::new(fixed))?.starts_with(dir) {
            Ok(())
        } else {
            outside()
        }
    }
}

/// The absolute form of `path` with every symlink of its existing part
/// resolved; the part that does not exist yet is appended as written.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(name) => out.push(name),
                    _ => {}
                }
            }
            return Ok(out);
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_allows_its_directory_only_through_links_and_dot_dots_too() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("drop");
        std::fs::create_dir(&allowed).unwrap();
        std::os::unix::fs::symlink("/etc", allowed.join("escape")).unwrap();
        let access = HostAccess::under(&allowed).unwrap();
        let at = |p: &str| allowed.join(p).display().to_string();
        assert!(access.check("reading", &at("a.csv")).is_ok());
        assert!(access.check("reading", &at("new/*.csv")).is_ok());
        assert!(access
            .check("reading", &format!("file://{}", at("a.csv")))
            .is_ok());
        for outside in [
            at("../a.csv"),
            at("escape/passwd"),
            "/etc/passwd".into(),
            "s3://b/k".into(),
        ] {
            let err = access.check("reading", &outside).unwrap_err();
            assert!(
                err.to_string()
                    .contains("the one host directory this server allows"),
                "{outside}: {err}"
            );
        }
        assert!(HostAccess::Nowhere.check("reading", &at("a.csv")).is_err());
        assert!(HostAccess::Anywhere.check("reading", "/etc/passwd").is_ok());
    }
}
