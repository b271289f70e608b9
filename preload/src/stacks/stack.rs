//! Native call stacks of findings.
//!
//! - [`Stack::capture`] runs on every finding: raw return addresses from the caching
//!   unwinder ([`crate::stacks::unwind`]; `.eh_frame`, so programs built without frame pointers
//!   work), pinguard's own frames skipped, into a fixed array. No allocation, no lock
//!   once the stack's addresses have been seen.
//! - [`symbolise`] runs once per new call site: function (demangled, inlined frames
//!   too), source file and line where debug info exists, and always module + offset.
//!   It allocates and reads debug info, so it runs under [`SYMBOLS`], a lock the fork
//!   handlers hold across `fork` so a child never inherits it locked.

use std::collections::HashSet;
use std::ffi::{CStr, c_void};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use pinguard_core::site::{FrameInfo, FrameKind, Name};

use crate::base::spin::SpinLock;
use crate::base::symbols;
use crate::stacks::unwind::{self, Walked};

/// The deepest stack pinguard keeps (`stack_depth` is at most this).
pub const MAX_DEPTH: usize = 64;

/// Serialises symbolisation (the unwinder's symbol tables are not thread-safe to build),
/// and holds the function, module and file names every site's frames share.
pub static SYMBOLS: SpinLock<SharedNames> = SpinLock::new(SharedNames(None));

/// Function, module and file names, one copy each, shared by every frame that names
/// them: a 16-frame stack repeats a few modules and files, and sites found on different
/// paths share most of their functions (each site's own copies of its function names
/// were about a quarter of its memory).
pub struct SharedNames(Option<HashSet<Name>>);

impl SharedNames {
    /// The shared copy of `name` (made on first use: this runs once per new site and
    /// frame, never on a copy's path).
    pub fn get(&mut self, name: &str) -> Name {
        let names = self.0.get_or_insert_with(HashSet::new);
        if let Some(n) = names.get(name) {
            return *n;
        }
        let n = Name::leaked(name);
        names.insert(n);
        n
    }
}

/// Walks this thread's stack with libgcc's unwinder (see [`symbols::find_system_unwinder`]
/// for why not the one linked in), handing `keep` each return address until it says stop.
fn walk_with_libgcc(unwinder: symbols::SystemUnwinder, keep: &mut dyn FnMut(usize) -> bool) {
    struct Walk<'a> {
        get_ip: unsafe extern "C" fn(*mut c_void) -> usize,
        keep: &'a mut dyn FnMut(usize) -> bool,
    }
    unsafe extern "C" fn frame(context: *mut c_void, arg: *mut c_void) -> libc::c_int {
        // SAFETY: arg is the &mut Walk passed to _Unwind_Backtrace below, alive for the
        // whole walk; context is the unwinder's own for this frame.
        let walk = unsafe { &mut *(arg as *mut Walk<'_>) };
        // SAFETY: context comes from the unwinder for this call.
        let ip = unsafe { (walk.get_ip)(context) };
        // A panic must not unwind into C: keep neither allocates nor panics (an index
        // past the array is prevented by its own length check).
        if (walk.keep)(ip) { 0 } else { 5 } // _URC_NO_REASON, _URC_END_OF_STACK
    }
    let mut walk = Walk { get_ip: unwinder.get_ip, keep };
    // SAFETY: _Unwind_Backtrace walks this thread's stack only, calling `frame` with the
    // pointer it was given, which outlives the call.
    unsafe { (unwinder.backtrace)(frame, &mut walk as *mut Walk<'_> as *mut c_void) };
}

/// Return addresses, innermost first, without pinguard's own frames.
#[derive(Clone, Copy)]
pub struct Stack {
    /// `ips[..len]` are written; the rest is left unwritten (zeroing all 64 on every
    /// finding was a 512-byte memset, about 50 instructions, for the 4 or 5 a loop uses).
    ips: [MaybeUninit<usize>; MAX_DEPTH],
    len: usize,
    /// Walked by the C library's unwinder although the caching one was asked for.
    pub slow: bool,
    /// The depth asked for: part of what a note is about ([`Stack::noted`]).
    depth: usize,
    /// The addresses were not copied: the replayed walk's note was the one asked for
    /// ([`Stack::capture`]), and the caller needs nothing else.
    unwalked: bool,
    /// The caching unwinder's kept walk that gave these addresses, and its note.
    kept: Option<unwind::Kept>,
}

/// What a note on a stack is about: the caller's tag, and the depth the stack was asked
/// for (the same walk cut at another depth is another stack). One rule for noting,
/// finding and taking a note as enough.
#[inline(always)]
fn note_about(tag: u64, depth: usize) -> [u64; 2] {
    [tag, depth as u64]
}

/// pinguard's own executable code, `[start, end)`, found on first use.
static OWN_TEXT: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

fn own_text() -> (usize, usize) {
    let (s, e) = (OWN_TEXT[0].load(Ordering::Relaxed), OWN_TEXT[1].load(Ordering::Relaxed));
    if e != 0 {
        return (s, e);
    }
    let here = own_text as *const () as usize;
    let mut found = (here, here + 1);
    // Find the loaded segment that holds this very function.
    /// # Safety
    /// Only for `dl_iterate_phdr` below: `info` must be the object glibc hands the callback,
    /// and `data` must point to a live `(usize, (usize, usize))` that nothing else touches.
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
        // SAFETY: glibc passes a valid info for the call; data is the `(usize, (usize, usize))` below.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut (usize, (usize, usize)))) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr holds dlpi_phnum headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD {
                let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
                let end = start + ph.p_memsz as usize;
                if (start..end).contains(&out.0) {
                    out.1 = (start, end);
                    return 1;
                }
            }
        }
        0
    }
    let mut data = (here, found);
    // SAFETY: visit reads the info it is given and writes only through `data`.
    crate::base::symbols::loader_call(|| unsafe {
        libc::dl_iterate_phdr(Some(visit), &mut data as *mut (usize, (usize, usize)) as *mut c_void)
    });
    found = data.1;
    OWN_TEXT[0].store(found.0, Ordering::Relaxed);
    OWN_TEXT[1].store(found.1, Ordering::Relaxed);
    found
}

