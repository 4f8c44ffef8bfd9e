//! What a statement's table names point at — pond nodes, host files, or
//! nothing — so that errors can name the right thing in the user's terms.

use std::path::Path as FsPath;

use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::sql::parser::Statement as DFStatement;

use super::error::user_message;
use super::session::table_path;
use crate::storage::View;

pub(super) struct References {
    /// Host files read by the statement (`'data.csv'`).
    host_files: Vec<String>,
    /// Names that are neither pond nodes nor files here.
    missing: Vec<TableReference>,
}

impl References {
    pub(super) fn of(state: &SessionState, view: &View, statement: &DFStatement) -> Self {
        let mut refs = References {
            host_files: Vec::new(),
            missing: Vec::new(),
        };
        for reference in state
            .resolve_table_references(statement)
            .unwrap_or_default()
        {
            let in_pond = table_path(&reference)
                .ok()
                .and_then(|p| view.resolve(&p))
                .is_some();
            if in_pond {
                continue;
            }
            if reference.schema().is_none() && FsPath::new(reference.table()).exists() {
                refs.host_files.push(reference.table().to_string());
            } else {
                refs.missing.push(reference);
            }
        }
        refs
    }

    /// Rewrites an error so it names what the user wrote: the host file a
    /// decoder failed in, or the pond path or file that does not exist.
    pub(super) fn explain(&self, err: DataFusionError) -> DataFusionError {
        let message = user_message(&err);
        let decoding = ["Csv error", "Json error", "Parquet error", "Parser error"]
            .iter()
            .any(|k| message.contains(k));
        if decoding && !self.host_files.is_empty() {
            return DataFusionError::Execution(format!(
                "reading {}: {message}",
                self.host_files.join(", ")
            ));
        }
        if message.contains("not found") {
            let named = self
                .missing
                .iter()
                .find(|r| message.contains(&format!("{}' not found", r.table())));
            if let Some(reference) = named {
                return DataFusionError::Plan(missing_message(reference));
            }
        }
        err
    }
}

fn missing_message(reference: &TableReference) -> String {
    match table_path(reference) {
        Ok(path) if reference.schema().is_some() || !reference.table().contains('.') => {
            let parent = path.parent().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
            format!("{path} does not exist in the pond: see what is there with SELECT * FROM ls('{parent}')")
        }
        _ => format!(
            "'{}' is neither a pond table nor a file here: pond paths are double-quoted absolute paths (\"/dir/table\"), host files single-quoted paths that exist",
            reference.table()
        ),
    }
}
