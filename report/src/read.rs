//! Reading report files, line by line: memory grows with the number of processes and
//! sites, never with the number of records.
//!
//! A report is never read as clean when it is not whole. Every line that is not a record,
//! a process whose records end without its summary, a summary its own records contradict
//! and records a process could not write are [`Problem`]s, each with its file and line.
//! Two of them are what a killed process leaves ([`ProblemKind::is_partial`]): a cut last
//! line and a missing summary; the rest mean the report is damaged. A file that is not a
//! pinguard report at all is an error ([`ReadError::NotAReport`]), not data.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

// The records, declared once in `pinguard_core::records` (the writer the preload uses,
// and these readers).
pub use pinguard_core::records::SiteKind;
use pinguard_core::records::read::Process as Header;
pub use pinguard_core::records::read::{
    Aggregate as Totals, Exec, ExecFailed, First as FirstCall, Frame, Site, Start, Summary,
};

/// Everything one process wrote.
#[derive(Clone, Debug, Default)]
pub struct Process {
    pub iid: String,
    pub pid: u32,
    pub ppid: u32,
    pub host: String,
    pub exe: String,
    pub argv: Vec<String>,
    pub start_ms: u64,
    pub cuda_driver: Option<i32>,
    pub cuda_runtime: Option<i32>,
    /// The rank a launcher gave the process (`mpirun`, `srun`, `torchrun`).
    pub rank: Option<u32>,
    pub framework: String,
    pub settings: String,
    pub sites: BTreeMap<u32, Site>,
    /// The latest totals of each site (the final ones when the process ended normally).
    pub totals: BTreeMap<u32, Totals>,
    pub summary: Option<Summary>,
    pub notes: Vec<String>,
    /// Watched calls made after the summary (exit-time destructors): not checked.
    pub late: u64,
    /// Where the process's records came from.
    pub file: PathBuf,
}

/// A process that ran a program pinguard did not watch.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Unwatched {
    pub pid: u32,
    pub host: String,
    pub path: String,
    /// Why, in words (`static binary: ...`), where it could be told.
    pub reason: String,
    /// Could this process have made CUDA calls pinguard did not see? (A static binary
    /// cannot load CUDA's driver; a program that lost the preload can.)
    pub could_use_cuda: bool,
}

/// The exit status of the program `pinguard run` ran.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// The `run` record `pinguard run` writes at the end (`pinguard.run.jsonl`): what was
/// run, how it ended, and the gate's result.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Invocation {
    pub schema: u32,
    pub pinguard: String,
    pub commit: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub host: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub main_pid: u32,
    /// The program as `pinguard run` resolved it.
    pub main_path: String,
    /// `CLOCK_MONOTONIC` just before the program was started.
    pub mono_ns: u64,
    pub exit: ExitStatus,
    /// `clean`, `findings`, `not-watched` or `incomplete`.
    pub result: String,
    pub exit_code: i32,
    pub unwatched: Vec<Unwatched>,
    #[serde(default)]
    pub accept_partial: bool,
    #[serde(default)]
    pub allow_unwatched: bool,
    /// The baseline the run was read against (`--baseline`), as given.
    #[serde(default)]
    pub baseline: Option<String>,
}

/// What is wrong with a report file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A line that is not a whole record, before the file's last line.
    NotARecord,
    /// The file's last line is cut short (a process killed while writing it).
    CutLastLine,
    /// A process's records end without its summary (killed, or still running).
    NoSummary,
    /// A summary its own process's records contradict.
    Disagrees,
    /// Records the process could not write (a full disk, a write error).
    RecordsLost,
    /// A report file with no record in it.
    Empty,
    /// Calls pinguard let through unchecked (it ran out of memory).
    Unchecked,
}

impl ProblemKind {
    /// What a process killed mid-run leaves: accepted with `--accept-partial`.
    pub fn is_partial(self) -> bool {
        matches!(self, ProblemKind::CutLastLine | ProblemKind::NoSummary)
    }
}

