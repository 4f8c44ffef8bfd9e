//! What a chart draws, decided from the rows' columns (no drawing here).
//!
//! - x: the first timestamp (or date) column.
//! - Every other numeric column is a line, except downsample's bookkeeping:
//!   when `c.avg` is present, `c.min`/`c.max` become a band around it and
//!   `c.count`, `c.sum` and `count` are not drawn.
//! - Text columns (a glob capture such as `station`, `series()`'s `level`)
//!   split the rows into one trace per value.
//! - A NULL, or a step in time more than 1.5 × the trace's median step (a
//!   missing bucket), breaks the line: gaps stay gaps.
//! - A unit is the last dot-separated part of a measure's name when there
//!   is one before `.min`/`.avg`/`.max` (`temp.degC.avg` → `degC`).

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::plan_err;
use datafusion::error::Result;

/// Parts of downsample's output that are not drawn when `c.avg` is.
const BOOKKEEPING: [&str; 2] = ["count", "sum"];
const ROW_COUNT: &str = "count";

/// One drawn quantity.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Measure {
    Line {
        column: String,
    },
    Band {
        base: String,
        min: String,
        avg: String,
        max: String,
    },
}

impl Measure {
    pub(crate) fn name(&self) -> &str {
        match self {
            Measure::Line { column } => column,
            Measure::Band { base, .. } => base,
        }
    }

    /// The unit in the name (`temp.degC` → `degC`), if any.
    pub(crate) fn unit(&self) -> Option<&str> {
        let name = match self {
            Measure::Line { column } => strip_part(column),
            Measure::Band { base, .. } => base.as_str(),
        };
        name.rsplit_once('.')
            .map(|(_, unit)| unit)
            .filter(|u| !u.is_empty())
    }
}

/// `temp.degC.avg` → `temp.degC`; other names unchanged.
fn strip_part(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((base, "min" | "avg" | "max")) => base,
        _ => name,
    }
}

/// The columns a chart uses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    pub time: String,
    pub splits: Vec<String>,
    pub measures: Vec<Measure>,
}

impl Layout {
    pub(crate) fn of(schema: &Schema) -> Result<Layout> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let Some(time) = schema.fields().iter().find(|f| {
            matches!(
                f.data_type(),
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            )
        }) else {
            return plan_err!(
                "chart: the rows have no timestamp column to put on the x axis (columns: {}); select one",
                names.join(", ")
            );
        };
        let has_avg = |base: &str| names.contains(&format!("{base}.avg").as_str());
        let is_rollup = names.iter().any(|n| n.ends_with(".avg"));
        let mut measures = Vec::new();
        let mut splits = Vec::new();
        for field in schema.fields() {
            let name = field.name().as_str();
            if name == time.name() {
                continue;
            }
            if matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                splits.push(name.to_string());
                continue;
            }
            if !field.data_type().is_numeric() {
                continue;
            }
            if is_rollup && name == ROW_COUNT {
                continue;
            }
            match name.rsplit_once('.') {
                Some((base, part)) if has_avg(base) && BOOKKEEPING.contains(&part) => {}
                Some((base, "avg")) => {
                    let (min, max) = (format!("{base}.min"), format!("{base}.max"));
                    let numeric = |n: &str| {
                        schema
                            .field_with_name(n)
                            .is_ok_and(|f| f.data_type().is_numeric())
                    };
                    if numeric(&min) && numeric(&max) {
                        measures.push(Measure::Band {
                            base: base.to_string(),
                            min,
                            avg: name.to_string(),
                            max,
                        });
                    } else {
                        measures.push(Measure::Line {
                            column: name.to_string(),
                        });
                    }
                }
                Some((base, "min" | "max")) if has_avg(base) => {} // part of the band
                _ => measures.push(Measure::Line {
                    column: name.to_string(),
                }),
            }
        }
        if measures.is_empty() {
            return plan_err!(
                "chart: nothing to draw: no numeric column besides the time (columns: {}); select a measurement",
                names.join(", ")
            );
        }
        Ok(Layout {
            time: time.name().clone(),
            splits,
            measures,
        })
    }

    /// The y axis's label: the units of the measures drawn.
    pub(crate) fn y_label(&self) -> String {
        let mut units: Vec<&str> = Vec::new();
        for unit in self.measures.iter().filter_map(Measure::unit) {
            if !units.contains(&unit) {
                units.push(unit);
            }
        }
        units.join(", ")
    }
}

/// A value at a time: `lo`/`hi` are the band's edges (equal to `y` for a line).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    /// Microseconds since the epoch (UTC).
    pub t: i64,
    pub lo: f64,
    pub y: f64,
    pub hi: f64,
}

/// One legend entry: a measure for one value of the split columns.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    pub name: String,
    pub band: bool,
    /// Unbroken runs of points, in time order.
    pub segments: Vec<Vec<Point>>,
}

