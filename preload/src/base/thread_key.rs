//! A POSIX thread-specific key, created on first use, whose destructor gets a thread's
//! value when the thread ends: how pinguard hands back per-thread memory.
//!
//! Not a Rust thread-local with a destructor: that one registers its destructor on the
//! thread's first access through glibc's `__cxa_thread_atexit_impl`, which takes a lock
//! and edits a list; a signal handler that calls `exit` in the middle of that makes `exit`
//! walk the half-edited list and crash. A key is created once per process, and setting a
//! thread's value is a store into the thread's own slot. Key destructors run when a
//! thread ends, never in `exit`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The key's destructor: called with the thread's value (never null) when it ends.
pub type Release = extern "C" fn(*mut c_void);

/// One key, created on first use.
pub struct ThreadKey {
    /// The key plus one; 0: not created yet; `usize::MAX`: the C library refused one.
    key: AtomicUsize,
    release: Release,
}

impl ThreadKey {
    pub const fn new(release: Release) -> Self {
        ThreadKey { key: AtomicUsize::new(0), release }
    }

    /// The key, created on first use; `None` if the C library refused one (then values
    /// are never handed back: callers keep what they set for good, or set nothing).
    pub fn key(&self) -> Option<libc::pthread_key_t> {
        match self.key.load(Ordering::Acquire) {
            0 => {}
            usize::MAX => return None,
            k => return Some((k - 1) as libc::pthread_key_t),
        }
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-parameter; the destructor is an extern "C" fn with
        // the signature pthread_key_create expects.
        let ok = unsafe { libc::pthread_key_create(&mut key, Some(self.release)) } == 0;
        let mine = if ok { key as usize + 1 } else { usize::MAX };
        match self.key.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => ok.then_some(key),
            Err(theirs) => {
                if ok {
                    // Another thread created one first: use that one.
                    // SAFETY: our key, never used.
                    unsafe { libc::pthread_key_delete(key) };
                }
                (theirs != usize::MAX).then(|| (theirs - 1) as libc::pthread_key_t)
            }
        }
    }

    /// Sets this thread's value, handed to the destructor when the thread ends; false if
    /// there is no key (or the C library refused the value): the caller still owns it.
    pub fn set(&self, value: *const c_void) -> bool {
        let Some(key) = self.key() else { return false };
        // SAFETY: a key from pthread_key_create, never deleted.
        unsafe { libc::pthread_setspecific(key, value) == 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    static RELEASED: AtomicU64 = AtomicU64::new(0);

    extern "C" fn add(p: *mut c_void) {
        RELEASED.fetch_add(p as u64, Ordering::SeqCst);
    }

    static KEY: ThreadKey = ThreadKey::new(add);

    /// Each thread's value reaches the destructor once, when that thread ends; a thread
    /// that set nothing gives nothing.
    #[test]
    fn each_threads_value_is_released_when_it_ends() {
        let threads: Vec<_> = (1..=4u64)
            .map(|i| std::thread::spawn(move || assert!(KEY.set(i as *const c_void))))
            .chain(std::iter::once(std::thread::spawn(|| {})))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(RELEASED.load(Ordering::SeqCst), 1 + 2 + 3 + 4);
        assert_eq!(KEY.key(), KEY.key(), "one key for the process");
    }
}
