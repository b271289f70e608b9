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
    /// The same, with what `VALUES` cannot hold as a constant (a number's range).
    fn values() -> String {
        Self::VALUES.to_string()
    }
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

impl SettingValue for u64 {
    const VALUES: &'static str = "a number";
    fn parse_value(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A file path, possibly a pattern (`%p`: pid, `%h`: host name, `%%`: `%`); empty: none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathSetting(pub String);

impl PathSetting {
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    /// The path for one process: `%p` -> pid, `%h` -> host, `%r` -> `.r` and the
    /// launcher's rank (`torchrun`, `mpirun`, `srun`: [`launcher_rank`]) where there is
    /// one, else nothing; `%%` -> `%`.
    pub fn expand(&self, pid: u32, host: &str, rank: Option<u32>) -> String {
        let mut out = String::with_capacity(self.0.len() + 16);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('p') => out.push_str(&pid.to_string()),
                Some('h') => out.push_str(host),
                Some('r') => {
                    if let Some(r) = rank {
                        out.push_str(&format!(".r{r}"));
                    }
                }
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

/// The variables launchers name a process's rank in: Open MPI, PMIx, MPICH's PMI, Slurm's
/// `srun`, `torchrun` (and `torch.distributed.launch`), MVAPICH; the first set wins.
pub const RANK_VARIABLES: [&str; 6] =
    ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "RANK", "MV2_COMM_WORLD_RANK"];

/// The rank a launcher gave this process, read through `get` (the environment; the
/// preload library reads it with `secure_getenv`).
pub fn launcher_rank(get: impl Fn(&str) -> Option<String>) -> Option<u32> {
    RANK_VARIABLES.iter().find_map(|v| get(v)).and_then(|r| r.trim().parse().ok())
}

impl SettingValue for PathSetting {
    const VALUES: &'static str = "a path (`%p`: pid, `%h`: host, `%r`: the launcher's rank)";
    fn parse_value(text: &str) -> Option<Self> {
        Some(PathSetting(text.to_string()))
    }
    fn show(&self) -> String {
        quote_if_needed(&self.0)
    }
}

/// Glob patterns separated by `|` (`*`, `?` and `[...]` as in a shell).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobList(pub Vec<String>);

impl GlobList {
    pub fn of(patterns: &[&str]) -> Self {
        GlobList(patterns.iter().map(|p| p.to_string()).collect())
    }
}

impl SettingValue for GlobList {
    const VALUES: &'static str = "globs separated by `|`";
    fn parse_value(text: &str) -> Option<Self> {
        Some(GlobList(text.split('|').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()))
    }
    fn show(&self) -> String {
        quote_if_needed(&self.0.join("|"))
    }
}

/// A number within bounds (`MIN..=MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> SettingValue for Bounded<MIN, MAX> {
    const VALUES: &'static str = "a number in range";
    fn values() -> String {
        format!("a number from {MIN} to {MAX}")
    }
    fn parse_value(text: &str) -> Option<Self> {
        text.parse::<u64>().ok().filter(|v| (MIN..=MAX).contains(v)).map(Bounded)
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// Values that hold a separator are written in double quotes.
fn quote_if_needed(v: &str) -> String {
    if v.contains([':', ',', '"']) { format!("\"{}\"", v.replace('"', "")) } else { v.to_string() }
}

/// One row of the settings table (help text, README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingInfo {
    pub name: &'static str,
    pub values: String,
    pub default: String,
    pub help: &'static str,
}

/// Declares every setting: `name: Type = default, "help";`. Adding a setting costs one
/// line here (and, for a new type, one `SettingValue` impl).
///
/// A second group, `@test_only { ... }`, declares the switches pinguard's own tests use to
/// force a rare path (as sanitizers' `test_only_*` flags do): parsed like the others and
/// written to the report's options when set, but left out of the README's table and the
/// `pinguard run` flags, and honoured by debug builds of the library only (a release
/// build says once that it ignores them).
macro_rules! declare_settings {
    ($( $name:ident : $ty:ty = $default:expr, $help:literal; )*
     @test_only { $( $tname:ident : $tty:ty = $tdefault:expr, $thelp:literal; )* }) => {
        /// The settings in force. Built by [`Settings::parse`]; see the module docs.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Settings {
            $( #[doc = $help] pub $name: $ty, )*
            $( #[doc = $thelp] pub $tname: $tty, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $name: $default, )* $( $tname: $tdefault, )* }
            }
        }

        impl Settings {
            /// Every setting, in declaration order, with its values, default and help.
            pub fn table() -> Vec<SettingInfo> {
                vec![$( SettingInfo {
                    name: stringify!($name),
                    values: <$ty as SettingValue>::values(),
                    default: <$ty as SettingValue>::show(&$default),
                    help: $help,
                } ),*]
            }

            /// The pinguard tests' switches, with their values, default and help.
            pub fn test_only_table() -> Vec<SettingInfo> {
                vec![$( SettingInfo {
                    name: stringify!($tname),
                    values: <$tty as SettingValue>::values(),
                    default: <$tty as SettingValue>::show(&$tdefault),
                    help: $thelp,
                } ),*]
            }

            /// The names of every setting a user sets.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name) ),*];

            /// The names of the tests' switches.
            pub const TEST_ONLY_NAMES: &'static [&'static str] = &[$( stringify!($tname) ),*];

            /// The tests' switches that are not at their defaults.
            pub fn test_only_set(&self) -> Vec<&'static str> {
                let mut set = Vec::new();
                $( if self.$tname != $tdefault { set.push(stringify!($tname)); } )*
                set
            }

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
                $(
                    if key == stringify!($tname) {
                        return match <$tty as SettingValue>::parse_value(value) {
                            Some(v) => { self.$tname = v; Ok(()) }
                            None => Err(true),
                        };
                    }
                )*
                Err(false)
            }

            /// The current value of `key`, shown as in the options string.
            pub fn value_of(&self, key: &str) -> Option<String> {
                $( if key == stringify!($name) { return Some(<$ty as SettingValue>::show(&self.$name)); } )*
                $( if key == stringify!($tname) { return Some(<$tty as SettingValue>::show(&self.$tname)); } )*
                None
            }

            /// The values `key` accepts.
            fn values_of(key: &str) -> String {
                $( if key == stringify!($name) { return <$ty as SettingValue>::values(); } )*
                $( if key == stringify!($tname) { return <$tty as SettingValue>::values(); } )*
                String::new()
            }
        }
    };
}

