//! One run, many processes: sites merged by fingerprint (verdict, direction and
//! location), so the same line of code reported by every DataLoader worker or MPI rank
//! is one row with the sum of their costs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::read::{self, Exec, ExecFailed, Frame, Invocation, Problem, Process, ReadError, Start, Unwatched};
use pinguard_core::site::CopyTotals;

/// A site across the processes of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MergedSite {
    pub fingerprint: String,
    /// The site's identity across rebuilds that move code ([`crate::baseline::key`]).
    pub baseline_key: String,
    /// In the baseline the run was read against: known, not new.
    pub known: bool,
    pub kind: crate::read::SiteKind,
    pub dir: String,
    pub apis: BTreeSet<String>,
    pub location: Option<Frame>,
    /// For a captured site: where its first call's stream capture began, where seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_begun: Option<Frame>,
    /// For a release of registered memory: where its first call's range was registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<Frame>,
    /// Shared with every other holder of this site's stack (kept once per fingerprint).
    pub frames: Arc<[Frame]>,
    pub advice: String,
    pub suppressed: bool,
    /// The calls' costs, summed over the processes (written flat in JSON, as before).
    #[serde(flatten)]
    pub totals: CopyTotals,
    pub pids: BTreeSet<u32>,
    pub streams: BTreeSet<String>,
}

impl MergedSite {
    pub fn is_finding(&self) -> bool {
        !self.suppressed && self.kind.is_finding()
    }

    /// A release of registered memory, not a copy.
    pub fn is_release(&self) -> bool {
        self.kind == crate::read::SiteKind::Released
    }

    /// A place that pins memory and releases it again and again, not a copy.
    pub fn is_churn(&self) -> bool {
        self.kind == crate::read::SiteKind::Churn
    }

    /// Not a copy (a release, a pinning place): no direction.
    pub fn is_copy(&self) -> bool {
        !self.is_release() && !self.is_churn()
    }

    /// What its calls are, counted: `3 copies`, `1 release`, `5 pin-and-release cycles`.
    pub fn calls_text(&self) -> String {
        let n = self.totals.count;
        let (one, many) = if self.is_release() {
            ("release", "releases")
        } else if self.is_churn() {
            ("pin-and-release cycle", "pin-and-release cycles")
        } else {
            ("copy", "copies")
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }

    /// The direction as a summary shows it: none for a release or a pinning place (`-`
    /// in the records).
    pub fn dir_words(&self) -> &str {
        if self.is_copy() { &self.dir } else { "" }
    }

    /// Where it is, briefly: `upload (app.cpp:12) <- main (app.cpp:40)`.
    pub fn short_where(&self) -> String {
        let brief = |f: &Frame| match (f.short_function(), &f.file, f.line) {
            (Some(func), Some(file), Some(line)) => {
                format!("{func} ({}:{line})", file.rsplit('/').next().unwrap_or(file))
            }
            (Some(func), _, _) => func,
            _ => f.text(),
        };
        let Some(loc) = &self.location else {
            return "(no stack)".into();
        };
        match self.caller() {
            Some(caller) => format!("{} \u{2190} {}", brief(loc), brief(caller)),
            None => brief(loc),
        }
    }

    /// Where it is, in words: the location, and the function that called it (two sites
    /// that reach one helper differ there).
    /// The frame that called the location's: the next frame up; for a Python location,
    /// the next Python frame (the interpreter's own native frames between two Python
    /// calls say nothing to the reader).
    fn caller(&self) -> Option<&Frame> {
        let loc = self.location.as_ref()?;
        let rest = self.frames.get(self.frames.iter().position(|f| f == loc)? + 1..)?;
        if loc.kind == "interpreted" { rest.iter().find(|f| f.kind == "interpreted") } else { rest.first() }
    }

    pub fn where_text(&self) -> String {
        let Some(loc) = &self.location else {
            return "(no stack)".into();
        };
        let caller = self.caller().and_then(|f| {
            f.short_function().map(|func| match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("{func} ({}:{line})", file.rsplit('/').next().unwrap_or(file)),
                _ => func,
            })
        });
        let mut text = match caller {
            Some(c) => format!("{}, called from {c}", loc.short_text()),
            None => loc.short_text(),
        };
        if let Some(begun) = &self.capture_begun {
            text.push_str(&format!(", captured into a graph begun in {}", begun.short_text()));
        }
        if let Some(at) = &self.registered {
            text.push_str(&format!(", registered in {}", at.short_text()));
        }
        text
    }
}

