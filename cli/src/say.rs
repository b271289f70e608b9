//! The command's own messages: one line on stderr each, prefixed like the library's.
//! Text from outside (paths, settings, a report's contents) may hold newlines or
//! terminal escapes; each control character is written as `\xNN`, so no input can break
//! a line in two, forge a `pinguard:` line or drive the terminal.

/// `s` with every control character written as `\xNN` (a tab stays a tab).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One line on stderr: `pinguard: TEXT`, control characters escaped.
pub fn say(text: &str) {
    eprintln!("pinguard: {}", escape(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_break_or_forge_a_line() {
        assert_eq!(escape("a\nb"), "a\\x0ab");
        assert_eq!(escape("x\u{1b}[31mred"), "x\\x1b[31mred");
        assert_eq!(escape("plain: ok\t1"), "plain: ok\t1");
        assert!(!escape("\npinguard: forged").contains('\n'));
    }
}
