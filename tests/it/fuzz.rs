//! Thousands of generated statements, valid and broken, through one
//! session: none may panic, every error is one line, and a statement that
//! fails commits nothing. `FUZZ_SEED=n` replays a run.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use futures::FutureExt;

use crate::common::{seed_from_env, Lcg, TestPond};

const STATEMENTS: usize = 3000;

const NAMES: &[&str] = &[
    "t",
    "\"/a/t\"",
    "\"/a\"",
    "\"/a/v\"",
    "\"/a/m\"",
    "\"/ü/δ\"",
    "\"/a/../b\"",
    "\"\"",
    "\"/\"",
    "pond.system.entries",
    "pond.system.transactions",
    "\"/a\".t",
    "pond.\"/a\".t",
    "nowhere.t",
    "'missing.csv'",
    "\"/a/t\"\"q\"",
    "\"/x/y/z/deep\"",
    "information_schema.tables",
    "\"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
];
const PATHS: &[&str] = &[
    "/a", "/a/b", "/ü", "a", "/a/../b", "//", "/a/", "/x/y", "", "/a/\u{7}", "/a/t",
];
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "42",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "1e400",
    "1e-400",
    "99999999999999999999999999999999999999",
    "0.5",
    "1.5e3",
    "-0.0",
    "123456789012345678901234.5",
];
const STRINGS: &[&str] = &[
    "'x'",
    "'2024-01-01 00:00:00'",
    "'2024-01-01 00:00:00.250'",
    "'2024-13-45'",
    "''''",
    "'ü'",
    "NULL",
    "'/a/t'",
    "'/a/*'",
    "'/**'",
    "'1 hour'",
    "'1.5 seconds'",
    "'-1 day'",
    "'{a,b}'",
];
const TYPES: &[&str] = &[
    "INT",
    "BIGINT",
    "DOUBLE",
    "VARCHAR",
    "TIMESTAMP",
    "BOOLEAN",
    "DECIMAL(38, 2)",
    "NOPE",
];

fn pick<'a>(rng: &mut Lcg, from: &[&'a str]) -> &'a str {
    from[rng.next(from.len() as u64) as usize]
}

fn expr(rng: &mut Lcg, depth: u32) -> String {
    match rng.next(if depth > 3 { 3 } else { 6 }) {
        0 => pick(rng, NUMBERS).to_string(),
        1 => pick(rng, STRINGS).to_string(),
        2 => ["a", "v", "ts", "count(*)", "now()", "random()"][rng.next(6) as usize].to_string(),
        3 => format!("({} + {})", expr(rng, depth + 1), expr(rng, depth + 1)),
        4 => format!("CAST({} AS {})", expr(rng, depth + 1), pick(rng, TYPES)),
        _ => format!(
            "coalesce({}, {})",
            expr(rng, depth + 1),
            expr(rng, depth + 1)
        ),
    }
}

