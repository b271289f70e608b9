//! Settings, from one sanitizer-style environment string:
//! `PINGUARD_OPTIONS=mode=abort:summary=0`. Entries are separated by `:` or `,`.
//!
//! A malformed entry never stops the program: it is reported in one line and that
//! setting keeps its default.

/// What pinguard does with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pass every call through untouched; classify nothing.
    Off,
    /// Print one line per finding on stderr (the default).
    Log,
    /// Print the finding, flush, and abort the process before the copy runs.
    Abort,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Log => "log",
            Mode::Abort => "abort",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// Print a summary line at exit when any copy was checked.
    pub summary: bool,
    /// Check every verdict against the driver's own answer (`cuPointerGetAttributes`)
    /// and report disagreements: a self-test for pinguard, used by the GPU suite.
    pub verify_with_driver: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { mode: Mode::Log, summary: true, verify_with_driver: false }
    }
}

/// The environment variable that holds the settings.
pub const OPTIONS_VAR: &str = "PINGUARD_OPTIONS";

impl Settings {
    /// Parses an options string. Returns the settings and one message per rejected entry.
    pub fn parse(options: &str) -> (Settings, Vec<String>) {
        let mut settings = Settings::default();
        let mut problems = Vec::new();
        for raw in options.split([':', ',']).map(str::trim).filter(|e| !e.is_empty()) {
            let entry = printable(raw);
            let entry = entry.as_str();
            let Some((key, value)) = entry.split_once('=') else {
                problems.push(format!("ignoring {OPTIONS_VAR} entry '{entry}': expected key=value"));
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "mode" => match value {
                    "off" => settings.mode = Mode::Off,
                    "log" => settings.mode = Mode::Log,
                    "abort" => settings.mode = Mode::Abort,
                    _ => problems.push(format!(
                        "ignoring {OPTIONS_VAR} entry '{entry}': mode is off, log or abort; using mode=log"
                    )),
                },
                "summary" => match parse_bool(value) {
                    Some(b) => settings.summary = b,
                    None => problems.push(format!(
                        "ignoring {OPTIONS_VAR} entry '{entry}': summary is 0 or 1; using summary=1"
                    )),
                },
                "verify_with_driver" => match parse_bool(value) {
                    Some(b) => settings.verify_with_driver = b,
                    None => problems.push(format!(
                        "ignoring {OPTIONS_VAR} entry '{entry}': verify_with_driver is 0 or 1; using verify_with_driver=0"
                    )),
                },
                _ => problems.push(format!(
                    "ignoring {OPTIONS_VAR} entry '{entry}': unknown setting (known: mode, summary, verify_with_driver)"
                )),
            }
        }
        (settings, problems)
    }
}

/// The entry as it may appear in a one-line message: control characters replaced,
/// at most 60 characters.
fn printable(entry: &str) -> String {
    let mut out: String = entry.chars().take(60).map(|c| if c.is_control() { '?' } else { c }).collect();
    if entry.chars().count() > 60 {
        out.push_str("...");
    }
    out
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults() {
        assert_eq!(Settings::parse(""), (Settings::default(), vec![]));
        assert_eq!(Settings::default().mode, Mode::Log);
    }

    #[test]
    fn sanitizer_style_entries() {
        let (s, p) = Settings::parse("mode=abort:summary=0");
        assert_eq!((s.mode, s.summary, p.len()), (Mode::Abort, false, 0));
        let (s, p) = Settings::parse("verify_with_driver=1");
        assert_eq!((s.verify_with_driver, p.len()), (true, 0));
        let (s, p) = Settings::parse(" mode = off , summary=yes ");
        assert_eq!((s.mode, s.summary, p.len()), (Mode::Off, true, 0));
    }

    #[test]
    fn malformed_entries_keep_defaults_and_say_why() {
        let (s, p) = Settings::parse("mode=loud:verbose:colour=red:summary=2:mode=abort");
        assert_eq!(s.mode, Mode::Abort, "a later valid entry still applies");
        assert!(s.summary);
        assert_eq!(p.len(), 4);
        assert!(p[0].contains("mode is off, log or abort"));
        assert!(p[1].contains("expected key=value"));
        assert!(p[2].contains("unknown setting"));
        assert!(p[3].contains("summary is 0 or 1"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(s in "(?s).{0,200}") {
            let (_settings, problems) = Settings::parse(&s);
            for p in problems {
                prop_assert!(!p.contains('\n'));
            }
        }
    }
}
