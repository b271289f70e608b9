//! Where pinguard's output goes: descriptors pinguard owns.
//!
//! - **stderr**: fd 2 is duplicated when pinguard initialises (close-on-exec, at a high
//!   number) and every line goes to the duplicate, checked before each write to still be
//!   the file it was (device and inode). A program that closes fd 2 and opens a data
//!   file never gets pinguard's lines in it.
//! - **report** (`log_path`): opened on the process's first record, in append mode,
//!   never through a symbolic link, only if it is a regular file of ours. A forked child
//!   closes its parent's and opens its own (`%p` in the path) on its first record.
//!
//! Each line is written whole with one `write(2)`: concurrent lines never interleave,
//! nothing is buffered when the process aborts, and a process killed mid-run leaves a
//! report that is valid up to its last line. Nothing here allocates on the write path of
//! a fixed buffer, takes a lock a signal could interrupt, or waits.

use std::ffi::CString;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use pinguard_core::jsonl::FixedBuf;
use pinguard_core::report::LINE_PREFIX;
use pinguard_core::summary::Counter;

use crate::base::counters;

/// The lowest descriptor number pinguard's own descriptors take: far from the small
/// numbers programs expect `open` to return.
const OWN_FD_FLOOR: i32 = 500;

/// Our duplicate of fd 2, or -1 before initialisation (lines then go to fd 2 itself).
static STDERR_FD: AtomicI32 = AtomicI32::new(-1);
/// The identity (device, inode) of the file our duplicate must still be.
static STDERR_DEV: AtomicU64 = AtomicU64::new(0);
static STDERR_INO: AtomicU64 = AtomicU64::new(0);

/// The report's descriptor; -1 when none is open.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
/// The pid the report was opened for (a forked child opens its own).
static REPORT_PID: AtomicU32 = AtomicU32::new(0);
/// Opening failed or is not wanted: do not try again in this process.
static REPORT_DISABLED: AtomicBool = AtomicBool::new(false);
/// Held while the report is being opened (a spin flag, released in a fork child).
static REPORT_OPENING: AtomicBool = AtomicBool::new(false);

fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: `stat` is plain C data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat only writes the struct we pass.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// Moves `fd` to a descriptor of our own (close-on-exec, at or above the floor), closing
/// the original; returns the new one, or `fd` itself if it cannot be moved.
fn own(fd: i32, close_original: bool) -> i32 {
    for floor in [OWN_FD_FLOOR, 3] {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an open descriptor; no memory is touched.
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
        if moved >= 0 {
            if close_original {
                // SAFETY: fd is ours and now duplicated.
                unsafe { libc::close(fd) };
            }
            return moved;
        }
    }
    fd
}

/// fd 2's identity when the library loaded (0, 0: not noted, or no fd 2 then).
static LOAD_DEV: AtomicU64 = AtomicU64::new(0);
static LOAD_INO: AtomicU64 = AtomicU64::new(0);
static LOAD_NOTED: AtomicBool = AtomicBool::new(false);

/// Notes which file fd 2 is as the library loads (the constructor: one `fstat`), so
/// that pinguard never takes for stderr a file the program put at fd 2 before its first
/// CUDA call (a data file opened after closing stderr gets fd 2).
pub fn note_stderr_at_load() {
    if let Some((dev, ino)) = identity(2) {
        LOAD_DEV.store(dev, Ordering::Relaxed);
        LOAD_INO.store(ino, Ordering::Relaxed);
    }
    LOAD_NOTED.store(true, Ordering::Release);
}

/// Takes our own duplicate of fd 2 (at initialisation), if fd 2 is still the file it was
/// when the library loaded: if the program replaced it since, pinguard's lines go nowhere
/// (counted as unwritten; the report has them), never into the program's file.
pub fn own_stderr() {
    if STDERR_FD.load(Ordering::Acquire) >= 0 {
        return;
    }
    let Some((dev, ino)) = identity(2) else {
        return; // no stderr at all: lines go nowhere
    };
    if LOAD_NOTED.load(Ordering::Acquire)
        && (LOAD_DEV.load(Ordering::Relaxed), LOAD_INO.load(Ordering::Relaxed)) != (dev, ino)
    {
        STDERR_REPLACED.store(true, Ordering::Relaxed);
        return;
    }
    let fd = own(2, false);
    if fd == 2 {
        return;
    }
    STDERR_DEV.store(dev, Ordering::Relaxed);
    STDERR_INO.store(ino, Ordering::Relaxed);
    STDERR_FD.store(fd, Ordering::Release);
}