/// The totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunTotals {
    /// Process images pinguard watched: each that marked its start under `pinguard run`,
    /// and each that wrote a report (made a CUDA call).
    pub watched: usize,
    /// Processes that wrote a report: they made a CUDA call.
    pub processes: usize,
    /// The hosts the run's processes ran on (many under `mpirun` or `srun`).
    pub hosts: usize,
    /// Programs started in the run that pinguard did not watch.
    pub unwatched: usize,
    /// Processes that ended without a summary (killed, or still running).
    pub unfinished: usize,
    pub checked: u64,
    pub findings: u64,
    pub pageable: u64,
    pub straddles: u64,
    /// Pageable copies captured into CUDA graphs.
    pub captured: u64,
    /// Registered ranges released while still registered.
    pub released: u64,
    /// Pin-and-release cycles at churning pinning sites.
    pub churn: u64,
    pub suppressed: u64,
    /// Async copies on the legacy default stream, pinned or not: a note, not a finding.
    pub legacy_stream: u64,
    pub sites: usize,
    pub blocked_ns: u64,
    pub bytes: u64,
    /// Findings at sites the baseline holds (not counted in `findings`), and those sites.
    pub known: u64,
    pub known_sites: usize,
    /// Watched calls made after a process's summary (exit-time destructors): not checked.
    pub late: u64,
}

/// A run: every process of every report file read.
#[derive(Debug, Default)]
pub struct Run {
    pub processes: Vec<Process>,
    pub files: Vec<PathBuf>,
    /// What is wrong with the files, each with its file and line.
    pub problems: Vec<Problem>,
    pub unknown_schema: Option<u32>,
    /// Process images that marked their start (under `pinguard run`).
    pub starts: Vec<Start>,
    /// Programs noted as about to start, and the notes of execs that failed.
    pub execs: Vec<Exec>,
    pub exec_failures: Vec<ExecFailed>,
    /// What `pinguard run` ran, and its result (absent where no `pinguard run` wrote one).
    pub invocation: Option<Invocation>,
    /// What the user accepts (`--accept-partial`, `--allow-unwatched`): renderings read
    /// the run as the gate does.
    pub policy: crate::gate::Policy,
    /// Each site's stack, location and advice, kept once per fingerprint (processes' site
    /// records drop theirs once they are here): memory grows with processes times sites,
    /// never with records, and stacks are held once.
    stacks: BTreeMap<String, Shared>,
    /// The merged sites, made once ([`Run::sites`]).
    merged: OnceLock<Vec<MergedSite>>,
}

/// Reads every report among `paths` (files, or folders of `*.jsonl`).
pub fn run(paths: &[PathBuf]) -> Result<Run, ReadError> {
    let files = read::files_in(paths).map_err(|e| ReadError::Io(paths.first().cloned().unwrap_or_default(), e))?;
    let mut r = Run { files, ..Default::default() };
    for f in r.files.clone() {
        let mut got = read::file(&f)?;
        r.problems.append(&mut got.problems);
        r.unknown_schema = r.unknown_schema.or(got.unknown_schema);
        r.starts.append(&mut got.starts);
        r.execs.append(&mut got.execs);
        r.exec_failures.append(&mut got.exec_failures);
        if got.invocation.is_some() {
            r.invocation = got.invocation.take();
        }
        if let Some(inv) = &r.invocation {
            r.policy.accept_partial |= inv.accept_partial;
            r.policy.allow_unwatched |= inv.allow_unwatched;
        }
        for p in &mut got.processes {
            for s in p.sites.values_mut() {
                let shared = Shared {
                    frames: std::mem::take(&mut s.frames).into(),
                    location: s.location.take(),
                    advice: std::mem::take(&mut s.advice),
                };
                r.stacks.entry(s.fingerprint.clone()).or_insert(shared);
            }
        }
        r.processes.extend(got.processes);
    }
    Ok(r)
}

