//! A spin lock that a fork child can release.
//!
//! A `std::sync::Mutex` held by another thread when the process forks stays locked for
//! ever in the child (that thread does not exist there). pinguard's few locks (the
//! symboliser, the unknown-variant list) are spin locks that the `pthread_atfork`
//! handlers hold across `fork` (prepare: lock; parent and child: unlock), so the child
//! always gets them free and consistent. They guard rare, short work.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (see `lock`).
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    pub fn lock(&self) -> SpinGuard<'_, T> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        SpinGuard { lock: self }
    }

    pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(SpinGuard { lock: self })
    }

    /// Takes the lock without a guard (the `pthread_atfork` prepare handler).
    pub fn lock_for_fork(&self) {
        std::mem::forget(self.lock());
    }

    /// Releases a lock taken by [`lock_for_fork`](Self::lock_for_fork) (the parent and
    /// child handlers). Async-signal-safe: one atomic store.
    pub fn unlock_after_fork(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// A value built on first use, safe across `fork`. `std::sync::LazyLock` (a `Once`) left
/// running by another thread when the process forks stays "running" for ever in the
/// child, and the child's first use waits for good (seen: `fork_init`, a child forked
/// while the parent's first CUDA call built the registry). Here a child's handler
/// ([`reset_in_child`](Self::reset_in_child)) turns an unfinished build back into
/// "not built", and the child builds its own (the half-built value is overwritten, never
/// dropped).
pub struct ForkSafeLazy<T> {
    state: std::sync::atomic::AtomicU8,
    /// The thread building the value (a call its build makes must not wait for itself).
    builder: std::sync::atomic::AtomicI32,
    init: fn() -> T,
    value: UnsafeCell<std::mem::MaybeUninit<T>>,
}

const NOT_BUILT: u8 = 0;
const BUILDING: u8 = 1;
const BUILT: u8 = 2;

// SAFETY: `value` is written once, by the thread that moved `state` from NOT_BUILT to
// BUILDING, before `state` becomes BUILT (Release); it is read only after BUILT is seen
// (Acquire). A fork child that resets BUILDING is single-threaded.
unsafe impl<T: Send + Sync> Sync for ForkSafeLazy<T> {}

impl<T> ForkSafeLazy<T> {
    pub const fn new(init: fn() -> T) -> Self {
        ForkSafeLazy {
            state: std::sync::atomic::AtomicU8::new(NOT_BUILT),
            builder: std::sync::atomic::AtomicI32::new(0),
            init,
            value: UnsafeCell::new(std::mem::MaybeUninit::uninit()),
        }
    }

    /// The value, built by the first caller; others wait for it (briefly: building is
    /// short and takes no lock).
    pub fn get(&self) -> &T {
        loop {
            if let Some(v) = self.try_get() {
                return v;
            }
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }

    /// The value, built by the first caller; `None` for a call the build itself makes on
    /// the building thread (it must not wait for itself).
    pub fn try_get(&self) -> Option<&T> {
        if let Some(v) = self.get_if_built() {
            return Some(v); // every call but the first few: one load, no system call
        }
        let me = gettid();
        loop {
            match self.state.load(Ordering::Acquire) {
                // SAFETY: BUILT is stored (Release) after the value was written.
                BUILT => return Some(unsafe { (*self.value.get()).assume_init_ref() }),
                NOT_BUILT => {
                    if self.state.compare_exchange(NOT_BUILT, BUILDING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        self.builder.store(me, Ordering::Relaxed);
                        let v = (self.init)();
                        // SAFETY: only the thread that won the exchange writes, and no
                        // reader reads before BUILT; a child that reset a half-built
                        // value overwrites it (never drops it).
                        unsafe { (*self.value.get()).write(v) };
                        self.state.store(BUILT, Ordering::Release);
                    }
                }
                _ if self.builder.load(Ordering::Relaxed) == me => return None,
                _ => {
                    std::hint::spin_loop();
                    std::thread::yield_now();
                }
            }
        }
    }

    /// The value if it has been built (never builds: the fork handler must not allocate).
    pub fn get_if_built(&self) -> Option<&T> {
        // SAFETY: as in `get`.
        (self.state.load(Ordering::Acquire) == BUILT).then(|| unsafe { (*self.value.get()).assume_init_ref() })
    }

    /// In a freshly forked child (one thread): a build that another thread of the parent
    /// had under way will never finish here; start over. Atomic stores only.
    pub fn reset_in_child(&self) {
        if self.state.load(Ordering::Acquire) == BUILDING {
            self.state.store(NOT_BUILT, Ordering::Release);
        }
    }

    /// Forces the state to "being built by a thread that is gone" (tests only).
    #[cfg(test)]
    fn pretend_building(&self) {
        self.state.store(BUILDING, Ordering::Release);
    }
}

impl<T> Deref for ForkSafeLazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.get()
    }
}

/// This thread's kernel id. The system call itself, not glibc's `gettid` wrapper, which
/// only glibc 2.30 and later have: the library must load on glibc 2.17.
pub fn gettid() -> i32 {
    // SAFETY: the gettid system call has no arguments and no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    static HOLD: AtomicBool = AtomicBool::new(true);
    static LAZY: ForkSafeLazy<u32> = ForkSafeLazy::new(|| {
        while HOLD.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        7
    });

    /// Forks while another thread is building `LAZY`; the child lets its own build
    /// finish and asks for the value, after `reset_in_child` when `reset`. Returns
    /// whether the child got the value within 3 s (it is killed otherwise).
    fn child_gets_the_value(reset: bool) -> bool {
        // SAFETY: fork in a test; the child only touches atomics and calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            HOLD.store(false, Ordering::SeqCst);
            if reset {
                LAZY.reset_in_child();
            }
            let ok = *LAZY.get() == 7;
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        for _ in 0..300 {
            let mut status = 0;
            // SAFETY: waits for our own child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: our own child, hung.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        false
    }

    #[test]
    fn a_child_forked_mid_build_builds_its_own() {
        let builder = std::thread::spawn(|| *LAZY.get());
        while LAZY.state.load(Ordering::Acquire) != BUILDING {
            std::thread::yield_now();
        }
        // Without the reset the child waits for a build nobody runs (as with LazyLock).
        assert!(!child_gets_the_value(false), "the child got a value nobody built");
        assert!(child_gets_the_value(true), "the child hung after reset_in_child");
        HOLD.store(false, Ordering::SeqCst);
        assert_eq!(builder.join().unwrap(), 7);
        // And a value another thread left half-built, reset, is built again.
        static OTHER: ForkSafeLazy<u32> = ForkSafeLazy::new(|| 9);
        OTHER.pretend_building();
        OTHER.reset_in_child();
        assert_eq!(*OTHER, 9);
    }
}
