//! In-Situ's HydroVu cloud (water-quality sondes): `hydrovu_locations()`,
//! `hydrovu_parameters()` and `hydrovu_readings(location_id …)`.
//!
//! The API, as its public documentation gives it:
//! - `POST {base}/public-api/oauth/token`: OAuth2 client credentials,
//!   scopes `read:locations read:data`;
//! - `GET …/v1/sispec/friendlynames`: `{parameters: {id: name}, units: {id: name}}`;
//! - `GET …/v1/locations/list`: `[{id, name, description, gps: {latitude, longitude}}]`;
//! - `GET …/v1/locations/{id}/data?startTime=<unix s>[&endTime=<unix s>]`:
//!   `{locationId, parameters: [{parameterId, unitId, customParameter,
//!   readings: [{timestamp, value}]}]}`.
//!
//! Lists are paged: a response's `x-isi-next-page` header is sent back as
//! `x-isi-start-page`; no header ends the list. One parameter's readings
//! may run over several pages, so pages are merged per series before any
//! row is made. Series are named `<parameter>.<unit>` from the friendly
//! names (raw ids where a name is missing).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::common::{exec_datafusion_err, plan_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use reqwest::Url;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::credentials;
use super::http::{ApiClient, OAuth2, Response};
use super::readings::{ReadingsFunction, ReadingsSource, WideReadings, Window};
use crate::catalog::open_first::{self, Opening, OpensTable};
use crate::catalog::source_access::SourceAccess;
use crate::catalog::system::mem_table;

const DEFAULT_URL: &str = "https://www.hydrovu.com";
const NEXT_PAGE: &str = "x-isi-next-page";
const START_PAGE: &str = "x-isi-start-page";
/// A list longer than this many pages is taken as a server that never ends it.
const MOST_PAGES: usize = 100_000;
const MICROS: i64 = 1_000_000;

/// Registers the HydroVu table functions.
pub(crate) fn register(ctx: &SessionContext) {
    open_first::register(ctx, Locations);
    open_first::register(ctx, Parameters);
    open_first::register(ctx, ReadingsFunction::new(Arc::new(HydroVu)));
}

/// The HydroVu source. Its base URL (`HYDROVU_URL`, default the public
/// service) and credentials are read at each call, never stored.
#[derive(Debug)]
pub(crate) struct HydroVu;

/// A signed-in connection for one statement.
struct Session {
    base: Url,
    client: ApiClient,
}

