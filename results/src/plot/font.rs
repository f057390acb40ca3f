//! The embedded font: DejaVu Sans (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`),
//! registered with plotters' ab_glyph text renderer so SVG and PNG charts draw text without any
//! system font.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::ResultsError;

static DEJAVU_SANS: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// Register the font once per process under the family name the charts use.
pub(crate) fn register() -> Result<(), ResultsError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(super::FONT, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(ResultsError::Font) }
}
