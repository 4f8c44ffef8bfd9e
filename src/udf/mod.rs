//! Table functions over the pond tree: `ls('/dir')`, `ls('/dir/**')`,
//! `history('/path')` and `glob('/pattern')`. Each reads the calling session's view.

mod bucket;
pub(crate) mod downsample;
pub(crate) mod float_min_max;
pub(crate) mod gapfill;
pub(crate) mod glob;
mod measures;
pub(crate) mod named_args;
pub(crate) mod read_files;
pub(crate) mod series;

pub(crate) use downsample::Downsample;
pub(crate) use glob::Glob;

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::system::{entries_batch, mem_table, versions_table};
use crate::storage::{Kind, PondPath};

/// The single string argument of a table function.
pub(crate) fn path_argument(function: &str, args: &TableFunctionArgs) -> Result<String> {
    match args.exprs() {
        [] => Ok("/".to_string()),
        [Expr::Literal(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
            _,
        )] => Ok(text.clone()),
        _ => plan_err!(
            "{function}() takes one pond path in single quotes, e.g. {function}('/sensors')"
        ),
    }
}

fn parse_path(text: &str) -> Result<PondPath> {
    PondPath::parse(text).map_err(|e| plan_datafusion_err!("{e}"))
}

/// `ls(path)`: the entries of a directory (or the node itself); a trailing
/// `/**` lists everything below, at any depth.
#[derive(Debug)]
pub(crate) struct Ls {
    pond: Arc<SessionPond>,
}

impl Ls {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        Ls { pond }
    }
}

impl TableFunctionImpl for Ls {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let text = path_argument("ls", &args)?;
        let (path_text, recursive) = match text.strip_suffix("/**") {
            Some("") => ("/", true),
            Some(prefix) => (prefix, true),
            None => (text.as_str(), false),
        };
        let path = parse_path(path_text)?;
        let view = self.pond.view();
        let node = view.require(&path).map_err(external)?;
        let nodes = match (node.kind(), recursive) {
            (Kind::Directory, true) => view.walk(&node),
            (Kind::Directory, false) => view.children(&node),
            _ => vec![node],
        };
        mem_table(entries_batch(&view, &nodes)?)
    }
}

/// `history(path)`: every version of one node, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    pond: Arc<SessionPond>,
}

impl History {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        History { pond }
    }
}

impl TableFunctionImpl for History {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let path = parse_path(&path_argument("history", &args)?)?;
        let view = self.pond.view();
        let node = view.require(&path).map_err(external)?;
        let versions = view.versions(node.id());
        versions_table(self.pond.clone(), view, versions)
    }
}
