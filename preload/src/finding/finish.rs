//! The end of the process: the summary, said at most once, last.
//!
//! It runs from the library's destructor (a normal exit, `exit` from any thread, a
//! signal handler that calls `exit`), or just before `halt_on_error` exits or abort mode
//! aborts. It may run while another thread is stopped inside `malloc` or inside
//! pinguard, so it allocates nothing and takes no lock: counts are summed from atomics,
//! lines are formatted into stack buffers and written with `write(2)`, and the sites'
//! texts were rendered when they were built.
//!
//! Other threads may still be copying. From the moment the summary begins, hooks stop
//! reporting (they pass calls through); a thread already in the middle of a report line
//! gets a moment to finish it, so the summary counts it and comes after it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pinguard_core::jsonl::FixedBuf;
use pinguard_core::records::write;
use pinguard_core::report::{LINE_PREFIX, RecordKind};
use pinguard_core::site::{human_bytes, human_ns};

use crate::{base::counters, base::process, base::sink, finding::sites};

/// How the process is ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Exit,
    /// halt_on_error stopped it at a finding.
    Halt,
    /// mode=abort stopped it at a finding.
    Abort,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Exit => "exit",
            End::Halt => "halt",
            End::Abort => "abort",
        }
    }
}

static DONE: AtomicBool = AtomicBool::new(false);
static CLOSING: AtomicBool = AtomicBool::new(false);
static SAYING: AtomicBool = AtomicBool::new(false);
/// The summary has been said in full: a line about later calls may follow it.
static SAID: AtomicBool = AtomicBool::new(false);

/// Has the summary begun? Hooks then pass calls through without reporting.
pub fn closing() -> bool {
    CLOSING.load(Ordering::SeqCst)
}

/// Finding lines being written to stderr right now (see `say_before_summary`).
static LINES_UNDER_WAY: AtomicU32 = AtomicU32::new(0);

/// Writes a finding's lines to stderr unless the summary has begun: a report line that
/// outlasted the summary's wait for it is dropped, so that the summary stays the last
/// thing said. The writer is counted before it looks and the summary looks at the
/// count after it begins (both sequentially consistent), so either the writer sees the
/// summary begun and says nothing, or the summary sees the writer and waits for its
/// `write(2)` to end. That wait holds even when the summary gets no wait for whole
/// report lines (a signal handler calling `exit` inside one): a plain check here
/// could pass just before the summary began and write just after it, seen once in 200
/// runs of reliability's sigterm_exit.
pub fn say_before_summary(bytes: &[u8]) {
    LINES_UNDER_WAY.fetch_add(1, Ordering::SeqCst);
    if !SAYING.load(Ordering::SeqCst) {
        sink::write_stderr(bytes);
    }
    LINES_UNDER_WAY.fetch_sub(1, Ordering::SeqCst);
}

/// How long the summary waits for other threads to finish a report line.
const REPORT_GRACE: Duration = Duration::from_millis(20);

/// How many sites the stderr summary lists.
const TOP_SITES: usize = 5;

