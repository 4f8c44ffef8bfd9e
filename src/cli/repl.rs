//! The interactive REPL: rustyline with history in the user's state
//! directory, completion and highlighting (see `helper`), backslash commands,
//! and Ctrl-C that cancels the running statement but keeps the session.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use super::command::{sql_text, Command};
use super::helper::{Names, PondHelper};
use super::progress::ProgressLine;
use super::target::Target;
use super::{print_output, Settings, EXIT_OK, EXIT_USAGE};
use crate::ScriptStatement;

/// `\?`: how input works, then every command (from `Command`'s table).
fn help() -> String {
    format!(
        "Statements end with ';' and may span lines. Tab completes keywords, names,
and pond paths inside quotes (\"/sen<Tab>).

{}

Ctrl-C cancels a running statement (nothing of it is committed).
See docs/sql.md for the SQL.",
        Command::help()
    )
}

/// Where history is kept: $PONDSQL_HISTORY, else the XDG state directory.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PONDSQL_HISTORY") {
        return Some(PathBuf::from(path));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("pondsql").join("history"))
}

enum Next {
    Continue,
    Quit,
}

pub(super) fn run(
    runtime: &tokio::runtime::Runtime,
    session: &Target,
    settings: &mut Settings,
) -> u8 {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<PondHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(err) => {
            eprintln!("error: cannot start the line editor: {err}");
            return EXIT_USAGE;
        }
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let names = match session {
        Target::Local(local) => Names::Pond(local.tree()),
        // The server's tables as of now; \d lists them afresh.
        Target::Remote(remote) => {
            Names::Listed(runtime.block_on(remote.tables()).unwrap_or_default())
        }
    };
    editor.set_helper(Some(PondHelper::new(names, colour)));
    let history = history_path();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(path);
    }
    println!(
        "pondsql {} — \\? for help, \\q to quit",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match editor.readline("pond> ") {
            Ok(input) => {
                let input = input.trim();
                if input.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(input);
                if let Some(path) = &history {
                    // Appended at once, so a killed session keeps its history.
                    let _ = editor.append_history(path);
                }
                let next = if input.starts_with('\\') {
                    runtime.block_on(backslash(session, input, settings))
                } else {
                    runtime.block_on(run_statements(session, input, settings));
                    Next::Continue
                };
                if let Next::Quit = next {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue, // Ctrl-C at the prompt clears the line
            Err(ReadlineError::Eof) => break,
            Err(err) => {
                eprintln!("error: {err}");
                break;
            }
        }
    }
    EXIT_OK
}

/// Runs the statements of one REPL entry; Ctrl-C cancels the running one.
async fn run_statements(session: &Target, input: &str, settings: &Settings) {
    let statements = match ScriptStatement::split(input) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("error: {}", crate::error::user_message(&err));
            return;
        }
    };
    for statement in statements {
        let started = Instant::now();
        let progress = match session {
            Target::Local(local) => ProgressLine::start(local.progress(), settings.progress),
            Target::Remote(_) => ProgressLine::start_elsewhere(),
        };
        let cancel = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let result = session.execute_until(&statement, cancel).await;
        drop(progress);
        match result {
            Ok(output) => {
                if let Err(message) = print_output(&output, settings, Some(started.elapsed())) {
                    eprintln!("error: {message}");
                    return;
                }
            }
            Err(message) => {
                eprintln!("error: {message}");
                return;
            }
        }
    }
}

/// A path typed after a backslash command (quoted or not), ready to go
/// inside a SQL string literal.
async fn query(session: &Target, settings: &Settings, sql: String) {
    match session.execute_sql(&sql).await {
        Ok(output) => {
            if let Err(message) = print_output(&output, settings, None) {
                eprintln!("error: {message}");
            }
        }
        Err(message) => eprintln!("error: {message}"),
    }
}

async fn backslash(session: &Target, input: &str, settings: &mut Settings) -> Next {
    let command = match Command::parse(input) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("error: {err}");
            return Next::Continue;
        }
    };
    // The listings are queries sent as SQL, so they work alike against a
    // local pond and a server (whose protocol is SQL).
    match command {
        Command::Quit => return Next::Quit,
        Command::Help => println!("{}", help()),
        Command::ListTables => {
            query(session, settings, "SELECT path, kind, rows, modified FROM pond.system.entries WHERE kind <> 'directory' ORDER BY path".into()).await
        }
        Command::Describe(path) => {
            let path = sql_text(&path);
            query(session, settings, format!("SELECT path, kind, version, versions, rows, size, min_time, max_time FROM ls('{path}')")).await; // why: \d is SQL to a server too
            query(session, settings, format!(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                 WHERE table_schema || '/' || table_name = '{path}' OR (table_schema = '/' AND '/' || table_name = '{path}') \
                 ORDER BY ordinal_position"
            ))
            .await;
        }
        Command::ListDirectory(path) => {
            let path = sql_text(&path);
            query(session, settings, format!("SELECT name, kind, rows, modified FROM ls('{path}') ORDER BY name")).await // why: \l is SQL to a server too
        }
        Command::Chart { path, sql } => {
            match super::chart::draw(session, &sql, &path, &crate::chart::ChartOptions::default()).await {
                Ok(rows) => {
                    println!("wrote {} ({rows} rows)", path.display());
                    super::chart::open_in_viewer(&path);
                }
                Err(message) => eprintln!("error: {message}"),
            }
        }
        Command::Timing => {
            settings.timing = !settings.timing;
            println!("timing is {}", if settings.timing { "on" } else { "off" });
        }
        Command::Format(format) => {
            settings.format = format;
            println!("format is {format}");
        }
        Command::MaxRows(rows) => settings.max_rows = rows,
    }
    Next::Continue
}
