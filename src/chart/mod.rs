//! Pictures of query results: PNG or SVG charts drawn in Rust (plotters),
//! for `COPY … TO 'x.png' (FORMAT chart)`, `pondsql chart` and `\chart`.
//! Takes rows, gives bytes; knows nothing of the pond or of sessions.

mod draw;
mod font;
pub(crate) mod traces;

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::plan_err;
use datafusion::error::Result;

pub(crate) use draw::Frame;
use traces::{traces, Layout};

/// The picture formats, told by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    pub(crate) fn of_path(path: &Path) -> Result<ChartFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(ChartFormat::Png),
            Some("svg") => Ok(ChartFormat::Svg),
            _ => plan_err!(
                "chart: {} does not end in .png or .svg, which say the picture's format",
                path.display()
            ),
        }
    }
}

/// Size and title of a chart.
#[derive(Clone, Debug)]
pub(crate) struct ChartOptions {
    pub width: u32,
    pub height: u32,
    pub title: Option<String>,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 1000,
            height: 500,
            title: None,
        }
    }
}

impl ChartOptions {
    fn check(&self) -> Result<()> {
        let fits = |v: u32| (100..=10_000).contains(&v);
        if !fits(self.width) || !fits(self.height) {
            return plan_err!(
                "chart: {}×{} pixels is out of range: width and height go from 100 to 10000",
                self.width,
                self.height
            );
        }
        Ok(())
    }
}

/// The chart of `batches` (all with `schema`) as PNG or SVG bytes.
pub(crate) fn render(
    schema: &Schema,
    batches: &[RecordBatch],
    format: ChartFormat,
    options: &ChartOptions,
) -> Result<Vec<u8>> {
    options.check()?;
    let layout = Layout::of(schema)?;
    if batches.iter().all(|b| b.num_rows() == 0) {
        return plan_err!("chart: nothing to draw: the query returned no rows");
    }
    let traces = traces(&layout, batches)?;
    let frame = Frame {
        width: options.width,
        height: options.height,
        title: options.title.clone(),
        y_label: layout.y_label(),
    };
    match format {
        ChartFormat::Png => draw::png(&traces, &frame),
        ChartFormat::Svg => draw::svg(&traces, &frame),
    }
}

/// Renders and writes the chart to `path` (its extension says the format).
pub(crate) fn write(
    path: &Path,
    schema: &Schema,
    batches: &[RecordBatch],
    options: &ChartOptions,
) -> Result<()> {
    let bytes = render(schema, batches, ChartFormat::of_path(path)?, options)?;
    std::fs::write(path, bytes).map_err(|e| {
        datafusion::error::DataFusionError::Execution(format!(
            "chart: cannot write {}: {e}",
            path.display()
        ))
    })
}