/// Writes the summary and the report's final records, once.
pub fn finish(end: End) {
    if process::forked_unseen() {
        // A raw fork's child that made no CUDA call: none of the counts are its own.
        process::reset_unseen_fork();
    }
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    EXITING_TID.store(crate::base::spin::gettid(), Ordering::Relaxed);
    CLOSING.store(true, Ordering::SeqCst);
    let Some(process) = process::ready() else {
        return; // pinguard never started: the program made no CUDA call
    };
    // Wait for the report lines already under way (not for threads that back out on
    // seeing the summary begun: they never say anything). Unless this thread was itself
    // inside a report line (a signal handler that calls exit, interrupting it): then the
    // others may be waiting on a lock it holds and can never finish, and waiting for
    // them only holds the exit open while the program's other threads keep calling a
    // CUDA runtime that is already torn down (measured on the GPU: 200 ms more at
    // exit, and the program's own exit crash became several times likelier).
    let started = Instant::now();
    let interrupted = counters::this_thread_in_report();
    let waitable = if interrupted { None } else { Some(counters::reports_under_way::<64>()) };
    let mut unsettled = u64::from(interrupted);
    for (block, seq) in waitable.into_iter().flatten().flatten() {
        while !counters::report_ended(block, seq) && started.elapsed() < REPORT_GRACE {
            std::thread::yield_now();
        }
        unsettled += u64::from(!counters::report_ended(block, seq));
    }
    SAYING.store(true, Ordering::SeqCst);
    // Finding lines already past their check: a `write(2)` each, so this is short. It is
    // bounded all the same: the thread running this may be the one a signal stopped
    // inside such a write.
    let writes_started = Instant::now();
    while LINES_UNDER_WAY.load(Ordering::SeqCst) > 0 && writes_started.elapsed() < REPORT_GRACE {
        std::thread::yield_now();
    }
    let mut counts = counters::snapshot();
    // A report line left unfinished may have counted its copy and not yet added it to
    // its site: the summary says how many, so a reader does not call the report damaged.
    counts.unsettled = unsettled;
    if process.test_slow_exit {
        std::thread::sleep(Duration::from_millis(100)); // see Process::test_slow_exit
    }
    let pid = std::process::id();
    let sites = sites::finding_sites();
    let mut iid = FixedBuf::<24>::new();
    let _ = write!(iid, "{:016x}", process::iid());
    let time_ms = process::now_ms();

    // The report: each site's final totals, then the summary record, last.
    let mut buf = FixedBuf::<1024>::new();
    for site in sites::all() {
        let t = site.totals();
        if t.copies.count == 0 {
            continue;
        }
        buf.clear();
        if t.record(iid.as_str(), pid, site.id, true).write(&mut buf).is_ok() && buf.write_char('\n').is_ok() {
            sink::record_to_open_report(buf.as_bytes());
        }
    }
    // Records the aggregates above could not write are lost too: the summary says so.
    counts.report_lost = counters::snapshot().report_lost;
    buf.clear();
    let summary = write::Summary {
        iid: iid.as_str(),
        pid,
        end: end.name(),
        time_ms,
        sites,
        findings: counts.findings(),
        counts: &counts,
    };
    if summary.write(&mut buf).is_ok() && buf.write_char('\n').is_ok() {
        sink::record_to_open_report(buf.as_bytes());
    }

    // stderr: the summary line and the sites that cost the most.
    let said_anything = counts.checked > 0 || counts.unknown_variants > 0 || sites > 0 || counts.pin_calls > 0;
    if !process.settings.summary || !said_anything {
        SAID.store(true, Ordering::SeqCst);
        return;
    }
    let mut line = FixedBuf::<2048>::new();
    counters::with_unknown_variant_names(|names| {
        let _ = counts.write_line(&mut line, pid, sites, names);
    });
    emit(&mut line);
    let top = sites::top_by_blocked::<TOP_SITES>();
    if top[0].is_some() {
        let _ = write!(line, "{LINE_PREFIX}  top sites by host time blocked (pid {pid}):");
        emit(&mut line);
    }
    for (rank, site) in top.iter().flatten().enumerate() {
        let t = site.totals();
        if site.kind == RecordKind::Released {
            // A release blocks nothing: its cost is what a later copy moves.
            let _ = write!(
                line,
                "{LINE_PREFIX}  {}. {}: {} {}, {} still registered",
                rank + 1,
                site.headline,
                t.copies.count,
                if t.copies.count == 1 { "release" } else { "releases" },
                human_bytes(t.copies.bytes_total),
            );
            emit(&mut line);
            continue;
        }
        let calls = match (site.kind, t.copies.count) {
            (RecordKind::Churn, 1) => "pin-and-release cycle",
            (RecordKind::Churn, _) => "pin-and-release cycles",
            (_, 1) => "copy",
            _ => "copies",
        };
        let _ = write!(
            line,
            "{LINE_PREFIX}  {}. {}: {} {calls}, {}, host blocked {} (at most {} once)",
            rank + 1,
            site.headline,
            t.copies.count,
            human_bytes(t.copies.bytes_total),
            human_ns(t.copies.blocked_ns_total),
            human_ns(t.copies.blocked_ns_max),
        );
        if t.copies.errors > 0 {
            let _ = write!(line, "; CUDA rejected {} of them", t.copies.errors);
        }
        emit(&mut line);
    }
    let share = process.settings.pinned_share.0;
    if process.mem_total > 0 && counts.pinned_peak.saturating_mul(100) > process.mem_total.saturating_mul(share) {
        let _ = write!(
            line,
            "{LINE_PREFIX}  note: up to {} of host memory was pinned at once, {}% of this machine's {} (over pinned_share={share}%): pinned pages cannot be swapped or moved, and pinning much of the memory starves the system and other programs; pin the buffers that copies use, once, and no more",
            human_bytes(counts.pinned_peak),
            counts.pinned_peak.saturating_mul(100) / process.mem_total,
            human_bytes(process.mem_total),
        );
        emit(&mut line);
    }
    SAID.store(true, Ordering::SeqCst);
}

