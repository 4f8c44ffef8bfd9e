//! The REPL's line editor helper: completion of keywords, pond paths (inside
//! quotes, from the live tree), table, column and function names; syntax
//! highlighting; and multi-line input that ends at `;`.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::{Keyword, ALL_KEYWORDS};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::catalog::SessionPond;
use crate::storage::{Kind, PondPath};

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
pub const COMMANDS: &[&str] = &[
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
pub enum Names {
    /// The live tree of a pond opened here.
    Pond(Arc<SessionPond>),
    /// Tables and their columns as a server listed them at connect time.
    Listed(Vec<(String, Vec<String>)>),
}

pub struct PondHelper {
    names: Names,
    /// Highlighting is off when the terminal cannot show colours.
    colour: bool,
}

impl PondHelper {
    pub fn new(names: Names, colour: bool) -> Self {
        PondHelper { names, colour }
    }

    /// Completes a pond path typed after a quote.
    fn complete_path(&self, typed: &str) -> Vec<Pair> {
        match &self.names {
            Names::Pond(pond) => complete_pond_path(pond, typed),
            Names::Listed(tables) => {
                let mut out: Vec<Pair> = tables
                    .iter()
                    .filter(|(path, _)| path.starts_with(typed) && path.starts_with('/'))
                    .map(|(path, _)| Pair {
                        display: path.rsplit('/').next().unwrap_or(path).to_string(),
                        replacement: path.clone(),
                    })
                    .collect();
                out.sort_by(|a, b| a.replacement.cmp(&b.replacement));
                out
            }
        }
    }

    /// Root table names, and the columns of the tables the line names (of
    /// every table when it names none yet).
    fn names_in_scope(&self, line: &str) -> Vec<String> {
        match &self.names {
            Names::Pond(pond) => pond_names_in_scope(pond, line),
            Names::Listed(tables) => {
                let named: Vec<&(String, Vec<String>)> = tables
                    .iter()
                    .filter(|(path, _)| line.contains(path.as_str()))
                    .collect();
                let scope = if named.is_empty() {
                    tables.iter().collect()
                } else {
                    named
                };
                let mut names: Vec<String> = scope
                    .iter()
                    .flat_map(|(_, columns)| columns.clone())
                    .collect();
                names.extend(
                    tables
                        .iter()
                        .filter_map(|(path, _)| path.strip_prefix('/'))
                        .filter(|name| !name.contains('/'))
                        .map(str::to_string),
                );
                names
            }
        }
    }
}

/// Completes a pond path typed after a quote, from the live tree.
fn complete_pond_path(pond: &SessionPond, typed: &str) -> Vec<Pair> {
    let (dir_text, prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => return Vec::new(),
    };
    let Ok(dir_path) = PondPath::parse(dir_text) else {
        return Vec::new();
    };
    let view = pond.view();
    let Some(dir) = view.resolve(&dir_path) else {
        return Vec::new();
    };
    let mut out: Vec<Pair> = view
        .children(&dir)
        .into_iter()
        .filter(|c| c.path.name().starts_with(prefix))
        .map(|c| {
            let slash = if c.kind() == Kind::Directory { "/" } else { "" };
            let text = format!("{}{slash}", c.path);
            Pair {
                display: format!("{}{slash}", c.path.name()),
                replacement: text,
            }
        })
        .collect();
    out.sort_by(|a, b| a.replacement.cmp(&b.replacement));
    out
}

/// Root table names, and the columns of the pond tables the line names
/// (of every table when it names none yet).
fn pond_names_in_scope(pond: &SessionPond, line: &str) -> Vec<String> {
    let view = pond.view();
    let Some(root) = view.resolve(&PondPath::root()) else {
        return Vec::new();
    };
    let quoted = line
        .split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|p| PondPath::parse(p).ok());
    let words = line
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter_map(|w| PondPath::root().join(w).ok());
    let mut tables: Vec<_> = quoted
        .chain(words)
        .filter_map(|p| view.resolve(&p))
        .filter(|r| r.kind() != Kind::Directory)
        .collect();
    if tables.is_empty() {
        tables = view
            .walk(&root)
            .into_iter()
            .filter(|r| r.kind() != Kind::Directory)
            .collect();
    }
    let mut names: Vec<String> = tables
        .iter()
        .filter_map(|r| r.latest.attrs.schema.clone())
        .flat_map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
        })
        .collect();
    names.extend(
        view.children(&root)
            .into_iter()
            .filter(|c| c.kind() != Kind::Directory)
            .map(|c| c.path.name().to_string()),
    );
    names
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
pub fn is_complete(input: &str) -> bool {
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
