//! Staging changes to tables and materialized views: appends, rewrites,
//! compactions, refreshes and column changes.

use super::*;

impl Staging {
    pub(super) fn write_table(
        &mut self,
        path: &PondPath,
        content: Option<&Content>,
        overwrite: bool,
    ) -> Result<()> {
        let table = self.require_table(path)?;
        if content.is_none() && !overwrite {
            return Ok(()); // appending nothing writes nothing
        }
        let parent = self.view.require_directory(&parent_of(path)?)?;
        self.stage_content(content);
        let op = if overwrite {
            VersionOp::Replace
        } else {
            VersionOp::Append
        };
        let attrs = carried_attrs(&table.latest);
        let version = self.new_version(
            NewVersion::after(&parent, &table, Kind::Table, op),
            attrs,
            content,
        );
        self.stage(version);
        Ok(())
    }

    pub(super) fn refresh_view(
        &mut self,
        path: &PondPath,
        output: &ViewOutput,
        after: i64,
    ) -> Result<()> {
        let view = self.require_kind(path, Kind::MaterializedView)?;
        if view.latest.version != after {
            return Err(StorageError::Invalid(format!(
                "{path} changed while this REFRESH ran (another refresh or OPTIMIZE committed first): run REFRESH again, it does only what is left"
            )));
        }
        let parent = self.view.require_directory(&parent_of(path)?)?;
        let op = match (&output.content, output.placement) {
            (_, Placement::Replace) => VersionOp::Replace,
            (_, Placement::Rewrite(_)) => VersionOp::Rewrite,
            (Some(_), Placement::Append) => VersionOp::Append,
            (None, Placement::Append) => VersionOp::Update,
        };
        let compacts = match output.placement {
            Placement::Rewrite(range) => Some(range),
            _ => None,
        };
        let attrs = Attrs {
            compacts,
            stored_query: Some(output.state.clone()),
            ingested: (!output.ingested.is_empty()).then(|| output.ingested.clone()),
            schema: output
                .schema
                .clone()
                .or_else(|| view.latest.attrs.schema.clone()),
            ..carried_attrs(&view.latest)
        };
        self.stage_content(output.content.as_ref());
        let version = self.new_version(
            NewVersion::after(&parent, &view, Kind::MaterializedView, op),
            attrs,
            output.content.as_ref(),
        );
        self.stage(version);
        Ok(())
    }

    pub(super) fn add_column(
        &mut self,
        path: &PondPath,
        column: &FieldRef,
        if_not_exists: bool,
    ) -> Result<()> {
        let table = self.require_table(path)?;
        let schema = table
            .latest
            .schema()
            .cloned()
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        if let Ok(existing) = schema.field_with_name(column.name()) {
            if if_not_exists && existing.data_type() == column.data_type() {
                return Ok(());
            }
            return Err(StorageError::Invalid(format!(
                "{path} already has a column '{}' ({}): choose another name",
                column.name(),
                existing.data_type()
            )));
        }
        if !column.is_nullable() {
            return Err(StorageError::Invalid(format!(
                "new column '{}' of {path} must allow NULL: earlier versions have no values for it",
                column.name()
            )));
        }
        let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        fields.push(column.clone());
        let attrs = Attrs {
            schema: Some(Arc::new(Schema::new_with_metadata(
                fields,
                schema.metadata().clone(),
            ))),
            ..carried_attrs(&table.latest)
        };
        self.update_table(&table, attrs)
    }

    pub(super) fn set_time_column(&mut self, path: &PondPath, column: Option<&str>) -> Result<()> {
        let table = self.require_table(path)?;
        if let Some(name) = column {
            let schema = table
                .latest
                .schema()
                .cloned()
                .unwrap_or_else(|| Arc::new(Schema::empty()));
            match schema.field_with_name(name).map(|f| f.data_type()) {
                Ok(DataType::Timestamp(..)) => {}
                Ok(other) => {
                    return Err(StorageError::Invalid(format!(
                        "column '{name}' of {path} is {other}, not a timestamp: the time column must be a TIMESTAMP column"
                    )))
                }
                Err(_) => {
                    return Err(StorageError::Invalid(format!(
                        "{path} has no column '{name}' to use as its time column"
                    )))
                }
            }
        }
        if table.latest.attrs.time_column.as_deref() == column {
            return Ok(());
        }
        let attrs = Attrs {
            time_column: column.map(str::to_string),
            ..carried_attrs(&table.latest)
        };
        self.update_table(&table, attrs)
    }

    pub(super) fn compact(
        &mut self,
        path: &PondPath,
        base: i64,
        chunks: &[CompactedChunk],
    ) -> Result<()> {
        let table = self.view.require(path)?;
        if !table.kind().holds_rows() {
            return Err(StorageError::WrongKind {
                path: path.clone(),
                actual: table.kind().as_str(),
                expected: "table",
            });
        }
        let current_base = self
            .view
            .versions_since_base(table.id())
            .first()
            .map(|v| v.version);
        if current_base != Some(base) {
            return Err(StorageError::Invalid(format!(
                "{path} was overwritten while OPTIMIZE ran: run OPTIMIZE \"{path}\" again"
            )));
        }
        for chunk in chunks {
            let range = [chunk.first, chunk.last];
            self.stage_chunk(path, VersionOp::Compact, range, Some(&chunk.content))?;
        }
        Ok(())
    }

    /// Stages a table chunk that hides the live versions in `range`
    /// (`attrs.compacts`): OPTIMIZE's merged rows, or corrected ones.
    pub(super) fn stage_chunk(
        &mut self,
        path: &PondPath,
        op: VersionOp,
        range: [i64; 2],
        content: Option<&Content>,
    ) -> Result<()> {
        let table = self.view.require(path)?;
        let parent = self.view.require_directory(&parent_of(path)?)?;
        let attrs = Attrs {
            compacts: Some(range),
            ..carried_attrs(&table.latest)
        };
        self.stage_content(content);
        let version = self.new_version(
            NewVersion::after(&parent, &table, table.kind(), op),
            attrs,
            content,
        );
        self.stage(version);
        Ok(())
    }

    pub(super) fn rewrite(
        &mut self,
        path: &PondPath,
        after: i64,
        range: [i64; 2],
        content: Option<&Content>,
    ) -> Result<()> {
        let table = self.require_table(path)?;
        let changed = self
            .view
            .versions(table.id())
            .into_iter()
            .any(|v| v.version > after && v.op != VersionOp::Append);
        if changed {
            return Err(StorageError::Invalid(format!(
                "{path} changed while the statement ran (another writer optimized, overwrote or corrected it): run the statement again"
            )));
        }
        self.stage_chunk(path, VersionOp::Rewrite, range, content)
    }

    /// A table version without content that changes only its attributes.
    pub(super) fn update_table(&mut self, table: &Resolved, attrs: Attrs) -> Result<()> {
        let parent = self.view.require_directory(&parent_of(&table.path)?)?;
        let version = self.new_version(
            NewVersion::after(&parent, table, Kind::Table, VersionOp::Update),
            attrs,
            None,
        );
        self.stage(version);
        Ok(())
    }
}
