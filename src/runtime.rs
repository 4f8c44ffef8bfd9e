//! The threads statements run on: deep statements need deep stacks.

/// The stack of every thread that parses, plans or runs a statement (the
/// CLI's, the runtime's workers, planning helpers). A statement's expression
/// may nest thousands deep; the walks over it (sqlparser's
/// derived Clone, Drop and Visit, pondsql's checks) recurse once per level.
/// Reserved address space; only the pages a statement touches are used.
pub(crate) const STATEMENT_STACK_BYTES: usize = 256 * 1024 * 1024;

/// The multi-threaded runtime statements run on, with workers of
/// [`STATEMENT_STACK_BYTES`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STATEMENT_STACK_BYTES)
        .build()
}