/// A problem, where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// The line, from 1, where one line is at fault.
    pub line: Option<usize>,
    pub kind: ProblemKind,
    pub detail: String,
}

impl Problem {
    /// `pinguard.12.h.jsonl line 3: not a pinguard record (...)`.
    pub fn text(&self) -> String {
        let name = self.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match self.line {
            Some(l) => format!("{name} line {l}: {}", self.detail),
            None => format!("{name}: {}", self.detail),
        }
    }
}

/// What a file held.
#[derive(Debug, Default)]
pub struct FileRead {
    pub processes: Vec<Process>,
    pub starts: Vec<Start>,
    pub execs: Vec<Exec>,
    pub exec_failures: Vec<ExecFailed>,
    pub invocation: Option<Invocation>,
    pub problems: Vec<Problem>,
    /// A record of a schema this reader does not know.
    pub unknown_schema: Option<u32>,
}

/// Why a file could not be read at all.
#[derive(Debug)]
pub enum ReadError {
    Io(PathBuf, std::io::Error),
    /// Not a pinguard report (its first line is not a pinguard record).
    NotAReport(PathBuf),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ReadError::NotAReport(p) => {
                write!(f, "{} is not a pinguard report (its first line is not a pinguard record)", p.display())
            }
        }
    }
}

#[derive(Deserialize)]
struct Tag {
    event: String,
    #[serde(default)]
    iid: String,
    #[serde(default)]
    pid: u32,
}

/// The events this reader knows; a record of another event is skipped (a newer writer).
const EVENTS: &[&str] =
    &["process", "site", "aggregate", "summary", "note", "late", "start", "exec", "exec_failed", "run"];

/// Does a line look like the start of a pinguard record (whole or cut)?
fn looks_like_a_record(line: &[u8]) -> bool {
    line.starts_with(b"{\"event\":\"")
}

/// One process's reading state: its records, and whether its summary has come (records
/// after it, from a thread that outlasted the summary's wait, are not checked against it).
#[derive(Default)]
struct Reading {
    summary_line: Option<usize>,
    late_sites: Vec<u32>,
}

