//! Settings, from one sanitizer-style environment string:
//! `PINGUARD_OPTIONS=mode=abort:summary=0`. Entries are separated by `:` or `,`.
//!
//! Every setting is declared once, in [`declare_settings!`] below (name, type, default,
//! one line of help), as sanitizer_common's `COMMON_FLAG` does. The struct, its defaults,
//! the parser, the error messages and the README's settings table all come from that
//! declaration; a test fails if the README's table differs from it.
//!
//! A malformed entry never stops the program: it is reported in one line and that
//! setting keeps its value. Messages are capped, so a hostile string cannot flood stderr.

/// What pinguard does with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pass every call through untouched; classify nothing.
    Off,
    /// Report findings and let the program run on (the default).
    Log,
    /// Print the finding and abort the process before the copy runs.
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

/// A type a setting can have: how it is parsed and shown.
pub trait SettingValue: Sized {
    /// The values accepted, for the help table and for messages.
    const VALUES: &'static str;
    fn parse_value(text: &str) -> Option<Self>;
    fn show(&self) -> String;
}

impl SettingValue for Mode {
    const VALUES: &'static str = "`off`, `log`, `abort`";
    fn parse_value(text: &str) -> Option<Self> {
        [Mode::Off, Mode::Log, Mode::Abort].into_iter().find(|m| m.name() == text)
    }
    fn show(&self) -> String {
        self.name().into()
    }
}

impl SettingValue for bool {
    const VALUES: &'static str = "`0`, `1`";
    fn parse_value(text: &str) -> Option<Self> {
        match text {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    fn show(&self) -> String {
        if *self { "1" } else { "0" }.into()
    }
}

/// One row of the settings table (help text, README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingInfo {
    pub name: &'static str,
    pub values: &'static str,
    pub default: String,
    pub help: &'static str,
}

/// Declares every setting: `name: Type = default, "help";`. Adding a setting costs one
/// line here (and, for a new type, one `SettingValue` impl).
macro_rules! declare_settings {
    ($( $name:ident : $ty:ty = $default:expr, $help:literal; )*) => {
        /// The settings in force. Built by [`Settings::parse`]; see the module docs.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Settings {
            $( #[doc = $help] pub $name: $ty, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $name: $default, )* }
            }
        }

        impl Settings {
            /// Every setting, in declaration order, with its values, default and help.
            pub fn table() -> Vec<SettingInfo> {
                vec![$( SettingInfo {
                    name: stringify!($name),
                    values: <$ty as SettingValue>::VALUES,
                    default: <$ty as SettingValue>::show(&$default),
                    help: $help,
                } ),*]
            }

            /// The names of every setting.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name) ),*];

            /// Sets `key` from `value`. `Err(true)`: a known key with a bad value;
            /// `Err(false)`: an unknown key.
            fn apply(&mut self, key: &str, value: &str) -> Result<(), bool> {
                $(
                    if key == stringify!($name) {
                        return match <$ty as SettingValue>::parse_value(value) {
                            Some(v) => { self.$name = v; Ok(()) }
                            None => Err(true),
                        };
                    }
                )*
                Err(false)
            }

            /// The current value of `key`, shown as in the options string.
            pub fn value_of(&self, key: &str) -> Option<String> {
                $( if key == stringify!($name) { return Some(<$ty as SettingValue>::show(&self.$name)); } )*
                None
            }

            /// The values `key` accepts.
            fn values_of(key: &str) -> &'static str {
                $( if key == stringify!($name) { return <$ty as SettingValue>::VALUES; } )*
                ""
            }
        }
    };
}

declare_settings! {
    mode: Mode = Mode::Log, "`log`: report each finding and run on. `abort`: print the first finding, then abort the process (SIGABRT) before the copy runs; other threads that hit a finding meanwhile wait. `off`: pass every call through untouched.";
    summary: bool = true, "print a summary line at exit, if the program made any async copy";
    verify_with_driver: bool = false, "self-check: compare every verdict with the driver's own `cuPointerGetAttributes` answer, print each disagreement and count them in the summary (the GPU suite runs with it)";
}

/// The environment variable that holds the settings.
pub const OPTIONS_VAR: &str = "PINGUARD_OPTIONS";

/// At most this many messages about malformed entries; the rest are counted in one line.
pub const MAX_MESSAGES: usize = 8;

/// Longest entry text quoted in a message (the entry itself is parsed whole).
const QUOTE_CHARS: usize = 60;

/// Why an entry was rejected.
enum Problem {
    NotKeyValue,
    Unknown,
    BadValue(String),
}

