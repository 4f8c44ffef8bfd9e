//! Table functions whose table takes slow IO to know (an API's readings,
//! host files, the pond's rows) open it before planning, on the
//! statement's own runtime. DataFusion calls table functions synchronously
//! while it plans, so such a function cannot wait there; instead:
//!
//! 1. planning runs inside [`plan_with_io`]; a call of an [`OpensTable`]
//!    function checks its arguments and who may call it (no IO), records
//!    the work that opens its table, and stops planning;
//! 2. `plan_with_io` does the recorded work (awaiting it where the
//!    statement runs), keeps each table by its call, and plans again;
//! 3. the call, met again with the same arguments, returns its table.
//!
//! Each call opens once per planning (the tables live as long as it does),
//! so `SELECT * FROM hydrovu_readings(…)` fetches once. Planning that is not
//! inside `plan_with_io` gets an error naming the function, not a hang.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{internal_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::sql::parser::Statement as DFStatement;
use futures::future::BoxFuture;

/// The work that opens one call's table.
pub(crate) type Opening = BoxFuture<'static, Result<Arc<dyn TableProvider>>>;

/// A table function that must do IO to know its table.
pub(crate) trait OpensTable: Debug + Send + Sync {
    /// The function's name, as SQL calls it.
    fn name(&self) -> &str;

    /// Checks the call without IO (its arguments, whether this session may
    /// make it) and returns the work that opens its table.
    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening>;
}

/// Registers `function` with `ctx`, under its own name, as a DataFusion
/// table function that opens first.
pub(crate) fn register(ctx: &SessionContext, function: impl OpensTable + 'static) {
    let name = function.name().to_string();
    ctx.register_udtf(&name, Arc::new(OpenFirst(Box::new(function))));
}

#[derive(Debug)]
struct OpenFirst(Box<dyn OpensTable>);

/// One call: the function and its arguments as DataFusion planned them.
type Call = (String, Vec<Expr>);

/// The calls met while planning: those opened, and those waiting.
#[derive(Default)]
struct Openings {
    opened: Mutex<HashMap<Call, Arc<dyn TableProvider>>>,
    waiting: Mutex<Vec<(Call, Opening)>>,
}

tokio::task_local! {
    static OPENINGS: Arc<Openings>;
}

impl TableFunctionImpl for OpenFirst {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.0.name();
        let call: Call = (name.to_string(), args.exprs().to_vec());
        let Ok(openings) = OPENINGS.try_with(Arc::clone) else {
            return internal_err!("{name}() was planned where its table cannot be opened first");
        };
        if let Some(table) = lock(&openings.opened).get(&call) {
            return Ok(table.clone());
        }
        let opening = self.0.prepare(&args)?;
        lock(&openings.waiting).push((call, opening));
        // The message is never shown: plan_with_io opens and plans again.
        plan_err!("{name}() opens its table before planning")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// At most this many rounds of opening per planning: each round opens at
/// least one call not opened before, so only a query with more
/// IO-opening calls than this stops here.
const MAX_ROUNDS: usize = 64;

/// Runs `attempt` (which plans) until no [`OpensTable`] call in it waits
/// to be opened, opening what the previous attempt met.
pub(crate) async fn plan_with_io<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let openings = Arc::new(Openings::default());
    for _ in 0..MAX_ROUNDS {
        let result = OPENINGS.scope(openings.clone(), attempt()).await;
        let waiting = std::mem::take(&mut *lock(&openings.waiting));
        if waiting.is_empty() || result.is_ok() {
            return result;
        }
        for (call, opening) in waiting {
            let table = opening.await?;
            lock(&openings.opened).insert(call, table);
        }
    }
    plan_err!("the statement calls more than {MAX_ROUNDS} table functions that read files or APIs: split it")
}

/// The plan of SQL text (a stored view's query).
pub(crate) async fn plan_sql(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    plan_with_io(|| state.create_logical_plan(sql)).await
}

/// The plan of a parsed statement.
pub(crate) async fn plan_statement(
    state: &SessionState,
    statement: &DFStatement,
) -> Result<LogicalPlan> {
    plan_with_io(|| state.statement_to_plan(statement.clone())).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use tokio::runtime::{Handle, Id};

    use super::*;

    /// `numbers(n)`: one row, `n`; counts its openings and records the
    /// runtime each ran on.
    #[derive(Debug, Default)]
    struct Numbers {
        opened: Arc<AtomicUsize>,
        runtimes: Arc<Mutex<Vec<Id>>>,
    }

    impl OpensTable for Numbers {
        fn name(&self) -> &str {
            "numbers"
        }

        fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
            let [Expr::Literal(value, _)] = args.exprs() else {
                return plan_err!("numbers() takes one number");
            };
            let n = i64::try_from(value.clone())?;
            let (opened, runtimes) = (self.opened.clone(), self.runtimes.clone());
            Ok(Box::pin(async move {
                opened.fetch_add(1, Ordering::SeqCst);
                lock(&runtimes).push(Handle::current().id());
                let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(vec![n]))],
                )?;
                let table: Arc<dyn TableProvider> =
                    Arc::new(MemTable::try_new(schema, vec![vec![batch]])?);
                Ok(table)
            }))
        }
    }

    fn context() -> (SessionContext, Arc<AtomicUsize>, Arc<Mutex<Vec<Id>>>) {
        let numbers = Numbers::default();
        let (opened, runtimes) = (numbers.opened.clone(), numbers.runtimes.clone());
        let ctx = SessionContext::new();
        register(&ctx, numbers);
        (ctx, opened, runtimes)
    }

    #[tokio::test]
    async fn each_call_opens_once_on_the_planning_runtime() {
        let (ctx, opened, runtimes) = context();
        let sql = "SELECT a.n, b.n, c.n FROM numbers(1) a, numbers(1) b, numbers(2) c";
        let plan = plan_sql(&ctx.state(), sql).await.unwrap();
        let rows = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
        // numbers(1) twice in the query, opened once; numbers(2) once.
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // On the runtime that plans, not on a runtime of their own.
        assert_eq!(*lock(&runtimes), vec![Handle::current().id(); 2]);
    }

    #[tokio::test]
    async fn bad_calls_fail_before_any_io_and_unwrapped_planning_is_an_error() {
        let (ctx, opened, _) = context();
        let err = plan_sql(&ctx.state(), "SELECT * FROM numbers('x', 2)")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("numbers() takes one number"),
            "{err}"
        );
        assert_eq!(opened.load(Ordering::SeqCst), 0);
        let err = ctx.sql("SELECT * FROM numbers(1)").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("numbers() was planned where its table cannot be opened first"),
            "{err}"
        );
    }
}
