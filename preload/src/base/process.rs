//! The process as pinguard knows it: what initialisation decided, and when it runs.
//!
//! Initialisation ([`process`]) happens on the first hooked call, in a fork-safe lazy
//! cell (`spin::ForkSafeLazy`, not a `Once`): settings read with `secure_getenv`, our own stderr
//! descriptor, suppressions. A thread that finds another initialising waits for it; a
//! child forked while its parent was initialising finds the state reset
//! ([`reset_in_child`], called by the fork handler in `lifecycle`) and initialises
//! itself. The exit path asks [`ready`], which never initialises.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pinguard_core::report::{LINE_PREFIX, SETTINGS_FILE_MAX, escape_controls};
use pinguard_core::settings::{OPTIONS_VAR, Settings};
use pinguard_core::suppressions::Suppressions;

use crate::base::clock::Clock;
use crate::base::sink;
use crate::base::spin::ForkSafeLazy;

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
    /// The rank a launcher gave this process (`mpirun`, `srun`, `torchrun`), if any.
    pub rank: Option<u32>,
    /// Debug builds only: `test_only_panic` set makes pinguard's own code panic in
    /// every copy hook, so a test can prove no panic crosses into the program.
    pub test_panic: bool,
    /// Debug builds only: `test_only_slow_exit` makes a new site's build take 50 ms
    /// more and the summary wait 100 ms between counting and writing the sites' totals,
    /// so that a test can hold a site's build across the summary's wait at exit (as
    /// symbolising a large program's first site can) and see that it is then dropped.
    pub test_slow_exit: bool,
    /// The machine's memory in bytes, as `pinned_share` reads it (debug builds may set it
    /// with `test_only_mem_total`); 0 where unknown.
    pub mem_total: u64,
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
    read_env(OPTIONS_VAR, secure).unwrap_or_default()
}

