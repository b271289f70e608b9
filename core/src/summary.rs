//! The exit summary's counters, declared once in [`declare_counters!`]: the struct, the
//! counter names, the rendering of the summary line and its parsing (the test harness
//! reads it back with [`SummaryCounts::parse_line`]) all come from that declaration.

use std::fmt;

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
        /// The summary's counters, in declaration order. Read back from reports, a counter
        /// an older report lacks reads as 0.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
        #[cfg_attr(feature = "serde", serde(default))]
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
    checked, Checked: Always, "async copy checked|async copies checked";
    pageable, Pageable: Always, "pageable";
    straddles, Straddles: Always, "straddling a pinned edge";
    captured, Captured: NonZero, "pageable, captured into a CUDA graph (copied again at every launch)";
    released_while_registered, ReleasedWhileRegistered: NonZero, "registered range released while still registered (free, realloc, munmap or mremap before cudaHostUnregister)|registered ranges released while still registered (free, realloc, munmap or mremap before cudaHostUnregister)";
    pinned_churn, PinnedChurn: NonZero, "pin-and-release cycle at a site that pins again and again (churn_min or more: keep the buffer)|pin-and-release cycles at sites that pin again and again (churn_min or more: keep the buffer)";
    allowed, Allowed: Always, "allowed by attribute";
    suppressed, Suppressed: NonZero, "suppressed by rules";
    small, Small: NonZero, "below min_bytes";
    pinned_unseen, PinnedUnseen: Always, "pinned by paths pinguard did not see";
    unclassified, Unclassified: Always, "without verdict";
    pin_calls, PinCalls: NonZero, "call to pin or release host memory|calls to pin or release host memory";
    pin_blocked_us, PinBlockedUs: NonZero, "us the host waited in them (cudaFreeHost and cudaHostUnregister wait for the device; pinning is a slow system call)";
    pinned_peak, PinnedPeak: NonZero, "bytes pinned at most at once";
    pinned_at_exit, PinnedAtExit: NonZero, "bytes still pinned at the end (never freed or unregistered)";
    legacy_stream, LegacyStream: NonZero, "async copy on the legacy default stream, which waits for and holds up every blocking stream (a note: per-thread default streams or streams of your own run alongside)|async copies on the legacy default stream, which waits for and holds up every blocking stream (a note: per-thread default streams or streams of your own run alongside)";
    unknown_variants, UnknownVariants: NonZero, "unknown driver entry points passed through untouched";
    disagreements, Disagreements: NonZero, "verdicts the driver disagreed with (verify_with_driver)";
    unwritten, Unwritten: NonZero, "lines not written (stderr replaced or closed)";
    slow_stacks, SlowStacks: NonZero, "finding stacks the caching unwinder could not follow (walked by the C library's, several microseconds each)";
    report_lost, ReportLost: NonZero, "report record not written (a full disk or a write error)|report records not written (a full disk or a write error)";
    unsettled, Unsettled: NonZero, "report line unfinished at exit (its copy may be in the summary, not yet in its site)|report lines unfinished at exit (their copies may be in the summary, not yet in their sites)";
    unchecked, Unchecked: NonZero, "call passed through unchecked (pinguard ran out of memory)|calls passed through unchecked (pinguard ran out of memory)";
    unsited, Unsited: NonZero, "finding counted without a site (the site table full, or too little stack left to name one)|findings counted without a site (the site table full, or too little stack left to name one)";
}

