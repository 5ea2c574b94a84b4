//! DejaVu Sans, regular and bold, compiled into the binary so that a PDF
//! looks the same on every machine; krilla embeds the glyphs a document
//! uses (a subset).
//!
//! Text is laid out one glyph per character with the font's advance widths
//! (no kerning, no shaping): the width measured for truncation and right
//! alignment is then exactly the width drawn. Report cells are short runs of
//! Latin text where shaping changes nothing; a character the font lacks
//! shows as its empty box but still extracts as itself.

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider, charmap::Charmap};

use crate::FormatError;

static REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// One face: the font krilla draws with and the tables it is measured with.
pub(crate) struct Face {
    pub(crate) font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    pub(crate) fn regular() -> Result<Face, FormatError> {
        Face::load(REGULAR)
    }

    pub(crate) fn bold() -> Result<Face, FormatError> {
        Face::load(BOLD)
    }

    fn load(data: &'static [u8]) -> Result<Face, FormatError> {
        let bad = || FormatError::Pdf("the embedded font cannot be read".into());
        let face = FontRef::new(data).map_err(|_| bad())?;
        let units_per_em = f32::from(
            face.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        Ok(Face {
            font: Font::new(data.into(), 0).ok_or_else(bad)?,
            charmap: face.charmap(),
            metrics: face.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    fn glyph(&self, ch: char) -> (skrifa::GlyphId, f32) {
        // A missing character is glyph 0 (.notdef), with its own width.
        let id = self.charmap.map(ch).unwrap_or(skrifa::GlyphId::NOTDEF);
        let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
        (id, advance)
    }

    /// The width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|ch| self.glyph(ch).1).sum::<f32>() * size
    }

    /// The glyphs of `text`, each mapped back to its character so that the
    /// PDF's text extracts (and copies) as the text.
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(at, ch)| {
                let (id, advance) = self.glyph(ch);
                KrillaGlyph {
                    glyph_id: GlyphId::new(id.to_u32()),
                    text_range: at..at + ch.len_utf8(),
                    x_advance: advance,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                }
            })
            .collect()
    }

    /// `text` cut to fit `max` points at `size`, ending in "…" when cut.
    pub(crate) fn fit(&self, text: &str, size: f32, max: f32) -> String {
        if self.width(text, size) <= max {
            return text.to_owned();
        }
        let room = max - self.width("…", size);
        let mut used = 0.0;
        let mut cut = String::new();
        for ch in text.chars() {
            let advance = self.glyph(ch).1 * size;
            if used + advance > room {
                break;
            }
            used += advance;
            cut.push(ch);
        }
        // No trailing space before the ellipsis.
        let mut cut = cut.trim_end().to_owned();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::Face;

    #[test]
    fn text_is_cut_to_its_width_with_an_ellipsis() {
        let face = Face::regular().unwrap();
        let text = "Déménagements Côte-Nord, entrepôt principal";
        let full = face.width(text, 8.0);
        assert!(full > 100.0);
        let cut = face.fit(text, 8.0, 80.0);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(face.width(&cut, 8.0) <= 80.0, "{cut}");
        assert!(text.starts_with(cut.trim_end_matches('…')));
        assert_eq!(face.fit("Zoë", 8.0, 80.0), "Zoë");
    }

    #[test]
    fn bold_is_wider_than_regular() {
        let regular = Face::regular().unwrap();
        let bold = Face::bold().unwrap();
        assert!(bold.width("Total", 10.0) > regular.width("Total", 10.0));
        assert!(regular.width("", 10.0) == 0.0);
    }
}