declare_settings! {
    mode: Mode = Mode::Log, "`log`: report findings and run on. `abort`: print the first finding, then abort the process (SIGABRT, for debuggers) before the copy runs; other threads that hit a finding meanwhile wait. `off`: pass every call through untouched.";
    halt_on_error: bool = false, "stop at the first finding, before the copy runs: print it, write the summary and the report, and exit with `exitcode` (no core dump; for CI)";
    exitcode: Bounded<0, 255> = Bounded(23), "the exit code of `halt_on_error`";
    log_path: PathSetting = PathSetting(String::new()), "also write a JSON Lines report to this path (`%p`: pid, `%h`: host, `%r`: `.r` and the launcher's rank where there is one; so each process writes its own; `docs/report-format.md`)";
    min_bytes: u64 = 0, "copies of fewer host bytes are counted, not reported";
    stack_depth: Bounded<1, 64> = Bounded(16), "native frames captured per finding";
    fast_unwind: bool = true, "walk finding stacks with pinguard's caching unwinder, which keeps each code address's unwind rule and replays a thread's last walk while the stack words it read are unchanged (0: the C library's unwinder on every finding, several microseconds each; the stacks are the same)";
    print_limit: u64 = 10, "new call sites shown on stderr, each once with its stack; later ones go to the report and the summary only";
    suppressions: PathSetting = PathSetting(String::new()), "a file of rules for findings to ignore, by function, module or source glob, API and direction (see Suppressions)";
    skip_frames: GlobList = GlobList::of(DEFAULT_SKIP_FRAMES), "frames (function or module globs) passed over to find a site's location: the first frame in your code";
    skip_python: GlobList = GlobList::of(DEFAULT_SKIP_PYTHON), "Python files (globs on the path) passed over to find a Python program's site: the first Python frame in your code, else the innermost Python frame (the standard library and installed packages by default)";
    report_interval: u64 = 10, "seconds between per-site aggregates in the report (0: only at exit)";
    summary: bool = true, "print a summary at exit, if the program made any async copy";
    churn_min: u64 = 100, "a call site whose pinned memory is released again this many times is reported (`pinned_churn`): pinning is a slow system call and releasing waits for the device, so keep the buffer and reuse it (0: never)";
    pinned_share: Bounded<1, 100> = Bounded(25), "at exit, say so if the most host memory pinned at once passed this percentage of the machine's memory: pinned pages cannot be swapped or moved, and pinning much starves the system and other programs";
    verify_with_driver: bool = false, "self-check: compare every verdict with the driver's own `cuPointerGetAttributes` answer, print each disagreement and count them in the summary (the GPU suite runs with it)";
    @test_only {
        test_only_panic: bool = false, "pinguard's own code panics in every copy hook (no panic may cross into the program)";
        test_only_maps_left: u64 = 0, "pinguard's allocator maps this many more regions, then is refused as on a system out of memory (0: no limit)";
        test_only_slow_exit: bool = false, "a new site's build takes 50 ms more and the summary waits 100 ms between counting and writing the sites' totals (a site outlasting the summary's wait)";
        test_only_slow_rules: bool = false, "every unwind-rule lookup holds the loader's lock 20 ms (a fork while another thread is inside it)";
        test_only_no_tsc: bool = false, "the copy path's clock never uses the time-stamp counter";
        test_only_mem_total: u64 = 0, "the machine's memory in bytes as `pinned_share` reads it (0: the real one)";
    }
}

