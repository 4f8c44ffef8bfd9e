//! A script cut into statements. The script is tokenized once: each piece
//! keeps its own tokens, which parser.rs parses without reading the text
//! again; the text is kept for the statement log and for messages.

use datafusion::common::plan_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// One statement of a script, not yet parsed: its text, the line it starts
/// on (1-based) and its tokens (spans count from the start of the script).
#[derive(Clone, Debug)]
pub struct ScriptStatement {
    text: String,
    line: u64,
    tokens: Vec<TokenWithSpan>,
}

impl ScriptStatement {
    /// The statement as written, without its `;`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The line of the script it starts on (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Its tokens, whitespace and comments included.
    pub(crate) fn tokens(&self) -> &[TokenWithSpan] {
        &self.tokens
    }

    /// Splits a script at top-level `;` (not inside strings, quoted names
    /// or comments). Empty statements are dropped.
    pub fn split(script: &str) -> Result<Vec<ScriptStatement>> {
        let tokens = Tokenizer::new(&GenericDialect {}, script)
            .tokenize_with_location()
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let offsets = LineOffsets::new(script);
        let mut out = Vec::new();
        let mut piece: Vec<TokenWithSpan> = Vec::new();
        for token in tokens {
            match &token.token {
                Token::SemiColon | Token::EOF => out.extend(Self::of_tokens(
                    script,
                    &offsets,
                    std::mem::take(&mut piece),
                )),
                _ => piece.push(token),
            }
        }
        out.extend(Self::of_tokens(script, &offsets, piece));
        Ok(out)
    }

    /// Exactly one statement (a `;` after it is allowed).
    pub fn one(sql: &str) -> Result<ScriptStatement> {
        let mut statements = Self::split(sql)?;
        match (statements.pop(), statements.len()) {
            (Some(statement), 0) => Ok(statement),
            (None, _) => plan_err!("expected one statement, found 0"),
            (Some(_), more) => plan_err!("expected one statement, found {}", more + 1),
        }
    }

    /// The statement of `tokens`, from its first significant token to its
    /// last; `None` when there is none.
    fn of_tokens(
        script: &str,
        offsets: &LineOffsets,
        tokens: Vec<TokenWithSpan>,
    ) -> Option<ScriptStatement> {
        let significant = |t: &&TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
        let first = tokens.iter().find(significant)?;
        let last = tokens.iter().rev().find(significant)?;
        let from = offsets.offset(first.span.start.line, first.span.start.column);
        let to = offsets.offset(last.span.end.line, last.span.end.column);
        Some(ScriptStatement {
            text: script[from..to].trim().to_string(),
            line: first.span.start.line,
            tokens,
        })
    }
}

/// The most tokens a statement may have at one level of parentheses between
/// commas. A chain of operators (`1 + 1 + …`, `a OR b OR …`) parses into an
/// expression nested once per term, and every walk over it (sqlparser's,
/// DataFusion's, pondsql's) recurses that deep; parentheses themselves nest
/// at most 50 deep (the parser's own limit). 10,000 tokens are about 5,000
/// terms of `1 + …` or 2,500 of `v = 1 OR …`.
pub(crate) const MAX_TOKENS_AT_ONE_LEVEL: usize = 10_000;

/// Refuses a statement whose expressions could nest deeper than the stack
/// of a statement's thread holds (see [`MAX_TOKENS_AT_ONE_LEVEL`]), before
/// anything parses it. Lists (`IN (…)`, `VALUES (…), (…)`) are cut by their
/// commas and cost nothing.
pub(crate) fn check_expression_length(tokens: &[TokenWithSpan]) -> Result<()> {
    // Tokens at each open level of parentheses or brackets since its last
    // comma, and the line of the first of them; innermost last.
    let mut levels: Vec<(usize, u64)> = vec![(0, 0)];
    for token in tokens {
        match &token.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::LParen | Token::LBracket | Token::LBrace => {
                levels.push((0, 0));
                continue;
            }
            Token::RParen | Token::RBracket | Token::RBrace if levels.len() > 1 => {
                levels.pop();
            }
            Token::Comma | Token::SemiColon => {
                if let Some(level) = levels.last_mut() {
                    *level = (0, 0);
                }
                continue;
            }
            _ => {}
        }
        if let Some((count, line)) = levels.last_mut() {
            if *count == 0 {
                *line = token.span.start.line;
            }
            *count += 1;
            if *count > MAX_TOKENS_AT_ONE_LEVEL {
                return plan_err!(
                    "the expression from line {line} chains more than {MAX_TOKENS_AT_ONE_LEVEL} tokens without a comma or parenthesis, which would nest too deep to plan: split it (a long OR of values is an IN (…) list; many rows are a VALUES list or a table)"
                );
            }
        }
    }
    Ok(())
}

