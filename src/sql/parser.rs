//! Splitting SQL text into statements, and parsing the few statements that
//! are pond-specific (`CREATE DIRECTORY`, `DROP DIRECTORY`, `OPTIMIZE`,
//! `VACUUM`, `REFRESH`). Everything else is parsed by DataFusion's parser.

use datafusion::common::plan_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace, Word};

use crate::storage::PondPath;

/// One statement of a script, with the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SqlStatement {
    pub text: String,
    pub line: u64,
}

/// Splits SQL text at top-level `;` (not inside strings, quoted names or
/// comments). Empty statements are dropped.
pub(crate) fn split_statements(sql: &str) -> Result<Vec<SqlStatement>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| DataFusionError::Plan(e.to_string()))?;
    let offsets = LineOffsets::new(sql);
    let mut out = Vec::new();
    let mut start: Option<&TokenWithSpan> = None;
    let mut last: Option<&TokenWithSpan> = None;
    let flush = |start: &mut Option<&TokenWithSpan>, end: usize, out: &mut Vec<SqlStatement>| {
        if let Some(first) = start.take() {
            let from = offsets.offset(first.span.start.line, first.span.start.column);
            let text = sql[from..end].trim().to_string();
            if !text.is_empty() {
                out.push(SqlStatement {
                    text,
                    line: first.span.start.line,
                });
            }
        }
    };
    for token in &tokens {
        match &token.token {
            Token::SemiColon => {
                let end = offsets.offset(token.span.start.line, token.span.start.column);
                flush(&mut start, end, &mut out);
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                if start.is_none() {
                    start = Some(token);
                }
                last = Some(token);
            }
        }
    }
    let end = last.map_or(0, |t| offsets.offset(t.span.end.line, t.span.end.column));
    flush(&mut start, end, &mut out);
    Ok(out)
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
pub(crate) fn check_expression_length(sql: &str) -> Result<()> {
    let mut tokenizer = Tokenizer::new(&GenericDialect {}, sql);
    let Ok(tokens) = tokenizer.tokenize_with_location() else {
        // The parser reports the same error with its position.
        return Ok(());
    };
    // Tokens at each open level of parentheses or brackets since its last
    // comma, and the line of the first of them; innermost last.
    let mut levels: Vec<(usize, u64)> = vec![(0, 0)];
    for token in &tokens {
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

/// `COPY … TO 'file' (FORMAT chart, …)` (DuckDB's and PostgreSQL's way) as
/// DataFusion's `COPY … TO 'file' OPTIONS (FORMAT chart, …)`; `None` when
/// the statement is not a COPY with a parenthesised option list after its target.
pub(crate) fn copy_options_keyword(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let mut significant = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)));
    let is_keyword = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(Word { keyword, quote_style: None, .. }) if *keyword == k);
    if !is_keyword(significant.next()?, Keyword::COPY) {
        return None;
    }
    let mut depth = 0i32;
    let mut previous: [Option<&TokenWithSpan>; 2] = [None, None];
    for token in significant {
        match token.token {
            Token::LParen if depth == 0 => {
                if let [Some(to), Some(target)] = previous {
                    if is_keyword(to, Keyword::TO)
                        && matches!(target.token, Token::SingleQuotedString(_))
                    {
                        let at = LineOffsets::new(sql)
                            .offset(token.span.start.line, token.span.start.column);
                        return Some(format!("{}OPTIONS {}", &sql[..at], &sql[at..]));
                    }
                }
                depth += 1;
            }
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        previous = [previous[1], Some(token)];
    }
    None
}

/// A statement that DataFusion's parser does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PondStatement {
    CreateDirectory {
        path: PondPath,
        if_not_exists: bool,
    },
    DropDirectory {
        path: PondPath,
        if_exists: bool,
        cascade: bool,
    },
    /// `OPTIMIZE ["/table"]`: compact one table, or every table.
    Optimize {
        path: Option<PondPath>,
    },
    /// `VACUUM [RETAIN n HOURS] [DRY RUN]`.
    Vacuum {
        retain_hours: Option<u64>,
        dry_run: bool,
    },
    /// `BACKUP TO 'url or path'`.
    Backup {
        target: String,
    },
    /// `CHECK [ALL VERSIONS] ["/path"]`.
    Check {
        all_versions: bool,
        path: Option<PondPath>,
    },
    /// `REFRESH MATERIALIZED VIEW "/path" [FULL]`, or `REFRESH ALL [FULL]` (`path` None).
    Refresh {
        path: Option<PondPath>,
        full: bool,
    },
}

