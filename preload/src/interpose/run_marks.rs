//! Under `pinguard run`: the marks that let the command tell a process pinguard watched
//! from one it never saw.
//!
//! - **start**: as the library loads (from the constructor, before `main` and before any
//!   CUDA call), a process image writes a `start` record into its own report file in the
//!   run folder. A program whose main process leaves none was not watched: the loader
//!   refused the library (a static binary, a setuid program, another architecture, a
//!   glibc too old for the build), and `pinguard run` says why and fails the gate.
//! - **exec**: the exec and spawn functions (`execve`, `execv`, `execvp`, `execvpe`,
//!   `posix_spawn`, `posix_spawnp`) note the program about to start, in the file of the
//!   process that will run it, with whether its environment still preloads pinguard. A
//!   note no `start` answers is a child that ran unwatched. `system` and `popen` start
//!   `/bin/sh`, whose own exec is noted.
//!
//! All of it is off unless `PINGUARD_RUN_DIR` names the run folder (`pinguard run` sets
//! it; it is read with `secure_getenv`, so never in a privileged process). The exec hooks
//! may run in a `vfork` child, which shares the parent's memory and thread: they write
//! no shared state and no thread-local, take no lock and allocate nothing (stack buffers,
//! `open`/`write`/`close`), and their real functions are found by the constructor.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use pinguard_core::jsonl::FixedBuf;
use pinguard_core::records::{self, write};

use crate::base::process;
use crate::base::symbols;

/// The variable `pinguard run` names its run folder in.
pub const RUN_DIR_VAR: &CStr = c"PINGUARD_RUN_DIR";

const DIR_MAX: usize = 2048;
const HOST_MAX: usize = 256;

/// A text set once, at load, before any reader can see it ([`SetOnce::get`] reads the
/// length with acquire ordering, and the length is stored last).
struct SetOnce<const N: usize> {
    bytes: std::cell::UnsafeCell<[u8; N]>,
    len: AtomicUsize,
}

// SAFETY: the bytes are written only by `set`, before the length that publishes them is
// stored (release); readers read them only after loading a nonzero length (acquire).
unsafe impl<const N: usize> Sync for SetOnce<N> {}

impl<const N: usize> SetOnce<N> {
    const fn new() -> Self {
        SetOnce { bytes: std::cell::UnsafeCell::new([0; N]), len: AtomicUsize::new(0) }
    }

    /// Sets the text once; a second call, or a text that does not fit, changes nothing.
    fn set(&self, text: &[u8]) {
        if text.is_empty() || text.len() > N || self.len.load(Ordering::Acquire) != 0 {
            return;
        }
        // SAFETY: only the constructor calls this, once, before publishing the length;
        // nobody reads the bytes before then.
        unsafe { (&mut *self.bytes.get())[..text.len()].copy_from_slice(text) };
        self.len.store(text.len(), Ordering::Release);
    }

    fn get(&self) -> Option<&[u8]> {
        let len = self.len.load(Ordering::Acquire);
        // SAFETY: a nonzero length was published after the bytes were written, and they
        // never change again.
        (len != 0).then(|| unsafe { &(&*self.bytes.get())[..len] })
    }
}

static RUN_DIR: SetOnce<DIR_MAX> = SetOnce::new();
static HOST: SetOnce<HOST_MAX> = SetOnce::new();
/// This library's own path (the loader's string), to tell whether a child's
/// environment still preloads it.
static OWN_PATH: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

/// The real exec and spawn functions, found at load: a `vfork` child must not look
/// symbols up (the loader's lock and allocations belong to the parent).
pub struct RealExec {
    pub execve: AtomicPtr<c_void>,
    pub execv: AtomicPtr<c_void>,
    pub execvp: AtomicPtr<c_void>,
    pub execvpe: AtomicPtr<c_void>,
    pub posix_spawn: AtomicPtr<c_void>,
    pub posix_spawnp: AtomicPtr<c_void>,
}

pub static REAL: RealExec = RealExec {
    execve: AtomicPtr::new(std::ptr::null_mut()),
    execv: AtomicPtr::new(std::ptr::null_mut()),
    execvp: AtomicPtr::new(std::ptr::null_mut()),
    execvpe: AtomicPtr::new(std::ptr::null_mut()),
    posix_spawn: AtomicPtr::new(std::ptr::null_mut()),
    posix_spawnp: AtomicPtr::new(std::ptr::null_mut()),
};

