//! What a hung run was doing, and whether the hang is the CUDA runtime's own.
//!
//! A run that outlasts its timeout is scanned before it is killed
//! (`testing/harness/stack-scan.py`: each blocked thread's stack, read through `/proc/PID/mem`,
//! its code addresses named by module and nearest symbol; the GPU machine has no
//! debugger). The scan goes into the failure message, and [`runtime_exit_deadlock`]
//! reads it.
//!
//! Why that reader exists: a program whose signal handler calls `exit` while a thread is
//! inside the CUDA runtime can deadlock in the runtime itself. Measured on the H200
//! (2026-12-01, `scripts/gpu/exit-crashes.sh`, `sigterm_exit`, dynamic runtime): the
//! thread the signal interrupted held the runtime's reader-writer lock for reading inside
//! `cudaMemcpyAsync`; its handler's `exit` ran the program's `__cudaUnregisterBinaryUtil`,
//! which asks the runtime for the same lock for writing, and waits for itself. Four of
//! four hangs scanned had that stack, two of them with pinguard in `off` mode. fakecuda
//! reproduces it with `FAKECUDA_TEST_TEARDOWN_LOCK=1` (44 of 60 runs hung without
//! pinguard, 2026-12-06).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `testing/harness/stack-scan.py`, found from the working directory (the GPU scripts run the
/// harness from the repository root) or from where this crate was built.
fn script() -> Option<PathBuf> {
    let here = PathBuf::from("testing/harness/stack-scan.py");
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stack-scan.py");
    [here, built].into_iter().find(|p| p.is_file())
}

/// The scan of every thread of `pid` (which must still be running), or `None` where there
/// is no script or no `python3`, or the scan takes over a minute.
pub fn scan_stacks(pid: u32) -> Option<String> {
    let mut child = Command::new("python3")
        .arg(script()?)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    });
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < Duration::from_secs(60) => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    reader.join().ok().filter(|t| !t.is_empty())
}

/// One thread of a scan: its header's fields, its code words (top of stack first) and the
/// signal frames the scan found among them.
struct Thread<'a> {
    syscall: Option<i64>,
    words: Vec<&'a str>,
    signals: Vec<Signal<'a>>,
}

/// `   signal at sp+0x0130: interrupted at pc 0x.. libc.so.6+0xa27e7 sym, sp sp+0x0e60`:
/// where the frame is, what the signal interrupted and the stack pointer it left.
struct Signal<'a> {
    at: usize,
    pc: &'a str,
    sp: Option<usize>,
}

/// `   sp+0x0130: ...` -> 0x130.
fn offset(line: &str) -> Option<usize> {
    let hex = line.trim_start().strip_prefix("sp+0x")?.split(':').next()?;
    usize::from_str_radix(hex, 16).ok()
}

fn signal(line: &str) -> Option<Signal<'_>> {
    let rest = line.trim_start().strip_prefix("signal at ")?;
    let (at, rest) = rest.split_once(": interrupted at pc ")?;
    let (pc, sp) = rest.rsplit_once(", sp ")?;
    Some(Signal { at: offset(at)?, pc, sp: offset(&format!("{sp}:")) })
}

fn threads(scan: &str) -> Vec<Thread<'_>> {
    let mut out: Vec<Thread<'_>> = Vec::new();
    for line in scan.lines() {
        if let Some(head) = line.strip_prefix("-- tid ") {
            let syscall = head
                .split(':')
                .next()
                .and_then(|h| h.split_whitespace().find_map(|f| f.strip_prefix("syscall=")))
                .and_then(|n| n.parse().ok());
            out.push(Thread { syscall, words: Vec::new(), signals: Vec::new() });
        } else if line.trim_start().starts_with("sp+")
            && let Some(t) = out.last_mut()
        {
            t.words.push(line);
        } else if let Some(sig) = signal(line)
            && let Some(t) = out.last_mut()
        {
            t.signals.push(sig);
        }
    }
    out
}

/// `futex(2)` on x86-64: where a thread waits for a lock.
const FUTEX: i64 = 202;

/// How many code words at the top of a blocked thread's stack are taken as the place it
/// waits in.
const TOP_WORDS: usize = 4;