impl Stack {
    /// An empty stack that [`Stack::capture`] fills with at most `depth` frames.
    /// Two steps, so the caller's own variable is the one filled: a stack returned after
    /// being filled was a 528-byte copy on every finding (76 instructions, measured with
    /// the whole struct built and filled inside an inlined constructor too).
    #[inline(always)]
    pub fn new(depth: usize) -> Stack {
        // The length comes through black_box: with a constant there, LLVM merges the
        // stores of `len` and `slow` with the unwritten addresses into one memset of the
        // whole struct (measured: the memset stayed after `ips` became MaybeUninit).
        Stack {
            ips: [MaybeUninit::uninit(); MAX_DEPTH],
            len: std::hint::black_box(0),
            slow: false,
            depth: depth.clamp(1, MAX_DEPTH),
            unwalked: false,
            kept: None,
        }
    }

    /// A stack of addresses captured before (kept raw, e.g. where memory was pinned), at
    /// most `depth` of them: for a site built later from them.
    pub fn of_ips(ips: &[usize], depth: usize) -> Stack {
        let mut stack = Stack::new(depth);
        for &ip in ips.iter().take(stack.depth) {
            stack.ips[stack.len] = MaybeUninit::new(ip);
            stack.len += 1;
        }
        stack
    }

    /// The caller's stack, frames below pinguard's own: walked by the caching unwinder
    /// (if `fast`), or by the C library's where that one cannot follow the stack. With
    /// `want`, a replayed walk whose note is for that tag copies no address: the stack
    /// then answers [`Stack::noted`] only ([`Stack::has_addresses`] is false).
    #[inline(never)]
    pub fn capture(&mut self, fast: bool, want: Option<u64>) -> &Stack {
        let (own, depth) = (own_text(), self.depth);
        if fast {
            let enough = |n: &unwind::Note| want.is_some_and(|t| n.tag == note_about(t, depth));
            let walk = unwind::walk_unless_noted(|ip| self.keep(ip, own, depth), enough);
            if walk.how != Walked::NotHere {
                self.unwalked = walk.how == Walked::Noted;
                self.kept = walk.kept;
                return self;
            }
        }
        self.len = 0;
        self.slow = fast;
        let mut keep = |ip: usize| ip != 0 && self.keep(ip, own, depth); // 0: the end of the stack
        if let Some(unwinder) = symbols::system_unwinder() {
            walk_with_libgcc(unwinder, &mut keep);
            return self;
        }
        // SAFETY: the unsynchronised tracer only walks this thread's stack; the closure
        // neither allocates nor unwinds.
        unsafe {
            backtrace::trace_unsynchronized(|frame| keep(frame.ip() as usize));
        }
        self
    }

    /// The value noted for `tag` on this stack ([`Stack::note`]), if it was walked as a
    /// replay of a walk that got one: then these are exactly the addresses the noted
    /// stack had, at the same depth.
    #[inline]
    pub fn noted(&self, tag: u64) -> Option<usize> {
        let note = self.kept?.note?;
        (note.tag == note_about(tag, self.depth)).then_some(note.value)
    }

    /// Notes `value` for `tag` beside the walk this stack came from, for later stacks
    /// that replay it (nothing, if the walk was not kept).
    pub fn note(&self, tag: u64, value: usize) {
        if let Some(kept) = self.kept {
            unwind::attach(kept, unwind::Note { tag: note_about(tag, self.depth), value });
        }
    }

