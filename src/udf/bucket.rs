//! A downsample's buckets: their width (fixed or whole months), origin,
//! and how many start in a window, with the checks that a bucket is whole
//! units of the time column.

use chrono::Datelike;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;

use crate::storage::event_time::{nanos_per, unit_name};

/// Where a downsample's buckets fall: `date_bin(interval, ts[, origin])`.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    /// A fixed length, or whole months (calendar buckets).
    pub(super) interval: ScalarValue,
    /// Where buckets start; the Unix epoch (a Thursday) when `None`.
    pub(super) origin: Option<ScalarValue>,
}

impl Bucket {
    pub(super) fn new(interval: ScalarValue, origin: Option<ScalarValue>) -> Self {
        Bucket { interval, origin }
    }

    /// The bucket length as given (`INTERVAL '1 hour'`, `'1 month'`).
    pub(crate) fn interval(&self) -> &ScalarValue {
        &self.interval
    }

    /// The longest bucket's length in nanoseconds (a month counts 31 days).
    pub(crate) fn nanos(&self) -> i64 {
        bucket_nanos(&self.interval).unwrap_or(i64::MAX)
    }

    /// How many buckets start in `[from, to)` (nanoseconds since the epoch),
    /// counting no further than `cap`: the points a chart of that window gets.
    pub(crate) fn starts_in(&self, from: i64, to: i64, cap: u64) -> u64 {
        if to <= from {
            return 0;
        }
        let origin = self.origin_nanos();
        let ScalarValue::IntervalMonthDayNano(Some(v)) = &self.interval else {
            return 0;
        };
        if v.months == 0 {
            // Fixed length: starts are origin + k·w; count the k in range.
            let width = i128::from(v.days) * 86_400_000_000_000 + i128::from(v.nanoseconds);
            let first = ceil_div(i128::from(from) - i128::from(origin), width);
            let end = ceil_div(i128::from(to) - i128::from(origin), width);
            return u64::try_from((end - first).max(0))
                .unwrap_or(u64::MAX)
                .min(cap);
        }
        // Calendar months: walk the starts from just before `from`.
        let in_window = Self::month_starts(origin, v.months, from)
            .skip_while(|&start| start < from)
            .take_while(|&start| start < to)
            .take(usize::try_from(cap).unwrap_or(usize::MAX));
        in_window.count() as u64
    }

    /// Starts of buckets of `step` calendar months from `origin`, in order,
    /// from one at or before `t` on (while they are representable).
    fn month_starts(origin: i64, step: i32, t: i64) -> impl Iterator<Item = i64> {
        let origin_time = chrono::DateTime::from_timestamp_nanos(origin).naive_utc();
        let months_between = |t: i64| {
            let t = chrono::DateTime::from_timestamp_nanos(t).naive_utc();
            (i64::from(t.year()) - i64::from(origin_time.year())) * 12 + i64::from(t.month())
                - i64::from(origin_time.month())
        };
        let step = i64::from(step);
        let start_of = move |k: i64| -> Option<i64> {
            let months = k.checked_mul(step)?;
            let shifted = if months >= 0 {
                origin_time.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))
            } else {
                origin_time.checked_sub_months(chrono::Months::new(u32::try_from(-months).ok()?))
            }?;
            shifted.and_utc().timestamp_nanos_opt()
        };
        let first = months_between(t).div_euclid(step) - 1;
        (first..).map_while(start_of)
    }

    /// The first bucket start at or after `t` (nanoseconds since the
    /// epoch); `None` past the representable range.
    pub(crate) fn first_start_from(&self, t: i64) -> Option<i64> {
        let origin = self.origin_nanos();
        let ScalarValue::IntervalMonthDayNano(Some(v)) = &self.interval else {
            return None;
        };
        if v.months == 0 {
            let width = i128::from(v.days) * 86_400_000_000_000 + i128::from(v.nanoseconds);
            let k = ceil_div(i128::from(t) - i128::from(origin), width);
            return i64::try_from(i128::from(origin) + k * width).ok();
        }
        Self::month_starts(origin, v.months, t).find(|&start| start >= t)
    }

    fn origin_nanos(&self) -> i64 {
        let nanos = self.origin.as_ref().and_then(|o| {
            o.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None))
                .ok()
        });
        match nanos {
            Some(ScalarValue::TimestampNanosecond(Some(n), _)) => n,
            _ => 0,
        }
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

/// The bucket argument as a fixed-length interval.
pub(crate) fn bucket_interval(function: &str, expr: &Expr) -> Result<ScalarValue> {
    let bad = |what: String| {
        plan_datafusion_err!(
            "{function}(): the bucket {what}: give a length such as INTERVAL '1 hour', INTERVAL '1 day' or INTERVAL '1 month'"
        )
    };
    let Expr::Literal(value, _) = expr else {
        return Err(bad(format!("{expr} is not a constant")));
    };
    let interval = value
        .cast_to(&DataType::Interval(
            datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
        ))
        .map_err(|_| bad(format!("{value} is not an interval")))?;
    let ScalarValue::IntervalMonthDayNano(Some(v)) = &interval else {
        return Err(bad(format!("{value} is not an interval")));
    };
    if v.months != 0 && (v.days != 0 || v.nanoseconds != 0) {
        return Err(bad("mixes months with days or hours: a calendar bucket is whole months (INTERVAL '1 month', '3 months', '1 year')".into()));
    }
    if v.months < 0
        || v.days < 0
        || v.nanoseconds < 0
        || (v.months == 0 && v.days == 0 && v.nanoseconds == 0)
    {
        return Err(bad("must be positive".into()));
    }
    if bucket_nanos(&interval).is_none() {
        return Err(bad(format!(
            "{value} is longer than a timestamp can span (292 years)"
        )));
    }
    Ok(interval)
}

/// The nanoseconds of the longest bucket (a month counts 31 days: bounds
/// built from it hold every bucket); `None` past what i64 holds.
fn bucket_nanos(interval: &ScalarValue) -> Option<i64> {
    match interval {
        ScalarValue::IntervalMonthDayNano(Some(v)) => i64::from(v.months)
            .checked_mul(31)?
            .checked_add(i64::from(v.days))?
            .checked_mul(86_400_000_000_000)?
            .checked_add(v.nanoseconds),
        _ => None,
    }
}

/// The (longest) bucket's length in the time column's unit. A bucket that is not a
/// whole number of units would need labels the column cannot hold (and an
/// incremental refresh could not find its rows again), so it is refused.
pub(super) fn bucket_units(
    source: &str,
    interval: &ScalarValue,
    time_type: &DataType,
) -> Result<i64> {
    let nanos = bucket_nanos(interval)
        .ok_or_else(|| DataFusionError::Internal("bucket checked at planning".into()))?;
    let unit = match time_type {
        DataType::Timestamp(unit, _) => *unit,
        _ => TimeUnit::Nanosecond,
    };
    let (unit_nanos, unit) = (nanos_per(unit), unit_name(unit));
    if nanos % unit_nanos != 0 {
        let seconds = nanos as f64 / 1e9;
        return plan_err!(
            "downsample('{source}'): the bucket ({seconds} s) is not a whole number of {unit}s, and the time column ({time_type}) holds whole {unit}s: give a bucket in whole {unit}s"
        );
    }
    Ok(nanos / unit_nanos)
}
