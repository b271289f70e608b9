//! The command's own messages: one line on stderr each, prefixed like the library's.

pub fn say(text: &str) {
    eprintln!("pinguard: {text}");
}
