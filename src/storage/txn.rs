//! Transactions: logical changes to the tree, and how they turn into node versions.
//!
//! A [`Change`] says what a statement wants ("create table /a/t"), not which
//! rows it writes, so a commit that lost a race can be re-applied to the newer
//! tree. [`Staging`] applies changes to a [`View`] and validates them; it does
//! no IO (contents are written before a change is made).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};

use super::error::{Result, StorageError};
use super::index::{Overlay, Resolved, View};
use super::node::{
    store_full_listing, stored_listing, Attrs, ContentRef, DirEntry, Kind, NodeId, NodeVersion,
    VersionOp,
};
use super::path::PondPath;

mod directories;
mod tables;

pub(crate) use super::change::{
    Change, CompactedChunk, Content, CreateMode, Placement, ViewOutput,
};

/// Applies changes on top of a view, producing the versions of one transaction.
pub(crate) struct Staging {
    view: View,
    txn: i64,
    timestamp: i64,
    sql: Arc<str>,
    inline: HashMap<String, Bytes>,
}

impl Staging {
    pub(crate) fn new(base: View, txn: i64, timestamp: i64, sql: &str) -> Self {
        Staging {
            view: base,
            txn,
            timestamp,
            sql: Arc::from(sql),
            inline: HashMap::new(),
        }
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    pub(crate) fn into_view(self) -> View {
        self.view
    }

    pub(crate) fn overlay(&self) -> &Overlay {
        self.view.overlay()
    }

    /// Inline content bytes by checksum, for the rows being written.
    pub(crate) fn inline_content(&self, checksum: &str) -> Option<&Bytes> {
        self.inline.get(checksum)
    }

    pub(crate) fn apply(&mut self, change: &Change) -> Result<()> {
        match change {
            Change::CreateDirectory {
                path,
                if_not_exists,
            } => self.create_directory(path, *if_not_exists),
            Change::DropDirectory {
                path,
                if_exists,
                cascade,
            } => self.drop_directory(path, *if_exists, *cascade),
            Change::CreateTable {
                path,
                schema,
                time_column,
                content,
                mode,
            } => {
                let attrs = Attrs {
                    schema: Some(schema.clone()),
                    time_column: time_column.clone(),
                    ..Attrs::default()
                };
                self.create_leaf(path, Kind::Table, attrs, content.as_ref(), *mode)
            }
            Change::WriteTable {
                path,
                content,
                overwrite,
            } => self.write_table(path, content.as_ref(), *overwrite),
            Change::CreateView {
                path,
                query,
                schema,
                mode,
            } => {
                let attrs = Attrs {
                    schema: Some(schema.clone()),
                    query: Some(query.clone()),
                    ..Attrs::default()
                };
                self.create_leaf(path, Kind::View, attrs, None, *mode)
            }
            Change::Drop {
                path,
                kind,
                if_exists,
            } => self.drop_leaf(path, *kind, *if_exists),
            Change::Rename { from, to } => self.rename(from, to),
            Change::AddColumn {
                path,
                column,
                if_not_exists,
            } => self.add_column(path, column, *if_not_exists),
            Change::SetTimeColumn { path, column } => self.set_time_column(path, column.as_deref()),
            Change::Compact { path, base, chunks } => self.compact(path, *base, chunks),
            Change::Rewrite {
                path,
                after,
                first,
                last,
                content,
            } => self.rewrite(path, *after, [*first, *last], content.as_ref()),
            Change::CreateMaterializedView {
                path,
                query,
                schema,
                time_column,
                output,
                mode,
            } => {
                let attrs = Attrs {
                    schema: Some(schema.clone()),
                    time_column: time_column.clone(),
                    query: Some(query.clone()),
                    stored_query: Some(output.state.clone()),
                    ingested: (!output.ingested.is_empty()).then(|| output.ingested.clone()),
                    ..Attrs::default()
                };
                let content = output.content.as_ref();
                self.create_leaf(path, Kind::MaterializedView, attrs, content, *mode)
            }
            Change::RefreshView {
                path,
                output,
                after,
            } => self.refresh_view(path, output, *after),
        }
    }

    fn create_leaf(
        &mut self,
        path: &PondPath,
        kind: Kind,
        attrs: Attrs,
        content: Option<&Content>,
        mode: CreateMode,
    ) -> Result<()> {
        let parent_path = path.parent().ok_or_else(|| {
            StorageError::Invalid(format!(
                "'/' is the root directory; a {kind} needs a name below it"
            ))
        })?;
        let parent = self.view.require_directory(&parent_path)?;
        match self.view.resolve(path) {
            None => {
                let id = NodeId::random();
                self.stage_content(content);
                let version = self.new_version(
                    NewVersion {
                        part_id: parent.id().clone(),
                        node_id: id.clone(),
                        kind,
                        op: VersionOp::Create,
                        version: 1,
                    },
                    attrs,
                    content,
                );
                self.stage(version);
                self.set_entry(&parent, path.name(), Some(DirEntry { node: id, kind }));
                Ok(())
            }
            Some(existing) if existing.kind() != kind || mode == CreateMode::Fail => {
                let hint = match (existing.kind(), kind) {
                    (Kind::Table, Kind::Table) => {
                        ": use CREATE OR REPLACE TABLE, or INSERT INTO to add rows"
                    }
                    (Kind::View, Kind::View) => ": use CREATE OR REPLACE VIEW",
                    (Kind::MaterializedView, Kind::MaterializedView) => {
                        ": use CREATE OR REPLACE MATERIALIZED VIEW, or IF NOT EXISTS"
                    }
                    _ => ": drop it first or choose another name",
                };
                Err(StorageError::AlreadyExists {
                    path: path.clone(),
                    kind: existing.kind().as_str(),
                    hint,
                })
            }
            Some(_) if mode == CreateMode::IfNotExists => Ok(()),
            Some(existing) => {
                self.stage_content(content);
                let version = self.new_version(
                    NewVersion::after(&parent, &existing, kind, VersionOp::Replace),
                    attrs,
                    content,
                );
                self.stage(version);
                Ok(())
            }
        }
    }

    fn require_table(&self, path: &PondPath) -> Result<Resolved> {
        self.require_kind(path, Kind::Table)
    }

    fn require_kind(&self, path: &PondPath, kind: Kind) -> Result<Resolved> {
        let node = self.view.require(path)?;
        if node.kind() != kind {
            return Err(StorageError::WrongKind {
                path: path.clone(),
                actual: node.kind().as_str(),
                expected: kind.as_str(),
            });
        }
        Ok(node)
    }

    fn drop_leaf(&mut self, path: &PondPath, kind: Kind, if_exists: bool) -> Result<()> {
        match self.view.resolve(path) {
            None if if_exists => Ok(()),
            None => Err(StorageError::NotFound(path.clone())),
            Some(found) if found.kind() != kind => Err(StorageError::WrongKind {
                path: path.clone(),
                actual: found.kind().as_str(),
                expected: kind.as_str(),
            }),
            Some(_) => self.unlink(path),
        }
    }

    fn stage_content(&mut self, content: Option<&Content>) {
        if let Some(Content {
            checksum,
            inline: Some(bytes),
            ..
        }) = content
        {
            self.inline.insert(checksum.clone(), bytes.clone());
        }
    }

    fn stage(&mut self, version: NodeVersion) {
        self.view.overlay_mut().push(version);
    }

    fn new_version(&self, at: NewVersion, attrs: Attrs, content: Option<&Content>) -> NodeVersion {
        let NewVersion {
            part_id,
            node_id,
            kind,
            op,
            version,
        } = at;
        NodeVersion {
            part_id,
            node_id,
            version,
            txn: self.txn,
            timestamp: self.timestamp,
            kind,
            op,
            content: match content {
                None => ContentRef::None,
                Some(c) if c.inline.is_some() => ContentRef::Staged,
                Some(_) => ContentRef::Blob,
            },
            size: content.map_or(0, |c| c.size),
            rows: kind.holds_rows().then(|| content.map_or(0, |c| c.rows)),
            checksum: content.map(|c| c.checksum.clone()),
            min_time: content.and_then(|c| c.min_time),
            max_time: content.and_then(|c| c.max_time),
            listing: stored_listing(&attrs),
            previous: None,
            // A version's block checksums are its own content's, never carried over.
            attrs: Arc::new(Attrs {
                blocks: content.and_then(|c| c.blocks.clone()),
                ..attrs
            }),
            sql: Some(self.sql.clone()),
        }
    }
}

/// The attributes every new version of a table or materialized view keeps:
/// its columns, time column, query and refresh state.
fn carried_attrs(latest: &NodeVersion) -> Attrs {
    Attrs {
        schema: latest.attrs.schema.clone(),
        time_column: latest.attrs.time_column.clone(),
        query: latest.attrs.query.clone(),
        stored_query: latest.attrs.stored_query.clone(),
        ..Attrs::default()
    }
}

/// The directory holding `path`. Only the root has none, and only a damaged
/// oplog makes the root anything but a directory, so that is what it says.
fn parent_of(path: &PondPath) -> Result<PondPath> {
    path.parent().ok_or_else(|| {
        StorageError::Invalid(
            "the oplog names the root '/' as something other than a directory: the pond is damaged; restore it from a backup".into(),
        )
    })
}

/// Which version a transaction stages: of which node, in which
/// directory's partition, made by which operation.
struct NewVersion {
    part_id: NodeId,
    node_id: NodeId,
    kind: Kind,
    op: VersionOp,
    version: i64,
}

impl NewVersion {
    /// The next version of `node`, a `kind` in `parent`'s partition.
    fn after(parent: &Resolved, node: &Resolved, kind: Kind, op: VersionOp) -> Self {
        NewVersion {
            part_id: parent.id().clone(),
            node_id: node.id().clone(),
            kind,
            op,
            version: node.latest.version + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn path(text: &str) -> PondPath {
        PondPath::parse(text).unwrap()
    }

    fn content(tag: &str, rows: i64) -> Option<Content> {
        Some(Content {
            checksum: format!("{tag:0>64}"),
            size: 1,
            rows,
            min_time: None,
            max_time: None,
            inline: Some(Bytes::from(tag.to_string())),
            blocks: None,
        })
    }

    fn create_table(at: &str) -> Change {
        Change::CreateTable {
            path: path(at),
            schema: Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)])),
            time_column: None,
            content: None,
            mode: CreateMode::Fail,
        }
    }

    fn append(at: &str, tag: &str) -> Change {
        Change::WriteTable {
            path: path(at),
            content: content(tag, 1),
            overwrite: false,
        }
    }

    #[test]
    fn staging_builds_the_tree_and_names_what_it_refuses() {
        let mut staging = Staging::new(View::of_empty_pond(), 1, 0, "test");
        let mkdir = |p: &str, if_not_exists| Change::CreateDirectory {
            path: path(p),
            if_not_exists,
        };
        staging.apply(&mkdir("/a/b", false)).unwrap(); // parents too, as mkdir -p
        staging.apply(&create_table("/a/b/t")).unwrap();
        let view = staging.view();
        assert_eq!(view.resolve(&path("/a")).unwrap().kind(), Kind::Directory);
        assert_eq!(view.resolve(&path("/a/b/t")).unwrap().kind(), Kind::Table);

        staging.apply(&mkdir("/a/b", true)).unwrap();
        let again = staging.apply(&mkdir("/a/b", false)).unwrap_err();
        assert!(
            matches!(again, StorageError::AlreadyExists { .. }),
            "{again}"
        );
        let not_empty = staging
            .apply(&Change::DropDirectory {
                path: path("/a"),
                if_exists: false,
                cascade: false,
            })
            .unwrap_err();
        assert!(
            matches!(not_empty, StorageError::NotEmpty { count: 1, .. }),
            "{not_empty}"
        );
        let nowhere = staging
            .apply(&Change::Rename {
                from: path("/a/b/t"),
                to: path("/c/t"),
            })
            .unwrap_err();
        assert!(
            matches!(nowhere, StorageError::MissingDirectory(_)),
            "{nowhere}"
        );
        let wrong = staging.apply(&append("/a/b", "x")).unwrap_err();
        assert!(matches!(wrong, StorageError::WrongKind { .. }), "{wrong}");

        staging
            .apply(&Change::Rename {
                from: path("/a/b/t"),
                to: path("/a/t"),
            })
            .unwrap();
        assert!(staging.view().resolve(&path("/a/b/t")).is_none());
        staging
            .apply(&Change::DropDirectory {
                path: path("/a"),
                if_exists: false,
                cascade: true,
            })
            .unwrap();
        assert!(staging.view().resolve(&path("/a/t")).is_none());
        assert!(staging.view().resolve(&path("/a")).is_none());
        // Every staged version belongs to this transaction.
        assert!(staging.overlay().versions().all(|v| v.txn == 1));
    }

    #[test]
    fn live_versions_hide_what_chunks_replaced_and_start_at_the_newest_base() {
        let mut staging = Staging::new(View::of_empty_pond(), 1, 0, "test");
        staging.apply(&create_table("/t")).unwrap();
        for tag in ["a", "b", "c", "d"] {
            staging.apply(&append("/t", tag)).unwrap(); // versions 2..=5
        }
        let live = |s: &Staging| -> Vec<i64> {
            let id = s.view().resolve(&path("/t")).unwrap().id().clone();
            s.view()
                .live_versions(&id)
                .iter()
                .map(|v| v.version)
                .collect()
        };
        assert_eq!(live(&staging), [1, 2, 3, 4, 5]);
        let chunk = |first, last, tag| CompactedChunk {
            first,
            last,
            content: content(tag, last - first + 1).unwrap(),
        };
        // OPTIMIZE of one chunk, from the base the table was created with.
        let optimize = |chunk| Change::Compact {
            path: path("/t"),
            base: 1,
            chunks: vec![chunk],
        };
        staging.apply(&optimize(chunk(2, 3, "ab"))).unwrap(); // version 6
        assert_eq!(live(&staging), [1, 4, 5, 6]);
        // A chunk over an older chunk replaces what that one replaced too.
        staging.apply(&optimize(chunk(4, 6, "abcd"))).unwrap(); // version 7
        assert_eq!(live(&staging), [1, 7]);
        // A stale OPTIMIZE (the base moved) is refused.
        staging
            .apply(&Change::WriteTable {
                path: path("/t"),
                content: content("z", 1),
                overwrite: true,
            })
            .unwrap(); // version 8, a new base
        assert_eq!(live(&staging), [8]);
        let stale = staging.apply(&optimize(chunk(2, 3, "ab"))).unwrap_err();
        assert!(
            stale.to_string().contains("overwritten while OPTIMIZE ran"),
            "{stale}"
        );
    }

    #[test]
    fn the_root_has_no_parent_and_says_the_oplog_is_damaged() {
        let err = parent_of(&PondPath::root()).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert_eq!(parent_of(&path("/a/t")).unwrap(), path("/a"));
    }
}