    /// Keeps one return address unless it is still inside pinguard; false once full.
    fn keep(&mut self, ip: usize, (own_start, own_end): (usize, usize), depth: usize) -> bool {
        if self.len == 0 && (own_start..own_end).contains(&ip) {
            return true;
        }
        self.ips[self.len] = MaybeUninit::new(ip);
        self.len += 1;
        self.len < depth
    }

    /// Were the addresses copied? Not when a note sufficed ([`Stack::capture`]).
    pub fn has_addresses(&self) -> bool {
        !self.unwalked
    }

    /// The depth asked for.
    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn ips(&self) -> &[usize] {
        debug_assert!(!self.unwalked, "the addresses of a stack captured for its note only");
        // SAFETY: `keep` writes `ips[len]` before it counts it, and `len` never exceeds
        // MAX_DEPTH (keep stops at `depth`, at most MAX_DEPTH); MaybeUninit<usize> has
        // usize's layout.
        unsafe { std::slice::from_raw_parts(self.ips.as_ptr().cast::<usize>(), self.len) }
    }

    /// A 64-bit hash of the addresses, never 0: one multiply per address (a byte-wise
    /// hash chains eight dependent multiplies per address, on every finding).
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &ip in self.ips() {
            h = (h ^ ip as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        }
        h.max(1)
    }
}

/// The object an address lies in, and its load address.
fn module_of(ip: usize) -> (Option<String>, usize, Option<String>) {
    // SAFETY: Dl_info is plain C data; all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    if unsafe { libc::dladdr(ip as *const c_void, &mut info) } == 0 {
        return (None, 0, None);
    }
    // SAFETY: non-null strings from dladdr are NUL-terminated and owned by the loader.
    let text =
        |p: *const libc::c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
    let mut module = text(info.dli_fname).filter(|m| !m.is_empty());
    if module.is_none() || module.as_deref().is_some_and(|m| !m.contains('/')) {
        // The main program: the loader knows it by the name it was started with.
        module = std::env::current_exe().ok().map(|p| p.to_string_lossy().into_owned()).or(module);
    }
    (module, info.dli_fbase as usize, text(info.dli_sname))
}

