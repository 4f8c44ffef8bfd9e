//! `pondsql chart` and the REPL's `\chart`: run a query, draw its rows
//! (src/chart) into a PNG or SVG file. Drawing happens here, in the
//! client, so it works the same against a local pond and a server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::target::Target;
use crate::chart::{self, ChartOptions};
use crate::error::Error;
use crate::user_message;

/// Runs `sql` and writes its chart to `path`; returns the rows drawn.
pub(crate) async fn draw(
    target: &Target,
    sql: &str,
    path: &Path,
    options: &ChartOptions,
) -> Result<usize, Error> {
    // The format first: a wrong name fails before the query runs.
    chart::ChartFormat::of_path(path).map_err(|e| user_message(&e))?;
    let output = target.execute_sql(sql).await?;
    chart::write(path, &output.schema, &output.batches, options).map_err(|e| user_message(&e))?;
    Ok(output.batches.iter().map(|b| b.num_rows()).sum())
}

/// Where `\chart` writes when not told: a new file in the temp directory.
pub(crate) fn default_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("pondsql-chart-{}-{n}.png", std::process::id()))
}

/// Opens the picture in the desktop's viewer, when there is a desktop.
pub(crate) fn open_in_viewer(path: &Path) {
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    };
    if let Some(opener) = opener {
        // Best effort: the path is printed either way.
        let _ = std::process::Command::new(opener)
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// `\chart [-o FILE] SELECT …`: the file and the query.
pub(crate) fn parse_backslash(argument: &str) -> Result<(PathBuf, &str), Error> {
    let usage = "usage: \\chart [-o FILE.png|FILE.svg] SELECT …";
    let (path, sql) = match argument.strip_prefix("-o") {
        Some(rest) if rest.starts_with(char::is_whitespace) => {
            let rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).ok_or(usage)?;
            (PathBuf::from(&rest[..end]), rest[end..].trim())
        }
        _ => (default_path(), argument),
    };
    let sql = sql.trim().trim_end_matches(';').trim();
    if sql.is_empty() {
        return Err(usage.into());
    }
    Ok((path, sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslash_chart_takes_an_optional_file() {
        let (path, sql) = parse_backslash("-o /tmp/x.svg SELECT 1;").unwrap();
        assert_eq!((path.to_str().unwrap(), sql), ("/tmp/x.svg", "SELECT 1"));
        let (path, sql) = parse_backslash("SELECT ts, v FROM t").unwrap();
        assert!(path.to_str().unwrap().ends_with(".png"));
        assert_eq!(sql, "SELECT ts, v FROM t");
        assert!(parse_backslash("-o x.png").is_err());
        assert!(parse_backslash(";").is_err());
    }
}