impl SummaryCounts {
    /// Every counter as a JSON object, by name (the summary record's `counts`).
    pub fn write_json<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        let mut o = crate::jsonl::Object::begin(w);
        for (name, value, ..) in self.fields() {
            o.num(name, value);
        }
        o.end()
    }

    /// Findings: the copies that block the host or that CUDA rejects.
    pub fn findings(&self) -> u64 {
        self.pageable
            .saturating_add(self.straddles)
            .saturating_add(self.captured)
            .saturating_add(self.released_while_registered)
            .saturating_add(self.pinned_churn)
    }

    /// The summary line (without newline), written without allocating: `sites` is the
    /// number of distinct finding sites; `unknown_variant_names` lists the unknown entry
    /// points, shown beside their count.
    pub fn write_line<W: fmt::Write>(
        &self,
        w: &mut W,
        pid: u32,
        sites: u64,
        unknown_variant_names: &str,
    ) -> fmt::Result {
        let findings = self.findings();
        write!(
            w,
            "{LINE_PREFIX}summary (pid {pid}): {findings} finding{} at {sites} site{}",
            if findings == 1 { "" } else { "s" },
            if sites == 1 { "" } else { "s" }
        )?;
        for (name, value, words, shown) in self.fields() {
            if shown == Shown::NonZero && value == 0 {
                continue;
            }
            // `one|many` where the words change with the count.
            let words = match words.split_once('|') {
                Some((one, _)) if value == 1 => one,
                Some((_, many)) => many,
                None => words,
            };
            write!(w, ", {value} {words}")?;
            if name == "unknown_variants" && !unknown_variant_names.is_empty() {
                write!(w, " ({unknown_variant_names})")?;
            }
        }
        write!(w, " [summary=1 pid={pid} sites={sites} findings={}", self.findings())?;
        for (name, value, ..) in self.fields() {
            write!(w, " {name}={value}")?;
        }
        w.write_char(']')
    }

    /// The summary line as a `String`.
    pub fn render(&self, pid: u32, sites: u64, unknown_variant_names: &str) -> String {
        let mut line = String::new();
        let _ = self.write_line(&mut line, pid, sites, unknown_variant_names);
        line
    }
}

/// A summary line read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryLine {
    pub pid: u32,
    pub sites: u64,
    pub counts: SummaryCounts,
}

impl SummaryLine {
    /// Reads a summary line; `None` for any other line. Every declared counter must be
    /// present, so a line that forgot one does not parse.
    pub fn parse(line: &str) -> Option<SummaryLine> {
        let rest = line.trim_end().strip_prefix(LINE_PREFIX)?.strip_prefix("summary")?;
        let fields = tail_fields(rest)?;
        fields.get("summary")?;
        let mut counts = SummaryCounts::default();
        for name in Counter::ALL.iter().map(|c| c.name()) {
            let v = fields.get(name)?.parse().ok()?;
            counts.set(name, v);
        }
        Some(SummaryLine { pid: fields.get("pid")?.parse().ok()?, sites: fields.get("sites")?.parse().ok()?, counts })
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
        let line = c.render(77, 3, "cuFoo@4000");
        assert_eq!(SummaryLine::parse(&line), Some(SummaryLine { pid: 77, sites: 3, counts: c }), "{line}");
        assert!(line.contains("cuFoo@4000"));
        assert!(line.contains(&format!("disagreements={}", c.disagreements)), "{line}");
    }

    #[test]
    fn rare_counters_are_quiet_when_zero_but_always_in_the_tail() {
        let c = SummaryCounts { checked: 3, pageable: 1, ..Default::default() };
        let line = c.render(9, 1, "");
        assert!(
            line.starts_with("pinguard: summary (pid 9): 1 finding at 1 site, 3 async copies checked, 1 pageable"),
            "{line}"
        );
        assert!(!line.contains("driver disagreed"), "{line}");
        assert!(line.contains(" disagreements=0"), "{line}");
        assert_eq!(c.get("findings"), Some(1));
        assert_eq!(c.get("nonsense"), None);
    }

    #[test]
    fn a_line_missing_a_counter_does_not_parse() {
        let line = SummaryCounts::default().render(1, 0, "");
        let cut = line.replace(" disagreements=0", "");
        assert_eq!(SummaryLine::parse(&cut), None);
        assert_eq!(SummaryLine::parse("pinguard: hello [x=1]"), None);
        assert!(SummaryLine::parse(&line).is_some());
    }
}