/// Byte offsets of (line, column) positions, both 1-based, columns in chars.
struct LineOffsets<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// Is each line ASCII (its columns then byte offsets)?
    ascii: Vec<bool>,
}

impl<'a> LineOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = text.split('\n').map(str::is_ascii).collect();
        LineOffsets {
            text,
            starts,
            ascii,
        }
    }

    fn offset(&self, line: u64, column: u64) -> usize {
        let Some(&line_start) = self.starts.get(line.saturating_sub(1) as usize) else {
            return self.text.len();
        };
        let rest = &self.text[line_start..];
        let skip = column.saturating_sub(1) as usize;
        // Columns count chars: on an ASCII line they are bytes (a script of
        // one long line would otherwise cost a scan per statement).
        if self.ascii[line.saturating_sub(1) as usize] {
            return line_start + skip.min(rest.len());
        }
        line_start + rest.char_indices().nth(skip).map_or(rest.len(), |(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::user_message;

    fn texts(sql: &str) -> Vec<String> {
        ScriptStatement::split(sql)
            .unwrap()
            .iter()
            .map(|s| s.text().to_string())
            .collect()
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        let sql = "SELECT 'a;b';\n-- c;d\nSELECT \"x;y\" FROM t;\n\n;  SELECT 3";
        let parts = ScriptStatement::split(sql).unwrap();
        assert_eq!(
            texts(sql),
            ["SELECT 'a;b'", "SELECT \"x;y\" FROM t", "SELECT 3"]
        );
        assert_eq!(
            parts.iter().map(|s| s.line()).collect::<Vec<_>>(),
            [1, 3, 5]
        );
    }

    #[test]
    fn statements_end_where_their_last_token_does_on_ascii_and_other_lines() {
        let sql = "SELECT 'ü'  ; SELECT 'δ' AS x  \nSELECT 1 ;SELECT 2";
        assert_eq!(
            texts(sql),
            ["SELECT 'ü'", "SELECT 'δ' AS x  \nSELECT 1", "SELECT 2"]
        );
    }

    #[test]
    fn one_statement_means_exactly_one() {
        assert_eq!(
            ScriptStatement::one(" SELECT 1 ; ").unwrap().text(),
            "SELECT 1"
        );
        let two = user_message(&ScriptStatement::one("SELECT 1; SELECT 2").unwrap_err());
        assert_eq!(two, "expected one statement, found 2");
        let none = user_message(&ScriptStatement::one(" -- nothing\n;").unwrap_err());
        assert_eq!(none, "expected one statement, found 0");
    }

    fn check(sql: &str) -> Result<()> {
        for statement in ScriptStatement::split(sql)? {
            check_expression_length(statement.tokens())?;
        }
        Ok(())
    }

    #[test]
    fn long_chains_are_refused_before_parsing_and_lists_are_not() {
        let chain = vec!["1"; 6000].join(" + ");
        let err = user_message(&check(&format!("SELECT 0;\nSELECT {chain}")).unwrap_err()); // why: test input
        assert!(
            err.starts_with("the expression from line 2 chains more than 10000 tokens"),
            "{err}"
        );
        let list = (0..20_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        check(&format!("SELECT 1 IN ({list})")).unwrap(); // why: test input
        check(&format!("SELECT [{list}]")).unwrap(); // why: test input

        // Inside parentheses a chain is counted at its own level.
        let err = user_message(&check(&format!("SELECT f(1, ({chain}))")).unwrap_err()); // why: test input
        assert!(err.contains("from line 1"), "{err}");
    }
}
