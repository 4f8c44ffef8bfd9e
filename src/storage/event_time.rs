//! Event-time ranges of table versions: the bounds recorded in the oplog
//! (`min_time`, `max_time`, microseconds) and their conversion to and from a
//! time column's own unit.
//!
//! Tables store every timestamp column in microseconds ([`stored_type`]).
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

/// The type a pond table stores a column of `data_type` as. Timestamps are
/// kept in microseconds, the Parquet and Delta norm, so every Parquet reader
/// sees a timestamp (seconds have no Parquet logical type and read back as
/// integers elsewhere); a zone-aware timestamp is kept as an instant in UTC
/// (Parquet's `isAdjustedToUTC`), a naive one stays naive. Anything else
/// is stored as it is.
pub(crate) fn stored_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, zone) => {
            DataType::Timestamp(TimeUnit::Microsecond, zone.as_ref().map(|_| UTC.into()))
        }
        other => other.clone(),
    }
}

/// The zone of every zone-aware column a pond stores.
pub(crate) const UTC: &str = "UTC";

/// Nanoseconds per one `unit`.
pub(crate) fn nanos_per(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// The unit's name, as `date_trunc` takes it (`second`, `millisecond`, …).
pub(crate) fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "second",
        TimeUnit::Millisecond => "millisecond",
        TimeUnit::Microsecond => "microsecond",
        TimeUnit::Nanosecond => "nanosecond",
    }
}

/// Microseconds per one `unit`, or `None` for units finer than a microsecond.
fn micros_per(unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(1_000_000),
        TimeUnit::Millisecond => Some(1_000),
        TimeUnit::Microsecond => Some(1),
        TimeUnit::Nanosecond => None,
    }
}

/// Converts a value in `unit` to microseconds, rounding down or up
/// (saturating: a range past what microseconds hold only widens).
pub(crate) fn to_micros(value: i64, unit: TimeUnit, round_up: bool) -> i64 {
    match micros_per(unit) {
        Some(m) => value.saturating_mul(m),
        None => divide(value, 1_000, round_up),
    }
}

/// Converts microseconds to a value in `unit`, rounding down or up. A
/// saturated bound (`i64::MIN` low, `i64::MAX` high) stays the extreme: the
/// value it stands for may lie beyond what microseconds hold.
pub(crate) fn from_micros(micros: i64, unit: TimeUnit, round_up: bool) -> i64 {
    match micros_per(unit) {
        _ if round_up && micros == i64::MAX => i64::MAX,
        _ if !round_up && micros == i64::MIN => i64::MIN,
        None => micros.saturating_mul(1_000),
        Some(m) => divide(micros, m, round_up),
    }
}

/// `value / by` (by > 1) rounded down or up; never overflows, for any i64
/// (negating `i64::MIN` would).
fn divide(value: i64, by: i64, round_up: bool) -> i64 {
    let floor = value.div_euclid(by);
    floor + i64::from(round_up && value.rem_euclid(by) != 0)
}

/// The (min, max) of a timestamp array in microseconds, or `None` when it
/// has no non-null value or is not a timestamp.
pub(crate) fn range_micros(array: &ArrayRef) -> Option<(i64, i64)> {
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

    #[test]
    fn extreme_values_saturate_instead_of_overflowing() {
        for unit in [
            TimeUnit::Second,
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ] {
            for value in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX] {
                for round_up in [false, true] {
                    let micros = to_micros(value, unit, round_up);
                    let back = from_micros(micros, unit, round_up);
                    // Widening: the range still holds the value.
                    if round_up {
                        assert!(back >= value, "{unit:?} {value}");
                    } else {
                        assert!(back <= value, "{unit:?} {value}");
                    }
                }
            }
        }
        assert_eq!(
            to_micros(i64::MIN, TimeUnit::Nanosecond, true),
            i64::MIN / 1_000
        );
        assert_eq!(to_micros(i64::MIN, TimeUnit::Second, false), i64::MIN);
    }
}
