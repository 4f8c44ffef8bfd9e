//! `pondsql site build`: a static site of every rolled-up series, served by
//! any static web server.
//!
//! Owns the site's layout; reads the pond only through [`PondSession`]
//! (its rollups and SQL). For each set of rollup levels
//! ([`PondSession::rollups`]) and each value of its groups (a station):
//!
//! - `data/<readings>/<group>/<level>/<k>.json`: the rows of one level in
//!   chunk `k` (times `[k·span, (k+1)·span)`, span = 1000 buckets; 50 of the
//!   finest bucket for raw rows), every measure as `[min, avg, max]`;
//! - `data/<readings>/<group>/manifest.json`: the levels (bucket, chunk span,
//!   rows per chunk, the step beyond which a line breaks) and measures;
//! - `series/<readings>--<group>--<measure>.html`: one chart page.
//!
//! The page (site.js) picks, for the visible window, the finest level with
//! at most as many points as the chart has pixels (the rule of `series()`;
//! raw rows are bounded by the rows of the chunks the window touches) and
//! fetches only that level's chunks there. Files are rewritten only when
//! their bytes change, so a rebuild after a REFRESH touches little.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use serde_json::{json, Value};

use crate::error::Error;
use crate::Rollups;
use crate::{user_message, PondSession};

mod writer;

use writer::Writer;

const SITE_JS: &str = include_str!("site.js");
const SITE_CSS: &str = include_str!("site.css");
/// Where pages load dygraphs from unless `--assets` says otherwise.
pub(crate) const DEFAULT_ASSETS: &str = "https://cdn.jsdelivr.net/npm/dygraphs@2.2.2/dist";
const LIBRARY_FILES: [&str; 2] = ["dygraph.min.js", "dygraph.min.css"];
/// Buckets per chunk file of a rollup level; raw chunks span this many finest buckets.
const BUCKETS_PER_CHUNK: i64 = 1000;
const FINEST_BUCKETS_PER_RAW_CHUNK: i64 = 50;

/// Where the charting library comes from.
#[derive(Clone, Debug)]
pub(crate) enum Assets {
    /// A URL the pages load it from.
    Url(String),
    /// A local copy (`dygraph.min.js`, `dygraph.min.css`, as in the npm
    /// package's `dist/`), copied into the site: no network at view time.
    Dir(PathBuf),
}

