//! The real REPL in a pseudo-terminal, driven by python pexpect
//! (tests/python/repl_session.py says what it checks).

use std::process::Command;

use crate::common::{init_pond, python, run_cli, stderr};

#[test]
fn repl_completes_runs_cancels_and_remembers() {
    let (dir, pond) = init_pond();
    let out = run_cli(
        &pond,
        &[
            "CREATE DIRECTORY '/sensors/station1'",
            "CREATE TABLE \"/sensors/station1/temp\" (ts TIMESTAMP, temp_c DOUBLE, conductivity BIGINT)",
            "INSERT INTO \"/sensors/station1/temp\" VALUES ('2024-05-01 00:00:00', 12.0, 400), ('2024-05-01 01:00:00', 12.5, 410), ('2024-05-01 02:00:00', 13.0, 420)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/repl_session.py");
    let out = Command::new(python())
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_pondsql"))
        .arg(&pond)
        .arg(dir.path().join("history"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "REPL session failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("SELECT 1 AS a, 2 AS b;"), "{history}");
}