/// Writes one line (a newline is added) to stderr.
pub fn line(text: &str) {
    let mut buf = FixedBuf::<2048>::new();
    if buf.write_str(text).and_then(|_| buf.write_char('\n')).is_ok() {
        write_stderr(buf.as_bytes());
    } else {
        // A long line (a stack, a path): allocate, as the hot path never writes these.
        let mut owned = Vec::with_capacity(text.len() + 1);
        owned.extend_from_slice(text.as_bytes());
        owned.push(b'\n');
        write_stderr(&owned);
    }
}

/// fd 2 was replaced before pinguard started: its lines go nowhere.
static STDERR_REPLACED: AtomicBool = AtomicBool::new(false);

/// Was fd 2 replaced before pinguard started (its lines then reach the report only)?
pub fn stderr_replaced() -> bool {
    STDERR_REPLACED.load(Ordering::Relaxed)
}

/// Writes bytes that already end in a newline to stderr, with one `write(2)`.
pub fn write_stderr(bytes: &[u8]) {
    #[cfg(test)]
    String::from_utf8_lossy(bytes).lines().for_each(capture::record);
    if STDERR_REPLACED.load(Ordering::Relaxed) {
        counters::bump(Counter::Unwritten);
        return;
    }
    let fd = STDERR_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let want = (STDERR_DEV.load(Ordering::Relaxed), STDERR_INO.load(Ordering::Relaxed));
        if identity(fd) != Some(want) {
            // Our descriptor was closed, or its number now names another file.
            counters::bump(Counter::Unwritten);
            return;
        }
        write_all(fd, bytes);
    } else {
        write_all(2, bytes);
    }
}

/// Writes a whole buffer to `fd`, retrying on EINTR and short writes; gives up silently
/// when the descriptor is closed or broken: a tool must not take the program down for it.
pub fn write_all(fd: i32, bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writing an initialised buffer of the given length.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        rest = &rest[n as usize..];
    }
    true
}

/// Is a report wanted and possible in this process?
pub fn report_enabled() -> bool {
    !REPORT_DISABLED.load(Ordering::Relaxed)
}

/// Disables the report for this process (no log_path, a privileged process, or an
/// earlier failure).
pub fn disable_report() {
    REPORT_DISABLED.store(true, Ordering::Relaxed);
}

/// The report's descriptor for this process, opening it (and writing its header with
/// `header`) on first use. `None` when there is no report.
pub fn report_fd(path: impl FnOnce() -> String, header: impl FnOnce() -> String) -> Option<i32> {
    if REPORT_DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    let pid = std::process::id();
    let fd = REPORT_FD.load(Ordering::Acquire);
    if fd >= 0 && REPORT_PID.load(Ordering::Acquire) == pid {
        return Some(fd);
    }
    // Open it, once: other threads wait for the opener (a short, bounded wait).
    while REPORT_OPENING.swap(true, Ordering::Acquire) {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
    let result = (|| {
        let fd = REPORT_FD.load(Ordering::Acquire);
        if fd >= 0 && REPORT_PID.load(Ordering::Acquire) == pid {
            return Some(fd);
        }
        if REPORT_DISABLED.load(Ordering::Relaxed) {
            return None;
        }
        let path = path();
        match open_report(&path) {
            Ok(fd) => {
                let mut h = header();
                h.push('\n');
                if !write_all(fd, h.as_bytes()) {
                    report_write_failed(h.as_bytes());
                }
                REPORT_PID.store(pid, Ordering::Release);
                REPORT_FD.store(fd, Ordering::Release);
                Some(fd)
            }
            Err(why) => {
                REPORT_DISABLED.store(true, Ordering::Relaxed);
                line(&format!(
                    "{LINE_PREFIX}cannot write the report {}: {why}; findings go to stderr only",
                    pinguard_core::report::escape_controls(&path)
                ));
                None
            }
        }
    })();
    REPORT_OPENING.store(false, Ordering::Release);
    result
}

/// Opens the report file: appended to (a pid that execs writes a second process into
/// the same file), created 0644, never through a symbolic link, without blocking (a FIFO
/// at the path would otherwise wait for a reader for ever), and refused unless it is a
/// regular file owned by this user.
fn open_report(path: &str) -> Result<i32, String> {
    let c = CString::new(path).map_err(|_| "the path holds a NUL byte".to_string())?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    // SAFETY: open with a NUL-terminated path; the mode is an integer.
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link, which pinguard does not follow".into(),
            Some(libc::ENXIO) => "it is not a regular file (a FIFO with no reader)".into(),
            _ => err.to_string(),
        });
    }
    // SAFETY: `stat` is plain C data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat only writes the struct we pass.
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    // SAFETY: geteuid has no preconditions.
    let ours = ok && (st.st_mode & libc::S_IFMT) == libc::S_IFREG && st.st_uid == unsafe { libc::geteuid() };
    if !ours {
        // SAFETY: fd was opened above.
        unsafe { libc::close(fd) };
        return Err("it is not a regular file owned by this user".into());
    }
    Ok(own(fd, true))
}