fn statement(rng: &mut Lcg, files: &[String]) -> String {
    let name = pick(rng, NAMES);
    let other = pick(rng, NAMES);
    let path = pick(rng, PATHS);
    let number = pick(rng, NUMBERS);
    let string = pick(rng, STRINGS);
    let file = &files[rng.next(files.len() as u64) as usize];
    let text = match rng.next(26) {
        0 => format!("SELECT {} FROM {name}", expr(rng, 0)),
        1 => format!("SELECT {}", expr(rng, 0)),
        2 => format!("CREATE TABLE {name} AS SELECT {} AS a, 1.5 AS v", expr(rng, 0)),
        3 => format!("CREATE TABLE {name} (a {}, v {})", pick(rng, TYPES), pick(rng, TYPES)),
        4 => format!("INSERT INTO {name} VALUES ({}, {})", expr(rng, 1), expr(rng, 1)),
        5 => format!("INSERT INTO {name} SELECT * FROM {other}"),
        6 => format!("CREATE DIRECTORY '{path}'"),
        7 => format!("DROP DIRECTORY '{path}' CASCADE"),
        8 => format!("DROP TABLE {name}"),
        9 => format!("CREATE OR REPLACE VIEW {name} AS SELECT * FROM {other}"),
        10 => format!("CREATE MATERIALIZED VIEW {name} AS SELECT * FROM downsample({string}, INTERVAL {string})"),
        11 => format!("SELECT * FROM downsample({string}, INTERVAL '{number} seconds')"),
        12 => format!("SELECT * FROM glob({string})"),
        13 => format!("SELECT * FROM ls({string})"),
        14 => format!("ALTER TABLE {name} RENAME TO {other}"),
        15 => ["BEGIN", "COMMIT", "ROLLBACK"][rng.next(3) as usize].to_string(),
        16 => format!("SET pond.as_of = {number}"),
        17 => "RESET pond.as_of".to_string(),
        18 => format!("REFRESH MATERIALIZED VIEW {name}"),
        19 => format!("OPTIMIZE {name}"),
        20 => format!("VACUUM RETAIN {number} HOURS DRY RUN"),
        21 => format!("CREATE TABLE {name} AS SELECT * FROM '{file}'"),
        22 => format!("CREATE MATERIALIZED VIEW {name} AS SELECT * FROM '{file}'"),
        23 => format!("ALTER TABLE {name} ADD COLUMN c {}", pick(rng, TYPES)),
        24 => format!("SELECT * FROM {name} WHERE ts > {string} LIMIT {number}"),
        // Not mutated: a dropped `/` would write into the working directory.
        _ => return format!("COPY (SELECT {}) TO '{file}.out' STORED AS CSV", expr(rng, 0)),
    };
    mutate(rng, text)
}

/// One time in four, breaks the text: a character dropped, doubled or replaced.
fn mutate(rng: &mut Lcg, text: String) -> String {
    let chars: Vec<char> = text.chars().collect();
    if rng.next(4) != 0 || chars.is_empty() {
        return text;
    }
    let at = rng.next(chars.len() as u64) as usize;
    let noise = [
        '"', '\'', '(', ')', ';', '\\', 'é', '\u{0}', '*', '-', '9', ' ',
    ];
    let mut out = chars.clone();
    match rng.next(3) {
        0 => {
            out.remove(at);
        }
        1 => out.insert(at, chars[at]),
        _ => out[at] = noise[rng.next(noise.len() as u64) as usize],
    }
    out.into_iter().collect()
}

fn commits(pond: &Path) -> usize {
    std::fs::read_dir(pond.join("oplog/_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}

#[tokio::test]
async fn generated_statements_never_panic_and_failures_commit_nothing() {
    let seed = seed_from_env("FUZZ_SEED");
    let mut rng = Lcg(seed);
    let p = TestPond::new().await;
    let mut files = Vec::new();
    for (name, text) in [
        (
            "good.csv",
            "ts,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2\n",
        ),
        ("bad.csv", "ts,v\n2024-01-01 00:00:00,\"1\n"),
        ("header.csv", "ts,v\n"),
    ] {
        let path = p.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        files.push(path.display().to_string());
    }
    let (mut failed, mut committed) = (0, 0);
    for i in 0..STATEMENTS {
        let sql = statement(&mut rng, &files);
        let before = commits(&p.pond_path());
        let result = AssertUnwindSafe(p.session.execute(&sql))
            .catch_unwind()
            .await;
        let Ok(result) = result else {
            panic!("statement {i} panicked (FUZZ_SEED={seed}): {sql}");
        };
        let after = commits(&p.pond_path());
        match result {
            Ok(_) => committed += usize::from(after > before),
            Err(err) => {
                failed += 1;
                let message = pondsql::user_message(&err);
                assert!(
                    !message.trim().is_empty() && !message.contains('\n'),
                    "statement {i} (FUZZ_SEED={seed}): {sql}\nmessage: {message:?}"
                );
                assert_eq!(
                    before, after,
                    "statement {i} failed but committed (FUZZ_SEED={seed}): {sql}\n{message}"
                );
            }
        }
    }
    println!("{STATEMENTS} statements (FUZZ_SEED={seed}): {failed} failed, {committed} committed");
    assert!(
        failed > STATEMENTS / 4 && committed > 0,
        "{failed} failed, {committed} committed (FUZZ_SEED={seed}): the generator lost its variety"
    );
}
