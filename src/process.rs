//! The process as pinguard knows it: what initialisation decided, and when it runs.
//!
//! Initialisation ([`process`]) happens on the first hooked call, in a fork-safe lazy
//! cell (`spin::ForkSafeLazy`, not a `Once`): settings read with `secure_getenv`, our own stderr
//! descriptor, suppressions. A thread that finds another initialising waits for it; a
//! child forked while its parent was initialising finds the state reset
//! ([`reset_in_child`], called by the fork handler in `lifecycle`) and initialises
//! itself. The exit path asks [`ready`], which never initialises.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pinguard_core::report::LINE_PREFIX;
use pinguard_core::settings::{OPTIONS_VAR, Settings};
use pinguard_core::suppressions::Suppressions;

use crate::clock::Clock;
use crate::sink;
use crate::spin::ForkSafeLazy;

/// What initialisation decided, fixed for the life of the process.
pub struct Process {
    pub settings: Settings,
    /// `skip_frames`, as globs.
    pub skip: Vec<String>,
    pub suppressions: Suppressions,
    /// Malformed settings and other start-up notes, also written into the report.
    pub notes: Vec<String>,
    /// The options string in force, for the report header.
    pub options: String,
    /// Debug builds only: `PINGUARD_TEST_PANIC` set makes pinguard's own code panic in
    /// every copy hook, so a test can prove no panic crosses into the program.
    pub test_panic: bool,
    /// Debug builds only: `PINGUARD_TEST_SLOW_EXIT` makes a new site's build take 50 ms
    /// more and the summary wait 100 ms between counting and writing the sites' totals,
    /// so that a test can hold a site's build across the summary's wait at exit (as
    /// symbolising a large program's first site can) and see that it is then dropped.
    pub test_slow_exit: bool,
    /// The copy path's clock ([`Clock`]: the time-stamp counter where it is invariant),
    /// read on each side of a call it reports.
    pub clock: Clock,
    /// The wall clock (ms since the epoch), read with the clock's start: a finding's
    /// time is derived from the reading its copy already took ([`Process::ms_at`]), one
    /// clock read fewer per finding. A step of the wall clock after start does not move
    /// the times of a report.
    wall_start_ms: u64,
}

impl Process {
    /// Milliseconds since the epoch at `t`, a [`Clock::ticks`] reading.
    pub fn ms_at(&self, t: u64) -> u64 {
        self.wall_start_ms + self.clock.since_start_ns(t) / 1_000_000
    }
}

static PROCESS: ForkSafeLazy<Process> = ForkSafeLazy::new(initialise);

/// The process's settings, initialising pinguard on first use. `None` only for a hooked
/// call made by initialisation itself (it passes through).
pub fn process() -> Option<&'static Process> {
    PROCESS.try_get()
}

/// The process, if it has been initialised (the exit path never initialises).
pub fn ready() -> Option<&'static Process> {
    PROCESS.get_if_built()
}

unsafe extern "C" {
    /// glibc's `secure_getenv` (2.17+): `getenv`, but null in a privileged process.
    fn secure_getenv(name: *const libc::c_char) -> *mut libc::c_char;
}

fn read_options(secure: bool) -> String {
    if secure {
        return String::new();
    }
    let name = std::ffi::CString::new(OPTIONS_VAR).unwrap_or_default();
    // SAFETY: a NUL-terminated name; the result is null or a string of the environment.
    let p = unsafe { secure_getenv(name.as_ptr()) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: a non-null result is a NUL-terminated string in the environment.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn initialise() -> Process {
    // SAFETY: getauxval has no preconditions.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    let raw = read_options(secure);
    let (settings, mut notes) = Settings::parse(&raw);
    sink::own_stderr();
    let suppressions = if settings.suppressions.is_set() {
        let path = &settings.suppressions.0;
        match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| Suppressions::parse(&t)) {
            Ok(s) => s,
            Err(why) => {
                notes.push(format!("ignoring the suppressions file {path}: {why}"));
                Suppressions::default()
            }
        }
    } else {
        Suppressions::default()
    };
    if secure {
        notes.push("privileged process (AT_SECURE): PINGUARD_OPTIONS is not read and no report is written".into());
    }
    if secure || !settings.log_path.is_set() {
        sink::disable_report();
    }
    for n in &notes {
        sink::line(&format!("{LINE_PREFIX}{n}"));
    }
    let test_panic = cfg!(debug_assertions) && std::env::var_os("PINGUARD_TEST_PANIC").is_some();
    let test_slow_exit = cfg!(debug_assertions) && std::env::var_os("PINGUARD_TEST_SLOW_EXIT").is_some();
    Process {
        skip: settings.skip_frames.0.clone(),
        options: settings.to_options(),
        settings,
        suppressions,
        notes,
        test_panic,
        test_slow_exit,
        clock: Clock::start(),
        wall_start_ms: now_ms(),
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// This process instance's id: its pid and start time, recomputed in a forked child.
static IID: AtomicU64 = AtomicU64::new(0);

pub fn iid() -> u64 {
    let pid = u64::from(std::process::id());
    let v = IID.load(Ordering::Relaxed);
    if v != 0 && v >> 32 == pid {
        return v;
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(1);
    let fresh = (pid << 32) | u64::from(nanos.max(1));
    IID.store(fresh, Ordering::Relaxed);
    fresh
}

/// This process instance's id if it has been made for this pid, else 0; never makes one
/// (a `vfork` child shares its parent's memory: a store would become the parent's id).
pub fn iid_if_known() -> u64 {
    let v = IID.load(Ordering::Relaxed);
    if v >> 32 == u64::from(std::process::id()) { v } else { 0 }
}

/// In a forked child (one thread, a new pid): a parent thread that was initialising does
/// not exist here, so initialisation starts over; the instance id is recomputed. Atomic
/// stores only.
pub fn reset_in_child() {
    PROCESS.reset_in_child();
    IID.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialisation_happens_once_and_is_shared() {
        let a = process().expect("initialised") as *const Process;
        let b = std::thread::spawn(|| process().unwrap() as *const Process as usize).join().unwrap();
        assert_eq!(a as usize, b);
        assert!(ready().is_some());
        assert_eq!(iid() >> 32, u64::from(std::process::id()));
    }
}
