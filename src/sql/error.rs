//! Turning errors into the one-line message a user sees.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

use crate::storage::StorageError;

/// The message for `err`: the pond's own errors without DataFusion's
/// wrapping ("External error: …"), DataFusion's as DataFusion words them,
/// always on one line.
pub fn user_message(err: &DataFusionError) -> String {
    let message = match innermost(err) {
        Some(message) => message,
        None => match err.find_root() {
            DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
            DataFusionError::ResourcesExhausted(m) => {
                // DataFusion's text lists every memory consumer; keep its first sentence.
                let first = m.split(" with top memory consumers").next().unwrap_or(m);
                format!("out of memory for this query ({first}): raise --memory-limit or narrow the query")
            }
            root => root.to_string(),
        },
    };
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pond error (or an object-store error's source) inside `err`, if any.
fn innermost(err: &DataFusionError) -> Option<String> {
    match err {
        DataFusionError::External(e) => Some(external_message(e.as_ref())),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            innermost(inner)
        }
        DataFusionError::Shared(inner) => innermost(inner),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::ExternalError(e) => Some(external_message(e.as_ref())),
            _ => None,
        },
        DataFusionError::ObjectStore(store) => match store.as_ref() {
            object_store::Error::Generic { source, .. } => Some(external_message(source.as_ref())),
            _ => None,
        },
        _ => None,
    }
}

fn external_message(e: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return user_message(df);
    }
    if let Some(storage) = e.downcast_ref::<StorageError>() {
        return storage.to_string();
    }
    e.to_string()
}