/// Parses the pond's own statements; `Ok(None)` for anything else.
pub(crate) fn parse_pond_statement(sql: &str) -> Result<Option<PondStatement>> {
    let tokens: Vec<Token> = match Tokenizer::new(&GenericDialect {}, sql).tokenize() {
        Ok(t) => t,
        Err(_) => return Ok(None), // let DataFusion's parser report it
    };
    let mut words = tokens
        .into_iter()
        .filter(|t| {
            !matches!(
                t,
                Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
                    | Token::Whitespace(_)
                    | Token::EOF
            )
        })
        .peekable();
    let verb = match words.next() {
        Some(Token::Word(w)) if w.keyword == Keyword::CREATE => "CREATE",
        Some(Token::Word(w)) if w.keyword == Keyword::DROP => "DROP",
        Some(Token::Word(w)) if w.keyword == Keyword::OPTIMIZE => {
            return parse_optimize(words).map(Some)
        }
        Some(Token::Word(w)) if w.keyword == Keyword::VACUUM => {
            return parse_vacuum(words).map(Some)
        }
        Some(Token::Word(w)) if w.keyword == Keyword::REFRESH => {
            return parse_refresh(words).map(Some)
        }
        Some(Token::Word(w)) if is_word(&w, "BACKUP") => return parse_backup(words).map(Some),
        Some(Token::Word(w)) if is_word(&w, "CHECK") => return parse_check(words).map(Some),
        _ => return Ok(None),
    };
    match words.peek() {
        Some(Token::Word(w))
            if w.value.eq_ignore_ascii_case("DIRECTORY") && w.quote_style.is_none() =>
        {
            words.next();
        }
        _ => return Ok(None),
    }
    let mut take_keywords = |expected: &[Keyword]| -> bool {
        let mut lookahead = words.clone();
        for k in expected {
            match lookahead.next() {
                Some(Token::Word(w)) if w.keyword == *k && w.quote_style.is_none() => {}
                _ => return false,
            }
        }
        words = lookahead;
        true
    };
    let guarded = if verb == "CREATE" {
        take_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS])
    } else {
        take_keywords(&[Keyword::IF, Keyword::EXISTS])
    };
    let usage = format!(
        "usage: {verb} DIRECTORY [IF {}EXISTS] '/path'{}",
        if verb == "CREATE" { "NOT " } else { "" },
        if verb == "DROP" { " [CASCADE]" } else { "" }
    );
    let path_text = match words.next() {
        Some(Token::SingleQuotedString(s)) => s,
        Some(Token::Word(w)) if w.quote_style == Some('"') => w.value,
        _ => return Err(DataFusionError::Plan(usage)),
    };
    let path = PondPath::parse(&path_text).map_err(|e| DataFusionError::Plan(e.to_string()))?;
    let cascade = match words.next() {
        Some(Token::Word(w)) if verb == "DROP" && w.keyword == Keyword::CASCADE => true,
        Some(Token::Word(w)) if verb == "DROP" && w.keyword == Keyword::RESTRICT => false,
        None => false,
        Some(_) => return Err(DataFusionError::Plan(usage)),
    };
    if words.next().is_some() {
        return Err(DataFusionError::Plan(usage));
    }
    Ok(Some(match verb {
        "CREATE" => PondStatement::CreateDirectory {
            path,
            if_not_exists: guarded,
        },
        _ => PondStatement::DropDirectory {
            path,
            if_exists: guarded,
            cascade,
        },
    }))
}

fn parse_optimize(mut words: impl Iterator<Item = Token>) -> Result<PondStatement> {
    let usage = || "usage: OPTIMIZE [\"/path/of/table\"]".to_string();
    let path = match words.next() {
        None => None,
        Some(Token::SingleQuotedString(s)) => Some(s),
        Some(Token::Word(w)) if w.quote_style == Some('"') => Some(w.value),
        Some(_) => return Err(DataFusionError::Plan(usage())),
    };
    if words.next().is_some() {
        return Err(DataFusionError::Plan(usage()));
    }
    let path = path
        .map(|p| PondPath::parse(&p).map_err(|e| DataFusionError::Plan(e.to_string())))
        .transpose()?;
    Ok(PondStatement::Optimize { path })
}

