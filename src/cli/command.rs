//! The REPL's backslash commands: parsed once into a [`Command`], and the
//! help is generated from the same table, so a new command cannot be
//! missing from `\?`.

use std::path::PathBuf;

use super::format::Format;
use crate::error::Error;

/// One backslash command, with its argument parsed.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    Quit,
    Help,
    /// `\d`: every table and view.
    ListTables,
    /// `\d "/path"`: one node's versions and columns.
    Describe(String),
    /// `\l [/path]`: a directory's entries.
    ListDirectory(String),
    /// `\chart [-o FILE] SELECT …`.
    Chart {
        path: PathBuf,
        sql: String,
    },
    Timing,
    Format(Format),
    /// `\maxrows N`; `None` shows all.
    MaxRows(Option<usize>),
}

/// Each command's names, its argument, and what it does: the help's lines.
const COMMANDS: &[(&[&str], &str, &str)] = &[
    (&["\\d"], "", "tables and views in the pond"),
    (&["\\d"], "\"/path\"", "a table's columns, kind, versions and time range"),
    (&["\\l", "\\ls"], "[/path]", "list a directory (default /)"),
    (
        &["\\chart"],
        "[-o F] SQL",
        "draw the query's rows into F (.png/.svg; default a temp PNG), print its path and open it where there is a viewer",
    ),
    (&["\\timing"], "", "toggle timing of statements"),
    (&["\\format"], "FORMAT", "table, csv, tsv, json, ndjson, markdown"),
    (&["\\maxrows"], "N", "rows a table shows at most (0: all)"),
    (&["\\?", "\\h", "\\help"], "", "this help"),
    (&["\\q", "\\quit"], "", "quit (or Ctrl-D)"),
];

impl Command {
    /// Parses one input line that starts with a backslash.
    pub(crate) fn parse(input: &str) -> Result<Command, Error> {
        let mut parts = input.trim().splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("");
        let argument = parts.next().map(str::trim).unwrap_or("");
        Ok(match name {
            "\\q" | "\\quit" => Command::Quit,
            "\\?" | "\\h" | "\\help" => Command::Help,
            "\\d" if argument.is_empty() => Command::ListTables,
            "\\d" => Command::Describe(unquoted(argument)),
            "\\l" | "\\ls" if argument.is_empty() => Command::ListDirectory("/".into()),
            "\\l" | "\\ls" => Command::ListDirectory(unquoted(argument)),
            "\\chart" => {
                let (path, sql) = super::chart::parse_backslash(argument)?;
                Command::Chart {
                    path,
                    sql: sql.to_string(),
                }
            }
            "\\timing" => Command::Timing,
            "\\format" => Command::Format(argument.parse()?),
            "\\maxrows" => match argument.parse::<usize>() {
                Ok(0) => Command::MaxRows(None),
                Ok(n) => Command::MaxRows(Some(n)),
                Err(_) => return Err("\\maxrows takes a number of rows (0: all)".into()),
            },
            other => return Err(format!("unknown command {other}: \\? lists the commands").into()),
        })
    }

    /// The lines of `\?`, one per command.
    pub(crate) fn help() -> String {
        let usage = |(names, argument, _): &(&[&str], &str, &str)| {
            format!("{} {argument}", names.join(", "))
                .trim_end()
                .to_string()
        };
        let width = COMMANDS
            .iter()
            .map(|c| usage(c).chars().count())
            .max()
            .unwrap_or(0);
        COMMANDS
            .iter()
            .map(|command| format!("  {:width$}  {}", usage(command), command.2))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A path argument without the quotes around it.
fn unquoted(argument: &str) -> String {
    argument.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// A pond path as a SQL string literal's contents (quotes doubled).
pub(crate) fn sql_text(path: &str) -> String {
    path.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_once_and_every_one_is_in_the_help() {
        assert_eq!(Command::parse("\\q").unwrap(), Command::Quit);
        assert_eq!(Command::parse("\\d").unwrap(), Command::ListTables);
        assert_eq!(
            Command::parse("\\d \"/s/t\"").unwrap(),
            Command::Describe("/s/t".into())
        );
        assert_eq!(
            Command::parse("\\ls").unwrap(),
            Command::ListDirectory("/".into())
        );
        assert_eq!(
            Command::parse("\\maxrows 0").unwrap(),
            Command::MaxRows(None)
        );
        assert_eq!(
            Command::parse("\\format csv").unwrap(),
            Command::Format(Format::Csv)
        );
        for bad in ["\\maxrows x", "\\format nope", "\\nope", "\\chart"] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        let help = Command::help();
        for (names, _, what) in COMMANDS {
            for name in *names {
                assert!(
                    Command::parse(&format!("{name} x")).is_ok()
                        || *name == "\\maxrows"
                        || *name == "\\format",
                    "{name}"
                );
                assert!(help.contains(name), "{name}");
            }
            assert!(help.contains(what), "{what}");
        }
    }
}