/// What every occurrence of a site shares.
#[derive(Debug)]
struct Shared {
    frames: Arc<[Frame]>,
    location: Option<Frame>,
    advice: String,
}

impl Run {
    /// The gate's reading of this run ([`crate::gate::Outcome::recorded`]).
    pub fn outcome(&self) -> crate::gate::Outcome {
        crate::gate::Outcome::recorded(self, &self.policy)
    }

    /// Makes every source path under `root` relative to it, in every frame (locations
    /// and stacks), so that every format shows the same paths.
    pub fn relativize(&mut self, root: &std::path::Path) {
        let rel = |f: &mut Frame| {
            if let Some(file) = &f.file
                && let Ok(r) = std::path::Path::new(file).strip_prefix(root)
            {
                f.file = Some(r.to_string_lossy().into_owned());
            }
        };
        for s in self.stacks.values_mut() {
            let mut frames = s.frames.to_vec();
            frames.iter_mut().for_each(rel);
            s.frames = frames.into();
            s.location.iter_mut().for_each(rel);
        }
        self.merged = OnceLock::new();
    }

    /// A site's stack and location as its first record gave them.
    pub fn stack_of(&self, fingerprint: &str) -> (&[Frame], Option<&Frame>) {
        self.stacks.get(fingerprint).map(|s| (&s.frames[..], s.location.as_ref())).unwrap_or((&[], None))
    }

    /// Reads the run against a baseline (the keys of sites already known): findings at
    /// those sites are known, not new.
    pub fn set_baseline(&mut self, keys: BTreeSet<String>) {
        self.policy.baseline = Some(Arc::new(keys));
        self.merged = OnceLock::new();
    }

    /// Sites merged across processes, the costliest (host time blocked) first; made once
    /// (a run of 170 000 sites was merged anew by every renderer and every total).
    pub fn sites(&self) -> &[MergedSite] {
        self.merged.get_or_init(|| self.merge_sites())
    }

