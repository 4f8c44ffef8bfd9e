//! sql/tour.sql is the README's tour; its output is pinned in sql/tour.expected.
//! Set UPDATE_GOLDEN=1 to rewrite the expected output after a deliberate change.

use std::path::Path;

use crate::common::{init_pond, pondsql, stderr, stdout};

#[test]
fn tour_script_output_matches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_dir, pond) = init_pond();
    let out = pondsql()
        .current_dir(root)
        .arg("--pond")
        .arg(&pond)
        .args(["-f", "sql/tour.sql"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Commit timestamps differ run to run; the tour prints none.
    let actual = stdout(&out);
    let expected_path = root.join("sql/tour.expected");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "sql/tour.sql output changed (UPDATE_GOLDEN=1 rewrites sql/tour.expected)"
    );
}