impl Session {
    fn open() -> Result<Self> {
        let text = std::env::var("HYDROVU_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let mut base = Url::parse(&text).map_err(|e| {
            plan_datafusion_err!("HYDROVU_URL '{text}' is not a URL ({e}): e.g. {DEFAULT_URL}")
        })?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let credentials = credentials::lookup("hydrovu", "HydroVu")?;
        let token_url = join(&base, "public-api/oauth/token")?;
        let client = ApiClient::new(
            "HydroVu",
            Some(OAuth2 {
                token_url,
                scope: "read:locations read:data".into(),
                credentials,
            }),
        )?;
        Ok(Session { base, client })
    }

    fn url(&self, path: &str) -> Result<Url> {
        join(&self.base, path)
    }

    /// The pages of a list, read one at a time.
    fn pages<'a>(&'a self, url: &'a Url, what: &'a str) -> Pages<'a> {
        Pages {
            session: self,
            url,
            what,
            next: None,
            read: 0,
            ended: false,
        }
    }

    async fn names(&self) -> Result<FriendlyNames> {
        let what = "friendly names";
        let page = self
            .client
            .get(&self.url("public-api/v1/sispec/friendlynames")?, &[], what)
            .await?;
        decode(&page, what)
    }

    async fn locations(&self) -> Result<Vec<Location>> {
        let what = "locations";
        let url = self.url("public-api/v1/locations/list")?;
        let mut all = Vec::new();
        let mut pages = self.pages(&url, what);
        while let Some(page) = pages.next().await? {
            all.extend(decode::<Vec<Location>>(&page, what)?);
        }
        all.sort_by_key(|l| l.id);
        all.dedup_by_key(|l| l.id);
        Ok(all)
    }

    /// Readings of `location` in `window`, merged per series over every
    /// page; with `max_points`, stops paging once that many have come.
    async fn data(
        &self,
        location: i64,
        window: &Window,
        names: &FriendlyNames,
    ) -> Result<(WideReadings, Complete)> {
        let what = format!("location {location}");
        let mut url = self.url(&format!("public-api/v1/locations/{location}/data"))?;
        {
            // Whole seconds, one wider on each side, then cut exactly below:
            // the answer is the same whether the server takes its bounds as
            // inclusive or exclusive.
            let start = window.from.map_or(0, |f| ceil_seconds(f) - 1).max(0);
            let mut query = url.query_pairs_mut();
            query.append_pair("startTime", &start.to_string());
            if let Some(until) = window.until {
                let end = until.div_euclid(MICROS) + 1;
                query.append_pair("endTime", &end.to_string());
            }
        }
        let mut readings = WideReadings::default();
        let mut series = SeriesNames::default();
        let mut pages = self.pages(&url, &what);
        while let Some(page) = pages.next().await? {
            let data: LocationData = decode(&page, &what)?;
            if data.location_id.is_some_and(|id| id != location) {
                return Err(exec_datafusion_err!(
                    "HydroVu {what}: the server answered with location {} instead",
                    data.location_id.unwrap_or_default()
                ));
            }
            for parameter in &data.parameters {
                let column = series.name(names, parameter);
                for reading in &parameter.readings {
                    let at = reading.timestamp.checked_mul(MICROS).ok_or_else(|| {
                        exec_datafusion_err!(
                            "HydroVu {what}: timestamp {} is out of range",
                            reading.timestamp
                        )
                    })?;
                    if !window.contains(at) {
                        continue;
                    }
                    readings
                        .add(&column, at, reading.value)
                        .map_err(|e| exec_datafusion_err!("HydroVu {what}: {e}"))?;
                }
            }
            if !pages.ended && window.max_points.is_some_and(|m| readings.points() >= m) {
                return Ok((readings, Complete::Partial));
            }
        }
        Ok((readings, Complete::All))
    }
}

/// A paged list: `x-isi-next-page` of one response is sent as
/// `x-isi-start-page` of the next; no header ends it.
struct Pages<'a> {
    session: &'a Session,
    url: &'a Url,
    what: &'a str,
    next: Option<String>,
    read: usize,
    ended: bool,
}

impl Pages<'_> {
    /// The next page; `None` after the last.
    async fn next(&mut self) -> Result<Option<Response>> {
        if self.ended {
            return Ok(None);
        }
        let headers: Vec<(&str, &str)> =
            self.next.iter().map(|t| (START_PAGE, t.as_str())).collect();
        let page = self
            .session
            .client
            .get(self.url, &headers, self.what)
            .await?;
        self.read += 1;
        match next_page(&page)? {
            None => self.ended = true,
            Some(t) if self.next.as_ref() == Some(&t) || self.read >= MOST_PAGES => {
                return Err(exec_datafusion_err!(
                    "HydroVu {}: the server keeps sending pages ({} so far; next page '{t}'): report it to In-Situ",
                    self.what,
                    self.read
                ))
            }
            Some(t) => self.next = Some(t),
        }
        Ok(Some(page))
    }
}

/// Whether a data request read every page.
#[derive(PartialEq)]
enum Complete {
    All,
    Partial,
}

