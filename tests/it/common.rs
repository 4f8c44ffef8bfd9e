//! Helpers shared by the integration tests: temp ponds, sample files, the
//! real `pondsql` binary, and the Python venv for third-party readers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use pondsql::SessionOptions;
use pondsql::{Pond, PondSession};
use tempfile::TempDir;

/// A fresh pond in a temp dir, with a session on it.
pub struct TestPond {
    pub dir: TempDir,
    pub session: PondSession,
}

impl TestPond {
    pub async fn new() -> TestPond {
        let dir = tempfile::tempdir().unwrap();
        let pond = Pond::init(dir.path().join("pond")).await.unwrap();
        let session = PondSession::new(Arc::new(pond), SessionOptions::default());
        TestPond { dir, session }
    }

    pub fn pond_path(&self) -> PathBuf {
        self.dir.path().join("pond")
    }

    /// Runs SQL that must succeed; returns the last statement's rows as a table.
    pub async fn ok(&self, sql: &str) -> String {
        let output = self
            .session
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
        render(&output.batches)
    }

    /// Runs SQL that must fail; returns the user-facing message.
    pub async fn err(&self, sql: &str) -> String {
        match self.session.sql(sql).await {
            Ok(out) => panic!(
                "{sql}\nshould have failed but gave:\n{}",
                render(&out.batches)
            ),
            Err(e) => pondsql::user_message(&e),
        }
    }

    /// A single value: the first column of the first row, as text.
    pub async fn value(&self, sql: &str) -> String {
        let output = self
            .session
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
        let batch = output
            .batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .expect("a row");
        datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap()
    }
}

pub fn render(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// A temp dir with a pond made by the real `pondsql init` at `<dir>/pond`.
pub fn init_pond() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pond = dir.path().join("pond");
    let out = pondsql().arg("init").arg(&pond).output().unwrap();
    assert!(
        out.status.success(),
        "pondsql init failed: {}",
        stderr(&out)
    );
    (dir, pond)
}

pub fn pondsql() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pondsql"))
}

/// Runs the real binary on a pond with `-c` statements.
pub fn run_cli(pond: &Path, statements: &[&str]) -> Output {
    let mut cmd = pondsql();
    cmd.arg("--pond").arg(pond);
    for s in statements {
        cmd.arg("-c").arg(s);
    }
    cmd.output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// The Python of a venv with the third-party readers (created on first use by
/// tests/python/venv.sh; $PONDSQL_VENV overrides where).
pub fn python() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/venv.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "creating the test venv failed:\n{}",
        stderr(&out)
    );
    PathBuf::from(stdout(&out).trim())
}

/// A small deterministic generator, so a failure can be replayed from its seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// A seed from `$name`, or from the clock (printed by the caller, to replay).
pub fn seed_from_env(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The first line a started server prints (its address or port).
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line
}

/// Runs `cmd` with `script` on its standard input.
pub fn with_stdin(cmd: &mut Command, script: &str) -> std::process::Output {
    spawn_with_stdin(cmd, script).wait_with_output().unwrap()
}

/// Starts `cmd` with `script` on its standard input (closed after it) and
/// its output piped, so that several can run at once.
pub fn spawn_with_stdin(cmd: &mut Command, script: &str) -> std::process::Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child
}

/// Runs `cmd` to its end, or kills it after `limit` and fails the test:
/// a hang is a failure, not a stuck CI run. (A generous bound, not a timing check.)
pub fn output_within(cmd: &mut Command, limit: std::time::Duration, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} still ran after {limit:?}: killed\nstderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}