impl Assets {
    pub(crate) fn parse(text: &str) -> Assets {
        if text.starts_with("http://") || text.starts_with("https://") {
            Assets::Url(text.trim_end_matches('/').to_string())
        } else {
            Assets::Dir(PathBuf::from(text))
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SiteOptions {
    pub out: PathBuf,
    pub title: String,
    pub assets: Assets,
}

/// What a build did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildReport {
    pub series: usize,
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// One line of the index.
struct IndexRow {
    readings: String,
    group: String,
    measure: String,
    unit: String,
    from_ms: i64,
    to_ms: i64,
    latest: Option<(i64, f64)>,
    page: String,
}

/// Builds (or brings up to date) the site under `options.out`.
pub(crate) async fn build(
    session: &PondSession,
    options: &SiteOptions,
) -> Result<BuildReport, Error> {
    let all = session.rollups().await.map_err(|e| user_message(&e))?;
    if all.is_empty() {
        return Err("site: the pond has no rollups to chart: create materialized views of downsample() first (docs/charts.md)".into());
    }
    let mut writer = Writer::new(&options.out)?;
    let assets_href = match &options.assets {
        Assets::Url(url) => url.clone(),
        Assets::Dir(dir) => {
            for name in LIBRARY_FILES {
                let bytes = std::fs::read(dir.join(name)).map_err(|e| {
                    format!("site: --assets {}: cannot read {name}: {e} (give the dist/ directory of the npm package dygraphs)", dir.display())
                })?;
                writer.put(&format!("assets/{name}"), &bytes)?;
            }
            "../assets".to_string()
        }
    };
    writer.put("assets/site.js", SITE_JS.as_bytes())?;
    writer.put("assets/site.css", SITE_CSS.as_bytes())?;
    let mut index = Vec::new();
    let readings = unique_slugs(all.iter().map(|r| r.source.as_str()));
    for rollups in &all {
        let groups = group_values(session, rollups).await?;
        let group_keys: Vec<String> = groups.iter().map(|g| group_key(g)).collect();
        let group_slugs = unique_slugs(group_keys.iter().map(String::as_str));
        for (group, key) in groups.iter().zip(&group_keys) {
            let names = Names {
                readings: &readings[&rollups.source],
                group: &group_slugs[key],
            };
            index.extend(
                build_group(
                    session,
                    &mut writer,
                    rollups,
                    group,
                    &names,
                    &assets_href,
                    &options.title,
                )
                .await?,
            );
        }
    }
    writer.put("index.html", index_page(&options.title, &index).as_bytes())?;
    let series = index.len();
    let mut report = writer.finish()?;
    report.series = series;
    Ok(report)
}

/// The values of the rollups' group columns (one empty set when it has none).
async fn group_values(session: &PondSession, rollups: &Rollups) -> Result<Vec<Vec<String>>, Error> {
    if rollups.groups.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let coarsest = &rollups.levels.last().expect("a rollup has levels").path;
    let columns = rollups
        .groups
        .iter()
        .map(|g| quote_ident(g))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT DISTINCT {columns} FROM {} ORDER BY {columns}",
        quote_ident(coarsest)
    );
    let output = session.sql(&sql).await.map_err(|e| user_message(&e))?;
    let mut out = Vec::new();
    for batch in &output.batches {
        let columns: Vec<_> = (0..batch.num_columns())
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| c.as_string::<i32>().value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// A level's rows for one group, as times (ms) and `[min, avg, max]` per measure.
struct LevelRows {
    times: Vec<i64>,
    values: Vec<Vec<[Option<f64>; 3]>>,
}

async fn level_rows(
    session: &PondSession,
    path: &str,
    time: &str,
    raw: bool,
    rollups: &Rollups,
    group: &[String],
) -> Result<LevelRows, Error> {
    let mut columns = vec![quote_ident(time)];
    for m in &rollups.measures {
        if raw {
            columns.push(quote_ident(m));
        } else {
            for part in ["min", "avg", "max"] {
                columns.push(quote_ident(&format!("{m}.{part}")));
            }
        }
    }
    let filter = rollups
        .groups
        .iter()
        .zip(group)
        .map(|(g, v)| format!("{} = '{}'", quote_ident(g), v.replace('\'', "''")))
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY {}",
        columns.join(", "),
        quote_ident(path),
        if filter.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filter.join(" AND "))
        },
        quote_ident(time)
    );
    let output = session.sql(&sql).await.map_err(|e| user_message(&e))?;
    let mut rows = LevelRows {
        times: Vec::new(),
        values: vec![Vec::new(); rollups.measures.len()],
    };
    for batch in &output.batches {
        read_batch(batch, raw, &mut rows).map_err(|e| format!("site: {path}: {e}"))?;
    }
    Ok(rows)
}

fn read_batch(
    batch: &RecordBatch,
    raw: bool,
    rows: &mut LevelRows,
) -> datafusion::error::Result<()> {
    let times = cast(
        batch.column(0),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    let times = times.as_primitive::<TimestampMillisecondType>();
    let floats: Vec<_> = (1..batch.num_columns())
        .map(|i| cast(batch.column(i), &DataType::Float64))
        .collect::<Result<_, _>>()?;
    let value = |c: usize, row: usize| {
        let a = floats[c].as_primitive::<Float64Type>();
        (!a.is_null(row))
            .then(|| a.value(row))
            .filter(|v| v.is_finite())
    };
    for row in 0..batch.num_rows() {
        if times.is_null(row) {
            continue;
        }
        rows.times.push(times.value(row));
        for (m, values) in rows.values.iter_mut().enumerate() {
            values.push(if raw {
                let v = value(m, row);
                [v, v, v]
            } else {
                [
                    value(3 * m, row),
                    value(3 * m + 1, row),
                    value(3 * m + 2, row),
                ]
            });
        }
    }
    Ok(())
}

/// The file names of one group's data and pages: unique among the site's
/// readings, and among the groups of its readings.
struct Names<'a> {
    readings: &'a str,
    group: &'a str,
}

/// A group's values as one name for [`unique_slugs`] (`all` for none):
/// joined by a separator no value holds, so ["a b", "c"] ≠ ["a", "b c"].
fn group_key(group: &[String]) -> String {
    if group.is_empty() {
        "all".to_string()
    } else {
        group.join("\u{1f}")
    }
}

/// The data files, manifest and pages of one group of one set of rollups.
async fn build_group(
    session: &PondSession,
    writer: &mut Writer,
    rollups: &Rollups,
    group: &[String],
    names: &Names<'_>,
    assets: &str,
    site_title: &str,
) -> Result<Vec<IndexRow>, Error> {
    let (readings, group_slug) = (names.readings, names.group);
    let group_name = group.join(" ");
    let dir = format!("data/{readings}/{group_slug}");
    let finest_ms = rollups.levels[0].bucket_ms.max(1);
    // Finest first: raw rows (a one-table source has no groups), then the rollups.
    let mut levels: Vec<(String, String, String, Option<i64>)> = Vec::new();
    if let (Some(raw), true) = (&rollups.raw, group.is_empty()) {
        levels.push((
            "raw".into(),
            raw.path.clone(),
            raw.time_column.clone(),
            None,
        ));
    }
    let paths: Vec<&str> = rollups.levels.iter().map(|l| l.path.as_str()).collect();
    let level_names = level_names(&paths);
    let level_slugs = unique_slugs(level_names.iter().map(String::as_str));
    for (level, name) in rollups.levels.iter().zip(&level_names) {
        let name = level_slugs[name].clone();
        levels.push((
            name,
            level.path.clone(),
            level.time_column.clone(),
            Some(level.bucket_ms),
        ));
    }
    let mut manifest_levels = Vec::new();
    let mut span: Option<(i64, i64)> = None;
    let mut latest: Vec<Option<(i64, f64)>> = vec![None; rollups.measures.len()];
    for (i, (name, path, time, bucket_ms)) in levels.iter().enumerate() {
        let rows = level_rows(session, path, time, bucket_ms.is_none(), rollups, group).await?;
        let chunk_ms = bucket_ms.map_or(finest_ms * FINEST_BUCKETS_PER_RAW_CHUNK, |b| {
            b.max(1) * BUCKETS_PER_CHUNK
        });
        let mut chunks: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (row, t) in rows.times.iter().enumerate() {
            chunks.entry(t.div_euclid(chunk_ms)).or_default().push(row);
        }
        for (k, members) in &chunks {
            let body = json!({
                "t": members.iter().map(|&r| rows.times[r]).collect::<Vec<_>>(),
                "m": rollups.measures.iter().enumerate().map(|(m, name)| {
                    (name.clone(), Value::from(members.iter().map(|&r| json!(rows.values[m][r])).collect::<Vec<_>>()))
                }).collect::<serde_json::Map<_, _>>(),
            });
            writer.put(
                &format!("{dir}/{name}/{k}.json"),
                body.to_string().as_bytes(),
            )?;
        }
        if let (Some(first), Some(last)) = (rows.times.first(), rows.times.last()) {
            span = Some(span.map_or((*first, *last), |(a, b)| (a.min(*first), b.max(*last))));
        }
        if i == 0 {
            for (m, values) in rows.values.iter().enumerate() {
                latest[m] = rows
                    .times
                    .iter()
                    .zip(values)
                    .rev()
                    .find_map(|(t, v)| v[1].map(|v| (*t, v)));
            }
        }
        let gap_ms = match bucket_ms {
            Some(b) => b * 3 / 2,
            None => median_step(&rows.times) * 3 / 2,
        };
        manifest_levels.push(json!({
            "name": name,
            "path": path,
            "bucket_ms": bucket_ms,
            "chunk_ms": chunk_ms,
            "gap_ms": gap_ms,
            "chunks": chunks.iter().map(|(k, rows)| (k.to_string(), json!(rows.len()))).collect::<serde_json::Map<_, _>>(),
        }));
    }
    let (from_ms, to_ms) = span.unwrap_or((0, 0));
    let units: serde_json::Map<String, Value> = rollups
        .measures
        .iter()
        .map(|m| (m.clone(), json!(unit_of(m))))
        .collect();
    let manifest = json!({
        "readings": rollups.source,
        "group": group_name,
        "measures": rollups.measures,
        "units": units,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "levels": manifest_levels,
    });
    writer.put(
        &format!("{dir}/manifest.json"),
        manifest.to_string().as_bytes(),
    )?;
    let mut rows = Vec::new();
    let measure_slugs = unique_slugs(rollups.measures.iter().map(String::as_str));
    for (m, measure) in rollups.measures.iter().enumerate() {
        let page = format!(
            "series/{readings}--{group_slug}--{}.html",
            measure_slugs[measure]
        );
        let heading = if group.is_empty() {
            format!("{measure} ({})", rollups.source)
        } else {
            format!("{group_name}: {measure}")
        };
        let config = json!({"manifest": format!("../{dir}/manifest.json"), "measure": measure});
        let html = series_page(site_title, &heading, assets, &config.to_string());
        writer.put(&page, html.as_bytes())?;
        rows.push(IndexRow {
            readings: rollups.source.clone(),
            group: group_name.clone(),
            measure: measure.clone(),
            unit: unit_of(measure).unwrap_or_default(),
            from_ms,
            to_ms,
            latest: latest[m],
            page,
        });
    }
    Ok(rows)
}

/// Short names for levels: what their paths do not share
/// (`/rollups/1h/lake`, `/rollups/1d/lake` → `1h`, `1d`); never `raw`,
/// which names the raw level. Not yet file names: see [`unique_slugs`].
fn level_names(paths: &[&str]) -> Vec<String> {
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| p.trim_start_matches('/').split('/').collect())
        .collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    let head = (0..shortest)
        .take_while(|&i| split.iter().all(|s| s[i] == split[0][i]))
        .count();
    let tail = (0..shortest - head)
        .take_while(|&i| {
            split
                .iter()
                .all(|s| s[s.len() - 1 - i] == split[0][split[0].len() - 1 - i])
        })
        .count();
    split
        .iter()
        .map(|s| {
            let distinct = &s[head..s.len() - tail];
            let name = if distinct.is_empty() {
                s.last().copied().unwrap_or("level").to_string()
            } else {
                distinct.join("-")
            };
            if name == "raw" {
                "raw-rollup".to_string()
            } else {
                name
            }
        })
        .collect()
}