/// Reads one report file.
pub fn file(path: &Path) -> Result<FileRead, ReadError> {
    let io = |e| ReadError::Io(path.to_path_buf(), e);
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        // A FIFO or a device (`/dev/zero`) would block or never end: not a report.
        return Err(ReadError::NotAReport(path.to_path_buf()));
    }
    let bytes_total = meta.len();
    let reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut out = FileRead::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut reading: Vec<Reading> = Vec::new();
    let mut seen_record = false;
    let mut offset = 0u64;
    let mut pending_bad: Option<(usize, bool)> = None; // (line, ended with newline)
    let problem = |line: Option<usize>, kind, detail: String| Problem { file: path.to_path_buf(), line, kind, detail };
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        offset += line.len() as u64 + 1;
        let ends_with_newline = offset <= bytes_total;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !seen_record && !looks_like_a_record(&line) {
            return Err(ReadError::NotAReport(path.to_path_buf()));
        }
        seen_record = true;
        // A bad line is judged once the next one is seen: only the last may be cut.
        if let Some((bad, _)) = pending_bad.take() {
            out.problems.push(problem(Some(bad), ProblemKind::NotARecord, "not a whole pinguard record".into()));
        }
        let tag = match serde_json::from_slice::<Tag>(&line) {
            Ok(t) if EVENTS.contains(&t.event.as_str()) || looks_like_a_record(&line) => t,
            _ => {
                pending_bad = Some((n + 1, ends_with_newline));
                continue;
            }
        };
        let ok = match tag.event.as_str() {
            "process" => serde_json::from_slice::<Header>(&line).map(|h| {
                if h.schema != pinguard_core::records::SCHEMA {
                    out.unknown_schema = Some(h.schema);
                }
                index.insert(h.iid.clone(), out.processes.len());
                reading.push(Reading::default());
                out.processes.push(Process {
                    iid: h.iid,
                    pid: h.pid,
                    ppid: h.ppid,
                    host: h.host,
                    exe: h.exe,
                    argv: h.argv,
                    start_ms: h.start_ms,
                    cuda_driver: h.cuda_driver,
                    cuda_runtime: h.cuda_runtime,
                    rank: h.rank,
                    framework: h.framework,
                    settings: h.settings,
                    file: path.to_path_buf(),
                    ..Default::default()
                });
            }),
            "start" => serde_json::from_slice::<Start>(&line).map(|s| out.starts.push(s)),
            "exec" => serde_json::from_slice::<Exec>(&line).map(|e| out.execs.push(e)),
            "exec_failed" => serde_json::from_slice::<ExecFailed>(&line).map(|e| out.exec_failures.push(e)),
            "run" => serde_json::from_slice::<Invocation>(&line).map(|r| out.invocation = Some(r)),
            "site" | "aggregate" | "summary" | "note" | "late" => {
                // A record before its header (a header lost to a crash): a process of its own.
                let i = *index.entry(tag.iid.clone()).or_insert_with(|| {
                    out.processes.push(Process {
                        iid: tag.iid.clone(),
                        pid: tag.pid,
                        file: path.to_path_buf(),
                        ..Default::default()
                    });
                    reading.push(Reading::default());
                    out.processes.len() - 1
                });
                let (p, r) = (&mut out.processes[i], &mut reading[i]);
                match tag.event.as_str() {
                    "site" => serde_json::from_slice::<Site>(&line).map(|s| {
                        if r.summary_line.is_some() {
                            r.late_sites.push(s.site);
                        }
                        p.sites.insert(s.site, s);
                    }),
                    "aggregate" => serde_json::from_slice::<Totals>(&line).map(|t| {
                        p.totals.insert(t.site, t);
                    }),
                    "summary" => serde_json::from_slice::<Summary>(&line).map(|s| {
                        r.summary_line = Some(n + 1);
                        p.summary = Some(s);
                    }),
                    "late" => serde_json::from_slice::<serde_json::Value>(&line).map(|v| {
                        p.late = p.late.max(v["calls"].as_u64().unwrap_or(0));
                    }),
                    _ => serde_json::from_slice::<serde_json::Value>(&line).map(|v| {
                        p.notes.push(v["text"].as_str().unwrap_or("").to_string());
                    }),
                }
            }
            _ => Ok(()),
        };
        if ok.is_err() {
            pending_bad = Some((n + 1, ends_with_newline));
        }
    }
    if let Some((bad, newline)) = pending_bad {
        let (kind, detail) = if newline {
            (ProblemKind::NotARecord, "not a whole pinguard record".to_string())
        } else {
            (ProblemKind::CutLastLine, "the last line is cut short (a process killed while writing?)".to_string())
        };
        out.problems.push(problem(Some(bad), kind, detail));
    }
    if !seen_record {
        out.problems.push(problem(
            None,
            ProblemKind::Empty,
            "holds no record (a process that could not write?)".into(),
        ));
    }
    for (p, r) in out.processes.iter().zip(&reading) {
        out.problems.extend(check(p, r).into_iter().map(|(line, kind, detail)| problem(line, kind, detail)));
    }
    Ok(out)
}

