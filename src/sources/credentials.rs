//! Where an API source's client id and secret come from: the environment
//! (`HYDROVU_CLIENT_ID`, `HYDROVU_CLIENT_SECRET`), else a secrets file
//! outside the pond that only its owner may read (`$PONDSQL_SECRETS`, or
//! `~/.config/pondsql/secrets.toml`), one table per source:
//!
//! ```toml
//! [hydrovu]
//! client_id = "…"
//! client_secret = "…"
//! ```
//!
//! They are read when a source is called and kept only in memory: never
//! in the pond, its history or a stored query's text.

use std::path::{Path, PathBuf};

use datafusion::common::plan_datafusion_err;
use datafusion::error::Result;

/// A client id and secret, and where they were found (for messages).
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) origin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(from {}, secret hidden)", self.origin)
    }
}

/// The credentials of `source` (`hydrovu`: `HYDROVU_*` variables, `[hydrovu]`
/// in the file); `name` is how messages call it (`HydroVu`).
pub(crate) fn lookup(source: &str, name: &str) -> Result<Credentials> {
    let prefix = source.to_ascii_uppercase();
    let (id_var, secret_var) = (
        format!("{prefix}_CLIENT_ID"),
        format!("{prefix}_CLIENT_SECRET"),
    );
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (variable(&id_var), variable(&secret_var)) {
        (Some(client_id), Some(client_secret)) => {
            return Ok(Credentials {
                client_id,
                client_secret,
                origin: format!("{id_var} and {secret_var}"),
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(plan_datafusion_err!(
                "{name}: set both {id_var} and {secret_var} (only one is set)"
            ))
        }
        (None, None) => {}
    }
    let file = secrets_file();
    let missing = || {
        plan_datafusion_err!(
            "{name}: no credentials: set {id_var} and {secret_var}, or put client_id and client_secret under [{source}] in {} (chmod 600)",
            file.as_ref().map_or("~/.config/pondsql/secrets.toml".into(), |f| f.display().to_string())
        )
    };
    let Some(file) = file.as_deref().filter(|f| f.exists()) else {
        return Err(missing());
    };
    let table = read_secrets(file)?;
    let entry = |key: &str| {
        table
            .get(source)
            .and_then(|t| t.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    match (entry("client_id"), entry("client_secret")) {
        (Some(client_id), Some(client_secret)) => Ok(Credentials {
            client_id,
            client_secret,
            origin: format!("[{source}] in {}", file.display()),
        }),
        _ => Err(missing()),
    }
}

/// `$PONDSQL_SECRETS`, else `$XDG_CONFIG_HOME/pondsql/secrets.toml`, else `~/.config/…`.
fn secrets_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PONDSQL_SECRETS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("pondsql").join("secrets.toml"))
}

/// The file's tables, refused when others may read it (as ssh refuses a key).
fn read_secrets(file: &Path) -> Result<toml::Table> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|e| plan_datafusion_err!("reading {}: {e}", file.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(plan_datafusion_err!(
                "the secrets file {} may be read by others (mode {:o}): chmod 600 {}",
                file.display(),
                mode & 0o777,
                file.display()
            ));
        }
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| plan_datafusion_err!("reading {}: {e}", file.display()))?;
    // toml's message quotes the offending line, which may hold a secret.
    text.parse::<toml::Table>().map_err(|e| {
        let at = e
            .span()
            .map(|s| format!(" at byte {}", s.start))
            .unwrap_or_default();
        plan_datafusion_err!("the secrets file {} is not valid TOML{at}", file.display())
    })
}
