//! The users file of `pondsql serve`: who may connect, with which role.
//!
//! ```toml
//! [users.alice]
//! role = "write"                      # or "read"
//! password = "$argon2id$v=19$…"       # an argon2 hash; never the password
//! ```
//!
//! `pondsql user add` writes it (replacing the file whole, mode 0600).

use crate::error::Error;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Read,
    Write,
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            other => Err(format!("'{other}' is not a role: use read or write").into()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    role: Role,
    password: String,
}

/// The users of a server, as read from its users file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Users {
    #[serde(default)]
    users: BTreeMap<String, User>,
}

impl Users {
    /// Reads a users file; a missing file is an error (serve needs users).
    pub(crate) fn load(path: &Path) -> Result<Users, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the users file {}: {e}", path.display()))?;
        let users: Users = toml::from_str(&text).map_err(|e| {
            format!(
                "the users file {} is not valid: {}",
                path.display(),
                e.message()
            )
        })?;
        for (name, user) in &users.users {
            PasswordHash::new(&user.password).map_err(|_| {
                format!(
                    "the users file {}: the password of {name} is not an argon2 hash (set it with `pondsql user add`)",
                    path.display()
                )
            })?;
        }
        Ok(users)
    }

    /// The role of `name` if `password` is theirs. Unknown users cost as
    /// much time as known ones, so timing tells nothing of who exists.
    pub(crate) fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let user = self.users.get(name);
        let hash = user.map_or(DUMMY_HASH, |u| u.password.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        user.filter(|_| ok).map(|u| u.role)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A hash of a password nobody has, verified for unknown users.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qgVnRQH7zH2RiaDStZ5nEOWd0vaQMBe+1BUxDyv4lMw";

/// Adds `name` (or replaces their password and role) in the users file at
/// `path`, creating it. The file is replaced whole, so a reader never sees
/// half of it.
pub(crate) fn add_user(path: &Path, name: &str, role: Role, password: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains([':', ' ', '\n']) {
        return Err(
            format!("'{name}' is not a user name: use letters, digits, '-', '_' or '.'").into(),
        );
    }
    if password.is_empty() {
        return Err("the password is empty: give it on standard input".into());
    }
    let mut users = if path.exists() {
        Users::load(path)?
    } else {
        Users::default()
    };
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| format!("cannot hash the password: {e}"))?
        .to_string();
    users.users.insert(
        name.to_string(),
        User {
            role,
            password: hash,
        },
    );
    let text = toml::to_string(&users).map_err(|e| format!("cannot write the users file: {e}"))?;
    let text = format!("# pondsql users: `pondsql user add --users FILE --role read|write NAME` (password on stdin)\n{text}");
    write_private(path, text.as_bytes()).map_err(|e| {
        Error::unavailable(format!(
            "cannot write the users file {}: {e}",
            path.display()
        ))
    })
}

/// Writes `bytes` to a new file beside `path` readable by its owner only,
/// then renames it over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("users"),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(err) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_round_trips_and_verifies_only_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        add_user(&path, "alice", Role::Write, "s3cret").unwrap();
        add_user(&path, "bob", Role::Read, "hunter2").unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.verify("alice", "s3cret"), Some(Role::Write));
        assert_eq!(users.verify("bob", "hunter2"), Some(Role::Read));
        assert_eq!(users.verify("alice", "hunter2"), None);
        assert_eq!(users.verify("carol", "s3cret"), None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Replacing a user keeps the others.
        add_user(&path, "alice", Role::Read, "new").unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.verify("alice", "new"), Some(Role::Read));
        assert_eq!(users.verify("bob", "hunter2"), Some(Role::Read));
        assert!(add_user(&path, "", Role::Read, "x").is_err());
        assert!(add_user(&path, "dave", Role::Read, "").is_err());
    }
}