/// What a process's own records say against its summary.
fn check(p: &Process, r: &Reading) -> Vec<(Option<usize>, ProblemKind, String)> {
    let who = format!("process {} ({})", p.pid, short_exe(&p.exe));
    let Some(summary) = &p.summary else {
        return vec![(
            None,
            ProblemKind::NoSummary,
            format!("{who} has no summary: it was killed or is still running, so its counts are partial"),
        )];
    };
    let mut out = Vec::new();
    let count = |name: &str| summary.counts.get(name).unwrap_or(0);
    if count("report_lost") > 0 {
        out.push((
            r.summary_line,
            ProblemKind::RecordsLost,
            format!("{who} could not write {} of its records (a full disk or a write error)", count("report_lost")),
        ));
    }
    if count("unchecked") > 0 {
        out.push((
            r.summary_line,
            ProblemKind::Unchecked,
            format!("{who} let {} through unchecked: pinguard ran out of memory", count("unchecked")),
        ));
    }
    let (mut findings, mut sites) = (0u64, 0u64);
    for s in p.sites.values().filter(|s| s.is_finding() && !r.late_sites.contains(&s.site)) {
        let n = p.totals.get(&s.site).map(|t| t.count).unwrap_or(1);
        findings = findings.saturating_add(n);
        sites += u64::from(n > 0);
    }
    // Exact unless the summary was written while a report line was unfinished (it says
    // how many: `unsettled`), or findings outran the site table (`unsited`).
    let unsited = count("unsited");
    let settled = count("unsettled") == 0;
    if settled && (summary.findings != findings.saturating_add(unsited) || (summary.sites != sites && unsited == 0)) {
        out.push((
            r.summary_line,
            ProblemKind::Disagrees,
            format!(
                "{who}'s summary says {} at {}, but its records hold {} at {}",
                plural(summary.findings, "finding"),
                plural(summary.sites, "site"),
                plural(findings, "finding"),
                plural(sites, "site")
            ),
        ));
    }
    out
}

fn short_exe(exe: &str) -> &str {
    if exe.is_empty() { "?" } else { exe.rsplit('/').next().unwrap_or(exe) }
}

/// `1 finding`, `2 findings`: English for a count.
pub fn plural(n: u64, word: &str) -> String {
    let s = if n == 1 {
        word.to_string()
    } else if let Some(stem) = word.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else if word.ends_with("ss") || word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    };
    format!("{n} {s}")
}

