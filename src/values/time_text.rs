//! Times written as text, as sensors and loggers write them, read exactly.
//!
//! Accepts `YYYY-MM-DD`, then `T` or a space and `HH:MM`, `HH:MM:SS` or
//! `HH:MM:SS.fraction` (up to nine digits), then optionally an offset: `Z`,
//! `±HH`, `±HHMM`, `±HH:MM` (a space before it is allowed). Arrow's own
//! parser requires seconds, so `2022-01-01 00:00` was text to it. A value
//! with an offset is converted to UTC exactly; a fraction finer than a
//! microsecond (what tables store) is an error, never cut. A
//! `timestamp_format` (chrono's `%Y`, `%d`, `%H`, … as in `strftime`) reads
//! any other layout.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondBuilder};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{exec_err, DataFusionError};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::storage::event_time::UTC;

/// A time read from text: microseconds since the epoch of its wall-clock
/// time, converted to UTC when it carried an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextTime {
    pub(crate) micros: i64,
    pub(crate) had_offset: bool,
}

/// Why a text is not a time pondsql stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotATime {
    /// Not in an accepted layout (or not a real date and time).
    Unreadable,
    /// A fraction finer than a microsecond: storing it would cut it.
    FinerThanMicros,
    /// Second 60: timestamps (as Arrow, Parquet and chrono count them) have
    /// no leap seconds, and folding it into :59 would move the reading.
    LeapSecond,
}

/// Why a leap second is refused, and what to do.
pub(crate) const LEAP_SECOND: &str = "is a leap second (:60), which timestamps do not hold: write it as :59.999999 or the next second, or read the column as text (columns option)";

/// Why a time format is no layout to read with; said after the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadFormat {
    #[error("is empty: give the layout the file uses, e.g. '%d.%m.%Y %H:%M'")]
    Empty,
    #[error("has a code chrono's strftime does not know: use codes such as %Y %m %d %H %M %S %.f %z (docs.rs/chrono, format::strftime)")]
    UnknownCode,
}

/// Is `format` a layout chrono reads (strftime codes it knows, something
/// to read at all)?
pub(crate) fn check_format(format: &str) -> Result<(), BadFormat> {
    use chrono::format::{Item, StrftimeItems};
    if format.trim().is_empty() {
        return Err(BadFormat::Empty);
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(BadFormat::UnknownCode);
    }
    Ok(())
}

/// Reads `text` as a time, in the default layouts or in `format`.
pub(crate) fn parse(text: &str, format: Option<&str>) -> Result<TextTime, NotATime> {
    let text = text.trim();
    let (naive, offset_seconds) = match format {
        Some(format) => with_format(text, format)?,
        None => default_layout(text)?,
    };
    if naive.nanosecond() % 1_000 != 0 {
        return Err(NotATime::FinerThanMicros);
    }
    let micros = naive
        .and_utc()
        .timestamp_micros()
        .checked_sub(i64::from(offset_seconds.unwrap_or(0)) * 1_000_000)
        .ok_or(NotATime::Unreadable)?;
    Ok(TextTime {
        micros,
        had_offset: offset_seconds.is_some(),
    })
}