impl RealExec {
    fn slots(&self) -> [(&AtomicPtr<c_void>, &'static CStr); 6] {
        [
            (&self.execve, c"execve"),
            (&self.execv, c"execv"),
            (&self.execvp, c"execvp"),
            (&self.execvpe, c"execvpe"),
            (&self.posix_spawn, c"posix_spawn"),
            (&self.posix_spawnp, c"posix_spawnp"),
        ]
    }

    /// Finds every real function not yet found (the constructor; a hook called before it
    /// ran, by another library's constructor, finds its own).
    pub fn resolve_all(&self) {
        for (slot, name) in self.slots() {
            if slot.load(Ordering::Acquire).is_null() {
                // SAFETY: RTLD_NEXT: the next definition after ours, the C library's.
                let p = unsafe { symbols::lookup(libc::RTLD_NEXT, name) };
                slot.store(p, Ordering::Release);
            }
        }
    }
}

/// At load (the constructor): finds the real exec functions, and under `pinguard run`
/// marks this process image as watched. No allocation: stack buffers and system calls.
pub fn at_load() {
    REAL.resolve_all();
    // SAFETY: a NUL-terminated name; the result is null or a string of the environment
    // (secure_getenv: null in a privileged process, whose settings pinguard never reads).
    let dir = unsafe { secure_getenv(RUN_DIR_VAR.as_ptr()) };
    if dir.is_null() {
        return;
    }
    // SAFETY: non-null: a NUL-terminated string of the environment.
    RUN_DIR.set(unsafe { CStr::from_ptr(dir) }.to_bytes());
    let mut host = [0u8; HOST_MAX];
    // SAFETY: gethostname writes at most host.len() bytes.
    if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0 {
        let end = host.iter().position(|&b| b == 0).unwrap_or(0);
        HOST.set(&host[..end]);
    }
    let mut info: libc::Dl_info = unsafe_zeroed_dl_info();
    // SAFETY: dladdr reads the loader's tables and fills `info`.
    if unsafe { libc::dladdr(at_load as *const c_void, &mut info) } != 0 && !info.dli_fname.is_null() {
        OWN_PATH.store(info.dli_fname as *mut c_char, Ordering::Release);
    }
    mark_start();
}

fn unsafe_zeroed_dl_info() -> libc::Dl_info {
    // SAFETY: Dl_info is plain C data (pointers and integers); all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

unsafe extern "C" {
    fn secure_getenv(name: *const c_char) -> *mut c_char;
    static environ: *const *const c_char;
}

/// Is this process under `pinguard run`?
pub fn under_run() -> bool {
    RUN_DIR.get().is_some()
}

fn now(clock: libc::clockid_t) -> u64 {
    // SAFETY: timespec is plain C data; clock_gettime only writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a timespec to write.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A process's report file in the run folder: `DIR/pinguard.PID.HOST[.rRANK].jsonl`,
/// the name `pinguard run` gives `log_path` (`pinguard.%p.%h%r.jsonl`).
fn report_path(pid: u32, rank: Option<u32>, out: &mut FixedBuf<{ DIR_MAX + HOST_MAX + 64 }>) -> bool {
    let (Some(dir), host) = (RUN_DIR.get(), HOST.get().unwrap_or(b"unknown")) else {
        return false;
    };
    let (Ok(dir), Ok(host)) = (std::str::from_utf8(dir), std::str::from_utf8(host)) else {
        return false;
    };
    match rank {
        Some(r) => write!(out, "{dir}/pinguard.{pid}.{host}.r{r}.jsonl\0").is_ok(),
        None => write!(out, "{dir}/pinguard.{pid}.{host}.jsonl\0").is_ok(),
    }
}

/// The launcher's rank in an environment (`RANK_VARIABLES`, the first set wins), read
/// without allocating.
///
/// # Safety
/// `env` is null or a valid, NULL-terminated array of NUL-terminated strings.
unsafe fn rank_in(env: *const *const c_char) -> Option<u32> {
    if env.is_null() {
        return None;
    }
    for var in pinguard_core::settings::RANK_VARIABLES {
        let mut i = 0;
        loop {
            // SAFETY: by the contract, entries up to the NULL terminator are readable.
            let entry = unsafe { *env.add(i) };
            if entry.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string.
            let e = unsafe { CStr::from_ptr(entry) }.to_bytes();
            if let Some(value) = e.strip_prefix(var.as_bytes()).and_then(|v| v.strip_prefix(b"=")) {
                return std::str::from_utf8(value).ok()?.trim().parse().ok();
            }
            i += 1;
        }
    }
    None
}

/// Appends one record (a newline is added) to the report file of `pid` (of `rank`):
/// opened for appending, never through a symbolic link, only if it is a regular file of
/// this user. False if it could not be written whole.
fn append(pid: u32, rank: Option<u32>, record: &str) -> bool {
    let mut path = FixedBuf::new();
    if !report_path(pid, rank, &mut path) {
        return false;
    }
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    // SAFETY: the path is NUL-terminated (report_path wrote the NUL); the mode is an integer.
    let fd = unsafe { libc::open(path.as_bytes().as_ptr().cast(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `stat` is plain C data; fstat only writes the struct we pass.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; geteuid has no preconditions.
    let ours = unsafe { libc::fstat(fd, &mut st) } == 0
        && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        && st.st_uid == unsafe { libc::geteuid() };
    let mut line = FixedBuf::<8192>::new();
    let whole = ours && line.write_str(record).and_then(|_| line.write_char('\n')).is_ok();
    let written = whole && crate::base::sink::write_all(fd, line.as_bytes());
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    written
}

/// The bytes of `/proc/self/cmdline` (NUL-separated), or of `/proc/self/exe`'s target.
fn read_proc(path: &CStr, link: bool, buf: &mut [u8]) -> usize {
    if link {
        // SAFETY: readlink writes at most buf.len() bytes into buf.
        let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        return n.max(0) as usize;
    }
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: reading into the unfilled rest of buf.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    len
}

/// Writes this image's `start` record (the constructor).
fn mark_start() {
    let mut exe = [0u8; 1024];
    let exe_len = read_proc(c"/proc/self/exe", true, &mut exe);
    let mut cmdline = [0u8; 2048];
    let cmd_len = read_proc(c"/proc/self/cmdline", false, &mut cmdline);
    let pid = std::process::id();
    let mut iid = FixedBuf::<24>::new();
    let _ = write!(iid, "{:016x}", process::iid());
    let host = HOST.get().and_then(|h| std::str::from_utf8(h).ok()).unwrap_or("unknown");
    let mark = write::Start {
        schema: records::SCHEMA,
        pinguard: env!("CARGO_PKG_VERSION"),
        iid: iid.as_str(),
        pid,
        // SAFETY: getppid has no preconditions.
        ppid: unsafe { libc::getppid() } as u32,
        host,
        exe: &exe[..exe_len],
        argv: &cmdline[..cmd_len],
        time_ms: now(libc::CLOCK_REALTIME) / 1_000_000,
        mono_ns: now(libc::CLOCK_MONOTONIC),
    };
    // SAFETY: `environ` is this process's environment, NULL-terminated.
    let rank = unsafe { rank_in(environ) };
    let mut record = FixedBuf::<6144>::new();
    if mark.write(&mut record).is_ok() && !append(pid, rank, record.as_str()) {
        // The gate must not read a process it could not mark as unwatched for no
        // reason: say why here, where the program's stderr is still its own.
        let err = std::io::Error::last_os_error();
        let mut msg = FixedBuf::<512>::new();
        let _ = writeln!(
            msg,
            "pinguard: cannot write this process's start record into the run folder ({err}); pinguard run will count it as not watched"
        );
        crate::base::sink::write_all(2, msg.as_bytes());
    }
}

/// Does `env` (a NUL-terminated list) still preload this library, and name the run
/// folder? Reads only; no allocation.
///
/// # Safety
/// `env` is null or a valid, NULL-terminated array of NUL-terminated strings.
unsafe fn environment_keeps(env: *const *const c_char) -> (bool, bool) {
    if env.is_null() {
        return (false, false);
    }
    let own = OWN_PATH.load(Ordering::Acquire);
    // SAFETY: the loader's string for this library, alive while it is loaded.
    let own = (!own.is_null()).then(|| unsafe { CStr::from_ptr(own) }.to_bytes());
    let dir = RUN_DIR.get().unwrap_or(b"");
    let (mut preload, mut run) = (false, false);
    let mut i = 0;
    loop {
        // SAFETY: by the contract, entries up to the NULL terminator are readable.
        let entry = unsafe { *env.add(i) };
        if entry.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string.
        let e = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if let Some(v) = e.strip_prefix(b"LD_PRELOAD=") {
            let names_us = |needle: &[u8]| !needle.is_empty() && v.windows(needle.len()).any(|w| w == needle);
            preload = own.is_some_and(names_us) || names_us(b"libpinguard");
        } else if let Some(v) = e.strip_prefix(b"PINGUARD_RUN_DIR=") {
            run = v == dir;
        }
        i += 1;
    }
    (preload, run)
}

/// Notes that `pid` is about to run `path` (an exec in this process, or a spawned
/// child). `mono_ns` was read before the call.
///
/// # Safety
/// `path` is null or NUL-terminated; `env` as for [`environment_keeps`].
unsafe fn note_exec(pid: u32, path: *const c_char, env: *const *const c_char, mono_ns: u64) {
    let errno = std::io::Error::last_os_error().raw_os_error();
    // SAFETY: forwarded contract.
    let (preload, run) = unsafe { environment_keeps(env) };
    // SAFETY: a non-null path is NUL-terminated.
    let path = if path.is_null() { &b""[..] } else { unsafe { CStr::from_ptr(path) }.to_bytes() };
    let host = HOST.get().and_then(|h| std::str::from_utf8(h).ok()).unwrap_or("unknown");
    let iid = iid_text();
    let note = write::Exec {
        iid: iid.as_str(),
        pid,
        // SAFETY: getpid has no preconditions (not cached by glibc: right in a vfork child).
        by: unsafe { libc::getpid() } as u32,
        host,
        path,
        preload,
        run,
        mono_ns,
    };
    let mut record = FixedBuf::<6144>::new();
    if note.write(&mut record).is_ok() {
        // SAFETY: forwarded contract: the environment the program gets names its rank.
        append(pid, unsafe { rank_in(env) }, record.as_str());
    }
    restore_errno(errno);
}

/// Notes that the exec noted at `mono_ns` (into the file of `rank`) failed: the call
/// returned.
fn note_exec_failed(mono_ns: u64, rank: Option<u32>) {
    let errno = std::io::Error::last_os_error().raw_os_error();
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    let mut record = FixedBuf::<256>::new();
    let iid = iid_text();
    let failed = write::ExecFailed { iid: iid.as_str(), pid, mono_ns, errno: errno.unwrap_or(0) };
    if failed.write(&mut record).is_ok() {
        append(pid, rank, record.as_str());
    }
    restore_errno(errno);
}

/// The instance id if this process has one already, without making one (a `vfork`
/// child must not store it: it would become its parent's).
fn iid_text() -> FixedBuf<24> {
    let mut out = FixedBuf::new();
    let _ = write!(out, "{:016x}", process::iid_if_known());
    out
}

fn restore_errno(errno: Option<i32>) {
    if let Some(e) = errno {
        // SAFETY: __errno_location returns this thread's errno.
        unsafe { *libc::__errno_location() = e };
    }
}

/// The real function in `slot`, found now if the constructor has not run yet.
fn real(slot: &AtomicPtr<c_void>) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if p.is_null() {
        REAL.resolve_all();
        return slot.load(Ordering::Acquire);
    }
    p
}

type ExecveFn = unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type ExecvFn = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;

/// An exec in this process: noted before, and its failure noted if it returns.
///
/// # Safety
/// The arguments of the exec function `slot` holds, under its contract.
pub unsafe fn exec_with(
    slot: &AtomicPtr<c_void>,
    path: *const c_char,
    argv: *const *const c_char,
    envp: Option<*const *const c_char>,
) -> c_int {
    let f = real(slot);
    if f.is_null() {
        // SAFETY: __errno_location returns this thread's errno.
        unsafe { *libc::__errno_location() = libc::ENOSYS };
        return -1;
    }
    let watching = under_run();
    let mono = if watching { now(libc::CLOCK_MONOTONIC) } else { 0 };
    // SAFETY: `environ` is this process's environment (execv and execvp pass it on).
    let env = envp.unwrap_or(unsafe { environ });
    if watching {
        // SAFETY: the caller's arguments.
        unsafe { note_exec(std::process::id(), path, env, mono) };
    }
    let rc = match envp {
        // SAFETY: f is the real function of this slot, whose ABI is ExecveFn here.
        Some(env) => unsafe { std::mem::transmute::<*mut c_void, ExecveFn>(f)(path, argv, env) },
        // SAFETY: likewise, ExecvFn for execv and execvp.
        None => unsafe { std::mem::transmute::<*mut c_void, ExecvFn>(f)(path, argv) },
    };
    if watching {
        // SAFETY: the caller's environment, as above.
        note_exec_failed(mono, unsafe { rank_in(env) });
    }
    rc
}

/// A spawn: the child it made is noted in the child's file.
///
/// # Safety
/// The arguments of the spawn function `slot` holds, under its contract.
pub unsafe fn spawn_with(
    slot: &AtomicPtr<c_void>,
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let f = real(slot);
    if f.is_null() {
        return libc::ENOSYS;
    }
    // SAFETY: f is the real posix_spawn or posix_spawnp, whose ABI is SpawnFn.
    let f = unsafe { std::mem::transmute::<*mut c_void, SpawnFn>(f) };
    if !under_run() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { f(pid, path, actions, attr, argv, envp) };
    }
    let mono = now(libc::CLOCK_MONOTONIC);
    // The child's pid is needed for the note: where the caller passed none, a local
    // takes it (the C library only stores it there).
    let mut own_pid: libc::pid_t = 0;
    let out = if pid.is_null() { &mut own_pid as *mut libc::pid_t } else { pid };
    // SAFETY: the caller's arguments; `out` is a valid place for the child's pid.
    let rc = unsafe { f(out, path, actions, attr, argv, envp) };
    if rc == 0 {
        // SAFETY: on success the C library wrote the child's pid to `out`; the caller's
        // path and environment are as it gave them (a null environment is `environ`).
        unsafe {
            let env = if envp.is_null() { environ } else { envp as *const *const c_char };
            note_exec(out.read() as u32, path, env, mono);
        }
    }
    rc
}

// ---- the exports: every exec and spawn function that may start a program ------------

/// `execve`: noted under `pinguard run`, then the C library's.
///
/// # Safety
/// Called as `execve(2)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { exec_with(&REAL.execve, path, argv, Some(envp)) }
}

/// `execv`: as [`execve`], with this process's environment.
///
/// # Safety
/// Called as `execv(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { exec_with(&REAL.execv, path, argv, None) }
}

/// `execvp`: as [`execv`]; the note holds the file name before the `PATH` search.
///
/// # Safety
/// Called as `execvp(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { exec_with(&REAL.execvp, file, argv, None) }
}

/// `execvpe`: as [`execvp`], with the given environment.
///
/// # Safety
/// Called as `execvpe(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { exec_with(&REAL.execvpe, file, argv, Some(envp)) }
}