/// The report files among `paths`: files as given, folders' `*.jsonl` files.
pub fn files_in(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    fn write_tmp(bytes: &[u8]) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "pinguard-read-{}-{}.jsonl",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    const HEADER: &str = r#"{"event":"process","schema":1,"pinguard":"0.1.0","iid":"a","pid":7,"ppid":1,"host":"h","exe":"/x","argv":["x"],"start_ms":1,"cuda_driver":null,"framework":"cuda","settings":""}"#;
    const SITE: &str = r#"{"event":"site","iid":"a","pid":7,"site":1,"fingerprint":"00000000000000aa","kind":"pageable","api":"cudaMemcpyAsync","layer":"runtime","dir":"H2D","first":{"bytes":10,"host":"0x1","stream":"0x0","stream_kind":"legacy-default","element":null,"tid":7,"result":0,"outcome":"completed","blocked_ns":1,"time_ms":1},"location":null,"frames":[],"advice":"","suppressed":false}"#;
    const AGG: &str = r#"{"event":"aggregate","iid":"a","pid":7,"site":1,"final":true,"count":3,"bytes_total":30,"bytes_min":10,"bytes_max":10,"blocked_ns_total":5,"blocked_ns_max":2,"first_ms":1,"last_ms":2,"errors":0,"streams":["0x0"],"streams_more":false}"#;
    const SUMMARY: &str = r#"{"event":"summary","iid":"a","pid":7,"end":"exit","time_ms":2,"sites":1,"findings":3,"counts":{"checked":3,"pageable":3}}"#;

    fn kinds(r: &FileRead) -> Vec<ProblemKind> {
        r.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn a_whole_report_has_no_problem() {
        let got = file(&write_tmp(format!("{HEADER}\n{SITE}\n{AGG}\n{SUMMARY}\n").as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![]);
        assert_eq!(got.processes[0].totals[&1].count, 3);
    }

    #[test]
    fn a_file_cut_short_is_read_up_to_its_last_whole_line_and_says_so() {
        let text = format!("{HEADER}\n{SITE}\n{AGG}\n{}", &AGG[..AGG.len() / 2]);
        let got = file(&write_tmp(text.as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![ProblemKind::CutLastLine, ProblemKind::NoSummary]);
        assert!(got.problems.iter().all(|p| p.kind.is_partial()));
        assert_eq!(got.problems[0].line, Some(4));
        assert_eq!(got.processes[0].totals[&1].count, 3);
    }

    /// A site line replaced by garbage: the summary's finding is not in the records, and
    /// the line is named. (Before: read as 0 findings and passed.)
    #[test]
    fn garbage_in_place_of_a_site_is_damage_with_its_line_and_the_summary_disagrees() {
        let got = file(&write_tmp(format!("{HEADER}\n#garbage#\n{AGG}\n{SUMMARY}\n").as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![ProblemKind::NotARecord, ProblemKind::Disagrees], "{:?}", got.problems);
        assert_eq!(got.problems[0].line, Some(2));
        assert!(
            got.problems[1].detail.contains("says 3 findings at 1 site, but its records hold 0 findings at 0 sites"),
            "{}",
            got.problems[1].detail
        );
        assert!(!got.problems.iter().any(|p| p.kind.is_partial()));
    }

    #[test]
    fn files_that_are_not_reports_are_errors_not_data() {
        for text in ["plain text\n", "\u{1}\u{2}\u{3}binary", "[1,2,3]\n{\"event\":\"site\"}\n"] {
            assert!(matches!(file(&write_tmp(text.as_bytes())), Err(ReadError::NotAReport(_))), "{text:?}");
        }
        let empty = file(&write_tmp(b"")).unwrap();
        assert_eq!(kinds(&empty), vec![ProblemKind::Empty]);
    }

    /// A summary written while a report line was unfinished (a signal handler that
    /// called exit) says so, and its count may be one ahead of its site's.
    #[test]
    fn an_unsettled_summary_may_be_ahead_of_its_records() {
        let ahead = SUMMARY.replace("\"findings\":3", "\"findings\":4");
        let got = file(&write_tmp(format!("{HEADER}\n{SITE}\n{AGG}\n{ahead}\n").as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![ProblemKind::Disagrees]);
        let unsettled = ahead.replace("\"pageable\":3", "\"pageable\":4,\"unsettled\":1");
        let got = file(&write_tmp(format!("{HEADER}\n{SITE}\n{AGG}\n{unsettled}\n").as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![]);
    }

    #[test]
    fn lost_records_are_a_problem() {
        let lost = SUMMARY.replace("\"pageable\":3", "\"pageable\":3,\"report_lost\":2");
        let got = file(&write_tmp(format!("{HEADER}\n{SITE}\n{AGG}\n{lost}\n").as_bytes())).unwrap();
        assert_eq!(kinds(&got), vec![ProblemKind::RecordsLost]);
    }

    #[test]
    fn english_counts() {
        assert_eq!(plural(1, "finding"), "1 finding");
        assert_eq!(plural(2, "process"), "2 processes");
        assert_eq!(plural(1, "copy"), "1 copy");
        assert_eq!(plural(0, "copy"), "0 copies");
        assert_eq!(plural(3, "day"), "3 days");
    }

    proptest! {
        /// Fuzzing the report reader: garbage, cut lines and random bytes after a whole
        /// report never make it panic, every whole record is still read, and the damage
        /// is always said.
        #[test]
        fn any_bytes_are_read_without_panic_and_damage_is_said(noise in proptest::collection::vec(any::<u8>(), 1..400), cut in 0usize..400) {
            let mut bytes = format!("{HEADER}\n{SITE}\n{AGG}\n{SUMMARY}\n").into_bytes();
            bytes.extend_from_slice(&noise);
            bytes.push(b'\n');
            bytes.extend_from_slice(&AGG.as_bytes()[..cut.min(AGG.len())]);
            let got = file(&write_tmp(&bytes)).unwrap();
            prop_assert!(!got.processes.is_empty());
            prop_assert_eq!(got.processes[0].totals.get(&1).map(|t| t.count), Some(3));
            if !noise.iter().all(u8::is_ascii_whitespace) {
                prop_assert!(!got.problems.is_empty());
            }
        }
    }
}
