//! Staging changes to directories: create, drop (with CASCADE), rename,
//! and the entries each directory version lists.

use super::*;

impl Staging {
    pub(super) fn create_directory(&mut self, path: &PondPath, if_not_exists: bool) -> Result<()> {
        if let Some(existing) = self.view.resolve(path) {
            if existing.kind() != Kind::Directory {
                return Err(StorageError::AlreadyExists {
                    path: path.clone(),
                    kind: existing.kind().as_str(),
                    hint: ": choose another name",
                });
            }
            if if_not_exists {
                return Ok(());
            }
            return Err(StorageError::AlreadyExists {
                path: path.clone(),
                kind: "directory",
                hint: ": use CREATE DIRECTORY IF NOT EXISTS to allow that",
            });
        }
        // Create missing parents first (like `mkdir -p`).
        let parent_path = parent_of(path)?;
        let parent = match self.view.resolve(&parent_path) {
            Some(p) if p.kind() == Kind::Directory => p,
            Some(p) => {
                return Err(StorageError::WrongKind {
                    path: parent_path,
                    actual: p.kind().as_str(),
                    expected: "directory",
                })
            }
            None => {
                self.create_directory(&parent_path, true)?;
                self.view.require_directory(&parent_path)?
            }
        };
        let id = NodeId::random();
        let attrs = Attrs {
            entries: Some(Arc::default()),
            ..Attrs::default()
        };
        self.stage(self.new_version(
            NewVersion {
                part_id: id.clone(),
                node_id: id.clone(),
                kind: Kind::Directory,
                op: VersionOp::Create,
                version: 1,
            },
            attrs,
            None,
        ));
        self.set_entry(
            &parent,
            path.name(),
            Some(DirEntry {
                node: id,
                kind: Kind::Directory,
            }),
        );
        Ok(())
    }

    pub(super) fn drop_directory(
        &mut self,
        path: &PondPath,
        if_exists: bool,
        cascade: bool,
    ) -> Result<()> {
        if path.is_root() {
            return Err(StorageError::Invalid(
                "the root directory '/' cannot be dropped".into(),
            ));
        }
        let Some(dir) = self.view.resolve(path) else {
            return if if_exists {
                Ok(())
            } else {
                Err(StorageError::MissingDirectory(path.clone()))
            };
        };
        if dir.kind() != Kind::Directory {
            return Err(StorageError::WrongKind {
                path: path.clone(),
                actual: dir.kind().as_str(),
                expected: "directory",
            });
        }
        let count = dir.latest.entries().map_or(0, |e| e.len());
        if count > 0 && !cascade {
            return Err(StorageError::NotEmpty {
                path: path.clone(),
                count,
            });
        }
        self.unlink(path)
    }

    pub(super) fn rename(&mut self, from: &PondPath, to: &PondPath) -> Result<()> {
        let node = self.view.require(from)?;
        if node.kind() == Kind::Directory {
            return Err(StorageError::Invalid(format!(
                "{from} is a directory: ALTER TABLE … RENAME TO moves tables and views"
            )));
        }
        if let Some(existing) = self.view.resolve(to) {
            return Err(StorageError::AlreadyExists {
                path: to.clone(),
                kind: existing.kind().as_str(),
                hint: ": drop it first or choose another name",
            });
        }
        let target_dir = self.view.require_directory(&parent_of(to)?)?;
        let entry = DirEntry {
            node: node.id().clone(),
            kind: node.kind(),
        };
        self.unlink(from)?;
        // Re-resolve: unlinking may have staged a new version of the same directory.
        let target_dir = self.view.require_directory(&target_dir.path)?;
        self.set_entry(&target_dir, to.name(), Some(entry));
        Ok(())
    }

    /// Removes `path` from its parent's listing.
    pub(super) fn unlink(&mut self, path: &PondPath) -> Result<()> {
        let parent = self.view.require_directory(&parent_of(path)?)?;
        self.set_entry(&parent, path.name(), None);
        Ok(())
    }

    /// Writes a new version of `dir` with `name` set to `entry` (or removed).
    /// The version stores what changed since the directory's committed
    /// version, or the whole listing when [`store_full_listing`] says so.
    pub(super) fn set_entry(&mut self, dir: &Resolved, name: &str, entry: Option<DirEntry>) {
        let latest = &dir.latest;
        let mut listing = latest.entries().cloned().unwrap_or_default();
        match &entry {
            Some(e) => listing.insert(name.to_string(), e.clone()),
            None => listing.remove(name),
        };
        let staged_here = latest.txn == self.txn;
        let (version, op) = if staged_here {
            (latest.version, latest.op)
        } else {
            (latest.version + 1, VersionOp::Update)
        };
        // One version per directory per txn: a second change in this txn
        // adds to the changes the staged version holds.
        let changes_so_far = match (&latest.attrs.entries_changed, staged_here) {
            (_, false) => Some((BTreeMap::new(), latest.listing_changes())),
            (Some(changed), true) => {
                Some((changed.clone(), latest.listing_changes() - changed.len()))
            }
            (None, true) => None,
        };
        let delta = changes_so_far.and_then(|(mut changed, before)| {
            changed.insert(name.to_string(), entry);
            let changes = before + changed.len();
            (!store_full_listing(changes, listing.len())).then_some((changed, changes))
        });
        let listing = Arc::new(listing);
        let (attrs, changes) = match delta {
            Some((changed, changes)) => (
                Attrs {
                    entries_changed: Some(changed),
                    ..Attrs::default()
                },
                changes,
            ),
            None => (
                Attrs {
                    entries: Some(listing.clone()),
                    ..Attrs::default()
                },
                0,
            ),
        };
        let id = dir.id().clone();
        let mut next = self.new_version(
            NewVersion {
                part_id: id.clone(),
                node_id: id,
                kind: Kind::Directory,
                op,
                version,
            },
            attrs,
            None,
        );
        next.listing = OnceLock::from((listing, changes));
        self.stage(next);
    }
}
