//! SMS length and segment count.

use serde::{Deserialize, Serialize};

/// How an SMS is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16, for any text with a character outside GSM-7.
    Ucs2,
}

/// The length of an SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsLength {
    /// The encoding the text needs.
    pub encoding: SmsEncoding,
    /// GSM-7 septets (an extension-table character such as `€`, `{` or `^`
    /// counts 2) or UTF-16 code units (a character outside the BMP, e.g. most
    /// emoji, counts 2).
    pub characters: usize,
    /// Messages the text is sent as: one up to 160 septets / 70 units, else
    /// parts of 153 septets / 67 units (a 2-unit character is never split
    /// across parts). An empty text is one (empty) message.
    pub segments: usize,
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table (escape + one septet each).
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Counts the characters and segments of an SMS text.
pub fn sms_length(text: &str) -> SmsLength {
    let gsm: Option<Vec<usize>> = text
        .chars()
        .map(|character| {
            if GSM7_BASIC.contains(character) {
                Some(1)
            } else if GSM7_EXTENSION.contains(character) {
                Some(2)
            } else {
                None
            }
        })
        .collect();
    let (encoding, costs, single, part) = match gsm {
        Some(costs) => (SmsEncoding::Gsm7, costs, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let characters = costs.iter().sum();
    let segments = if characters <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for cost in costs {
            if used + cost > part {
                segments += 1;
                used = 0;
            }
            used += cost;
        }
        segments
    };
    SmsLength {
        encoding,
        characters,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(text: &str) -> (SmsEncoding, usize, usize) {
        let length = sms_length(text);
        (length.encoding, length.characters, length.segments)
    }

    #[test]
    fn gsm7() {
        assert_eq!(length(""), (SmsEncoding::Gsm7, 0, 1));
        assert_eq!(
            length("Hello Ann, your move is on 1/6."),
            (SmsEncoding::Gsm7, 31, 1)
        );
        assert_eq!(length(&"a".repeat(160)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(length(&"a".repeat(161)), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(length(&"a".repeat(306)), (SmsEncoding::Gsm7, 306, 2));
        assert_eq!(length(&"a".repeat(307)), (SmsEncoding::Gsm7, 307, 3));
        assert_eq!(length("€10 {x}"), (SmsEncoding::Gsm7, 10, 1));
        assert_eq!(length(&"€".repeat(80)), (SmsEncoding::Gsm7, 160, 1));
        // 152 septets then a 2-septet character: it moves to the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(length(&text), (SmsEncoding::Gsm7, 164, 2));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(length(&text), (SmsEncoding::Gsm7, 306, 3));
    }

    #[test]
    fn ucs2() {
        assert_eq!(length("Zoë’s move"), (SmsEncoding::Ucs2, 10, 1));
        assert_eq!(length(&"ł".repeat(70)), (SmsEncoding::Ucs2, 70, 1));
        assert_eq!(length(&"ł".repeat(71)), (SmsEncoding::Ucs2, 71, 2));
        assert_eq!(length(&"ł".repeat(134)), (SmsEncoding::Ucs2, 134, 2));
        assert_eq!(length(&"ł".repeat(135)), (SmsEncoding::Ucs2, 135, 3));
        assert_eq!(length("🚚"), (SmsEncoding::Ucs2, 2, 1));
        let text = format!("{}🚚", "ł".repeat(66));
        assert_eq!(
            length(&format!("{text}{}", "ł".repeat(10))),
            (SmsEncoding::Ucs2, 78, 2)
        );
    }
}
