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
//! four hangs scanned had that stack, two of them with pinguard in `off` mode.

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

/// One thread of a scan: its header's fields and its code words, top of stack first.
struct Thread<'a> {
    syscall: Option<i64>,
    words: Vec<&'a str>,
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
            out.push(Thread { syscall, words: Vec::new() });
        } else if line.trim_start().starts_with("sp+")
            && let Some(t) = out.last_mut()
        {
            t.words.push(line);
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
/// and `exit` (the exit handlers it is running) are the CUDA runtime's
/// (`__cudaUnregisterBinaryUtil` or `libcudart`) with no pinguard frame among them, and
/// no other blocked thread waits inside pinguard. `None` otherwise: a hang that pinguard
/// may be part of stays a failure.
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
        if chain.iter().any(in_pinguard) {
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
}
