//! Plain DataFusion for bench/: a `SessionContext` with no pond and default
//! settings, the peer pondsql's query engine is measured against.
//!
//!     bench_datafusion "SETUP SQL" … "TIMED SQL"
//!
//! Runs every statement but the last untimed (e.g. `CREATE EXTERNAL TABLE`),
//! then the last one; prints its result as CSV and `elapsed <seconds>`.

use std::time::Instant;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

#[tokio::main]
async fn main() -> Result<()> {
    let statements: Vec<String> = std::env::args().skip(1).collect();
    let Some((timed, setup)) = statements.split_last() else {
        eprintln!("usage: bench_datafusion [SETUP_SQL …] TIMED_SQL");
        std::process::exit(2);
    };
    let ctx = SessionContext::new();
    for statement in setup {
        ctx.sql(statement).await?.collect().await?;
    }
    let started = Instant::now();
    let batches = ctx.sql(timed).await?.collect().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut writer = WriterBuilder::new()
        .with_header(true)
        .build(std::io::stdout());
    for batch in &batches {
        writer.write(batch)?;
    }
    drop(writer);
    println!("elapsed {elapsed:.6}");
    Ok(())
}