/// `posix_spawn`: the child is noted once the C library has made it.
///
/// # Safety
/// Called as `posix_spawn(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { spawn_with(&REAL.posix_spawn, pid, path, actions, attr, argv, envp) }
}

/// `posix_spawnp`: as [`posix_spawn`], searching `PATH`.
///
/// # Safety
/// Called as `posix_spawnp(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { spawn_with(&REAL.posix_spawnp, pid, file, actions, attr, argv, envp) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_checks_read_preload_and_run_folder() {
        RUN_DIR.set(b"/tmp/run-x");
        let entries = [c"A=1".as_ptr(), c"LD_PRELOAD=/opt/pg/libpinguard.so".as_ptr(), std::ptr::null()];
        // SAFETY: a NULL-terminated array of NUL-terminated strings.
        assert_eq!(unsafe { environment_keeps(entries.as_ptr()) }, (true, false));
        let entries = [c"PINGUARD_RUN_DIR=/tmp/run-x".as_ptr(), std::ptr::null()];
        // SAFETY: as above.
        assert_eq!(unsafe { environment_keeps(entries.as_ptr()) }, (false, true));
        // SAFETY: null is allowed.
        assert_eq!(unsafe { environment_keeps(std::ptr::null()) }, (false, false));
    }

    #[test]
    fn set_once_keeps_the_first_text() {
        static T: SetOnce<8> = SetOnce::new();
        assert_eq!(T.get(), None);
        T.set(b"toolongtext");
        assert_eq!(T.get(), None, "a text that does not fit is not kept");
        T.set(b"abc");
        T.set(b"def");
        assert_eq!(T.get(), Some(&b"abc"[..]));
    }
}
