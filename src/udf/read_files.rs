//! `read_csv(path [, {options}])`, `read_json(…)`, `read_parquet(…)`: host
//! files as a table, with the options a file's dialect needs
//! ([`ReadOptions`]). `path` is a file, a directory or a glob.

use datafusion::catalog::TableFunctionArgs;
use datafusion::common::{exec_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use crate::catalog::host_read::{self, FileFormat, ReadOptions};
use crate::catalog::open_first::{Opening, OpensTable};
use crate::catalog::view::session_state;

/// One of the `read_*` table functions. Reaches only the host files the
/// session's [`HostAccess`](crate::catalog::host_access::HostAccess) allows
/// (checked where the files are opened), as `'f.csv'` does.
#[derive(Debug)]
pub(crate) struct ReadFiles {
    format: FileFormat,
}

impl ReadFiles {
    pub(crate) fn new(format: FileFormat) -> Self {
        ReadFiles { format }
    }
}

impl OpensTable for ReadFiles {
    fn name(&self) -> &str {
        self.format.function()
    }

    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
        let function = self.format.function();
        let literal = |e: &Expr| match e {
            Expr::Literal(value, _) => Some(value.clone()),
            _ => None,
        };
        let (path, options) = match args.exprs() {
            [path] => (literal(path), None),
            [path, options] => (literal(path), Some(literal(options))),
            _ => (None, None),
        };
        let path = match path {
            Some(
                ScalarValue::Utf8(Some(p))
                | ScalarValue::Utf8View(Some(p))
                | ScalarValue::LargeUtf8(Some(p)),
            ) => p,
            _ => {
                return plan_err!(
                    "{function}() takes a host file path (or glob) in single quotes and, optionally, options in braces: {function}('data/*.csv', {{delim: ';'}})"
                )
            }
        };
        let options = match options {
            None => ReadOptions::default(),
            Some(Some(value)) => ReadOptions::from_struct(self.format, &value)?,
            Some(None) => {
                return plan_err!(
                    "{function}(): options must be constants in braces, e.g. {{header: false}}"
                )
            }
        };
        let path = absolute(&path)?;
        let state = session_state(args.session())?.clone();
        let format = self.format;
        Ok(Box::pin(async move {
            host_read::open(&state, &path, format, &options).await
        }))
    }
}

/// Relative paths are taken from the current directory, as `'f.csv'` is.
fn absolute(path: &str) -> Result<String> {
    if std::path::Path::new(path).is_absolute() || path.contains("://") {
        return Ok(path.to_string());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| exec_datafusion_err!("cannot resolve '{path}': {e}"))?;
    Ok(format!("{}/{path}", cwd.display()))
}
