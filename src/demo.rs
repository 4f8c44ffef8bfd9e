//! `pondsql demo`: a realistic synthetic dataset and a run of sql/demo.sql.
//!
//! Three stations report water temperature, conductivity, pH and dissolved
//! oxygen every minute for two weeks. One station has an outage, one drops
//! readings at random, and two deliver some readings late (in a second file).
//! The data is generated from a fixed seed, so the demo's output is stable.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::{Pond, PondSession, SessionOptions};

const DEMO_SQL: &str = include_str!("../sql/demo.sql");
const DAYS: i64 = 14;
const START: &str = "2024-06-01";

/// A small deterministic generator (no dependency, same numbers everywhere).
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Station {
    name: &'static str,
    base_temp: f64,
    /// Minutes (from the start) with no reading at all.
    outage: Option<(i64, i64)>,
    /// Share of readings dropped at random.
    drop_rate: f64,
    /// Minutes whose readings arrive late, in `<name>-late.csv`.
    late: Option<(i64, i64)>,
}

const STATIONS: &[Station] = &[
    Station {
        name: "lake_north",
        base_temp: 14.0,
        outage: None,
        drop_rate: 0.0,
        late: Some((2 * 1440 + 600, 2 * 1440 + 780)),
    },
    Station {
        name: "lake_south",
        base_temp: 15.5,
        outage: None,
        drop_rate: 0.02,
        late: None,
    },
    Station {
        name: "creek",
        base_temp: 11.0,
        outage: Some((5 * 1440 + 120, 5 * 1440 + 480)),
        drop_rate: 0.0,
        late: Some((9 * 1440, 9 * 1440 + 90)),
    },
];

fn timestamp(minute: i64) -> String {
    let start = chrono::NaiveDate::parse_from_str(START, "%Y-%m-%d")
        .expect("constant date")
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    (start + chrono::Duration::minutes(minute))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Writes `incoming/<station>.csv` (and `-late.csv`) under `dir`.
pub(crate) fn generate(dir: &Path) -> std::io::Result<usize> {
    let incoming = dir.join("incoming");
    std::fs::create_dir_all(&incoming)?;
    let header = "ts,temp_c,conductivity_us_cm,ph,do_mg_l\n";
    let mut total = 0;
    for (i, station) in STATIONS.iter().enumerate() {
        let mut rng = Lcg(0x5eed + i as u64);
        let (mut on_time, mut late) = (String::from(header), String::from(header));
        for minute in 0..DAYS * 1440 {
            let noise = rng.next_f64() - 0.5;
            if station
                .outage
                .is_some_and(|(a, b)| (a..b).contains(&minute))
                || rng.next_f64() < station.drop_rate
            {
                continue;
            }
            let day_phase = (minute % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            let temp = station.base_temp
                + 3.0 * (day_phase - 2.0).sin()
                + 0.02 * (minute / 1440) as f64
                + 0.1 * noise;
            let conductivity = 420.0 + 15.0 * (minute as f64 / 5000.0).sin() + 2.0 * noise;
            let ph = 7.4 + 0.2 * (day_phase - 1.0).sin() + 0.01 * noise;
            let oxygen = 9.0 - 0.25 * (temp - station.base_temp) + 0.05 * noise;
            let target = if station.late.is_some_and(|(a, b)| (a..b).contains(&minute)) {
                &mut late
            } else {
                &mut on_time
            };
            let _ = writeln!(
                target,
                "{},{temp:.3},{conductivity:.1},{ph:.3},{oxygen:.3}",
                timestamp(minute)
            );
            total += 1;
        }
        std::fs::write(incoming.join(format!("{}.csv", station.name)), on_time)?;
        if station.late.is_some() {
            std::fs::write(incoming.join(format!("{}-late.csv", station.name)), late)?;
        }
    }
    Ok(total)
}

/// The demo, ready to run: its directory, a session on its new pond, and
/// the script to run there (from the demo directory, which the script's
/// relative paths name).
pub(crate) struct Demo {
    pub(crate) dir: PathBuf,
    pub(crate) pond_path: PathBuf,
    pub(crate) session: PondSession,
    pub(crate) script: &'static str,
}

/// Creates the demo directory (a new temp dir unless given), generates the
/// data and creates the pond. An existing demo there is invalid input;
/// a directory that cannot be written is unavailable.
pub(crate) async fn prepare(dir: Option<PathBuf>) -> Result<Demo, Error> {
    let dir = match dir {
        Some(dir) => dir,
        None => {
            std::env::temp_dir().join(format!("pondsql-demo-{}", uuid::Uuid::new_v4().simple()))
        }
    };
    let pond_path = dir.join("pond");
    if pond_path.exists() {
        return Err(Error::invalid(format!(
            "{} already holds a demo: choose another directory",
            dir.display()
        )));
    }
    let readings = generate(&dir).map_err(|err| {
        Error::unavailable(format!(
            "cannot write the demo data in {}: {err}",
            dir.display()
        ))
    })?;
    println!(
        "Generated {readings} readings from {} stations in {}",
        STATIONS.len(),
        dir.join("incoming").display()
    );
    let pond = Pond::init(&pond_path)
        .await
        .map_err(|err| Error::unavailable(err.to_string()))?;
    println!(
        "Created pond {}; running sql/demo.sql\n",
        pond_path.display()
    );
    std::env::set_current_dir(&dir)
        .map_err(|err| Error::unavailable(format!("cannot enter {}: {err}", dir.display())))?;
    Ok(Demo {
        session: PondSession::new(Arc::new(pond), SessionOptions::default()),
        dir,
        pond_path,
        script: DEMO_SQL,
    })
}