/// The traces the rows hold, in a stable order (split values, then measures).
pub(crate) fn traces(layout: &Layout, batches: &[RecordBatch]) -> Result<Vec<Trace>> {
    // (split values, measure index) → points with NULLs as breaks.
    let mut raw: BTreeMap<(Vec<String>, usize), Vec<Option<Point>>> = BTreeMap::new();
    for batch in batches {
        let times = micros(batch, &layout.time)?;
        let splits: Vec<_> = layout
            .splits
            .iter()
            .map(|s| {
                cast(
                    batch.column_by_name(s).expect("layout column"),
                    &DataType::Utf8,
                )
            })
            .collect::<std::result::Result<_, _>>()?;
        let columns: Vec<[Option<_>; 3]> = layout
            .measures
            .iter()
            .map(|m| -> Result<_> {
                Ok(match m {
                    Measure::Line { column } => [None, Some(floats(batch, column)?), None],
                    Measure::Band { min, avg, max, .. } => [
                        Some(floats(batch, min)?),
                        Some(floats(batch, avg)?),
                        Some(floats(batch, max)?),
                    ],
                })
            })
            .collect::<Result<_>>()?;
        for row in 0..batch.num_rows() {
            if times.is_null(row) {
                continue;
            }
            let t = times.value(row);
            let key: Vec<String> = splits
                .iter()
                .map(|s| {
                    let s = s.as_string::<i32>();
                    if s.is_null(row) {
                        "NULL".to_string()
                    } else {
                        s.value(row).to_string()
                    }
                })
                .collect();
            for (i, [lo, y, hi]) in columns.iter().enumerate() {
                let at = |a: &Option<datafusion::arrow::array::Float64Array>| {
                    a.as_ref()
                        .and_then(|a| (!a.is_null(row)).then(|| a.value(row)))
                };
                // NaN and ±inf are gaps, like NULL: no axis holds them. A
                // band edge that is not finite shrinks to the line.
                let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
                let y = finite(at(y));
                let point = y.map(|y| Point {
                    t,
                    lo: finite(at(lo)).unwrap_or(y),
                    y,
                    hi: finite(at(hi)).unwrap_or(y),
                });
                raw.entry((key.clone(), i))
                    .or_default()
                    .push(point.or(Some(Point {
                        t,
                        lo: f64::NAN,
                        y: f64::NAN,
                        hi: f64::NAN,
                    })));
            }
        }
    }
    let distinct_keys = raw
        .keys()
        .map(|(k, _)| k)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut out = Vec::new();
    for ((key, i), mut points) in raw {
        points.sort_by_key(|p| p.map(|p| p.t));
        let measure = &layout.measures[i];
        let label = key.join(" ");
        let name = if key.is_empty() {
            measure.name().to_string()
        } else if distinct_keys > 1 && layout.measures.len() == 1 {
            label
        } else if distinct_keys > 1 {
            format!("{label} {}", measure.name())
        } else {
            format!("{} ({label})", measure.name())
        };
        out.push(Trace {
            name,
            band: matches!(measure, Measure::Band { .. }),
            segments: segments(points.into_iter().flatten().collect()),
        });
    }
    Ok(out)
}

/// Splits time-ordered points at gaps (NULL, NaN, ±inf: NaN here) and at
/// steps over 1.5 × the median step.
fn segments(points: Vec<Point>) -> Vec<Vec<Point>> {
    let mut steps: Vec<i64> = points
        .windows(2)
        .map(|w| w[1].t - w[0].t)
        .filter(|s| *s > 0)
        .collect();
    steps.sort_unstable();
    let limit = steps.get(steps.len() / 2).map(|m| (*m as f64) * 1.5);
    let mut out: Vec<Vec<Point>> = Vec::new();
    let mut current: Vec<Point> = Vec::new();
    for p in points {
        let broken = p.y.is_nan()
            || current
                .last()
                .zip(limit)
                .is_some_and(|(last, limit)| (p.t - last.t) as f64 > limit);
        if broken && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if !p.y.is_nan() {
            current.push(p);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn micros(
    batch: &RecordBatch,
    column: &str,
) -> Result<datafusion::arrow::array::TimestampMicrosecondArray> {
    let array = batch.column_by_name(column).expect("layout column");
    let array = match array.data_type() {
        DataType::Timestamp(_, Some(_)) => cast(
            array,
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )?,
        _ => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    Ok(array
        .as_primitive::<TimestampMicrosecondType>()
        .clone()
        .with_timezone_opt(None::<String>))
}

fn floats(batch: &RecordBatch, column: &str) -> Result<datafusion::arrow::array::Float64Array> {
    let array = batch.column_by_name(column).expect("layout column");
    Ok(cast(array, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;

    fn schema(columns: &[(&str, DataType)]) -> Schema {
        Schema::new(
            columns
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn downsample_output_is_bands_without_bookkeeping() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        let f = DataType::Float64;
        let layout = Layout::of(&schema(&[
            ("station", DataType::Utf8),
            ("ts", ts),
            ("count", DataType::Int64),
            ("temp.degC.min", f.clone()),
            ("temp.degC.avg", f.clone()),
            ("temp.degC.max", f.clone()),
            ("temp.degC.count", DataType::Int64),
            ("temp.degC.sum", f.clone()),
            ("ph", f),
        ]))
        .unwrap();
        assert_eq!(layout.splits, ["station"]);
        assert_eq!(layout.measures.len(), 2);
        assert!(matches!(&layout.measures[0], Measure::Band { base, .. } if base == "temp.degC"));
        assert_eq!(
            layout.measures[1],
            Measure::Line {
                column: "ph".into()
            }
        );
        assert_eq!(layout.y_label(), "degC");
    }

    #[test]
    fn no_time_or_nothing_numeric_is_an_error() {
        let e = Layout::of(&schema(&[("v", DataType::Float64)])).unwrap_err();
        assert!(e.to_string().contains("no timestamp column"), "{e}");
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        let e = Layout::of(&schema(&[("ts", ts), ("name", DataType::Utf8)])).unwrap_err();
        assert!(e.to_string().contains("nothing to draw"), "{e}");
    }

    #[test]
    fn a_missing_step_breaks_the_line() {
        let p = |t| Point {
            t,
            lo: 1.0,
            y: 1.0,
            hi: 1.0,
        };
        let runs = segments(vec![p(0), p(10), p(20), p(40), p(50), p(60)]);
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3]);
        let nan = Point {
            t: 70,
            lo: f64::NAN,
            y: f64::NAN,
            hi: f64::NAN,
        };
        let runs = segments(vec![p(50), p(60), nan, p(80), p(90)]);
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    }
}
