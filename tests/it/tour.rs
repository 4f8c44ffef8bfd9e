//! The scripts in sql/ double as golden tests: each runs on a fresh pond and
//! its output must equal the `.expected` file beside it. Set UPDATE_GOLDEN=1
//! to rewrite the expected output after a deliberate change.

use std::path::Path;

use crate::common::{init_pond, pondsql, stderr, stdout};

fn check_golden(script: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_dir, pond) = init_pond();
    let out = pondsql()
        .current_dir(root)
        .arg("--pond")
        .arg(&pond)
        .args(["-f", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {}", stderr(&out));
    // Commit timestamps differ run to run; the scripts print none.
    let actual = stdout(&out);
    let expected_path = root.join(script).with_extension("expected");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{script} output changed (UPDATE_GOLDEN=1 rewrites {})",
        expected_path.display()
    );
}

#[test]
fn tour_script_output_matches() {
    check_golden("sql/tour.sql");
}

#[test]
fn glob_script_output_matches() {
    check_golden("sql/glob.sql");
}
