//! Runs the sqllogictest files in tests/slt/, each on a fresh pond. Host
//! files the scripts import live in tests/data/ (`${data}` in a script).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use pondsql::SessionOptions;
use pondsql::{Pond, PondSession};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

struct PondDb {
    _dir: tempfile::TempDir,
    session: PondSession,
}

impl PondDb {
    async fn new() -> PondDb {
        let dir = tempfile::tempdir().unwrap();
        let pond = Pond::init(dir.path().join("pond")).await.unwrap();
        PondDb {
            session: PondSession::new(Arc::new(pond), SessionOptions::default()),
            _dir: dir,
        }
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

#[async_trait::async_trait]
impl AsyncDB for PondDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let output = self
            .session
            .execute(sql)
            .await
            .map_err(|e| SltError(pondsql::user_message(&e)))?;
        if !output.has_rows() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = output
            .schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = Vec::new();
        for batch in &output.batches {
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|c| {
                            if c.is_null(row) {
                                "NULL".to_string()
                            } else {
                                let text = array_value_to_string(c, row).unwrap();
                                if text.is_empty() {
                                    "(empty)".to_string()
                                } else {
                                    text
                                }
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn sqllogictests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/slt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files found");
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { Ok(PondDb::new().await) });
        runner.set_var(
            "data".to_string(),
            root.join("tests/data").display().to_string(),
        );
        // `query IT` must match the columns' types, not only their values.
        runner.with_column_validator(sqllogictest::strict_column_validator);
        // Every record runs, so one run reports every failing one.
        for record in sqllogictest::parse_file(file).unwrap() {
            if let Err(err) = runner.run_async(record).await {
                failures.push(format!("{}", err.display(false)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing record(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