#[async_trait]
impl ReadingsSource for HydroVu {
    fn function(&self) -> &'static str {
        "hydrovu_readings"
    }

    async fn fetch(&self, place: &str, window: &Window) -> Result<WideReadings> {
        let Ok(location) = place.parse::<i64>() else {
            return plan_err!(
                "hydrovu_readings(): the location is a number (its id in hydrovu_locations()), not '{place}'"
            );
        };
        let session = Session::open()?;
        let names = session.names().await?;
        let (readings, complete) = session.data(location, window, &names).await?;
        // Stopped early: end this run at the time of the max_points-th
        // oldest reading seen, and ask again for exactly the span up to it
        // (series on the pages not read may hold readings in it). Whether
        // pages run by time or series by series, that is about max_points
        // readings of each series.
        let cut = window.max_points.and_then(|n| readings.time_of_nth(n));
        match (complete, cut) {
            (Complete::Partial, Some(cut)) => {
                let upto = Window {
                    until: Some(window.until.map_or(cut, |u| u.min(cut))),
                    max_points: None,
                    ..window.clone()
                };
                Ok(session.data(location, &upto, &names).await?.0)
            }
            _ => Ok(readings),
        }
    }
}

/// Series names of one response: `<parameter>.<unit>`. Two series that
/// would share a name (same friendly names, different ids) are told apart
/// by their ids.
#[derive(Default)]
struct SeriesNames {
    by_key: HashMap<(String, String), String>,
    taken: HashMap<String, (String, String)>,
}

impl SeriesNames {
    fn name(&mut self, names: &FriendlyNames, p: &ParameterReadings) -> String {
        // A custom parameter's id is not a standard parameter's.
        let id = if p.custom {
            format!("custom {}", p.parameter_id)
        } else {
            p.parameter_id.clone()
        };
        let key = (id, p.unit_id.clone());
        if let Some(name) = self.by_key.get(&key) {
            return name.clone();
        }
        let parameter = names
            .parameters
            .get(&p.parameter_id)
            .filter(|_| !p.custom)
            .unwrap_or(&p.parameter_id);
        let unit = names.units.get(&p.unit_id).unwrap_or(&p.unit_id);
        let mut name = format!("{parameter}.{unit}");
        if self.taken.get(&name).is_some_and(|k| *k != key) {
            name = format!("{name} ({}/{})", p.parameter_id, p.unit_id);
        }
        self.taken.insert(name.clone(), key.clone());
        self.by_key.insert(key, name.clone());
        name
    }
}

/// The first whole second not before `micros`.
fn ceil_seconds(micros: i64) -> i64 {
    -(-micros).div_euclid(MICROS)
}

fn join(base: &Url, path: &str) -> Result<Url> {
    base.join(path)
        .map_err(|e| plan_datafusion_err!("HYDROVU_URL {base}: cannot reach {path}: {e}"))
}

fn next_page(page: &Response) -> Result<Option<String>> {
    match page.headers.get(NEXT_PAGE) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
            Ok(_) => Ok(None),
            Err(_) => Err(exec_datafusion_err!(
                "HydroVu: the {NEXT_PAGE} header is not text"
            )),
        },
    }
}

fn decode<T: serde::de::DeserializeOwned>(page: &Response, what: &str) -> Result<T> {
    serde_json::from_slice(&page.body).map_err(|e| {
        exec_datafusion_err!("HydroVu {what}: the response is not what the API documents: {e}")
    })
}

#[derive(Deserialize, Default)]
struct FriendlyNames {
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    units: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Location {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    gps: Option<Gps>,
}

#[derive(Deserialize)]
struct Gps {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationData {
    #[serde(default)]
    location_id: Option<i64>,
    #[serde(default)]
    parameters: Vec<ParameterReadings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParameterReadings {
    #[serde(deserialize_with = "id_text")]
    parameter_id: String,
    #[serde(deserialize_with = "id_text")]
    unit_id: String,
    #[serde(default, rename = "customParameter")]
    custom: bool,
    #[serde(default)]
    readings: Vec<Reading>,
}

#[derive(Deserialize)]
struct Reading {
    timestamp: i64,
    value: Option<f64>,
}

/// Ids arrive as text (`"1"`) or as numbers; either is kept as text.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(de::Error::custom(format!("an id, not {other}"))),
    }
}

/// `hydrovu_locations()`: id, name, description, latitude, longitude.
#[derive(Debug)]
struct Locations;

impl OpensTable for Locations {
    fn name(&self) -> &str {
        "hydrovu_locations"
    }

    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
        if !args.exprs().is_empty() {
            return plan_err!("hydrovu_locations() takes no arguments");
        }
        SourceAccess::check(args.session().config(), "hydrovu_locations")?;
        Ok(Box::pin(async {
            locations_table(Session::open()?.locations().await?)
        }))
    }
}

