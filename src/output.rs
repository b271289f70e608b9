//! Where pinguard's lines go: one `write(2)` per line, so concurrent lines never
//! interleave and nothing is buffered when an abort follows.

use std::sync::atomic::{AtomicBool, Ordering};

use pinguard_core::report::LINE_PREFIX;

/// Writes one line (a newline is added) with a single `write(2)` to stderr.
pub fn write_line(line: &str) {
    #[cfg(test)]
    capture::record(line);
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    write_all(2, &buf);
}

/// Writes a whole buffer to `fd`, retrying on EINTR and short writes; gives up silently
/// when the descriptor is closed or broken: a tool must not take the program down for it.
pub fn write_all(fd: i32, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writing an initialised buffer of the given length.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
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

    /// Writes `line` the first time only.
    pub fn say(&self, line: impl FnOnce() -> String) {
        if !self.0.swap(true, Ordering::Relaxed) {
            write_line(&line());
        }
    }
}

/// For the impossible: glibc without `dlsym`. Says why and aborts.
pub fn fatal(why: &str) -> ! {
    write_line(&format!("{LINE_PREFIX}fatal: {why}"));
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
