//! Where `COPY … TO` may write: host files, outside the pond. Everything
//! under the pond root belongs to storage, and one stray file there (a
//! Delta commit, a blob) could make the pond unopenable.

use std::path::Path;

use crate::catalog::host_access::{resolve, HostAccess};

use datafusion::common::plan_err;
use datafusion::error::Result;

/// Fails when `target` (a path or `file://` URL, relative to the working
/// directory) lies inside `pond_root`, through symlinks too, or out of this
/// session's reach ([`HostAccess`]).
/// `pond_root` is `None` for a pond on an object store (no local path can be inside it).
pub(super) fn check_copy_target(
    target: &str,
    pond_root: Option<&Path>,
    access: &HostAccess,
) -> Result<()> {
    access.check("COPY … TO", target)?;
    let Some(pond_root) = pond_root else {
        return Ok(());
    };
    let local = match target.strip_prefix("file://") {
        Some(path) => path,
        None if target.contains("://") => return Ok(()),
        None => target,
    };
    let target_path = resolve(Path::new(local))?;
    let root = resolve(pond_root)?;
    if target_path.starts_with(&root) {
        return plan_err!(
            "COPY … TO '{target}': that is inside the pond at {} (its files belong to the pond); write to a path outside it",
            pond_root.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_inside_the_pond_are_refused_through_symlinks_and_dot_dots() {
        let dir = tempfile::tempdir().unwrap();
        let pond = dir.path().join("pond");
        std::fs::create_dir_all(pond.join("oplog/_delta_log")).unwrap();
        std::os::unix::fs::symlink(pond.join("oplog"), dir.path().join("link")).unwrap();
        let inside = [
            pond.join("oplog/_delta_log/00000000000000000001.json"),
            pond.join("new/dir/x.csv"),
            dir.path().join("link/_delta_log/x.json"),
            dir.path().join("elsewhere/../pond/x.csv"),
        ];
        for target in inside {
            let text = target.to_str().unwrap();
            assert!(
                check_copy_target(text, Some(&pond), &HostAccess::Anywhere).is_err(),
                "{text}"
            );
            let url = format!("file://{text}");
            assert!(
                check_copy_target(&url, Some(&pond), &HostAccess::Anywhere).is_err(),
                "{url}"
            );
        }
        let outside = dir.path().join("pond-export/x.csv");
        assert!(check_copy_target(
            outside.to_str().unwrap(),
            Some(&pond),
            &HostAccess::Anywhere
        )
        .is_ok());
        assert!(
            check_copy_target(outside.to_str().unwrap(), Some(&pond), &HostAccess::Nowhere)
                .is_err()
        );
    }
}
