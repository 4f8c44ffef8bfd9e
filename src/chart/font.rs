//! The font charts are drawn with: a TrueType file found on the system
//! (fonts are not shipped with pondsql), or the one `PONDSQL_CHART_FONT` names.

use std::path::Path;
use std::sync::OnceLock;

use datafusion::common::exec_datafusion_err;
use datafusion::error::Result;
use plotters::style::{register_font, FontStyle};

/// Where common systems keep a sans-serif font (Debian/Ubuntu, Fedora,
/// Arch, Alpine, macOS).
const CANDIDATES: [&str; 8] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// No font to draw with: what was tried, and how to give one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("chart: {0}")]
struct NoFont(String);

/// Registers the font as plotters' "sans-serif", once per process.
pub(super) fn register() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), NoFont>> = OnceLock::new();
    REGISTERED
        .get_or_init(load)
        .clone()
        .map_err(|e| exec_datafusion_err!("{e}"))
}

fn load() -> std::result::Result<(), NoFont> {
    let chosen = std::env::var("PONDSQL_CHART_FONT").ok();
    let path = match &chosen {
        Some(path) => path.as_str(),
        None => CANDIDATES
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .ok_or_else(|| NoFont("no font found (looked for DejaVu Sans, Liberation Sans, Noto Sans): install one (Debian: apt install fonts-dejavu-core) or set PONDSQL_CHART_FONT to a .ttf file".into()))?,
    };
    let bytes = std::fs::read(path).map_err(|e| {
        NoFont(format!(
            "cannot read the font {path}: {e} (PONDSQL_CHART_FONT names a .ttf file)"
        ))
    })?;
    // plotters keeps fonts for the whole process; this happens once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| {
        NoFont(format!(
            "{path} is not a TrueType font (PONDSQL_CHART_FONT names a .ttf file)"
        ))
    })
}
