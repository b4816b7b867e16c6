//! Text from agents, runners and servers made safe to print on a terminal:
//! an escape sequence in it could clear the screen, retitle the window or
//! rewrite what was printed before (an agent's output is untrusted).

/// `text` with its control characters written out (`\u{1b}`); line breaks
/// and tabs kept when `lines`.
pub fn inert(text: &str, lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_inert(&mut out, c, lines);
    }
    out
}

/// `text` as [`inert`] with its lines, but an agent's colours kept: SGR
/// sequences (`ESC [ digits;… m`) only change the colour of what follows.
pub fn inert_keeping_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}'
            && let Some(len) = colour_sequence(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        push_inert(&mut out, c, true);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn push_inert(out: &mut String, c: char, lines: bool) {
    match c {
        '\n' | '\t' if lines => out.push(c),
        c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
        c => out.push(c),
    }
}

/// The length of the SGR sequence `text` starts with, if it starts with one.
fn colour_sequence(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\u{1b}[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_written_out_and_colours_kept() {
        let hostile = "boom \u{1b}[2J\u{1b}]0;OWNED\u{7}\n\tdone";
        assert_eq!(
            inert(hostile, true),
            "boom \\u{1b}[2J\\u{1b}]0;OWNED\\u{7}\n\tdone"
        );
        assert_eq!(inert("a\nb", false), "a\\u{a}b");
        assert_eq!(
            inert_keeping_colours("\u{1b}[1;31mred\u{1b}[0m \u{1b}[2J\u{1b}[31"),
            "\u{1b}[1;31mred\u{1b}[0m \\u{1b}[2J\\u{1b}[31"
        );
    }
}