/// Symbolises the addresses of a stack: one frame per address, or several where
/// functions were inlined (innermost first). Frames in modules that `skip_modules`
/// passes over (the C library, CUDA's libraries) are named from the dynamic symbol
/// table only: their debug info (tens of MB for libc) is never read, since a site's
/// location is never there.
pub fn symbolise(ips: &[usize], skip_modules: &[String]) -> Vec<FrameInfo> {
    let mut names = SYMBOLS.lock();
    let mut frames = Vec::with_capacity(ips.len());
    for &ip in ips {
        let (module, base, dynamic_symbol) = module_of(ip);
        let module = module.map(|m| names.get(&m));
        let offset = ip.wrapping_sub(base);
        let before = frames.len();
        // A return address points after the call: look up the call itself.
        let lookup = ip.saturating_sub(1) as *mut c_void;
        let skipped =
            module.as_deref().is_some_and(|m| skip_modules.iter().any(|g| pinguard_core::glob::matches(g, m)));
        if !skipped {
            // SAFETY: serialised by SYMBOLS; resolving only reads this process's objects.
            unsafe {
                backtrace::resolve_unsynchronized(lookup, |sym| {
                    frames.push(FrameInfo {
                        kind: FrameKind::Native,
                        address: ip,
                        function: sym.name().map(|n| names.get(&n.to_string())),
                        file: sym.filename().map(|f| names.get(&f.to_string_lossy())),
                        line: sym.lineno().and_then(std::num::NonZeroU32::new),
                        module,
                        offset,
                    });
                });
            }
        }
        if frames.len() == before {
            frames.push(FrameInfo {
                kind: FrameKind::Native,
                address: ip,
                // The dynamic symbol table's name, demangled (C++ and Rust).
                function: dynamic_symbol.map(|n| names.get(&backtrace::SymbolName::new(n.as_bytes()).to_string())),
                file: None,
                line: None,
                module,
                offset,
            });
        }
    }
    // Inlined functions add frames past the capacity asked for, and the vector then
    // doubles; a site keeps it for the process's life.
    frames.shrink_to_fit();
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn from_here() -> Stack {
        let mut s = Stack::new(MAX_DEPTH);
        s.capture(true, None);
        s
    }

    static SLOW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    static DEPTH: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn capture_in_handler(_: i32) {
        let mut s = Stack::new(MAX_DEPTH);
        s.capture(true, None);
        SLOW.store(s.slow, Ordering::SeqCst);
        DEPTH.store(s.ips().len(), Ordering::SeqCst);
    }

    /// A stack the caching unwinder cannot follow (here: a signal handler on an alternate
    /// signal stack, outside the thread's stack) is walked by the C library's unwinder,
    /// through the signal frame, and marked slow (the `slow_stacks` counter).
    #[test]
    fn a_stack_on_a_signal_stack_is_walked_by_the_c_library() {
        std::thread::spawn(|| {
            assert!(!from_here().slow, "an ordinary stack takes the caching unwinder");
            let mut alt = vec![0u8; 1 << 16];
            // SAFETY: the alternate stack outlives its use (disabled below before `alt`
            // drops); the handler only captures a stack and stores two atomics; SIGUSR1
            // is raised synchronously on this thread and its disposition restored after.
            unsafe {
                let ss = libc::stack_t { ss_sp: alt.as_mut_ptr().cast(), ss_flags: 0, ss_size: alt.len() };
                assert_eq!(libc::sigaltstack(&ss, std::ptr::null_mut()), 0);
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = capture_in_handler as extern "C" fn(i32) as usize;
                action.sa_flags = libc::SA_ONSTACK;
                let mut old: libc::sigaction = std::mem::zeroed();
                assert_eq!(libc::sigaction(libc::SIGUSR1, &action, &mut old), 0);
                libc::raise(libc::SIGUSR1);
                libc::sigaction(libc::SIGUSR1, &old, std::ptr::null_mut());
                let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                libc::sigaltstack(&off, std::ptr::null_mut());
            }
        })
        .join()
        .unwrap();
        assert!(SLOW.load(Ordering::SeqCst), "the signal stack was left to the C library's unwinder");
        assert!(DEPTH.load(Ordering::SeqCst) > 0, "and it found the frames past the signal frame");
    }

    /// Captures from one place at each depth, asking for tag 1's note, and noting 0x51
    /// for tag 1 on the first stack that has no note: what each capture finds noted for
    /// tags 1 and 2, and whether it copied the addresses.
    #[inline(never)]
    fn noted_at(depths: &[usize]) -> Vec<(Option<usize>, Option<usize>, bool)> {
        depths
            .iter()
            .map(|&depth| {
                let mut s = Stack::new(depth);
                let s = s.capture(true, Some(1));
                let found = (s.noted(1), s.noted(2), s.has_addresses());
                if found.0.is_none() && depth == 16 {
                    s.note(1, 0x51);
                }
                found
            })
            .collect()
    }

    /// A note is found by its own tag, on a stack captured at the depth it was noted at:
    /// the same walk captured shallower is another stack, and copies its addresses.
    #[test]
    fn a_note_holds_for_its_tag_and_depth_only() {
        let got = std::thread::spawn(|| noted_at(&std::hint::black_box([16, 16, 8, 16]))).join().unwrap();
        let expect = [(None, None, true), (Some(0x51), None, false), (None, None, true), (Some(0x51), None, false)];
        assert_eq!(got, expect);
    }

    #[test]
    fn symbolisation_names_functions_and_modules() {
        // In the unit-test binary pinguard's code and the test share one object, so
        // resolve a known address directly instead of capturing.
        let here = symbolise(&[symbolisation_names_functions_and_modules as *const () as usize + 1], &[]);
        assert!(!here.is_empty());
        assert!(here[0].module.is_some(), "{here:?}");
        let s = from_here();
        assert!(s.hash() != 0);
    }

    /// Two stacks through one module hold one copy of its name (and of a file's, and of
    /// a function's: here named from the C library's dynamic symbols, as frames in
    /// skipped modules are; this test binary's own frames get no function name from the
    /// unwinder's resolver).
    #[test]
    fn frames_share_their_module_file_and_function_names() {
        let ip = frames_share_their_module_file_and_function_names as *const () as usize + 1;
        let (a, b) = (symbolise(&[ip], &[]), symbolise(&[ip], &[]));
        let (ma, mb) = (a[0].module.expect("a module"), b[0].module.expect("a module"));
        assert!(Name::same_copy(ma, mb), "one copy of {ma}");
        if let (Some(fa), Some(fb)) = (a[0].file, b[0].file) {
            assert!(Name::same_copy(fa, fb), "one copy of {fa}");
        }
        let skip = ["*libc.so*".to_string()];
        let ip = libc::getpid as *const () as usize + 1;
        let (a, b) = (symbolise(&[ip], &skip), symbolise(&[ip], &skip));
        let (fa, fb) = (a[0].function.expect("a function"), b[0].function.expect("a function"));
        assert!(fa.contains("getpid"), "{fa}");
        assert!(Name::same_copy(fa, fb), "one copy of {fa}");
    }

    #[test]
    fn a_shared_name_is_one_copy_per_text() {
        let mut names = SharedNames(None);
        let (a, b, c) = (names.get("main"), names.get("main"), names.get("mainly"));
        assert!(Name::same_copy(a, b));
        assert!(!Name::same_copy(a, c));
        assert_eq!((&*a, &*c), ("main", "mainly"));
    }
}
