//! Event-time ranges of table versions: the bounds recorded in the oplog
//! (`min_time`, `max_time`, microseconds) and their conversion to and from a
//! time column's own unit.
//!
//! Bounds are widened, never narrowed, when units change (minimum rounded
//! down, maximum up), so a recorded range always contains every row's time
//! and skipping a version by its range is always safe.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

/// Microseconds per one `unit`, or `None` for units finer than a microsecond.
fn micros_per(unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(1_000_000),
        TimeUnit::Millisecond => Some(1_000),
        TimeUnit::Microsecond => Some(1),
        TimeUnit::Nanosecond => None,
    }
}

/// Converts a value in `unit` to microseconds, rounding down or up.
pub fn to_micros(value: i64, unit: TimeUnit, round_up: bool) -> i64 {
    match micros_per(unit) {
        Some(m) => value.saturating_mul(m),
        None if round_up => -((-value).div_euclid(1_000)),
        None => value.div_euclid(1_000),
    }
}

/// Converts microseconds to a value in `unit`, rounding down or up.
pub fn from_micros(micros: i64, unit: TimeUnit, round_up: bool) -> i64 {
    match micros_per(unit) {
        None => micros.saturating_mul(1_000),
        Some(m) if round_up => -((-micros).div_euclid(m)),
        Some(m) => micros.div_euclid(m),
    }
}

/// The (min, max) of a timestamp array in microseconds, or `None` when it
/// has no non-null value or is not a timestamp.
pub fn range_micros(array: &ArrayRef) -> Option<(i64, i64)> {
    if array.null_count() == array.len() {
        return None;
    }
    let DataType::Timestamp(unit, _) = array.data_type() else {
        return None;
    };
    let (lo, hi) = match unit {
        TimeUnit::Second => minmax(array.as_primitive::<TimestampSecondType>()),
        TimeUnit::Millisecond => minmax(array.as_primitive::<TimestampMillisecondType>()),
        TimeUnit::Microsecond => minmax(array.as_primitive::<TimestampMicrosecondType>()),
        TimeUnit::Nanosecond => minmax(array.as_primitive::<TimestampNanosecondType>()),
    }?;
    Some((to_micros(lo, *unit, false), to_micros(hi, *unit, true)))
}

fn minmax<T: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
    array: &datafusion::arrow::array::PrimitiveArray<T>,
) -> Option<(i64, i64)> {
    Some((min(array)?, max(array)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_widen_across_units() {
        // 1.5 µs in ns: min rounds down to 1, max up to 2.
        assert_eq!(to_micros(1_500, TimeUnit::Nanosecond, false), 1);
        assert_eq!(to_micros(1_500, TimeUnit::Nanosecond, true), 2);
        assert_eq!(to_micros(-1_500, TimeUnit::Nanosecond, false), -2);
        assert_eq!(to_micros(-1_500, TimeUnit::Nanosecond, true), -1);
        // 2.5 s in µs → seconds: 2 and 3.
        assert_eq!(from_micros(2_500_000, TimeUnit::Second, false), 2);
        assert_eq!(from_micros(2_500_000, TimeUnit::Second, true), 3);
        assert_eq!(from_micros(7, TimeUnit::Nanosecond, true), 7_000);
    }
}
