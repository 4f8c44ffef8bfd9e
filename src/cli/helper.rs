//! The REPL's line editor helper: completion of keywords, pond paths (inside
//! quotes, from the live tree), table, column and function names; syntax
//! highlighting; and multi-line input that ends at `;`.

use std::borrow::Cow;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::{Keyword, ALL_KEYWORDS};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::{Kind, Tree};

/// Names completed besides keywords.
const FUNCTIONS: &[&str] = &[
    "ls",
    "history",
    "glob",
    "downsample",
    "generate_series",
    "range",
    "date_bin",
    "date_trunc",
    "count",
    "avg",
    "min",
    "max",
    "sum",
];
pub(super) const COMMANDS: &[&str] = &[
    "\\d",
    "\\l",
    "\\ls",
    "\\timing",
    "\\format",
    "\\maxrows",
    "\\?",
    "\\q",
];

/// Where completion finds names.
pub(super) enum Names {
    /// The live tree of a pond opened here.
    Pond(Tree),
    /// Tables and their columns as a server listed them at connect time.
    Listed(Vec<(String, Vec<String>)>),
}

/// A table (or directory) completion knows of: its path and columns.
struct Known {
    path: String,
    directory: bool,
    columns: Vec<String>,
}

impl Names {
    fn known(&self) -> Vec<Known> {
        match self {
            Names::Pond(tree) => tree
                .entries()
                .into_iter()
                .map(|entry| Known {
                    path: entry.path.to_string(),
                    directory: entry.kind == Kind::Directory,
                    columns: entry
                        .schema
                        .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            Names::Listed(tables) => tables
                .iter()
                .map(|(path, columns)| Known {
                    path: path.clone(),
                    directory: false,
                    columns: columns.clone(),
                })
                .collect(),
        }
    }
}

pub(super) struct PondHelper {
    names: Names,
    /// Highlighting is off when the terminal cannot show colours.
    colour: bool,
}

impl PondHelper {
    pub(super) fn new(names: Names, colour: bool) -> Self {
        PondHelper { names, colour }
    }

    /// Completes a pond path typed after a quote, one segment at a time: the
    /// next names under the directory typed so far (a directory with a `/`).
    fn complete_path(&self, typed: &str) -> Vec<Pair> {
        let Some(slash) = typed.rfind('/') else {
            return Vec::new();
        };
        let (dir, prefix) = (&typed[..=slash], &typed[slash + 1..]);
        let mut out: Vec<Pair> = Vec::new();
        for known in self.names.known() {
            let Some(rest) = known.path.strip_prefix(dir) else {
                continue;
            };
            let (name, deeper) = match rest.find('/') {
                Some(i) => (&rest[..i], true),
                None => (rest, known.directory),
            };
            if name.is_empty() || !name.starts_with(prefix) {
                continue;
            }
            let slash = if deeper { "/" } else { "" };
            let replacement = format!("{dir}{name}{slash}");
            if !out.iter().any(|p| p.replacement == replacement) {
                out.push(Pair {
                    display: format!("{name}{slash}"),
                    replacement,
                });
            }
        }
        out.sort_by(|a, b| a.replacement.cmp(&b.replacement));
        out
    }

    /// Root table names, and the columns of the tables the line names (of
    /// every table when it names none yet).
    fn names_in_scope(&self, line: &str) -> Vec<String> {
        let known = self.names.known();
        let tables: Vec<&Known> = known.iter().filter(|k| !k.directory).collect();
        // A table is named by its path, or a root table by its name.
        let named: Vec<&&Known> = tables
            .iter()
            .filter(|k| {
                line.contains(k.path.as_str())
                    || k.path.strip_prefix('/').is_some_and(|name| {
                        !name.contains('/')
                            && line
                                .split(|c: char| !c.is_alphanumeric() && c != '_')
                                .any(|word| word == name)
                    })
            })
            .collect();
        let scope: Vec<&Known> = if named.is_empty() {
            tables.clone()
        } else {
            named.into_iter().copied().collect()
        };
        let mut names: Vec<String> = scope.iter().flat_map(|k| k.columns.clone()).collect();
        names.extend(
            tables
                .iter()
                .filter_map(|k| k.path.strip_prefix('/'))
                .filter(|name| !name.contains('/'))
                .map(str::to_string),
        );
        names
    }
}

/// Is `pos` inside an open quote? Returns the quote's byte offset.
fn open_quote(line: &str) -> Option<usize> {
    let mut open: Option<(char, usize)> = None;
    for (i, c) in line.char_indices() {
        match (open, c) {
            (None, '"' | '\'') => open = Some((c, i)),
            (Some((q, _)), c) if c == q => open = None,
            _ => {}
        }
    }
    open.map(|(_, i)| i)
}

fn same_case(candidate: &str, typed: &str) -> String {
    if typed.chars().any(|c| c.is_ascii_lowercase()) {
        candidate.to_ascii_lowercase()
    } else {
        candidate.to_ascii_uppercase()
    }
}

impl Completer for PondHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if let Some(quote) = open_quote(before) {
            let typed = &before[quote + 1..];
            return Ok((quote + 1, self.complete_path(typed)));
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\\'))
            .map_or(0, |i| i + 1);
        let typed = &before[start..];
        if typed.is_empty() {
            return Ok((pos, Vec::new()));
        }
        if typed.starts_with('\\') {
            let pairs = COMMANDS
                .iter()
                .filter(|c| c.starts_with(typed))
                .map(|c| Pair {
                    display: c.to_string(),
                    replacement: c.to_string(),
                })
                .collect();
            return Ok((start, pairs));
        }
        let lower = typed.to_ascii_lowercase();
        let mut candidates: Vec<String> = self
            .names_in_scope(line)
            .into_iter()
            .chain(FUNCTIONS.iter().map(|f| f.to_string()))
            .filter(|n| n.to_ascii_lowercase().starts_with(&lower) && n.len() > typed.len())
            .collect();
        candidates.extend(
            ALL_KEYWORDS
                .iter()
                .filter(|k| k.to_ascii_lowercase().starts_with(&lower) && k.len() > typed.len())
                .map(|k| same_case(k, typed)),
        );
        candidates.sort();
        candidates.dedup();
        let pairs = candidates
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for PondHelper {
    type Hint = String;
}

impl Highlighter for PondHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.colour || line.starts_with('\\') {
            return Cow::Borrowed(line);
        }
        let Ok(tokens) = Tokenizer::new(&GenericDialect {}, line).tokenize() else {
            return Cow::Borrowed(line);
        };
        let mut out = String::with_capacity(line.len() + 16);
        for token in tokens {
            let text = token.to_string();
            let colour = match &token {
                Token::Word(w) if w.quote_style == Some('"') => Some("36"), // pond paths: cyan
                Token::Word(w) if w.quote_style.is_none() && w.keyword != Keyword::NoKeyword => {
                    Some("1;34")
                }
                Token::SingleQuotedString(_) => Some("32"),
                Token::Number(..) => Some("33"),
                Token::Whitespace(w)
                    if w.to_string().starts_with("--") || w.to_string().starts_with("/*") =>
                {
                    Some("2")
                }
                _ => None,
            };
            match colour {
                Some(code) => out.push_str(&format!("\x1b[{code}m{text}\x1b[0m")),
                None => out.push_str(&text),
            }
        }
        Cow::Owned(out)
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.colour
    }
}

/// A statement is complete at a `;` outside quotes and comments; a
/// backslash command at the end of its line.
pub(super) fn is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('\\') {
        return true;
    }
    match Tokenizer::new(&GenericDialect {}, input).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .rev()
            .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
            .is_some_and(|t| matches!(t, Token::SemiColon)),
        Err(_) => false, // an unterminated string or comment: keep reading
    }
}

impl Validator for PondHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for PondHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_quotes() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert!(is_complete("\\d"));
        assert!(is_complete(""));
    }

    #[test]
    fn finds_open_quotes() {
        assert_eq!(open_quote("SELECT * FROM \"/sen"), Some(14));
        assert_eq!(open_quote("SELECT * FROM \"/a\" WHERE x = 'b"), Some(29));
        assert_eq!(open_quote("SELECT 'a'"), None);
    }
}