/// Frames that are never a site's location: pinguard, the C library, CUDA's runtime and
/// driver (also linked statically into a program: `cudart::`, `cuda*`), the loader, and
/// the header-only libraries compiled into a program (the C++ standard library, thrust,
/// cub, CUTLASS/CuTe, Eigen), matched by namespace, so that a site's location is the
/// program's own function that called them.
pub const DEFAULT_SKIP_FRAMES: &[&str] = &[
    "*libpinguard*",
    "*/libc.so*",
    "*/libstdc++*",
    "*/ld-linux*",
    "*libcuda.so*",
    "*libcudart*",
    "cudart::*",
    "cuda[A-Z]*",
    "cu[A-Z]*",
    "__cuda*",
    "libcudart_static_*",
    "std::*",
    "__gnu_cxx::*",
    "thrust::*",
    "cub::*",
    "cuda::*",
    "cutlass::*",
    "cute::*",
    "Eigen::*",
];

/// Python files that are never a site's location: the interpreter's standard library,
/// installed packages (a virtual environment's too) and frozen modules, so that a
/// Python program's site is the line in its own code.
pub const DEFAULT_SKIP_PYTHON: &[&str] = &["*/lib/python3*/*", "*/site-packages/*", "*/dist-packages/*", "<frozen *>"];

/// The environment variable that holds the settings.
pub const OPTIONS_VAR: &str = "PINGUARD_OPTIONS";

/// At most this many messages about malformed entries; the rest are counted in one line.
pub const MAX_MESSAGES: usize = 8;

/// Longest entry text quoted in a message (the entry itself is parsed whole).
const QUOTE_CHARS: usize = 60;

/// Why an entry was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NotKeyValue,
    /// An unknown key, with the nearest known one if one is near.
    Unknown {
        key: String,
        nearest: Option<&'static str>,
    },
    /// A known key with a value it does not take.
    BadValue {
        key: String,
    },
}

/// A rejected entry: its text (quoted for a message) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryProblem {
    pub entry: String,
    pub problem: Problem,
}

impl EntryProblem {
    /// Why, in words; `settings` are those in force after the whole string was read.
    pub fn why(&self, settings: &Settings) -> String {
        match &self.problem {
            Problem::NotKeyValue => "expected key=value".to_string(),
            Problem::Unknown { key, nearest: Some(n) } => format!("unknown setting {key} (did you mean {n}?)"),
            Problem::Unknown { key, nearest: None } => {
                format!("unknown setting {key} (known: {})", Settings::NAMES.join(", "))
            }
            Problem::BadValue { key } => format!(
                "{key} takes {}; keeping {key}={}",
                Settings::values_of(key).replace('`', ""),
                settings.value_of(key).unwrap_or_default()
            ),
        }
    }

