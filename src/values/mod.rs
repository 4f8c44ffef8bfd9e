//! Values and their types, below the catalog and the table functions that
//! both use them: casts that refuse to cut ([`exact_cast`]), times
//! written as text read exactly ([`time_text`]), and constant expressions
//! folded to values ([`constants`]).

pub(crate) mod constants;
pub(crate) mod exact_cast;
pub(crate) mod time_text;
