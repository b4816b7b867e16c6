//! What a name must show: at least one character that leaves a mark. The
//! server checks names with [`leaves_a_mark`] and the OpenAPI document
//! states the same rule with [`name_pattern`], both from [`INVISIBLE`].

/// Characters that leave no mark though Unicode does not call them white
/// space or control characters: format marks, fillers and blanks. Only
/// the Basic Multilingual Plane: a JSON Schema pattern (ECMA-262 without
/// the `u` flag) cannot name a character beyond it, and the server must
/// accept whatever the document allows.
pub const INVISIBLE: &[(char, char)] = &[
    ('\u{00ad}', '\u{00ad}'), // soft hyphen
    ('\u{034f}', '\u{034f}'), // combining grapheme joiner
    ('\u{061c}', '\u{061c}'), // Arabic letter mark
    ('\u{115f}', '\u{1160}'), // Hangul choseong and jungseong fillers
    ('\u{17b4}', '\u{17b5}'), // Khmer inherent vowels
    ('\u{180b}', '\u{180f}'), // Mongolian variation selectors and vowel separator
    ('\u{200b}', '\u{200f}'), // zero-width space, joiners, direction marks
    ('\u{202a}', '\u{202e}'), // directional embeddings and overrides
    ('\u{2060}', '\u{206f}'), // word joiner, invisible operators, isolates
    ('\u{2800}', '\u{2800}'), // braille pattern blank
    ('\u{3164}', '\u{3164}'), // Hangul filler
    ('\u{fe00}', '\u{fe0f}'), // variation selectors
    ('\u{feff}', '\u{feff}'), // zero-width no-break space (byte order mark)
    ('\u{ffa0}', '\u{ffa0}'), // halfwidth Hangul filler
    ('\u{fff9}', '\u{fffb}'), // interlinear annotation marks
];

/// True for a character that leaves a mark: not white space, not a control
/// character, not one of [`INVISIBLE`].
pub fn leaves_a_mark(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !INVISIBLE
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

/// The JSON Schema `pattern` of a name: no control character anywhere, and
/// at least one character that [`leaves_a_mark`].
pub fn name_pattern() -> String {
    const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
    let invisible: String = INVISIBLE
        .iter()
        .map(|&(first, last)| {
            if first == last {
                format!("\\u{:04x}", first as u32)
            } else {
                format!("\\u{:04x}-\\u{:04x}", first as u32, last as u32)
            }
        })
        .collect();
    format!("^[^{CONTROL}]*[^\\s{CONTROL}{invisible}][^{CONTROL}]*$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_accepts_exactly_the_characters_that_leave_a_mark() {
        // The pattern's `\s` is Unicode White_Space, as `char::is_whitespace`.
        let pattern = regex::Regex::new(&name_pattern()).unwrap();
        for c in (0..=0xffff).filter_map(char::from_u32) {
            assert_eq!(
                pattern.is_match(&c.to_string()),
                leaves_a_mark(c),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn names_of_fillers_and_blanks_leave_no_mark() {
        for name in [
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{115f}\u{1160}",
            " \u{ffa0} ",
        ] {
            assert!(!name.chars().any(leaves_a_mark), "{name:?}");
        }
        assert!("a\u{3164}".chars().any(leaves_a_mark));
    }
}
