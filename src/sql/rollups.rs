//! The rollup levels a pond holds: materialized views that are exactly
//! `SELECT * FROM downsample(…)`, grouped by the readings they summarise
//! (a view over another rollup belongs to that rollup's readings). The
//! static site (src/site) draws one chart per (readings, group, measure).

use datafusion::catalog::TableProvider;
use datafusion::error::Result;

use super::session::PondSession;
use crate::catalog::open_first::plan_sql;
use crate::storage::node::RefreshMode;
use crate::udf::downsample::{DownsampleSource, DownsampleTable};

/// One resolution of some readings.
#[derive(Clone, Debug)]
pub struct RollupLevel {
    pub path: String,
    /// The bucket's length in milliseconds (a month counts 31 days).
    pub bucket_ms: i64,
    pub time_column: String,
}

/// Readings and their rollup levels, finest first.
#[derive(Clone, Debug)]
pub struct Rollups {
    /// The readings summarised: a table's path or a glob pattern.
    pub source: String,
    /// The source table, when the readings are one table (raw level).
    pub raw: Option<RawLevel>,
    /// Columns that split the rows (glob captures such as `station`).
    pub groups: Vec<String>,
    /// Quantities with min/avg/max in every level (`temp_c` for `temp_c.avg`).
    pub measures: Vec<String>,
    pub levels: Vec<RollupLevel>,
}

/// The raw readings of a one-table source.
#[derive(Clone, Debug)]
pub struct RawLevel {
    pub path: String,
    pub time_column: String,
}

impl PondSession {
    /// Every set of rollup levels in the pond, ordered by source.
    pub async fn rollups(&self) -> Result<Vec<Rollups>> {
        let view = self.pond().view();
        let Some(root) = view.resolve(&crate::storage::PondPath::root()) else {
            return Ok(Vec::new());
        };
        // path → (its source, the table).
        let mut found: Vec<(String, String, DownsampleTable)> = Vec::new();
        for node in view.walk(&root) {
            // Downsample views refresh incrementally, and only they do;
            // planning others could read host files or call an API.
            let incremental = node.latest.attrs.refresh_mode() == Some(RefreshMode::Incremental);
            let (Some(query), true) = (node.latest.attrs.query.clone(), incremental) else {
                continue;
            };
            let Ok(plan) = plan_sql(&self.context().state(), &query).await else {
                continue; // a view whose sources are gone is not drawn
            };
            if let Some(table) = DownsampleTable::of_plan(&plan) {
                let source = match table.source() {
                    DownsampleSource::Node(n) => n.path.to_string(),
                    DownsampleSource::Glob(glob, _) => glob.to_string(),
                };
                found.push((node.path.to_string(), source, table));
            }
        }
        let root_of = |mut path: String| {
            while let Some((_, source, _)) = found.iter().find(|(p, _, _)| *p == path) {
                path = source.clone();
            }
            path
        };
        let mut out: Vec<Rollups> = Vec::new();
        for (path, source, table) in &found {
            let readings = root_of(source.clone());
            let level = RollupLevel {
                path: path.clone(),
                bucket_ms: table.bucket().nanos() / 1_000_000,
                time_column: table.time_column().to_string(),
            };
            let measures: Vec<String> = table
                .schema()
                .fields()
                .iter()
                .filter_map(|f| f.name().strip_suffix(".avg").map(str::to_string))
                .collect();
            match out.iter_mut().find(|r| r.source == readings) {
                Some(rollups) => {
                    rollups.levels.push(level);
                    rollups.measures.retain(|m| measures.contains(m));
                }
                None => {
                    let raw = crate::storage::PondPath::parse(&readings)
                        .ok()
                        .and_then(|p| view.resolve(&p))
                        .filter(|n| n.kind().holds_rows())
                        .map(|_| RawLevel {
                            path: readings.clone(),
                            time_column: table.time_column().to_string(),
                        });
                    out.push(Rollups {
                        source: readings,
                        raw,
                        groups: table.groups().to_vec(),
                        measures,
                        levels: vec![level],
                    })
                }
            }
        }
        for rollups in &mut out {
            rollups.levels.sort_by_key(|l| l.bucket_ms);
        }
        out.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(out)
    }
}