fn locations_table(locations: Vec<Location>) -> Result<Arc<dyn TableProvider>> {
    let gps = |l: &Location, f: fn(&Gps) -> Option<f64>| l.gps.as_ref().and_then(f);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("latitude", DataType::Float64, true),
        Field::new("longitude", DataType::Float64, true),
    ]));
    mem_table(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(locations.iter().map(|l| l.id))),
            Arc::new(StringArray::from_iter(
                locations.iter().map(|l| l.name.clone()),
            )),
            Arc::new(StringArray::from_iter(
                locations.iter().map(|l| l.description.clone()),
            )),
            Arc::new(Float64Array::from_iter(
                locations.iter().map(|l| gps(l, |g| g.latitude)),
            )),
            Arc::new(Float64Array::from_iter(
                locations.iter().map(|l| gps(l, |g| g.longitude)),
            )),
        ],
    )?)
}

/// `hydrovu_parameters()`: kind ('parameter' or 'unit'), id, name.
#[derive(Debug)]
struct Parameters;

impl OpensTable for Parameters {
    fn name(&self) -> &str {
        "hydrovu_parameters"
    }

    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
        if !args.exprs().is_empty() {
            return plan_err!("hydrovu_parameters() takes no arguments");
        }
        SourceAccess::check(args.session().config(), "hydrovu_parameters")?;
        Ok(Box::pin(async {
            parameters_table(Session::open()?.names().await?)
        }))
    }
}

fn parameters_table(names: FriendlyNames) -> Result<Arc<dyn TableProvider>> {
    let mut rows: Vec<(&str, &String, &String)> = Vec::new();
    for (kind, map) in [("parameter", &names.parameters), ("unit", &names.units)] {
        let mut entries: Vec<_> = map.iter().collect();
        // Numeric ids in numeric order.
        entries.sort_by_key(|(id, _)| (id.parse::<i64>().unwrap_or(i64::MAX), (*id).clone()));
        rows.extend(entries.into_iter().map(|(id, name)| (kind, id, name)));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    mem_table(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_by_friendly_names_else_by_ids() {
        let names: FriendlyNames = serde_json::from_str(
            r#"{"parameters": {"1": "Temperature", "2": "Temperature"}, "units": {"1": "C"}}"#,
        )
        .unwrap();
        let data: LocationData = serde_json::from_str(
            r#"{"locationId": 5, "parameters": [
                {"parameterId": "1", "unitId": "1", "readings": [{"timestamp": 1, "value": 2.5}]},
                {"parameterId": 9, "unitId": "7", "readings": []},
                {"parameterId": "2", "unitId": 1, "readings": []},
                {"parameterId": "1", "unitId": "1", "customParameter": true, "readings": []}
            ]}"#,
        )
        .unwrap();
        let mut series = SeriesNames::default();
        let named: Vec<String> = data
            .parameters
            .iter()
            .map(|p| series.name(&names, p))
            .collect();
        assert_eq!(
            named,
            ["Temperature.C", "9.7", "Temperature.C (2/1)", "1.C"]
        );
        assert_eq!(data.parameters[0].readings[0].value, Some(2.5));
        assert_eq!(
            (ceil_seconds(1), ceil_seconds(1_000_000), ceil_seconds(0)),
            (1, 1, 0)
        );
    }
}
