//! Renderers of a run: text (a terminal), markdown (a pull-request comment), json (for
//! tools), sarif (GitHub code scanning), html (a page a reviewer can open).

pub mod html;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;

/// `(YYYY-MM-DD, HH:MM:SS)` (UTC) of `secs` since the epoch (Howard Hinnant's civil-date
/// algorithm: no time-zone crate for one date).
pub fn civil(secs: u64) -> (String, String) {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60))
}

use crate::merge::Run;
use crate::read::plural;

/// What was run, for the head of every rendering: the command, where and when, how long,
/// which pinguard, which CUDA.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct About {
    /// The command line, as `pinguard run` was given it (empty without its record).
    pub command: String,
    pub host: String,
    /// `2026-12-06 01:02:03 UTC`.
    pub started: String,
    pub duration: String,
    pub exit: String,
    /// This renderer's version and commit, and the version that wrote the reports.
    pub pinguard: String,
    /// `driver 13.0, runtime 13.0`, from the processes' reports, where known.
    pub cuda: String,
}

/// `13000` -> `13.0`.
fn cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

pub fn about(run: &Run) -> About {
    let mut a = About { pinguard: pinguard_core::VERSION_AND_COMMIT.into(), ..Default::default() };
    if let Some(inv) = &run.invocation {
        a.command = inv.argv.iter().map(|s| shell_word(s)).collect::<Vec<_>>().join(" ");
        a.host = inv.host.clone();
        let (d, t) = civil(inv.start_ms / 1000);
        a.started = format!("{d} {t} UTC");
        a.duration = crate::render_duration(inv.end_ms.saturating_sub(inv.start_ms));
        a.exit = match (inv.exit.code, inv.exit.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => String::new(),
        };
        a.pinguard = format!("{} (commit {})", inv.pinguard, inv.commit);
    } else if let Some(p) = run.processes.first() {
        a.host = p.host.clone();
        a.command = p.argv.iter().map(|s| shell_word(s)).collect::<Vec<_>>().join(" ");
        let (d, t) = civil(p.start_ms / 1000);
        a.started = format!("{d} {t} UTC");
    }
    let versions = |f: fn(&crate::read::Process) -> Option<i32>| {
        let mut v: Vec<String> = run.processes.iter().filter_map(f).map(cuda_version).collect();
        v.sort();
        v.dedup();
        v.join("/")
    };
    let (driver, runtime) = (versions(|p| p.cuda_driver), versions(|p| p.cuda_runtime));
    a.cuda = match (driver.is_empty(), runtime.is_empty()) {
        (false, false) => format!("driver {driver}, runtime {runtime}"),
        (false, true) => format!("driver {driver}"),
        (true, false) => format!("runtime {runtime}"),
        (true, true) => String::new(),
    };
    a
}

/// A word as a shell would need it quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The findings by kind, as the summaries say them: `3 pageable, 0 straddling a pinned
/// edge`, and the captured ones where there are any.
pub fn findings_by_kind(t: &crate::merge::RunTotals) -> String {
    let mut s = format!("{} pageable, {} straddling a pinned edge", t.pageable, t.straddles);
    if t.captured > 0 {
        s.push_str(&format!(", {} captured into CUDA graphs", t.captured));
    }
    if t.released > 0 {
        s.push_str(&format!(
            ", {} released while still registered",
            crate::read::plural(t.released, "registered range")
        ));
    }
    if t.churn > 0 {
        s.push_str(&format!(
            ", {} at call sites that pin host memory again and again",
            crate::read::plural(t.churn, "pin-and-release cycle")
        ));
    }
    s
}

/// The run's note on the legacy default stream (the summaries' `legacy_stream`): not a
/// finding, a copy that overlaps nothing.
pub fn legacy_stream_note(copies: u64) -> String {
    format!(
        "{} on the legacy default stream, which waits for and holds up every blocking stream, so {} nothing: build with `--default-stream per-thread` or copy on streams of your own",
        crate::read::plural(copies, "async copy"),
        if copies == 1 { "it overlaps" } else { "they overlap" }
    )
}

/// The processes line: `3 processes watched (1 made CUDA calls), 1 not watched`.
pub fn processes_line(run: &Run) -> String {
    let t = run.totals();
    let mut s = format!("{} watched", plural(t.watched as u64, "process"));
    if t.hosts > 1 {
        s.push_str(&format!(" on {} hosts", t.hosts));
    }
    if t.watched > 0 && t.processes != t.watched {
        s.push_str(&format!(" ({} made CUDA calls)", t.processes));
    }
    let o = run.outcome();
    let unwatched = o.failing_unwatched.len() + o.other_unwatched.len();
    if unwatched > 0 {
        s.push_str(&format!(", {} not watched", unwatched));
    }
    s
}