/// The place of the deadlock when `scan` shows the CUDA runtime waiting for itself at
/// exit: a thread waits on a futex under `exit`, the words between the top of its stack
/// and `exit` (the exit handlers it is running) hold the CUDA runtime's
/// (`__cudaUnregisterBinaryUtil` or `libcudart`), and no other blocked thread waits inside
/// pinguard; and either no pinguard word lies among those exit handlers' words, or the
/// signal whose handler called `exit` interrupted the thread inside CUDA itself (its
/// program counter outside pinguard, and the first CUDA or pinguard word from the stack
/// pointer it left is CUDA's). The second form is needed because a scan reads stale
/// words too: on an H100 (2026-12-06) one word of pinguard's, left in the exit handlers'
/// frames by an earlier call at that depth, sat between `__cudaUnregisterBinaryUtil` and
/// `exit` while the signal had interrupted `pthread_rwlock_rdlock` inside
/// `cudaMemcpyAsync`. `None` otherwise: a hang that pinguard may be part of stays a
/// failure.
pub fn runtime_exit_deadlock(scan: &str) -> Option<String> {
    let threads = threads(scan);
    let in_pinguard = |w: &&str| w.contains("libpinguard");
    let (exiting, place) = threads.iter().enumerate().find_map(|(i, t)| {
        if t.syscall != Some(FUTEX) {
            return None;
        }
        let exit_at = t.words.iter().position(|w| w.contains(" exit@"))?;
        let chain = &t.words[..exit_at];
        let runtime = chain.iter().find(|w| w.contains("__cudaUnregisterBinaryUtil") || w.contains("libcudart"))?;
        if chain.iter().any(in_pinguard) && !interrupted_in_cuda(t, offset(t.words[exit_at])?) {
            return None;
        }
        Some((i, runtime_place(runtime)))
    })?;
    let others_clear = threads
        .iter()
        .enumerate()
        .filter(|(i, t)| *i != exiting && t.syscall.is_some_and(|n| n >= 0))
        .all(|(_, t)| !t.words.iter().take(TOP_WORDS).any(in_pinguard));
    others_clear.then_some(place)
}

/// Did the signal whose handler called `exit` (the first signal frame above `exit_at`)
/// interrupt the thread inside CUDA? Its program counter outside pinguard, and from the
/// stack pointer it left, the first word in the CUDA runtime, the driver or pinguard is
/// the runtime's or the driver's: the code that held the lock when the handler ran.
fn interrupted_in_cuda(t: &Thread<'_>, exit_at: usize) -> bool {
    let Some(sig) = t.signals.iter().find(|s| s.at > exit_at) else { return false };
    let Some(sp) = sig.sp else { return false };
    if sig.pc.contains("libpinguard") {
        return false;
    }
    let cuda = |w: &str| w.contains("libcudart") || w.contains("libcuda.so");
    t.words
        .iter()
        .filter(|w| offset(w).is_some_and(|o| o >= sp))
        .find(|w| cuda(w) || w.contains("libpinguard"))
        .is_some_and(|w| cuda(w))
}