impl Settings {
    /// Parses an options string. Returns the settings and the messages about rejected
    /// entries (at most [`MAX_MESSAGES`] plus one line counting the rest). Each message
    /// says what holds after the whole string was read.
    pub fn parse(options: &str) -> (Settings, Vec<String>) {
        let mut settings = Settings::default();
        let mut problems: Vec<(String, Problem)> = Vec::new();
        let mut rejected = 0usize;
        for entry in options.split([':', ',']).map(str::trim).filter(|e| !e.is_empty()) {
            let problem = match entry.split_once('=') {
                None => Some(Problem::NotKeyValue),
                Some((key, value)) => match settings.apply(key.trim(), value.trim()) {
                    Ok(()) => None,
                    Err(true) => Some(Problem::BadValue(key.trim().to_string())),
                    Err(false) => Some(Problem::Unknown),
                },
            };
            if let Some(p) = problem {
                rejected += 1;
                if problems.len() < MAX_MESSAGES {
                    problems.push((quote(entry), p));
                }
            }
        }
        let mut messages: Vec<String> = problems
            .into_iter()
            .map(|(entry, p)| {
                let why = match p {
                    Problem::NotKeyValue => "expected key=value".to_string(),
                    Problem::Unknown => format!("unknown setting (known: {})", Settings::NAMES.join(", ")),
                    Problem::BadValue(key) => format!(
                        "{key} takes {}; keeping {key}={}",
                        Settings::values_of(&key).replace('`', ""),
                        settings.value_of(&key).unwrap_or_default()
                    ),
                };
                format!("ignoring {OPTIONS_VAR} entry '{entry}': {why}")
            })
            .collect();
        if rejected > MAX_MESSAGES {
            messages.push(format!("ignoring {} more malformed {OPTIONS_VAR} entries", rejected - MAX_MESSAGES));
        }
        (settings, messages)
    }

    /// The settings as an options string that parses back to them.
    pub fn to_options(&self) -> String {
        Settings::NAMES
            .iter()
            .map(|k| format!("{k}={}", self.value_of(k).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The entry as it may appear in a one-line message: control characters replaced, at
/// most [`QUOTE_CHARS`] characters.
fn quote(entry: &str) -> String {
    let mut out: String = entry.chars().take(QUOTE_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect();
    if entry.chars().count() > QUOTE_CHARS {
        out.push_str("...");
    }
    out
}

/// The README's settings table, as generated from the declaration.
pub fn markdown_table() -> String {
    let mut out = String::from("| setting | values | default | meaning |\n|---|---|---|---|\n");
    for s in Settings::table() {
        out.push_str(&format!("| `{}` | {} | `{}` | {} |\n", s.name, s.values, s.default, s.help));
    }
    out
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
    fn malformed_entries_keep_values_and_say_why() {
        let (s, p) = Settings::parse("mode=loud:verbose:colour=red:summary=2:mode=abort");
        assert_eq!(s.mode, Mode::Abort, "a later valid entry still applies");
        assert!(s.summary);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("mode takes off, log, abort"), "{}", p[0]);
        assert!(p[1].contains("expected key=value"));
        assert!(p[2].contains("unknown setting (known: mode, summary, verify_with_driver"), "{}", p[2]);
        assert!(p[3].contains("summary takes 0, 1; keeping summary=1"), "{}", p[3]);
    }

    /// Defect (issue 8, item 10): the message must say what really holds.
    #[test]
    fn a_rejected_value_names_the_value_that_holds() {
        let (s, p) = Settings::parse("mode=abort:mode=bogus");
        assert_eq!(s.mode, Mode::Abort);
        assert_eq!(p.len(), 1);
        assert!(p[0].ends_with("keeping mode=abort"), "{}", p[0]);
        let (s, p) = Settings::parse("mode=bogus:mode=off");
        assert_eq!(s.mode, Mode::Off);
        assert!(p[0].ends_with("keeping mode=off"), "the value after the whole string: {}", p[0]);
    }

    /// Defect (issue 8, item 10): an entry is parsed whole; only its quote is cut.
    #[test]
    fn long_entries_are_parsed_whole() {
        let long = format!("mode={}abort", " ".repeat(80));
        let (s, p) = Settings::parse(&long);
        assert_eq!((s.mode, p.len()), (Mode::Abort, 0), "{p:?}");
        let bad = format!("colour={}", "x".repeat(200));
        let (_, p) = Settings::parse(&bad);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("..."), "the quote is cut: {}", p[0]);
        assert!(p[0].len() < 200, "{}", p[0]);
    }

    /// Defect (issue 8, item 10): a flood of bad entries gets a bounded number of lines.
    #[test]
    fn messages_are_capped() {
        let flood = vec!["x=1"; 50_000].join(":");
        let (_, p) = Settings::parse(&flood);
        assert_eq!(p.len(), MAX_MESSAGES + 1);
        assert_eq!(
            p[MAX_MESSAGES],
            format!("ignoring {} more malformed PINGUARD_OPTIONS entries", 50_000 - MAX_MESSAGES)
        );
    }

    #[test]
    fn every_setting_round_trips_through_an_options_string() {
        let s = Settings { mode: Mode::Abort, summary: false, verify_with_driver: true };
        let (back, p) = Settings::parse(&s.to_options());
        assert_eq!((back, p.len()), (s, 0));
    }

    /// The README's table is generated from the declaration: this fails when they differ
    /// (paste the table printed here into the README).
    #[test]
    fn readme_settings_table_matches_the_declaration() {
        let readme = include_str!("../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table differs from the declaration; it should read:\n\n{table}"
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(s in "(?s).{0,200}") {
            let (_settings, problems) = Settings::parse(&s);
            prop_assert!(problems.len() <= MAX_MESSAGES + 1);
            for p in problems {
                prop_assert!(!p.contains('\n'));
            }
        }
    }
}
