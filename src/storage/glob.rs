//! [`PathGlob`]: patterns over pond paths, and matching them against a tree.
//!
//! `*` matches any text within one segment, `{name}` the same but names the
//! capture, `**` (a whole segment) any number of directories, including none.
//! Every `*` and `{name}` captures what it matched: `*`s as `_1`, `_2`, … in
//! order, `{name}`s by name. Pure logic plus a walk over a [`View`]; no IO.

use std::fmt;

use super::error::StorageError;
use super::index::{Resolved, View};
use super::node::Kind;
use super::path::PondPath;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A capture; the index into [`PathGlob::captures`].
    Capture(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Parts(Vec<Part>),
    AnyDepth,
}

/// A parsed glob pattern over pond paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathGlob {
    text: String,
    segments: Vec<Segment>,
    captures: Vec<String>,
}

/// A table matched by a glob, with its captured values (in capture order).
#[derive(Clone, Debug)]
pub(crate) struct GlobMatch {
    pub table: Resolved,
    pub captures: Vec<String>,
}

impl PathGlob {
    pub(crate) fn parse(text: &str) -> Result<PathGlob, StorageError> {
        let usage = |why: &str| StorageError::Invalid(format!("glob pattern '{text}' {why}"));
        let body = text
            .strip_prefix('/')
            .ok_or_else(|| usage("must be absolute, like '/sensors/*/temp'"))?;
        let mut captures: Vec<String> = Vec::new();
        let mut stars = 0;
        let mut segments = Vec::new();
        for raw in body.split('/') {
            if raw.is_empty() {
                return Err(usage("has an empty segment (a doubled or trailing '/')"));
            }
            if raw == "**" {
                segments.push(Segment::AnyDepth);
                continue;
            }
            if raw == "." || raw == ".." {
                return Err(usage("may not contain '.' or '..' segments"));
            }
            if raw.chars().any(char::is_control) {
                return Err(usage("contains a control character"));
            }
            let mut parts = Vec::new();
            let mut literal = String::new();
            let mut chars = raw.chars().peekable();
            while let Some(c) = chars.next() {
                let capture = match c {
                    '*' if chars.peek() == Some(&'*') => {
                        return Err(usage(
                            "uses '**' inside a segment: '**' must be a whole segment",
                        ))
                    }
                    '*' => {
                        stars += 1;
                        format!("_{stars}")
                    }
                    '{' => {
                        let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                        let valid = !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !name.starts_with(|c: char| c.is_ascii_digit());
                        if !valid {
                            return Err(usage(&format!(
                                "has a bad capture '{{{name}}}': use a name like {{station}}"
                            )));
                        }
                        name
                    }
                    '}' => return Err(usage("has a '}' without its '{'")),
                    c => {
                        literal.push(c);
                        continue;
                    }
                };
                if let Some(Part::Capture(_)) = parts.last() {
                    if literal.is_empty() {
                        return Err(usage(
                            "has two captures side by side: put text between them",
                        ));
                    }
                }
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                if captures.contains(&capture) {
                    return Err(usage(&format!("captures '{capture}' twice")));
                }
                captures.push(capture);
                parts.push(Part::Capture(captures.len() - 1));
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(literal));
            }
            segments.push(Segment::Parts(parts));
        }
        if body.is_empty() || matches!(segments.last(), Some(Segment::AnyDepth)) {
            return Err(usage(
                "must end with a table name or pattern, like '/sensors/**/temp' or '/sensors/**/*'",
            ));
        }
        Ok(PathGlob {
            text: text.to_string(),
            segments,
            captures,
        })
    }

    /// The capture column names, in order (`_1`, … for `*`, the name for `{name}`).
    pub(crate) fn captures(&self) -> &[String] {
        &self.captures
    }

    /// Every table in `view` whose path matches, sorted by path.
    pub(crate) fn matches(&self, view: &View) -> Vec<GlobMatch> {
        let mut out = Vec::new();
        if let Some(root) = view.resolve(&PondPath::root()) {
            let values = vec![String::new(); self.captures.len()];
            self.walk(view, &root, 0, values, &mut out);
        }
        out.sort_by(|a, b| a.table.path.cmp(&b.table.path));
        out.dedup_by(|a, b| a.table.path == b.table.path);
        out
    }

    fn walk(
        &self,
        view: &View,
        dir: &Resolved,
        at: usize,
        values: Vec<String>,
        out: &mut Vec<GlobMatch>,
    ) {
        let last = at + 1 == self.segments.len();
        match &self.segments[at] {
            Segment::AnyDepth => {
                // Zero directories, or one more directory and still at `**`.
                self.walk(view, dir, at + 1, values.clone(), out);
                for child in view.children(dir) {
                    if child.kind() == Kind::Directory {
                        self.walk(view, &child, at, values.clone(), out);
                    }
                }
            }
            Segment::Parts(parts) => {
                for child in view.children(dir) {
                    let mut values = values.clone();
                    if !match_segment(parts, child.path.name(), &mut values) {
                        continue;
                    }
                    match (last, child.kind()) {
                        (true, kind) if kind.holds_rows() => out.push(GlobMatch {
                            table: child,
                            captures: values,
                        }),
                        (false, Kind::Directory) => self.walk(view, &child, at + 1, values, out),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Matches one segment's parts against a name, filling captures. A capture
/// takes the shortest non-empty text that lets the rest match.
fn match_segment(parts: &[Part], name: &str, values: &mut [String]) -> bool {
    match parts.split_first() {
        None => name.is_empty(),
        Some((Part::Literal(text), rest)) => name
            .strip_prefix(text.as_str())
            .is_some_and(|tail| match_segment(rest, tail, values)),
        Some((Part::Capture(_), _)) if name.is_empty() => false,
        Some((Part::Capture(i), rest)) => {
            let ends = name
                .char_indices()
                .map(|(i, _)| i)
                .skip(1)
                .chain(std::iter::once(name.len()));
            for end in ends {
                if match_segment(rest, &name[end..], values) {
                    values[*i] = name[..end].to_string();
                    return true;
                }
            }
            false
        }
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captures_of(pattern: &str, name: &str) -> Option<Vec<String>> {
        let glob = PathGlob::parse(pattern).unwrap();
        let Segment::Parts(parts) = &glob.segments[0] else {
            panic!("first segment is parts")
        };
        let mut values = vec![String::new(); glob.captures.len()];
        match_segment(parts, name, &mut values).then_some(values)
    }

    #[test]
    fn segment_matching_and_captures() {
        assert_eq!(captures_of("/*", "temp"), Some(vec!["temp".into()]));
        assert_eq!(
            captures_of("/station{id}", "station12"),
            Some(vec!["12".into()])
        );
        assert_eq!(captures_of("/station{id}", "station"), None);
        assert_eq!(
            captures_of("/*_{param}.v", "s1_ph.v"),
            Some(vec!["s1".into(), "ph".into()])
        );
        assert_eq!(captures_of("/temp", "temp"), Some(vec![]));
        assert_eq!(captures_of("/temp", "temp2"), None);
    }

    #[test]
    fn capture_names() {
        let glob = PathGlob::parse("/sensors/{station}/*/x*").unwrap();
        assert_eq!(glob.captures(), ["station", "_1", "_2"]);
    }

    #[test]
    fn bad_patterns_say_why() {
        for (pattern, why) in [
            ("sensors/*", "absolute"),
            ("/a//b", "empty segment"),
            ("/a/**", "must end"),
            ("/a/x**", "whole segment"),
            ("/{1x}", "bad capture"),
            ("/{a}/{a}", "twice"),
            ("/*{a}", "side by side"),
            ("/../a", "'..'"),
        ] {
            let err = PathGlob::parse(pattern).unwrap_err();
            assert!(err.to_string().contains(why), "{pattern}: {err}");
        }
    }
}