/// Writes one record (a newline is added) to the report, if one is open for this
/// process. Never opens, allocates or waits: the exit path uses it. A record that
/// could not be written whole is counted ([`report_write_failed`]).
pub fn record_to_open_report(bytes: &[u8]) -> bool {
    let fd = REPORT_FD.load(Ordering::Acquire);
    if fd < 0 || REPORT_PID.load(Ordering::Acquire) != std::process::id() {
        return false;
    }
    let written = write_all(fd, bytes);
    if !written {
        report_write_failed(bytes);
    }
    written
}

/// Said once per process when the report cannot be written.
static REPORT_FAILURE_SAID: AtomicBool = AtomicBool::new(false);

/// A report write failed (a full disk, a write error): the records in `bytes` are
/// counted as lost, and the first failure is said on stderr, with its reason, so that
/// no one reads the report as whole. No allocation (the exit path writes records too).
fn report_write_failed(bytes: &[u8]) {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let records = bytes.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
    counters::add_shared(Counter::ReportLost, records);
    if REPORT_FAILURE_SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut why = FixedBuf::<128>::new();
    let mut text = [0u8; 96];
    // SAFETY: strerror_r writes at most the given length into the buffer, NUL-terminated.
    let r = unsafe { libc::strerror_r(errno, text.as_mut_ptr().cast(), text.len()) };
    let end = text.iter().position(|&b| b == 0).unwrap_or(0);
    let text = if r == 0 { std::str::from_utf8(&text[..end]).unwrap_or("") } else { "" };
    let _ = write!(why, "{text} (errno {errno})");
    let mut msg = FixedBuf::<512>::new();
    let _ = write!(
        msg,
        "{LINE_PREFIX}cannot write to the report: {}; its records are counted as lost and the report is not whole (pinguard run calls the run incomplete)",
        why.as_str()
    );
    line(msg.as_str());
}

/// In a freshly forked child: the parent's report is not ours. Close our copy of its
/// descriptor (the parent keeps its own) and let the child open its own on its first
/// record. Async-signal-safe: `close` and atomic stores only.
pub fn reset_in_child() {
    let fd = REPORT_FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        // SAFETY: closing our own descriptor in the child; the parent's stays open.
        unsafe { libc::close(fd) };
    }
    REPORT_PID.store(0, Ordering::Release);
    REPORT_OPENING.store(false, Ordering::Release);
    REPORT_FAILURE_SAID.store(false, Ordering::Relaxed);
}

/// A note said once per process.
pub struct OnceNote(AtomicBool);

impl Default for OnceNote {
    fn default() -> Self {
        Self::new()
    }
}

impl OnceNote {
    pub const fn new() -> Self {
        OnceNote(AtomicBool::new(false))
    }

    /// Writes `text` the first time only.
    pub fn say(&self, text: impl FnOnce() -> String) {
        if !self.0.swap(true, Ordering::Relaxed) {
            line(&text());
        }
    }
}

/// For the impossible: glibc without `dlsym`. Says why and aborts.
pub fn fatal(why: &str) -> ! {
    line(&format!("{LINE_PREFIX}fatal: {why}"));
    std::process::abort()
}

/// Unit tests read what pinguard said.
#[cfg(test)]
pub mod capture {
    use std::sync::Mutex;

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    pub fn record(line: &str) {
        LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line.to_string());
    }

    /// Every line said so far that contains `needle`.
    pub fn lines_containing(needle: &str) -> Vec<String> {
        LINES.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|l| l.contains(needle)).cloned().collect()
    }
}