    /// `--mode abrot: mode takes off, log, abort`: the problem as the flag a user typed.
    pub fn why_as_flag(&self) -> String {
        match &self.problem {
            Problem::BadValue { key } => format!("{key} takes {}", Settings::values_of(key).replace('`', "")),
            _ => self.why(&Settings::default()),
        }
    }
}

/// The known setting nearest to `key` by edit distance, if it is near (at most a third
/// of its letters, and at least one, differ). The tests' switches are offered only to a
/// key that begins as they do.
pub fn nearest_setting(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    let test_only: &[&str] = if key.starts_with("test_only") { Settings::TEST_ONLY_NAMES } else { &[] };
    Settings::NAMES
        .iter()
        .chain(test_only)
        .map(|n| (edit_distance(&key, n), *n))
        .filter(|(d, n)| *d <= (n.len() / 3).max(1))
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

impl Settings {
    /// Parses an options string. Returns the settings and the messages about rejected
    /// entries (at most [`MAX_MESSAGES`] plus one line counting the rest). Each message
    /// says what holds after the whole string was read.
    pub fn parse(options: &str) -> (Settings, Vec<String>) {
        let (settings, problems, rejected) = Settings::parse_detailed(options);
        let mut messages: Vec<String> = problems
            .iter()
            .map(|p| format!("ignoring {OPTIONS_VAR} entry '{}': {}", p.entry, p.why(&settings)))
            .collect();
        if rejected > MAX_MESSAGES {
            messages.push(format!("ignoring {} more malformed {OPTIONS_VAR} entries", rejected - MAX_MESSAGES));
        }
        (settings, messages)
    }

    /// [`Settings::parse`] with the problems as data (at most [`MAX_MESSAGES`] of them)
    /// and the number of entries rejected.
    pub fn parse_detailed(options: &str) -> (Settings, Vec<EntryProblem>, usize) {
        let mut settings = Settings::default();
        let mut problems: Vec<EntryProblem> = Vec::new();
        let mut rejected = 0usize;
        for entry in split_entries(options).iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let problem = match entry.split_once('=') {
                None => Some(Problem::NotKeyValue),
                Some((key, value)) => match settings.apply(key.trim(), unquote(value.trim())) {
                    Ok(()) => None,
                    Err(true) => Some(Problem::BadValue { key: key.trim().to_string() }),
                    Err(false) => {
                        Some(Problem::Unknown { key: quote(key.trim()), nearest: nearest_setting(key.trim()) })
                    }
                },
            };
            if let Some(problem) = problem {
                rejected += 1;
                if problems.len() < MAX_MESSAGES {
                    problems.push(EntryProblem { entry: quote(entry), problem });
                }
            }
        }
        (settings, problems, rejected)
    }

    /// The settings as an options string that parses back to them.
    /// The tests' switches appear only where set, so that a report says it was made with one.
    pub fn to_options(&self) -> String {
        Settings::NAMES
            .iter()
            .chain(self.test_only_set().iter())
            .map(|k| format!("{k}={}", self.value_of(k).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// Splits on `:` and `,` outside double quotes.
fn split_entries(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' | ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&options[start..]);
    out
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
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
    let cell = |text: &str| text.replace('|', "\\|");
    for s in Settings::table() {
        out.push_str(&format!("| `{}` | {} | `{}` | {} |\n", s.name, cell(&s.values), cell(&s.default), cell(s.help)));
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
        assert!(p[2].contains("unknown setting colour (known: mode, halt_on_error, exitcode"), "{}", p[2]);
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
        assert!(!p[0].contains(&"x".repeat(61)), "at most 60 characters quoted: {}", p[0]);
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
        let s = Settings {
            mode: Mode::Abort,
            halt_on_error: true,
            exitcode: Bounded(7),
            log_path: PathSetting("/tmp/a:b/r.%p.jsonl".into()),
            min_bytes: 4096,
            stack_depth: Bounded(3),
            fast_unwind: false,
            print_limit: 2,
            suppressions: PathSetting("s.txt".into()),
            skip_frames: GlobList::of(&["*libfoo*", "bar::*"]),
            skip_python: GlobList::of(&["*/venv/*"]),
            report_interval: 0,
            summary: false,
            churn_min: 7,
            pinned_share: Bounded(40),
            verify_with_driver: true,
            test_only_panic: false,
            test_only_maps_left: 3,
            test_only_slow_exit: true,
            test_only_slow_rules: false,
            test_only_no_tsc: true,
            test_only_mem_total: 1 << 30,
        };
        let (back, p) = Settings::parse(&s.to_options());
        assert_eq!((back, p.len()), (s, 0));
    }

    /// The tests' switches stay out of a user's sight (the README's table, the list of
    /// known settings, the options string at their defaults, suggestions for a typo) and
    /// are written to the options where set.
    #[test]
    fn test_only_switches_are_parsed_but_not_offered() {
        let (s, p) = Settings::parse("test_only_maps_left=1:test_only_panic=1");
        assert_eq!((s.test_only_maps_left, s.test_only_panic, p.len()), (1, true, 0));
        assert_eq!(s.test_only_set(), ["test_only_panic", "test_only_maps_left"]);
        assert!(s.to_options().ends_with(":test_only_panic=1:test_only_maps_left=1"), "{}", s.to_options());
        assert!(!Settings::default().to_options().contains("test_only"));
        assert!(!markdown_table().contains("test_only"));
        assert!(Settings::table().iter().all(|i| !i.name.starts_with("test_only")));
        assert_eq!(nearest_setting("sumary"), Some("summary"));
        assert_eq!(nearest_setting("test_only_panik"), Some("test_only_panic"));
        assert_eq!(nearest_setting("tst_only_panic"), None);
        let (_, p) = Settings::parse("bogus=1");
        assert!(!p[0].contains("test_only"), "{}", p[0]);
        assert_eq!(Settings::test_only_table().len(), Settings::TEST_ONLY_NAMES.len());
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

    #[test]
    fn quoted_values_may_hold_separators_and_paths_expand() {
        let (s, p) = Settings::parse("log_path=\"/tmp/x:y/r.%p.%h.jsonl\":min_bytes=8");
        assert_eq!(p, Vec::<String>::new());
        assert_eq!(s.log_path.expand(42, "node1", None), "/tmp/x:y/r.42.node1.jsonl");
        assert_eq!(PathSetting("p.%p.%h%r.jsonl".into()).expand(7, "n", Some(3)), "p.7.n.r3.jsonl");
        assert_eq!(PathSetting("p.%p.%h%r.jsonl".into()).expand(7, "n", None), "p.7.n.jsonl");
        let env = |k: &str| (k == "SLURM_PROCID").then(|| "5".to_string());
        assert_eq!(launcher_rank(env), Some(5));
        assert_eq!(launcher_rank(|_| None), None);
        assert_eq!(s.min_bytes, 8);
        assert_eq!(PathSetting("a%%b%q".into()).expand(1, "h", None), "a%b%q");
    }

    #[test]
    fn bounded_numbers_refuse_out_of_range_values() {
        let (s, p) = Settings::parse("stack_depth=0:exitcode=300");
        assert_eq!((s.stack_depth, s.exitcode), (Bounded(16), Bounded(23)));
        assert_eq!(p.len(), 2);
        assert!(p[0].ends_with("keeping stack_depth=16"), "{}", p[0]);
    }

    /// Range errors say the range; unknown keys near a known one say which.
    #[test]
    fn messages_say_the_range_and_the_nearest_setting() {
        let (_, p) = Settings::parse("stack_depth=99");
        assert!(p[0].contains("stack_depth takes a number from 1 to 64; keeping stack_depth=16"), "{}", p[0]);
        let (_, p) = Settings::parse("min_byte=4096:halt_on_eror=1:zzz=1");
        assert!(p[0].contains("unknown setting min_byte (did you mean min_bytes?)"), "{}", p[0]);
        assert!(p[1].contains("(did you mean halt_on_error?)"), "{}", p[1]);
        assert!(p[2].contains("unknown setting zzz (known:"), "{}", p[2]);
        assert_eq!(nearest_setting("MODE"), Some("mode"));
        assert_eq!(nearest_setting("mod"), Some("mode"));
        assert_eq!(nearest_setting("x"), None);
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
