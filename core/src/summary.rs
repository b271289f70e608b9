//! The exit summary's counters, declared once in [`declare_counters!`]: the struct, the
//! counter names, the rendering of the summary line and its parsing (the test harness
//! reads it back with [`SummaryCounts::parse_line`]) all come from that declaration.

use std::fmt::Write as _;

use crate::report::{LINE_PREFIX, tail_fields};

/// When a counter appears in the human part of the summary line (the machine tail
/// always carries every counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Always,
    /// Only when nonzero: counters of rare or diagnostic events.
    NonZero,
}

macro_rules! declare_counters {
    ($( $name:ident, $variant:ident: $shown:ident, $words:literal; )*) => {
        /// The summary's counters, in declaration order.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct SummaryCounts {
            $( #[doc = $words] pub $name: u64, )*
        }

        /// One variant per counter, to index per-thread counter blocks.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter { $( $variant ),* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$( Counter::$variant ),*];
            pub const COUNT: usize = Counter::ALL.len();

            pub fn name(self) -> &'static str {
                match self { $( Counter::$variant => stringify!($name) ),* }
            }
        }

        impl SummaryCounts {
            /// Each counter's name, value, words and when it is shown.
            pub fn fields(&self) -> [(&'static str, u64, &'static str, Shown); Counter::COUNT] {
                [$( (stringify!($name), self.$name, $words, Shown::$shown) ),*]
            }

            /// Adds `n` to the counter `c`.
            pub fn add(&mut self, c: Counter, n: u64) {
                match c { $( Counter::$variant => self.$name += n ),* }
            }

            /// A counter by name (the harness's manifest checks name them).
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    "findings" => Some(self.findings()),
                    $( stringify!($name) => Some(self.$name), )*
                    _ => None,
                }
            }

            fn set(&mut self, name: &str, v: u64) -> bool {
                match name { $( stringify!($name) => { self.$name = v; true } )* _ => false }
            }
        }
    };
}

declare_counters! {
    checked, Checked: Always, "async copies checked";
    pageable, Pageable: Always, "pageable";
    straddles, Straddles: Always, "straddling a pinned edge";
    allowed, Allowed: Always, "allowed by attribute";
    pinned_unseen, PinnedUnseen: Always, "pinned by paths pinguard did not see";
    unclassified, Unclassified: Always, "without verdict";
    unknown_variants, UnknownVariants: NonZero, "unknown driver entry points passed through untouched";
    disagreements, Disagreements: NonZero, "verdicts the driver disagreed with (verify_with_driver)";
}

impl SummaryCounts {
    /// Findings: the copies that block the host or that CUDA rejects.
    pub fn findings(&self) -> u64 {
        self.pageable + self.straddles
    }

    /// The summary line (without newline). `unknown_variant_names` lists the unknown
    /// entry points, shown beside their count.
    pub fn render(&self, unknown_variant_names: &str) -> String {
        let mut line = format!("{LINE_PREFIX}summary: {} findings", self.findings());
        for (name, value, words, shown) in self.fields() {
            if shown == Shown::NonZero && value == 0 {
                continue;
            }
            let _ = write!(line, ", {value} {words}");
            if name == "unknown_variants" && !unknown_variant_names.is_empty() {
                let _ = write!(line, " ({unknown_variant_names})");
            }
        }
        let _ = write!(line, " [summary=1 findings={}", self.findings());
        for (name, value, ..) in self.fields() {
            let _ = write!(line, " {name}={value}");
        }
        line.push(']');
        line
    }

    /// Reads a summary line back; `None` for any other line. Every declared counter must
    /// be present, so a line that forgot one does not parse.
    pub fn parse_line(line: &str) -> Option<SummaryCounts> {
        let fields = tail_fields(line.trim_end().strip_prefix(LINE_PREFIX)?.strip_prefix("summary: ")?)?;
        let mut c = SummaryCounts::default();
        for name in Counter::ALL.iter().map(|c| c.name()) {
            let v = fields.get(name)?.parse().ok()?;
            c.set(name, v);
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_round_trips_through_the_line() {
        let mut c = SummaryCounts::default();
        for (i, k) in Counter::ALL.iter().enumerate() {
            c.add(*k, 10 + i as u64);
        }
        let line = c.render("cuFoo@4000");
        assert_eq!(SummaryCounts::parse_line(&line), Some(c), "{line}");
        assert!(line.contains("cuFoo@4000"));
        assert!(line.contains(&format!("disagreements={}", c.disagreements)), "{line}");
    }

    #[test]
    fn rare_counters_are_quiet_when_zero_but_always_in_the_tail() {
        let c = SummaryCounts { checked: 3, pageable: 1, ..Default::default() };
        let line = c.render("");
        assert!(line.starts_with("pinguard: summary: 1 findings, 3 async copies checked, 1 pageable"), "{line}");
        assert!(!line.contains("driver disagreed"), "{line}");
        assert!(line.contains(" disagreements=0"), "{line}");
        assert_eq!(c.get("findings"), Some(1));
        assert_eq!(c.get("nonsense"), None);
    }

    #[test]
    fn a_line_missing_a_counter_does_not_parse() {
        let line = SummaryCounts::default().render("");
        let cut = line.replace(" disagreements=0", "");
        assert_eq!(SummaryCounts::parse_line(&cut), None);
        assert_eq!(SummaryCounts::parse_line("pinguard: hello [x=1]"), None);
    }
}