fn parse_refresh(words: impl Iterator<Item = Token>) -> Result<PondStatement> {
    let usage =
        || "usage: REFRESH MATERIALIZED VIEW \"/path\" [FULL], or REFRESH ALL [FULL]".to_string();
    let words: Vec<Token> = words.collect();
    let is = |t: &Token, word: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word));
    let (path, rest) = match words.as_slice() {
        [all, rest @ ..] if is(all, "ALL") => (None, rest),
        [m, v, name, rest @ ..] if is(m, "MATERIALIZED") && is(v, "VIEW") => {
            let text = match name {
                Token::SingleQuotedString(s) => s.clone(),
                Token::Word(w) if w.quote_style == Some('"') => w.value.clone(),
                _ => return Err(DataFusionError::Plan(usage())),
            };
            (
                Some(PondPath::parse(&text).map_err(|e| DataFusionError::Plan(e.to_string()))?),
                rest,
            )
        }
        _ => return Err(DataFusionError::Plan(usage())),
    };
    let full = match rest {
        [] => false,
        [f] if is(f, "FULL") => true,
        _ => return Err(DataFusionError::Plan(usage())),
    };
    Ok(PondStatement::Refresh { path, full })
}

fn is_word(w: &Word, word: &str) -> bool {
    w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word)
}

fn parse_backup(words: impl Iterator<Item = Token>) -> Result<PondStatement> {
    let usage = || "usage: BACKUP TO 's3://bucket/path' (or a local directory)".to_string();
    match words.collect::<Vec<_>>().as_slice() {
        [Token::Word(to), Token::SingleQuotedString(target)] if is_word(to, "TO") => {
            Ok(PondStatement::Backup {
                target: target.clone(),
            })
        }
        _ => Err(DataFusionError::Plan(usage())),
    }
}

fn parse_check(words: impl Iterator<Item = Token>) -> Result<PondStatement> {
    let usage = || "usage: CHECK [ALL VERSIONS] [\"/path\"]".to_string();
    let words: Vec<Token> = words.collect();
    let (all_versions, rest) = match words.as_slice() {
        [Token::Word(a), Token::Word(v), rest @ ..]
            if is_word(a, "ALL") && is_word(v, "VERSIONS") =>
        {
            (true, rest)
        }
        rest => (false, rest),
    };
    let path = match rest {
        [] => None,
        [Token::SingleQuotedString(p)] => Some(p.clone()),
        [Token::Word(w)] if w.quote_style == Some('"') => Some(w.value.clone()),
        _ => return Err(DataFusionError::Plan(usage())),
    };
    let path = path
        .map(|p| PondPath::parse(&p).map_err(|e| DataFusionError::Plan(e.to_string())))
        .transpose()?;
    Ok(PondStatement::Check { all_versions, path })
}