fn median_step(times: &[i64]) -> i64 {
    let mut steps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|s| *s > 0)
        .collect();
    steps.sort_unstable();
    steps.get(steps.len() / 2).copied().unwrap_or(0)
}

/// `temp.degC` → `degC` (the chart module's rule).
fn unit_of(measure: &str) -> Option<String> {
    measure
        .rsplit_once('.')
        .map(|(_, u)| u.to_string())
        .filter(|u| !u.is_empty())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The longest readable part of a slug (a page name holds three, and a
/// file name 255 bytes).
const SLUG_CHARS: usize = 60;

/// A file name for each of `names`, one to one: the readable [`slug`], cut
/// to [`SLUG_CHARS`]; where that is not the name itself and another name
/// shares it, or it was cut, or starts with a dot, it ends in `-` and 12
/// hex digits of the name's sha256 ("x y" and "x-y" → `x-y-…` and `x-y`;
/// "東京" and "大阪" → `x-…` and `x-…`).
fn unique_slugs<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    use sha2::Digest;
    let names: BTreeSet<&str> = names.into_iter().collect();
    // Each name's readable form, and whether it is the whole slug (not cut,
    // no leading dot dropped).
    let forms: Vec<(&str, String, bool)> = names
        .iter()
        .map(|name| {
            let full = slug(name);
            let cut: String = full
                .trim_start_matches('.')
                .chars()
                .take(SLUG_CHARS)
                .collect();
            let base = if cut.is_empty() { "x".to_string() } else { cut };
            let whole = base == full;
            (*name, base, whole)
        })
        .collect();
    let mut sharing: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, base, _) in &forms {
        *sharing.entry(base.as_str()).or_default() += 1;
    }
    forms
        .iter()
        .map(|(name, base, whole)| {
            let plain = base == name || (*whole && sharing[base.as_str()] == 1);
            let slug = if plain {
                base.clone()
            } else {
                let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
                format!("{base}-{}", &digest[..12])
            };
            (name.to_string(), slug)
        })
        .collect()
}

