//! Parsing one statement, once, from the tokens its script was cut into
//! (script.rs): the pond's own statements (`CREATE DIRECTORY`, `DROP
//! DIRECTORY`, `OPTIMIZE`, `VACUUM`, `BACKUP`, `CHECK`, `REFRESH`) here,
//! everything else by DataFusion's parser built from the same tokens. From
//! here on a statement is a value, never text.

use datafusion::common::plan_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace, Word};

use super::script::{check_expression_length, ScriptStatement};
use crate::storage::{Change, PondPath};

/// One statement, parsed once: what a session runs. Its text is kept for
/// the statement log and for messages, never parsed again.
#[derive(Clone, Debug)]
pub struct Statement {
    pub(crate) text: String,
    pub(crate) parsed: Parsed,
}

impl Statement {
    /// Parses exactly one statement (a `;` after it is allowed).
    pub fn parse(sql: &str) -> Result<Statement> {
        ScriptStatement::one(sql)?.parse()
    }

    /// The statement as written (or, bound, as the pond prints it).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl ScriptStatement {
    /// Parses this statement of a script.
    pub fn parse(&self) -> Result<Statement> {
        Ok(Statement {
            text: self.text().to_string(),
            parsed: parse(self)?,
        })
    }
}

/// A parsed statement: the pond's own, or DataFusion's.
#[derive(Clone, Debug)]
pub(crate) enum Parsed {
    /// A statement only the pond knows.
    Pond(PondStatement),
    /// A statement DataFusion's parser knows (the pond may still run it).
    DataFusion(DFStatement),
}

fn parse(statement: &ScriptStatement) -> Result<Parsed> {
    let tokens = statement.tokens();
    check_expression_length(tokens)?;
    let words: Vec<Token> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|t| t.token.clone())
        .collect();
    if let Some(pond) = parse_pond_statement(words)? {
        return Ok(Parsed::Pond(pond));
    }
    let tokens = with_copy_options_keyword(tokens.to_vec());
    let mut statements = DFParserBuilder::new(tokens).build()?.parse_statements()?;
    match (statements.pop_front(), statements.len()) {
        (Some(statement), 0) => Ok(Parsed::DataFusion(statement)),
        (None, _) => plan_err!("expected one statement, found 0"),
        (Some(_), more) => plan_err!("expected one statement, found {}", more + 1),
    }
}