fn with_format(text: &str, format: &str) -> Result<(NaiveDateTime, Option<i32>), NotATime> {
    let zoned = ["%z", "%:z", "%::z", "%#z", "%Z"]
        .iter()
        .any(|z| format.contains(z));
    if zoned {
        let time = DateTime::parse_from_str(text, format).map_err(|_| NotATime::Unreadable)?;
        return Ok((time.naive_local(), Some(time.offset().local_minus_utc())));
    }
    if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
        return Ok((time, None));
    }
    let date = NaiveDate::parse_from_str(text, format).map_err(|_| NotATime::Unreadable)?;
    Ok((date.and_time(NaiveTime::MIN), None))
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][ ][offset]`.
fn default_layout(text: &str) -> Result<(NaiveDateTime, Option<i32>), NotATime> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(NotATime::Unreadable);
    }
    let date = NaiveDate::from_ymd_opt(
        digits(&bytes[0..4])? as i32,
        digits(&bytes[5..7])?,
        digits(&bytes[8..10])?,
    )
    .ok_or(NotATime::Unreadable)?;
    let rest = &bytes[10..];
    if rest.is_empty() {
        return Ok((date.and_time(NaiveTime::MIN), None));
    }
    if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
        return Err(NotATime::Unreadable);
    }
    let (hour, minute) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    let mut i = 6;
    let (mut second, mut nanos) = (0, 0);
    if rest.get(i) == Some(&b':') {
        second = digits(rest.get(i + 1..i + 3).ok_or(NotATime::Unreadable)?)?;
        i += 3;
        if rest.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < rest.len() && rest[end].is_ascii_digit() {
                end += 1;
            }
            let fraction = &rest[start..end];
            if fraction.is_empty() || fraction.len() > 9 {
                return Err(NotATime::Unreadable);
            }
            nanos = digits(fraction)? * 10u32.pow(9 - fraction.len() as u32);
            i = end;
        }
    }
    if second == 60 {
        return Err(NotATime::LeapSecond);
    }
    let time =
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or(NotATime::Unreadable)?;
    let offset = offset_seconds(&rest[i..])?;
    Ok((date.and_time(time), offset))
}

/// `` (none), `Z`, `±HH`, `±HHMM`, `±HH:MM`, after at most one space.
fn offset_seconds(text: &[u8]) -> Result<Option<i32>, NotATime> {
    let text = text.strip_prefix(b" ").unwrap_or(text);
    let sign = match text.first() {
        None => return Ok(None),
        Some(b'Z' | b'z') if text.len() == 1 => return Ok(Some(0)),
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(NotATime::Unreadable),
    };
    let (hours, minutes) = match &text[1..] {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return Err(NotATime::Unreadable),
    };
    if hours > 23 || minutes > 59 {
        return Err(NotATime::Unreadable);
    }
    Ok(Some(sign * (hours * 3600 + minutes * 60) as i32))
}

fn digits(bytes: &[u8]) -> Result<u32, NotATime> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(NotATime::Unreadable);
    }
    Ok(bytes.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

/// `parse_time(text)` over a column read as text: a timestamp in
/// microseconds, zone-aware (UTC) when the column's times carry offsets.
/// A value that is not a time, a finer fraction, or an offset missing from
/// a zone-aware column (or present in a naive one read with a format) is
/// an error naming `context`, the column and the value.
pub(crate) fn parse_time(
    text: Expr,
    format: Option<String>,
    zoned: bool,
    context: String,
    column: String,
) -> Expr {
    ScalarUDF::new_from_impl(ParseTime {
        format,
        zoned,
        context,
        column,
        signature: Signature::any(1, Volatility::Immutable),
    })
    .call(vec![text])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ParseTime {
    format: Option<String>,
    zoned: bool,
    /// What is being read, for messages: `reading f.csv`.
    context: String,
    column: String,
    signature: Signature,
}

impl ParseTime {
    fn refuse(&self, value: &str, why: NotATime) -> DataFusionError {
        let layout = match &self.format {
            Some(format) => format!("the format '{format}'"),
            None => "YYYY-MM-DD HH:MM[:SS[.fraction]][offset], or give timestamp_format".into(),
        };
        let reason = match why {
            NotATime::Unreadable => format!("is not a time in {layout}"),
            NotATime::FinerThanMicros => "has a part finer than a microsecond, which tables do not hold: truncate it in the file, or read the column as text (columns option)".into(),
            NotATime::LeapSecond => LEAP_SECOND.into(),
        };
        DataFusionError::Execution(format!(
            "{}: column '{}': '{value}' {reason}",
            self.context, self.column
        ))
    }
}

impl ScalarUDFImpl for ParseTime {
    fn name(&self) -> &str {
        "parse_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Microsecond,
            self.zoned.then(|| UTC.into()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("parse_time takes one argument");
        };
        let array = value.to_array(args.number_rows)?;
        let array = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        let texts = array.as_string::<i32>();
        let mut out = TimestampMicrosecondBuilder::with_capacity(texts.len());
        for text in texts.iter() {
            let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
                out.append_null();
                continue;
            };
            let time = parse(text, self.format.as_deref()).map_err(|why| self.refuse(text, why))?;
            if self.zoned && !time.had_offset {
                return exec_err!(
                    "{}: column '{}' holds times with a UTC offset, but '{text}' has none: give it one (e.g. Z for UTC), or read the column with a timestamp_format",
                    self.context,
                    self.column
                );
            }
            out.append_value(time.micros);
        }
        let out = out.finish();
        let out = if self.zoned {
            out.with_timezone(UTC)
        } else {
            out
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn sensor_layouts_read_exactly() {
        let naive = |micros| TextTime {
            micros,
            had_offset: false,
        };
        let at = micros("2022-01-01 00:00:00");
        for text in [
            "2022-01-01 00:00",
            "2022-01-01T00:00",
            "2022-01-01 00:00:00",
            "2022-01-01T00:00:00.000",
            " 2022-01-01 00:00:00 ",
            "2022-01-01",
        ] {
            assert_eq!(parse(text, None), Ok(naive(at)), "{text}");
        }
        assert_eq!(
            parse("2022-01-01 00:00:00.123456", None),
            Ok(naive(at + 123_456))
        );
        for text in [
            "2022-01-01T01:00:00+01:00",
            "2022-01-01T01:00+0100",
            "2022-01-01 01:00:00 +01",
            "2021-12-31T23:00:00Z",
        ] {
            let expected = if text.ends_with('Z') {
                micros("2021-12-31 23:00:00")
            } else {
                at
            };
            assert_eq!(
                parse(text, None),
                Ok(TextTime {
                    micros: expected,
                    had_offset: true
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_a_time_or_would_be_cut_says_so() {
        for text in [
            "2022-13-01 00:00",
            "2022-01-01 24:00",
            "2022-01-01 00:0",
            "01.01.2022 00:00",
            "2022-01-01 00:00:00.",
            "2022-01-01 00:00:00+1",
            "2022-01-01 00:00 UTC+5",
            "NaN",
        ] {
            assert_eq!(parse(text, None), Err(NotATime::Unreadable), "{text}");
        }
        assert_eq!(
            parse("2022-01-01 00:00:00.123456789", None),
            Err(NotATime::FinerThanMicros)
        );
    }

    #[test]
    fn a_format_reads_other_layouts() {
        let at = micros("2022-01-31 12:30:00");
        assert_eq!(
            parse("31.01.2022 12:30", Some("%d.%m.%Y %H:%M")).map(|t| t.micros),
            Ok(at)
        );
        assert_eq!(
            parse("31.01.2022 13:30 +0100", Some("%d.%m.%Y %H:%M %z")),
            Ok(TextTime {
                micros: at,
                had_offset: true
            })
        );
        assert_eq!(
            parse("2022-01-31 12:30", Some("%d.%m.%Y %H:%M")),
            Err(NotATime::Unreadable)
        );
    }
}
