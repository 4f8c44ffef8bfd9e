//! What a statement's table names point at, looked up before it is planned:
//! a name that is neither a pond node, a readable host file nor a table
//! function is an error in the user's terms, decided from the lookup
//! itself rather than from the words of DataFusion's message.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path as FsPath;

use datafusion::arrow::error::ArrowError;
use datafusion::common::{exec_datafusion_err, plan_err, TableReference};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{ObjectName, Statement, TableFactor, Visit, Visitor};

use super::names::{object_name_path, table_path};
use crate::catalog::host_access::HostAccess;
use crate::error::user_message;
use crate::storage::View;

/// The host files a statement reads (`'data.csv'`), after checking that
/// every name it reads exists. Names it writes (CREATE, DROP) are not read.
pub(super) async fn check(
    state: &SessionState,
    view: &View,
    statement: &DFStatement,
) -> Result<Vec<String>> {
    let Some(created) = reads(statement) else {
        return Ok(Vec::new());
    };
    let created = created.map(object_name_path).transpose()?;
    let functions = table_functions(statement);
    for name in &functions {
        if !state.table_functions().contains_key(name) {
            let known: BTreeSet<&String> = state.table_functions().keys().collect();
            let known: Vec<String> = known.iter().map(|k| format!("{k}()")).collect();
            return plan_err!(
                "{name}() is not a table function: the pond has {}",
                known.join(", ")
            );
        }
    }
    let mut host_files = Vec::new();
    for reference in state.resolve_table_references(statement)? {
        if reference.schema().is_none() && functions.contains(reference.table()) {
            continue;
        }
        let path = table_path(&reference).ok();
        if path.is_some() && path == created {
            continue; // the name the statement creates
        }
        if path.and_then(|p| view.resolve(&p)).is_some() {
            continue;
        }
        if reference.schema().is_none()
            && matches!(HostAccess::of(state.config()), HostAccess::Anywhere)
            && FsPath::new(reference.table()).exists()
        {
            host_files.push(reference.table().to_string());
            continue;
        }
        // System tables and information_schema: DataFusion names them
        // well, and looking them up here would build them twice.
        if reference
            .schema()
            .is_some_and(|schema| !schema.starts_with('/'))
        {
            continue;
        }
        // Host file globs, and names that are nothing, through the catalog.
        let found = match state.schema_for_ref(reference.clone()) {
            Ok(schema) => schema.table(reference.table()).await?.is_some(),
            Err(_) => false,
        };
        if !found {
            return plan_err!("{}", missing_message(&reference));
        }
    }
    Ok(host_files)
}

/// A decoder's failure on a host file, said with the file's name (the
/// decoders do not know it).
pub(super) fn name_host_files(err: DataFusionError, host_files: &[String]) -> DataFusionError {
    let decoding = match err.find_root() {
        DataFusionError::ArrowError(e, _) => matches!(
            e.as_ref(),
            ArrowError::CsvError(_)
                | ArrowError::JsonError(_)
                | ArrowError::ParseError(_)
                | ArrowError::ParquetError(_)
        ),
        DataFusionError::ParquetError(_) => true,
        _ => false,
    };
    if decoding && !host_files.is_empty() {
        return exec_datafusion_err!("reading {}: {}", host_files.join(", "), user_message(&err));
    }
    err
}

/// Whether a statement reads tables, and the name it creates (not read).
fn reads(statement: &DFStatement) -> Option<Option<&ObjectName>> {
    match statement {
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::Query(_) => Some(None),
            Statement::CreateTable(create) if create.query.is_some() => Some(Some(&create.name)),
            Statement::CreateView(create) => Some(Some(&create.name)),
            _ => None,
        },
        DFStatement::CopyTo(_) => Some(None),
        DFStatement::Explain(explain) => reads(&explain.statement),
        _ => None,
    }
}

/// The names called as table functions (`FROM ls('/')`).
fn table_functions(statement: &DFStatement) -> BTreeSet<String> {
    struct Calls(BTreeSet<String>);
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                args: Some(_),
                ..
            } = factor
            {
                self.0.insert(name.to_string().to_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut calls = Calls(BTreeSet::new());
    let _ = match statement {
        DFStatement::Statement(s) => s.visit(&mut calls),
        DFStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(q) => q.visit(&mut calls),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => return table_functions(&explain.statement),
        _ => ControlFlow::Continue(()),
    };
    calls.0
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