/// `COPY … TO 'file' (FORMAT chart, …)` (DuckDB's and PostgreSQL's way) as
/// DataFusion's `COPY … TO 'file' OPTIONS (FORMAT chart, …)`: the keyword
/// goes in before a parenthesised option list that follows the target.
fn with_copy_options_keyword(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let is_keyword = |t: &Token, k: Keyword| matches!(t, Token::Word(Word { keyword, quote_style: None, .. }) if *keyword == k);
    if !significant
        .first()
        .is_some_and(|&i| is_keyword(&tokens[i].token, Keyword::COPY))
    {
        return tokens;
    }
    let mut depth = 0i32;
    for (n, &i) in significant.iter().enumerate() {
        match tokens[i].token {
            Token::LParen if depth == 0 && n >= 2 => {
                let (to, target) = (
                    &tokens[significant[n - 2]].token,
                    &tokens[significant[n - 1]].token,
                );
                if is_keyword(to, Keyword::TO) && matches!(target, Token::SingleQuotedString(_)) {
                    let at = tokens[i].span;
                    let options = |token| TokenWithSpan::new(token, at);
                    tokens.splice(
                        i..i,
                        [
                            options(Token::make_keyword("OPTIONS")),
                            options(Token::Whitespace(Whitespace::Space)),
                        ],
                    );
                    return tokens;
                }
                depth += 1;
            }
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
    }
    tokens
}

/// A statement that DataFusion's parser does not know.
#[derive(Clone, Debug)]
pub(crate) enum PondStatement {
    /// `CREATE DIRECTORY` and `DROP DIRECTORY`: one change, staged as it is.
    Stage(Box<Change>),
    /// `OPTIMIZE ["/table"]`: compact one table, or every table.
    Optimize { path: Option<PondPath> },
    /// `VACUUM [RETAIN n HOURS] [DRY RUN]`.
    Vacuum {
        retain_hours: Option<u64>,
        dry_run: bool,
    },
    /// `BACKUP TO 'url or path'`.
    Backup { target: String },
    /// `CHECK [ALL VERSIONS] ["/path"]`.
    Check {
        all_versions: bool,
        path: Option<PondPath>,
    },
    /// `REFRESH MATERIALIZED VIEW "/path" [FULL]`, or `REFRESH ALL [FULL]` (`path` None).
    Refresh { path: Option<PondPath>, full: bool },
}

/// Parses the pond's own statements from their significant tokens;
/// `Ok(None)` for anything else.
fn parse_pond_statement(words: Vec<Token>) -> Result<Option<PondStatement>> {
    let mut words = words.into_iter().peekable();
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
    Ok(Some(PondStatement::Stage(Box::new(match verb {
        "CREATE" => Change::CreateDirectory {
            path,
            if_not_exists: guarded,
        },
        _ => Change::DropDirectory {
            path,
            if_exists: guarded,
            cascade,
        },
    }))))
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

    fn parsed(sql: &str) -> Result<Parsed> {
        parse(&ScriptStatement::one(sql)?)
    }

    /// The pond statement of `sql`, as its Debug text (`None` when DataFusion's).
    fn pond(sql: &str) -> Result<Option<String>> {
        Ok(match parsed(sql)? {
            Parsed::Pond(statement) => Some(format!("{statement:?}")),
            Parsed::DataFusion(_) => None,
        })
    }

    #[test]
    fn a_statement_is_parsed_from_the_script_s_own_tokens() {
        // Positions in parse errors are the script's, not the statement's.
        let script = ScriptStatement::split("SELECT 1;\n\n  SELEC 2").unwrap();
        let err = crate::error::user_message(&script[1].parse().unwrap_err());
        assert!(err.contains("SELEC at Line: 3, Column: 3"), "{err}");
    }

    #[test]
    fn copy_option_lists_get_the_options_keyword() {
        let options = |sql: &str| match parsed(sql).unwrap() {
            Parsed::DataFusion(DFStatement::CopyTo(copy)) => copy.options.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            options("COPY (SELECT '(' AS x FROM t) TO 'a.png' (FORMAT chart, width 5)"),
            2
        );
        assert_eq!(options("COPY t TO 'a.csv' OPTIONS (format csv)"), 1);
        assert_eq!(options("COPY t TO 'a.csv'"), 0);
        assert!(matches!(
            parsed("SELECT * FROM t WHERE a IN ('x') ").unwrap(),
            Parsed::DataFusion(DFStatement::Statement(_))
        ));
    }

    #[test]
    fn parses_directory_statements() {
        let path = |p: &str| PondPath::parse(p).unwrap();
        assert_eq!(
            pond("create directory if not exists '/a/b'").unwrap(),
            Some(format!(
                "{:?}",
                PondStatement::Stage(Box::new(Change::CreateDirectory {
                    path: path("/a/b"),
                    if_not_exists: true
                }))
            ))
        );
        assert_eq!(
            pond("DROP DIRECTORY \"/a\" CASCADE").unwrap(),
            Some(format!(
                "{:?}",
                PondStatement::Stage(Box::new(Change::DropDirectory {
                    path: path("/a"),
                    if_exists: false,
                    cascade: true
                }))
            ))
        );
        assert_eq!(pond("CREATE TABLE t (a INT)").unwrap(), None);
        assert!(pond("CREATE DIRECTORY sensors").is_err());
        let expect = |statement: PondStatement| Some(format!("{statement:?}"));
        assert_eq!(
            pond("optimize \"/a/t\"").unwrap(),
            expect(PondStatement::Optimize {
                path: Some(path("/a/t"))
            })
        );
        assert_eq!(
            pond("VACUUM RETAIN 0 HOURS DRY RUN").unwrap(),
            expect(PondStatement::Vacuum {
                retain_hours: Some(0),
                dry_run: true
            })
        );
        assert!(pond("VACUUM DRY").is_err());
        assert_eq!(
            pond("backup to 's3://b/p'").unwrap(),
            expect(PondStatement::Backup {
                target: "s3://b/p".into()
            })
        );
        assert!(pond("BACKUP 's3://b/p'").is_err());
        assert_eq!(
            pond("CHECK ALL VERSIONS \"/a/t\"").unwrap(),
            expect(PondStatement::Check {
                all_versions: true,
                path: Some(path("/a/t"))
            })
        );
        assert_eq!(
            pond("check").unwrap(),
            expect(PondStatement::Check {
                all_versions: false,
                path: None
            })
        );
        assert!(pond("CHECK EVERYTHING").is_err());
        assert_eq!(
            pond("refresh materialized view \"/r/1h\" full").unwrap(),
            expect(PondStatement::Refresh {
                path: Some(path("/r/1h")),
                full: true
            })
        );
        assert_eq!(
            pond("REFRESH ALL").unwrap(),
            expect(PondStatement::Refresh {
                path: None,
                full: false
            })
        );
        assert!(pond("REFRESH \"/r\"").is_err());
        assert!(pond("CREATE DIRECTORY 'rel/x'")
            .unwrap_err()
            .to_string()
            .contains("relative"));
    }
}