/// Writes a buffered line to stderr (cut with `...` if it did not fit) and clears it.
fn emit<const N: usize>(line: &mut FixedBuf<N>) {
    let mut out = FixedBuf::<4100>::new();
    let _ = out.write_str(line.as_str());
    if line.overflowed() {
        let _ = out.write_str("...");
    }
    let _ = out.write_char('\n');
    sink::write_stderr(out.as_bytes());
    line.clear();
}

/// Watched calls made once the summary had begun (threads racing exit, and other
/// libraries' destructors, which the C library runs after pinguard's when it finalises a
/// library the program needs after a preloaded one): not checked, since the summary must
/// stay last; counted, said once, and written to the report as a `late` record.
static LATE: AtomicU64 = AtomicU64::new(0);
static LATE_SAID: AtomicBool = AtomicBool::new(false);

/// The thread that writes the summary: the one running `exit`, and so the destructors
/// of the libraries finalised after pinguard's.
static EXITING_TID: AtomicI32 = AtomicI32::new(0);

/// A watched call after the summary began. No allocation, no lock. Only the exiting
/// thread's calls (other libraries' destructors) are written to the report: a thread
/// still running at exit can be stopped by the process's end in the middle of a write,
/// which would leave the report's last line cut; its calls are counted, not written.
#[cold]
#[inline(never)]
pub fn late_call(hook: &str) {
    let n = LATE.fetch_add(1, Ordering::Relaxed) + 1;
    if !SAID.load(Ordering::SeqCst) || crate::base::spin::gettid() != EXITING_TID.load(Ordering::Relaxed) {
        return;
    }
    if !LATE_SAID.swap(true, Ordering::Relaxed) {
        let mut line = FixedBuf::<512>::new();
        let _ = write!(
            line,
            "{LINE_PREFIX}{hook} was called after the summary (by an exit-time destructor, or a thread still running at exit): not checked; such calls are counted in the report"
        );
        emit(&mut line);
    }
    let mut iid = FixedBuf::<24>::new();
    let _ = write!(iid, "{:016x}", process::iid());
    let mut rec = FixedBuf::<256>::new();
    let late = write::Late { iid: iid.as_str(), pid: std::process::id(), calls: n };
    if late.write(&mut rec).is_ok() && rec.write_char('\n').is_ok() {
        sink::record_to_open_report(rec.as_bytes());
    }
}

/// In a freshly forked child: its summary is still to come.
pub fn reset_in_child() {
    LATE.store(0, Ordering::Relaxed);
    LATE_SAID.store(false, Ordering::Relaxed);
    EXITING_TID.store(0, Ordering::Relaxed);
    SAID.store(false, Ordering::Relaxed);
    DONE.store(false, Ordering::Relaxed);
    CLOSING.store(false, Ordering::Relaxed);
    SAYING.store(false, Ordering::Relaxed);
    LINES_UNDER_WAY.store(0, Ordering::Relaxed);
}
