//! Drawing traces with plotters: SVG text or PNG bytes.

use chrono::{DateTime, Utc};
use datafusion::common::{exec_datafusion_err, exec_err};
use datafusion::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::font;
use super::traces::{Point, Trace};

/// Tableau's ten colours: distinct, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Size and title of a picture.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub width: u32,
    pub height: u32,
    pub title: Option<String>,
    pub y_label: String,
}

pub(crate) fn svg(traces: &[Trace], frame: &Frame) -> Result<Vec<u8>> {
    font::register()?;
    let mut text = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (frame.width, frame.height)).into_drawing_area();
        draw(&root, traces, frame)?;
        root.present().map_err(drawing)?;
    }
    Ok(text.into_bytes())
}

pub(crate) fn png(traces: &[Trace], frame: &Frame) -> Result<Vec<u8>> {
    font::register()?;
    let (w, h) = (frame.width, frame.height);
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw(&root, traces, frame)?;
        root.present().map_err(drawing)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| exec_datafusion_err!("chart: PNG: {e}"))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| exec_datafusion_err!("chart: PNG: {e}"))?;
    writer
        .finish()
        .map_err(|e| exec_datafusion_err!("chart: PNG: {e}"))?;
    Ok(out)
}

fn drawing<E: std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> datafusion::error::DataFusionError {
    exec_datafusion_err!("chart: drawing failed: {e}")
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    traces: &[Trace],
    frame: &Frame,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let points = || traces.iter().flat_map(|t| t.segments.iter().flatten());
    let Some((t0, t1, y0, y1)) =
        points().fold(None, |acc: Option<(i64, i64, f64, f64)>, p: &Point| {
            let (t0, t1, y0, y1) = acc.unwrap_or((p.t, p.t, p.lo, p.hi));
            Some((t0.min(p.t), t1.max(p.t), y0.min(p.lo), y1.max(p.hi)))
        })
    else {
        return exec_err!("chart: nothing to draw: every value is NULL, NaN or infinite");
    };
    // One point (or one value) still gets a visible range.
    let (t0, t1) = if t0 == t1 {
        (t0 - 1_800_000_000, t1 + 1_800_000_000)
    } else {
        (t0, t1)
    };
    let pad = if y1 > y0 {
        (y1 - y0) * 0.05
    } else {
        y0.abs().max(1.0) * 0.05
    };
    // Values near ±1.8e308 leave an axis whose length is not a number;
    // plotters would search for tick marks forever.
    if !((y1 + pad) - (y0 - pad)).is_finite() {
        return exec_err!(
            "chart: the values span {y0:e} to {y1:e}, wider than an axis can hold: filter out the extreme values"
        );
    }
    let (y0, y1) = (y0 - pad, y1 + pad);

    root.fill(&WHITE).map_err(drawing)?;
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(if frame.y_label.is_empty() { 56 } else { 72 });
    if let Some(title) = &frame.title {
        builder.caption(title, ("sans-serif", 20));
    }
    let mut chart = builder
        .build_cartesian_2d(time(t0)..time(t1), y0..y1)
        .map_err(drawing)?;
    let span_days = (t1 - t0) as f64 / 86_400e6;
    // Dates alone once ticks are days apart; times of day within a fortnight.
    let x_format = move |t: &DateTime<Utc>| {
        if span_days > 14.0 {
            t.format("%Y-%m-%d").to_string()
        } else if span_days > 1.0 {
            t.format("%m-%d %H:%M").to_string()
        } else {
            t.format("%H:%M").to_string()
        }
    };
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&x_format)
        .y_desc(frame.y_label.clone())
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(drawing)?;

    for (i, trace) in traces.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if trace.band {
            for segment in &trace.segments {
                let edge = segment
                    .iter()
                    .map(|p| (time(p.t), p.lo))
                    .chain(segment.iter().rev().map(|p| (time(p.t), p.hi)));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        edge.collect::<Vec<_>>(),
                        color.mix(0.2).filled(),
                    )))
                    .map_err(drawing)?;
            }
        }
        for (n, segment) in trace.segments.iter().enumerate() {
            let line = LineSeries::new(
                segment.iter().map(|p| (time(p.t), p.y)),
                color.stroke_width(2),
            );
            let drawn = chart.draw_series(line).map_err(drawing)?;
            if n == 0 {
                drawn.label(trace.name.clone()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 16, y + 4)], color.filled())
                });
            }
        }
    }
    if traces.iter().any(|t| !t.segments.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
    }
    Ok(())
}