fn parse_vacuum(words: impl Iterator<Item = Token>) -> Result<PondStatement> {
    let usage = || "usage: VACUUM [RETAIN <hours> HOURS] [DRY RUN]".to_string();
    let mut words = words.peekable();
    let mut retain_hours = None;
    if let Some(Token::Word(w)) = words.peek() {
        if w.keyword == Keyword::RETAIN {
            words.next();
            let Some(Token::Number(n, _)) = words.next() else {
                return Err(DataFusionError::Plan(usage()));
            };
            retain_hours = Some(n.parse().map_err(|_| DataFusionError::Plan(usage()))?);
            match words.next() {
                Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("HOURS") => {}
                _ => return Err(DataFusionError::Plan(usage())),
            }
        }
    }
    let dry_run = match (words.next(), words.next()) {
        (None, _) => false,
        (Some(Token::Word(a)), Some(Token::Word(b)))
            if a.value.eq_ignore_ascii_case("DRY") && b.value.eq_ignore_ascii_case("RUN") =>
        {
            true
        }
        _ => return Err(DataFusionError::Plan(usage())),
    };
    if words.next().is_some() {
        return Err(DataFusionError::Plan(usage()));
    }
    Ok(PondStatement::Vacuum {
        retain_hours,
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::user_message;

    #[test]
    fn splits_at_top_level_semicolons() {
        let sql = "SELECT 'a;b';\n-- c;d\nSELECT \"x;y\" FROM t;\n\n;  SELECT 3";
        let parts = split_statements(sql).unwrap();
        let texts: Vec<_> = parts.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["SELECT 'a;b'", "SELECT \"x;y\" FROM t", "SELECT 3"]);
        assert_eq!(parts.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 3, 5]);
    }

    #[test]
    fn statements_end_where_their_last_token_does_on_ascii_and_other_lines() {
        let sql = "SELECT 'ü'  ; SELECT 'δ' AS x  \nSELECT 1 ;SELECT 2";
        let parts = split_statements(sql).unwrap();
        let texts: Vec<_> = parts.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            ["SELECT 'ü'", "SELECT 'δ' AS x  \nSELECT 1", "SELECT 2"]
        );
    }

    #[test]
    fn long_chains_are_refused_before_parsing_and_lists_are_not() {
        let chain = vec!["1"; 6000].join(" + ");
        let err = user_message(
            &check_expression_length(&format!("SELECT 0;\nSELECT {chain}")).unwrap_err(), // why: test input
        );
        assert!(
            err.starts_with("the expression from line 2 chains more than 10000 tokens"),
            "{err}"
        );
        let list = (0..20_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        check_expression_length(&format!("SELECT 1 IN ({list})")).unwrap(); // why: test input
        check_expression_length(&format!("SELECT [{list}]")).unwrap(); // why: test input

        // Inside parentheses a chain is counted at its own level.
        let err =
            user_message(&check_expression_length(&format!("SELECT f(1, ({chain}))")).unwrap_err()); // why: test input
        assert!(err.contains("from line 1"), "{err}");
    }

    #[test]
    fn copy_option_lists_get_the_options_keyword() {
        let rewritten = copy_options_keyword(
            "COPY (SELECT '(' AS x FROM t) TO 'a.png' (FORMAT chart, width 5)",
        );
        assert_eq!(
            rewritten.as_deref(),
            Some("COPY (SELECT '(' AS x FROM t) TO 'a.png' OPTIONS (FORMAT chart, width 5)")
        );
        assert_eq!(
            copy_options_keyword("COPY t TO 'a.csv' OPTIONS (format csv)"),
            None
        );
        assert_eq!(copy_options_keyword("COPY t TO 'a.csv'"), None);
        assert_eq!(
            copy_options_keyword("SELECT * FROM t WHERE a IN ('x') "),
            None
        );
    }

    #[test]
    fn parses_directory_statements() {
        assert_eq!(
            parse_pond_statement("create directory if not exists '/a/b'").unwrap(),
            Some(PondStatement::CreateDirectory {
                path: PondPath::parse("/a/b").unwrap(),
                if_not_exists: true
            })
        );
        assert_eq!(
            parse_pond_statement("DROP DIRECTORY \"/a\" CASCADE").unwrap(),
            Some(PondStatement::DropDirectory {
                path: PondPath::parse("/a").unwrap(),
                if_exists: false,
                cascade: true
            })
        );
        assert_eq!(
            parse_pond_statement("CREATE TABLE t (a INT)").unwrap(),
            None
        );
        assert!(parse_pond_statement("CREATE DIRECTORY sensors").is_err());
        assert_eq!(
            parse_pond_statement("optimize \"/a/t\"").unwrap(),
            Some(PondStatement::Optimize {
                path: Some(PondPath::parse("/a/t").unwrap())
            })
        );
        assert_eq!(
            parse_pond_statement("VACUUM RETAIN 0 HOURS DRY RUN").unwrap(),
            Some(PondStatement::Vacuum {
                retain_hours: Some(0),
                dry_run: true
            })
        );
        assert!(parse_pond_statement("VACUUM DRY").is_err());
        assert_eq!(
            parse_pond_statement("backup to 's3://b/p'").unwrap(),
            Some(PondStatement::Backup {
                target: "s3://b/p".into()
            })
        );
        assert!(parse_pond_statement("BACKUP 's3://b/p'").is_err());
        assert_eq!(
            parse_pond_statement("CHECK ALL VERSIONS \"/a/t\"").unwrap(),
            Some(PondStatement::Check {
                all_versions: true,
                path: Some(PondPath::parse("/a/t").unwrap())
            })
        );
        assert_eq!(
            parse_pond_statement("check").unwrap(),
            Some(PondStatement::Check {
                all_versions: false,
                path: None
            })
        );
        assert!(parse_pond_statement("CHECK EVERYTHING").is_err());
        assert_eq!(
            parse_pond_statement("refresh materialized view \"/r/1h\" full").unwrap(),
            Some(PondStatement::Refresh {
                path: Some(PondPath::parse("/r/1h").unwrap()),
                full: true
            })
        );
        assert_eq!(
            parse_pond_statement("REFRESH ALL").unwrap(),
            Some(PondStatement::Refresh {
                path: None,
                full: false
            })
        );
        assert!(parse_pond_statement("REFRESH \"/r\"").is_err());
        assert!(parse_pond_statement("CREATE DIRECTORY 'rel/x'")
            .unwrap_err()
            .to_string()
            .contains("relative"));
    }
}