/// A file-name-safe form: letters, digits, `_`, `.` and `-` kept, runs of anything else as one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn series_page(site_title: &str, heading: &str, assets: &str, config: &str) -> String {
    // A script's text ends at "</": JSON cannot contain it once '/' is escaped.
    let config = config.replace("</", "<\\/");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{heading} · {site}</title>
<link rel="stylesheet" href="{assets}/dygraph.min.css"><link rel="stylesheet" href="../assets/site.css">
<script src="{assets}/dygraph.min.js"></script><script src="../assets/site.js"></script>
</head><body>
<p class="nav"><a href="../index.html">{site}</a></p>
<h1>{heading}</h1>
<div id="chart"></div>
<p id="status">loading…</p>
<p class="help">Drag to zoom in; shift-drag to pan; double-click to see everything. The resolution follows the window.</p>
<script>PondSite.show({config});</script>
</body></html>
"#,
        heading = escape(heading),
        site = escape(site_title),
        assets = escape(assets),
    )
}

fn index_page(title: &str, rows: &[IndexRow]) -> String {
    let mut body = String::new();
    for r in rows {
        let latest = r.latest.map_or("–".to_string(), |(t, v)| {
            format!("{v:.3} at {}", time_text(t))
        });
        body += &format!(
            "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{} – {}</td><td>{}</td></tr>\n",
            escape(&r.readings),
            escape(&r.group),
            escape(&r.page),
            escape(&r.measure),
            escape(&r.unit),
            time_text(r.from_ms),
            time_text(r.to_ms),
            escape(&latest),
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{title}</title><link rel="stylesheet" href="assets/site.css"></head><body>
<h1>{title}</h1>
<table id="series"><thead><tr><th>readings</th><th>station</th><th>parameter</th><th>unit</th><th>time range (UTC)</th><th>latest</th></tr></thead>
<tbody>
{body}</tbody></table>
<p class="help">Built by pondsql site build.</p>
</body></html>
"#,
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_named_by_what_their_paths_do_not_share() {
        assert_eq!(
            level_names(&["/rollups/1h/lake", "/rollups/1d/lake"]),
            ["1h", "1d"]
        );
        assert_eq!(level_names(&["/rollups/1h", "/rollups/1d"]), ["1h", "1d"]);
        assert_eq!(level_names(&["/a/x", "/b/c/x"]), ["a", "b-c"]);
        assert_eq!(level_names(&["/rollups/hourly"]), ["hourly"]);
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("/sensors/{station}/readings"),
            "sensors-station-readings"
        );
        assert_eq!(slug("temp.degC"), "temp.degC");
        assert_eq!(slug("/"), "x");
    }

    #[test]
    fn unique_slugs_are_one_to_one_bounded_and_readable_where_they_can_be() {
        let long = "s".repeat(250);
        let names = [
            "x y",
            "x-y",
            "東京",
            "大阪",
            "/lake/raw",
            "..",
            long.as_str(),
        ];
        let slugs = unique_slugs(names);
        assert_eq!(slugs["x-y"], "x-y");
        assert_eq!(slugs["/lake/raw"], "lake-raw");
        assert!(slugs["x y"].starts_with("x-y-") && slugs["x y"].len() == 16);
        assert!(slugs["東京"].starts_with("x-") && slugs["大阪"].starts_with("x-"));
        assert!(slugs[".."].starts_with("x-"));
        assert_eq!(slugs[long.as_str()].len(), SLUG_CHARS + 13);
        let distinct: BTreeSet<&String> = slugs.values().collect();
        assert_eq!(distinct.len(), names.len());
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = series_page("a<b", "x & y", "../assets", r#"{"measure":"</script>"}"#);
        assert!(page.contains("x &amp; y") && page.contains("a&lt;b"));
        assert!(!page.contains("\"</script>\""));
    }
}