    fn merge_sites(&self) -> Vec<MergedSite> {
        let mut by: BTreeMap<String, MergedSite> = BTreeMap::new();
        for p in &self.processes {
            for (id, s) in &p.sites {
                let shared = self.stacks.get(&s.fingerprint);
                let m = by.entry(s.fingerprint.clone()).or_insert_with(|| MergedSite {
                    fingerprint: s.fingerprint.clone(),
                    kind: s.kind,
                    dir: s.dir.clone(),
                    location: shared.and_then(|x| x.location.clone()),
                    capture_begun: s.capture.as_ref().and_then(|c| c.begun.clone()),
                    registered: s.registered.clone(),
                    frames: shared.map(|x| x.frames.clone()).unwrap_or_else(|| Arc::from(Vec::new())),
                    advice: shared.map(|x| x.advice.clone()).unwrap_or_default(),
                    suppressed: s.suppressed,
                    totals: CopyTotals::NONE,
                    ..Default::default()
                });
                m.apis.insert(s.api.clone());
                m.pids.insert(p.pid);
                // Without totals (a process killed before its first aggregate), the site's
                // first copy is what is known: at least one.
                match p.totals.get(id) {
                    Some(t) => {
                        m.totals.absorb(&t.copies());
                        m.streams.extend(t.streams.iter().cloned());
                    }
                    None => {
                        let f = &s.first;
                        let rejected = f.result.is_some_and(|r| r != 0);
                        m.totals.absorb(&CopyTotals::one(f.bytes, f.blocked_ns, f.time_ms, rejected));
                        m.streams.insert(f.stream.clone());
                    }
                }
            }
        }
        let mut sites: Vec<MergedSite> = by
            .into_values()
            .map(|mut m| {
                m.totals = m.totals.settled();
                let from = m.location.as_ref().and_then(|l| m.frames.iter().position(|f| f == l)).unwrap_or(0);
                m.baseline_key = crate::baseline::key(m.kind.name(), &m.dir, m.frames.get(from..).unwrap_or(&[]));
                m.known = self.policy.baseline.as_ref().is_some_and(|b| b.contains(&m.baseline_key));
                m
            })
            .collect();
        sites.sort_by(|a, b| {
            b.totals
                .blocked_ns_total
                .cmp(&a.totals.blocked_ns_total)
                .then(b.totals.count.cmp(&a.totals.count))
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        sites
    }

    /// Process images pinguard watched: those that marked their start, and those that
    /// wrote a report (a forked child that made CUDA calls writes one, no mark).
    pub fn watched_images(&self) -> usize {
        let mut iids: BTreeSet<&str> = self.starts.iter().map(|s| s.iid.as_str()).collect();
        iids.extend(self.processes.iter().map(|p| p.iid.as_str()));
        iids.len()
    }

    /// Programs started that pinguard did not watch. `pinguard run`'s own record lists
    /// them with their reasons; without one, they are the exec notes no start answers
    /// (plus `main`, the program `pinguard run` started, when it is given).
    pub fn unwatched(&self, main: Option<&Exec>) -> Vec<Unwatched> {
        if let (Some(inv), None) = (&self.invocation, main) {
            return inv.unwatched.clone();
        }
        let failed: BTreeSet<(u32, u64)> = self.exec_failures.iter().map(|f| (f.pid, f.mono_ns)).collect();
        let mut execs: Vec<&Exec> =
            self.execs.iter().filter(|e| !failed.contains(&(e.pid, e.mono_ns))).chain(main).collect();
        execs.sort_by_key(|e| e.mono_ns);
        let mut starts: Vec<&Start> = self.starts.iter().collect();
        starts.sort_by_key(|s| s.mono_ns);
        let mut taken = vec![false; starts.len()];
        let mut out = Vec::new();
        for e in execs {
            let answered = starts.iter().enumerate().position(|(i, s)| {
                !taken[i]
                    && s.pid == e.pid
                    && (s.host == e.host || s.host.is_empty() || e.host.is_empty())
                    && s.mono_ns >= e.mono_ns
            });
            match answered {
                Some(i) => taken[i] = true,
                None => out.push(Unwatched {
                    pid: e.pid,
                    host: e.host.clone(),
                    path: e.path.clone(),
                    reason: match (e.preload, e.run) {
                        (false, _) => {
                            "its environment no longer preloads pinguard (LD_PRELOAD was cleared or replaced)".into()
                        }
                        (true, false) => {
                            "its environment no longer names the run folder (PINGUARD_RUN_DIR was removed)".into()
                        }
                        _ => String::new(),
                    },
                    could_use_cuda: true,
                }),
            }
        }
        out
    }

    pub fn totals(&self) -> RunTotals {
        let hosts: BTreeSet<&str> = self
            .starts
            .iter()
            .map(|s| s.host.as_str())
            .chain(self.processes.iter().map(|p| p.host.as_str()))
            .filter(|h| !h.is_empty())
            .collect();
        let mut t = RunTotals {
            hosts: hosts.len(),
            watched: self.watched_images(),
            processes: self.processes.len(),
            unwatched: self.unwatched(None).len(),
            ..Default::default()
        };
        for p in &self.processes {
            t.late = t.late.saturating_add(p.late);
            match &p.summary {
                Some(s) => {
                    t.checked = t.checked.saturating_add(s.counts.get("checked").unwrap_or(0));
                    t.suppressed = t.suppressed.saturating_add(s.counts.get("suppressed").unwrap_or(0));
                    t.legacy_stream = t.legacy_stream.saturating_add(s.counts.get("legacy_stream").unwrap_or(0));
                }
                None => t.unfinished += 1,
            }
        }
        let sites = self.sites();
        for s in sites.iter().filter(|s| s.is_finding()) {
            if s.known {
                t.known = t.known.saturating_add(s.totals.count);
                t.known_sites += 1;
                continue;
            }
            t.findings = t.findings.saturating_add(s.totals.count);
            let by_kind = match s.kind {
                crate::read::SiteKind::Straddles => &mut t.straddles,
                crate::read::SiteKind::Captured => &mut t.captured,
                crate::read::SiteKind::Released => &mut t.released,
                crate::read::SiteKind::Churn => &mut t.churn,
                _ => &mut t.pageable,
            };
            *by_kind = by_kind.saturating_add(s.totals.count);
            t.blocked_ns = t.blocked_ns.saturating_add(s.totals.blocked_ns_total);
            t.bytes = t.bytes.saturating_add(s.totals.bytes_total);
            t.sites += 1;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Python location's caller is the next Python frame, past the interpreter's native
    /// frames; a native location's is the next frame.
    #[test]
    fn a_python_sites_caller_is_the_next_python_frame() {
        let py = |f: &str, line| Frame {
            kind: "interpreted".into(),
            function: Some(f.into()),
            file: Some("train.py".into()),
            line: Some(line),
            ..Default::default()
        };
        let native = |f: &str| Frame {
            kind: "native".into(),
            function: Some(f.into()),
            module: Some("/usr/lib/libpython3.11.so".into()),
            offset: "0x10".into(),
            ..Default::default()
        };
        let site = |frames: Vec<Frame>, at: usize| MergedSite {
            location: Some(frames[at].clone()),
            frames: Arc::from(frames),
            ..Default::default()
        };
        let s =
            site(vec![native("cudaMemcpyAsync"), py("step", 40), native("_PyFunction_Vectorcall"), py("main", 9)], 1);
        assert_eq!(s.where_text(), "step at train.py:40, called from main (train.py:9)");
        assert_eq!(s.short_where(), "step (train.py:40) \u{2190} main (train.py:9)");
        let s = site(vec![native("copy_kernel"), native("launch")], 0);
        assert_eq!(s.where_text(), "copy_kernel (libpython3.11.so+0x10), called from launch");
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// Hostile or huge reports: counts near `u64::MAX` saturate when summed (they wrapped
    /// to small numbers), and a site's text with terminal escapes is written escaped.
    #[test]
    fn sums_saturate_and_text_is_escaped() {
        let dir = std::env::temp_dir().join(format!("pinguard-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (pid, count) in [(1u32, u64::MAX - 1), (2, 5)] {
            let header = format!(
                r#"{{"event":"process","schema":1,"pinguard":"0","iid":"{pid}","pid":{pid},"cuda_driver":null,"schema":1}}"#
            );
            let site = format!(
                r#"{{"event":"site","iid":"{pid}","pid":{pid},"site":1,"fingerprint":"00000000000000aa","kind":"pageable","api":"cudaMemcpyAsync","layer":"runtime","dir":"H2D","first":{{"bytes":1,"host":"0x1","stream":"0x0","stream_kind":"explicit","element":null,"tid":1,"result":0,"outcome":"completed","blocked_ns":1,"time_ms":1}},"location":{{"kind":"native","address":"0x1","function":"evil\u001b[2J\nname","file":null,"line":null,"module":"m","offset":"0x1"}},"frames":[],"advice":"","suppressed":false}}"#
            );
            let agg = format!(
                r#"{{"event":"aggregate","iid":"{pid}","pid":{pid},"site":1,"final":true,"count":{count},"bytes_total":{count},"bytes_min":1,"bytes_max":1,"blocked_ns_total":{count},"blocked_ns_max":1,"first_ms":1,"last_ms":1,"errors":0,"streams":[],"streams_more":false}}"#
            );
            write(&dir, &format!("pinguard.{pid}.h.jsonl"), &format!("{header}\n{site}\n{agg}\n"));
        }
        let run = run(std::slice::from_ref(&dir)).unwrap();
        let t = run.totals();
        assert_eq!((t.findings, t.bytes, t.blocked_ns), (u64::MAX, u64::MAX, u64::MAX));
        let text = crate::render::text::render(&run, 5);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("evil\\x1b[2J\\x0aname"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