/// `   sp+0x0040: 0x7f.. libcudart.so.13.0.96+0x827b1 sym` -> `libcudart.so.13.0.96`; a
/// static runtime's frames are the program's, named by the symbol.
fn runtime_place(word: &str) -> String {
    let module = word.split_whitespace().nth(2).and_then(|m| m.split('+').next()).unwrap_or("?");
    if module.starts_with("libcudart") { module.to_string() } else { "the program's static CUDA runtime".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = include_str!("testdata/hang-cudart-exit-log.txt");
    /// A scan by today's stack-scan.py of `sigterm_exit` under pinguard, hung on fakecuda
    /// with `FAKECUDA_TEST_TEARDOWN_LOCK=1` (its runtime's teardown lock, as a real
    /// runtime's): the handler's `exit` waits in the runtime's teardown; the signal had
    /// interrupted the thread inside `cudart::memcpy_async`; a stale pinguard word lies
    /// among the exit handlers' words, as on the H100.
    const TEARDOWN: &str = include_str!("testdata/hang-fakecuda-teardown.txt");
    const OFF: &str = include_str!("testdata/hang-cudart-exit-off.txt");

    /// The recorded log-mode scan with `from` replaced by `to` once (which must be there).
    fn doctored(from: &str, to: &str) -> String {
        let text = LOG.replacen(from, to, 1);
        assert_ne!(text, LOG, "the scan has no {from:?}");
        text
    }

    #[test]
    fn the_recorded_runtime_deadlocks_are_recognised() {
        assert_eq!(runtime_exit_deadlock(LOG).as_deref(), Some("libcudart.so.13.0.96"));
        assert_eq!(runtime_exit_deadlock(OFF).as_deref(), Some("libcudart.so.13.0.96"));
    }

    /// The same scan with a pinguard frame in the exit path: pinguard's own exit code
    /// waiting, which must stay a failure.
    #[test]
    fn a_pinguard_frame_under_exit_is_not_the_runtimes() {
        let scan = doctored(
            "libcudart.so.13.0.96+0x3a09d __cudaGetProcAddress@@libcudart.so.13+0x1768d",
            "libpinguard.so+0x5f00 pinguard::finish::finish+0x40",
        );
        assert_eq!(runtime_exit_deadlock(&scan), None);
    }

    /// Another thread blocked inside pinguard: not admitted either.
    #[test]
    fn a_thread_blocked_in_pinguard_is_not_the_runtimes() {
        let scan = doctored(
            "-- tid 16071 cuda00001400006 S syscall=7: pc 0x7f1073d1b79d libc.so.6+0x11b79d poll@@GLIBC_2.2.5+0x4d\n",
            "-- tid 16071 cuda00001400006 S syscall=202: pc 0x7f1073d1b79d libc.so.6+0x98d17 futex\n   sp+0x0008: 0x7f10747722df libpinguard.so+0x572df pinguard::intercept::report_after+0x9df\n",
        );
        assert_eq!(runtime_exit_deadlock(&scan), None);
    }

    /// Without the futex wait, or without `exit`, it is some other hang.
    #[test]
    fn other_hangs_are_not_the_runtimes() {
        let no_futex = doctored("sigterm_exit S syscall=202:", "sigterm_exit S syscall=7:");
        assert_eq!(runtime_exit_deadlock(&no_futex), None);
        let no_exit = LOG.replace(" exit@@GLIBC_2.2.5", " erand48_r@@GLIBC_2.2.5");
        assert_eq!(runtime_exit_deadlock(&no_exit), None);
        assert_eq!(runtime_exit_deadlock(""), None);
    }

    /// A stale pinguard word under `exit` is no longer taken for pinguard's exit code when
    /// the signal frame shows the handler interrupted CUDA itself; with the frame's
    /// program counter in pinguard, or pinguard's the first word from its stack pointer,
    /// or no signal frame at all, it stays a failure.
    #[test]
    fn a_signal_that_interrupted_the_runtime_makes_it_the_runtimes_deadlock() {
        assert!(TEARDOWN.contains("libpinguard.so+0x111211"), "the stale word is in the recorded scan");
        assert_eq!(runtime_exit_deadlock(TEARDOWN).as_deref(), Some("libcudart.so.13.0.88"));
        let in_pinguard = TEARDOWN.replacen(
            "interrupted at pc 0x7f00adeae4c5 ld-linux-x86-64.so.2+0x144c5 __tls_get_addr@@GLIBC_2.3+0x15",
            "interrupted at pc 0x7f00adb1f24f libpinguard.so+0x11e24f core::str::<impl str>::rfind+0x4f",
            1,
        );
        assert_ne!(in_pinguard, TEARDOWN);
        assert_eq!(runtime_exit_deadlock(&in_pinguard), None);
        // The hook's own frame (sp+0x1038) is the first one from a stack pointer left there.
        let left_in_hook = TEARDOWN.replacen(", sp sp+0x0f98", ", sp sp+0x1030", 1);
        assert_ne!(left_in_hook, TEARDOWN);
        assert_eq!(runtime_exit_deadlock(&left_in_hook), None);
        let no_frame: String =
            TEARDOWN.lines().filter(|l| !l.contains("signal at ")).map(|l| format!("{l}\n")).collect();
        assert_eq!(runtime_exit_deadlock(&no_frame), None);
    }
}
