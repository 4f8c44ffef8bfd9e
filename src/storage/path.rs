//! Pond paths: the absolute, validated names of nodes in the pond tree.
//!
//! Owns path syntax only; what a path points at is the index's business.

use std::fmt;

use thiserror::Error;

/// Why a string is not a pond path. Each message names the path and the fix.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("pond path '{0}' is relative: pond paths start with '/' (try '/{0}')")]
    Relative(String),
    #[error(
        "pond path '{0}' contains '{1}': write the absolute path without '.' or '..' segments"
    )]
    DotSegment(String, String),
    #[error("pond path '{0}' has an empty segment ('//'): remove the doubled '/'")]
    EmptySegment(String),
    #[error("pond path {0:?} contains a control character: use printable names")]
    ControlCharacter(String),
    #[error("pond path '{0}' has a segment longer than 255 bytes: use a shorter name")]
    TooLong(String),
    #[error("'{0}' is not a name: a name is one path segment, without '/'")]
    NotAName(String),
}

/// An absolute, normalised pond path such as `/` or `/sensors/station1/temp`.
///
/// Invariant (kept by [`PondPath::parse`], the only constructor besides
/// [`PondPath::root`] and [`PondPath::join`]): starts with `/`, has no trailing
/// `/` unless it is the root, and every segment is non-empty, is not `.` or
/// `..`, has no control characters and is at most 255 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PondPath(String);

impl PondPath {
    pub fn root() -> Self {
        PondPath("/".to_string())
    }

    /// Parses a user-supplied path. One trailing `/` is accepted (`/a/` is `/a`).
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if !text.starts_with('/') {
            return Err(PathError::Relative(text.to_string()));
        }
        let trimmed = if text.len() > 1 {
            text.strip_suffix('/').unwrap_or(text)
        } else {
            text
        };
        if trimmed == "/" {
            return Ok(Self::root());
        }
        for segment in trimmed[1..].split('/') {
            validate_segment(text, segment)?;
        }
        Ok(PondPath(trimmed.to_string()))
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments, root first; empty for the root.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment; empty for the root.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    pub fn parent(&self) -> Option<PondPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) => Some(Self::root()),
            Some(i) => Some(PondPath(self.0[..i].to_string())),
            None => None,
        }
    }

    pub fn join(&self, name: &str) -> Result<PondPath, PathError> {
        if name.contains('/') {
            return Err(PathError::NotAName(name.to_string()));
        }
        let joined = if self.is_root() {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.0)
        };
        validate_segment(&joined, name)?;
        Ok(PondPath(joined))
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &PondPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

fn validate_segment(path: &str, segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment(path.to_string()));
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment(path.to_string(), segment.to_string()));
    }
    if segment.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter(path.to_string()));
    }
    if segment.len() > 255 {
        return Err(PathError::TooLong(path.to_string()));
    }
    Ok(())
}

impl fmt::Display for PondPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PondPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(PondPath::parse("/").unwrap().as_str(), "/");
        assert_eq!(PondPath::parse("/a/b/").unwrap().as_str(), "/a/b");
        let p = PondPath::parse("/a/b/c").unwrap();
        assert_eq!(p.name(), "c");
        assert_eq!(p.parent().unwrap().as_str(), "/a/b");
        assert_eq!(
            PondPath::parse("/a").unwrap().parent().unwrap(),
            PondPath::root()
        );
        assert_eq!(p.segments().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(matches!(
            PondPath::parse("a/b"),
            Err(PathError::Relative(_))
        ));
        assert!(matches!(
            PondPath::parse("/a/../b"),
            Err(PathError::DotSegment(..))
        ));
        assert!(matches!(
            PondPath::parse("/a/./b"),
            Err(PathError::DotSegment(..))
        ));
        assert!(matches!(
            PondPath::parse("/a//b"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            PondPath::parse("/a/b\u{1}"),
            Err(PathError::ControlCharacter(_))
        ));
        assert!(matches!(
            PondPath::parse(&format!("/{}", "x".repeat(256))),
            Err(PathError::TooLong(_))
        ));
    }

    #[test]
    fn within() {
        let ab = PondPath::parse("/a/b").unwrap();
        assert!(ab.is_within(&PondPath::parse("/a").unwrap()));
        assert!(ab.is_within(&ab));
        assert!(!PondPath::parse("/ab")
            .unwrap()
            .is_within(&PondPath::parse("/a").unwrap()));
        assert!(ab.is_within(&PondPath::root()));
    }
}