/// A variable of the environment, read with `secure_getenv` (never in a privileged
/// process).
fn read_env(name: &str, secure: bool) -> Option<String> {
    if secure {
        return None;
    }
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name; the result is null or a string of the environment.
    let p = unsafe { secure_getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null result is a NUL-terminated string in the environment.
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn initialise() -> Process {
    // SAFETY: getauxval has no preconditions.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    let raw = read_options(secure);
    let (settings, mut notes) = Settings::parse(&raw);
    sink::own_stderr();
    arm_witness();
    crate::base::symbols::find_system_unwinder();
    let suppressions = if settings.suppressions.is_set() {
        let path = &settings.suppressions.0;
        match read_settings_file(path).and_then(|t| Suppressions::parse(&t)) {
            Ok(s) => s,
            Err(why) => {
                notes.push(format!("ignoring the suppressions file {}: {why}", escape_controls(path)));
                Suppressions::default()
            }
        }
    } else {
        Suppressions::default()
    };
    if sink::stderr_replaced() {
        notes.push("fd 2 is no longer the stderr this process started with (the program replaced it before its first CUDA call): pinguard's lines go to this report only".into());
    }
    if secure {
        notes.push("privileged process (AT_SECURE): PINGUARD_OPTIONS is not read and no report is written".into());
    }
    if secure || !settings.log_path.is_set() {
        sink::disable_report();
    }
    for n in &notes {
        sink::line(&format!("{LINE_PREFIX}{n}"));
    }
    // The tests' switches (`test_only_*`): honoured by debug builds only, so that no
    // setting can make the library that ships panic or refuse itself memory.
    let test_only = cfg!(debug_assertions);
    let test_set = settings.test_only_set();
    if !test_only && !test_set.is_empty() {
        sink::line(&format!(
            "{LINE_PREFIX}ignoring {}: switches for pinguard's own tests, honoured by its debug builds only",
            test_set.join(", ")
        ));
    }
    let test_panic = test_only && settings.test_only_panic;
    // `test_only_maps_left=N`: pinguard's allocator maps N more regions, then is refused
    // as on a system out of memory (a failing allocation, deterministic).
    if test_only && settings.test_only_maps_left > 0 {
        crate::base::memory::fail_mappings_after(settings.test_only_maps_left);
    }
    let test_slow_exit = test_only && settings.test_only_slow_exit;
    let no_tsc = test_only && settings.test_only_no_tsc;
    let mem_total = match settings.test_only_mem_total {
        n if test_only && n > 0 => n,
        _ => machine_memory(),
    };
    let rank = pinguard_core::settings::launcher_rank(|v| read_env(v, secure));
    Process {
        rank,
        skip: settings.skip_frames.0.clone(),
        options: settings.to_options(),
        settings,
        suppressions,
        notes,
        test_panic,
        test_slow_exit,
        mem_total,
        clock: Clock::start(no_tsc),
        wall_start_ms: now_ms(),
    }
}

/// The machine's physical memory in bytes (0 where the system does not say).
fn machine_memory() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for a value it cannot give.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    u64::try_from(pages).unwrap_or(0).saturating_mul(u64::try_from(size).unwrap_or(0))
}

/// Reads a settings file (suppressions): only a regular file, of at most
/// [`SETTINGS_FILE_MAX`] bytes, opened without blocking (a FIFO given as one would wait
/// for a writer for ever; `/dev/zero` would be read until memory ran out).
fn read_settings_file(path: &str) -> Result<String, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > SETTINGS_FILE_MAX {
        return Err(format!("larger than {} KiB", SETTINGS_FILE_MAX >> 10));
    }
    let mut text = String::new();
    file.take(SETTINGS_FILE_MAX).read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
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

// ---- a fork no handler saw --------------------------------------------------------------

/// A word on a page the kernel zeroes in every child of a fork (`MADV_WIPEONFORK`,
/// Linux 4.14), whatever made the fork. The fork handler sets it again in the child; a
/// child made by a raw `fork` or `clone` system call runs no handler (Go's runtime, and
/// code that forks without the C library), and finds it zero: it is such a child, holding
/// its parent's counts, and starts its own ([`forked_unseen`]). Null where the kernel
/// cannot: such children are then not told apart.
static WITNESS: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// Maps and arms the witness page (at initialisation).
fn arm_witness() {
    if !WITNESS.load(Ordering::Acquire).is_null() {
        return;
    }
    // SAFETY: a fresh anonymous private page; nothing else refers to it.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return;
    }
    // SAFETY: advice on our own page.
    if unsafe { libc::madvise(page, 4096, libc::MADV_WIPEONFORK) } != 0 {
        // SAFETY: unmapping the page mapped above, which nothing refers to.
        unsafe { libc::munmap(page, 4096) };
        return;
    }
    let word = page as *mut AtomicU64;
    // SAFETY: the page is ours, zeroed, and aligned for an AtomicU64.
    unsafe { (*word).store(1, Ordering::Relaxed) };
    WITNESS.store(word, Ordering::Release);
}

/// Is this process a child of a fork that no fork handler saw? One load; no system call.
#[inline]
pub fn forked_unseen() -> bool {
    let w = WITNESS.load(Ordering::Relaxed);
    // SAFETY: a non-null witness is a mapped page that lives as long as the process.
    !w.is_null() && unsafe { (*w).load(Ordering::Relaxed) } == 0
}

/// Arms the witness again (the fork handler in the child, and after a reset for a fork
/// no handler saw).
pub fn rearm_witness() {
    let w = WITNESS.load(Ordering::Relaxed);
    if !w.is_null() {
        // SAFETY: as in `forked_unseen`.
        unsafe { (*w).store(1, Ordering::Relaxed) };
    }
}

/// What a child of a fork resets (the fork handler's work, in `lifecycle`): set at load,
/// so that a hook that finds a fork no handler saw can do the same without importing the
/// file above every other.
static CHILD_RESET: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

pub fn set_child_reset(f: extern "C" fn()) {
    CHILD_RESET.store(f as *mut (), Ordering::Release);
}

/// In a child of a fork no handler saw: starts its own state as a fork handler would,
/// once (the witness is armed again).
#[cold]
#[inline(never)]
pub fn reset_unseen_fork() {
    let f = CHILD_RESET.load(Ordering::Acquire);
    if !f.is_null() {
        // SAFETY: only `set_child_reset` stores here, an `extern "C" fn()`.
        let f = unsafe { std::mem::transmute::<*mut (), extern "C" fn()>(f) };
        f();
    }
    rearm_witness();
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
