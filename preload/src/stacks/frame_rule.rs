//! How to step from one native frame to its caller, for one code address: read once from
//! the address's module (`.eh_frame_hdr` and `.eh_frame`, the tables C++ exceptions use,
//! so programs built without frame pointers work) and kept by [`crate::stacks::unwind`].
//!
//! Only the rules that cover compiled code in practice are kept: the canonical frame
//! address (CFA, the caller's stack pointer) is RSP or RBP plus a constant, the return
//! address sits just below the CFA, and RBP is either untouched or saved at a constant
//! offset from the CFA. Anything else (DWARF expressions, signal frames, code without
//! unwind tables) is [`FrameRule::Unsupported`], and the unwinder hands that whole stack
//! to the C library's unwinder instead, so every stack is still walked by exact rules.

use std::ffi::c_void;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, NativeEndian, Pointer, Register, RegisterRule, UnwindContext,
    UnwindSection,
};

/// DWARF register numbers on x86-64 (System V ABI, figure 3.36).
const RBP: Register = Register(6);
const RSP: Register = Register(7);
const RETURN_ADDRESS: Register = Register(16);

/// The step from a frame to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRule {
    /// CFA = (RBP if `cfa_from_rbp`, else RSP) + `cfa_offset`; the return address is at
    /// CFA - 8; the caller's RBP is saved at CFA + `rbp_saved_at`, or is this frame's RBP.
    Step { cfa_from_rbp: bool, cfa_offset: i32, rbp_saved_at: Option<i32> },
    /// The outermost frame: its return address is undefined (`_start`, a thread's start).
    Outermost,
    /// Not followed here: the whole stack goes to the C library's unwinder.
    Unsupported,
}

impl FrameRule {
    /// One word, never 0 (0 marks an empty cache slot): bits 0-1 the kind, bit 2 CFA from
    /// RBP, bit 3 RBP saved, bits 16-31 where RBP is saved, bits 32-63 the CFA offset.
    pub fn pack(self) -> u64 {
        match self {
            FrameRule::Outermost => 2,
            FrameRule::Unsupported => 3,
            FrameRule::Step { cfa_from_rbp, cfa_offset, rbp_saved_at } => {
                1 | u64::from(cfa_from_rbp) << 2
                    | u64::from(rbp_saved_at.is_some()) << 3
                    | u64::from(rbp_saved_at.unwrap_or(0) as i16 as u16) << 16
                    | u64::from(cfa_offset as u32) << 32
            }
        }
    }

    /// The rule of a word made by [`FrameRule::pack`]; `None` for 0 (the walk reads the
    /// word's fields directly: [`packed_cfa`], [`packed_rbp_saved_at`]).
    #[cfg(test)]
    pub fn unpack(word: u64) -> Option<FrameRule> {
        match word & 3 {
            0 => None,
            2 => Some(FrameRule::Outermost),
            3 => Some(FrameRule::Unsupported),
            _ => {
                let (cfa_from_rbp, cfa_offset) = packed_cfa(word);
                Some(FrameRule::Step {
                    cfa_from_rbp,
                    cfa_offset: cfa_offset as i32,
                    rbp_saved_at: packed_rbp_saved_at(word).map(|o| o as i32),
                })
            }
        }
    }
}

/// A packed word's kind: `STEP`, `OUTERMOST`, `UNSUPPORTED` (0: none).
pub const STEP: u64 = 1;
pub const OUTERMOST: u64 = 2;

/// Of a packed `Step`: whether the CFA is RBP-based, and its offset.
#[inline(always)]
pub fn packed_cfa(word: u64) -> (bool, isize) {
    (word & 4 != 0, (word >> 32) as u32 as i32 as isize)
}

/// Of a packed `Step`: where the caller's RBP is saved, from the CFA.
#[inline(always)]
pub fn packed_rbp_saved_at(word: u64) -> Option<isize> {
    (word & 8 != 0).then_some((word >> 16) as u16 as i16 as isize)
}

/// The rule for a code address of this process (a return address minus one, or the exact
/// address of the frame where unwinding starts). Reads the loader's tables and the
/// module's unwind tables, and allocates: once per address, never on the hot path.
pub fn rule_for(address: usize) -> FrameRule {
    // Allocated here, not under the loader's lock that `visit` runs with.
    let mut search =
        Search { address, rule: FrameRule::Unsupported, context: Box::new(UnwindContext::new()), slept: false };
    // SAFETY: `visit` reads the info glibc passes and writes only through `data`, which
    // points to `search` for the whole call. glibc holds its loader lock across the
    // callbacks, so the module whose tables `visit` reads cannot be unloaded meanwhile.
    // A fork waits for it to end (`loader_call`).
    crate::base::symbols::loader_call(|| unsafe {
        libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut c_void)
    });
    search.rule
}

struct Search {
    address: usize,
    rule: FrameRule,
    context: Box<UnwindContext<usize>>,
    /// The test-only delay was taken ([`test_slow_rules`]).
    slept: bool,
}

/// Debug builds only: `test_only_slow_rules` holds every rule lookup 20 ms inside the
/// loader's lock, so that a test can fork while another thread is in there.
fn test_slow_rules() {
    if cfg!(debug_assertions) && crate::base::process::ready().is_some_and(|p| p.settings.test_only_slow_rules) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
    // SAFETY: glibc passes a valid info for the duration of the call; data is the Search
    // that rule_for passed and nothing else touches it meanwhile.
    let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
    if !search.slept {
        search.slept = true;
        test_slow_rules(); // once a lookup, inside the loader's lock
    }
    // SAFETY: dlpi_phdr holds dlpi_phnum program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let base = info.dlpi_addr as usize;
    let loads = || {
        headers.iter().filter(|h| h.p_type == libc::PT_LOAD).map(move |h| {
            let start = base + h.p_vaddr as usize;
            (start, start + h.p_memsz as usize, h.p_flags)
        })
    };
    if !loads().any(|(s, e, flags)| flags & libc::PF_X != 0 && (s..e).contains(&search.address)) {
        return 0;
    }
    let Some(hdr) = headers.iter().find(|h| h.p_type == libc::PT_GNU_EH_FRAME) else {
        return 1; // the module holding the address has no unwind table index
    };
    let hdr_start = base + hdr.p_vaddr as usize;
    // The eh_frame section runs at most to the end of the segment that holds its start.
    let segment_end = |at: usize| loads().find(|(s, e, _)| (*s..*e).contains(&at)).map(|(_, e, _)| e);
    let Some(hdr_end) = segment_end(hdr_start).map(|e| e.min(hdr_start + hdr.p_memsz as usize)) else {
        return 1;
    };
    // SAFETY: [hdr_start, hdr_end) lies inside a loaded segment of this module, mapped
    // and unchanging while glibc's loader lock is held (it is, during this callback).
    let hdr_bytes = unsafe { std::slice::from_raw_parts(hdr_start as *const u8, hdr_end - hdr_start) };
    search.rule = rule_in_tables(search.address, hdr_start, hdr_bytes, &mut search.context, |eh_frame_start| {
        let end = segment_end(eh_frame_start)?;
        // SAFETY: as above: [eh_frame_start, end) is inside one loaded segment.
        Some(unsafe { std::slice::from_raw_parts(eh_frame_start as *const u8, end - eh_frame_start) })
    })
    .unwrap_or(FrameRule::Unsupported);
    1
}

/// The rule for `address` from a module's `.eh_frame_hdr` (at `hdr_start`, its bytes
/// `hdr`) and the `.eh_frame` that `eh_frame_at` returns for its start address.
fn rule_in_tables<'a>(
    address: usize,
    hdr_start: usize,
    hdr: &'a [u8],
    context: &mut UnwindContext<usize>,
    eh_frame_at: impl FnOnce(usize) -> Option<&'a [u8]>,
) -> Option<FrameRule> {
    let bases = BaseAddresses::default().set_eh_frame_hdr(hdr_start as u64);
    let parsed = EhFrameHdr::new(hdr, NativeEndian).parse(&bases, 8).ok()?;
    let Pointer::Direct(eh_frame_start) = parsed.eh_frame_ptr() else {
        return None;
    };
    let eh_frame = EhFrame::new(eh_frame_at(eh_frame_start as usize)?, NativeEndian);
    let bases = bases.set_eh_frame(eh_frame_start);
    let table = parsed.table()?;
    let fde = table.fde_for_address(&eh_frame, &bases, address as u64, EhFrame::cie_from_offset).ok()?;
    if fde.is_signal_trampoline() {
        return Some(FrameRule::Unsupported);
    }
    let row = fde.unwind_info_for_address(&eh_frame, &bases, context, address as u64).ok()?;
    Some(rule_of_row(row.cfa(), row.register(RBP), row.register(RETURN_ADDRESS)))
}

/// The compact rule for one row of the unwind table.
fn rule_of_row<T: gimli::ReaderOffset>(
    cfa: &CfaRule<T>,
    rbp: Option<RegisterRule<T>>,
    return_address: Option<RegisterRule<T>>,
) -> FrameRule {
    let (cfa_from_rbp, cfa_offset) = match *cfa {
        CfaRule::RegisterAndOffset { register, offset } if register == RSP || register == RBP => {
            match i32::try_from(offset) {
                Ok(o) => (register == RBP, o),
                Err(_) => return FrameRule::Unsupported,
            }
        }
        _ => return FrameRule::Unsupported,
    };
    match return_address {
        Some(RegisterRule::Offset(-8)) => {}
        Some(RegisterRule::Undefined) => return FrameRule::Outermost,
        _ => return FrameRule::Unsupported,
    }
    let rbp_saved_at = match rbp {
        None | Some(RegisterRule::SameValue) => None,
        Some(RegisterRule::Offset(o)) => match i16::try_from(o) {
            Ok(o) => Some(i32::from(o)),
            Err(_) => return FrameRule::Unsupported,
        },
        Some(_) => return FrameRule::Unsupported,
    };
    FrameRule::Step { cfa_from_rbp, cfa_offset, rbp_saved_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_survive_packing() {
        for rule in [
            FrameRule::Outermost,
            FrameRule::Unsupported,
            FrameRule::Step { cfa_from_rbp: false, cfa_offset: 8, rbp_saved_at: None },
            FrameRule::Step { cfa_from_rbp: true, cfa_offset: 16, rbp_saved_at: Some(-16) },
            FrameRule::Step { cfa_from_rbp: false, cfa_offset: 1 << 20, rbp_saved_at: Some(-32_768) },
            FrameRule::Step { cfa_from_rbp: false, cfa_offset: -40, rbp_saved_at: Some(32_767) },
        ] {
            assert_ne!(rule.pack(), 0);
            assert_eq!(FrameRule::unpack(rule.pack()), Some(rule), "{rule:?}");
        }
        assert_eq!(FrameRule::unpack(0), None);
    }

    #[test]
    fn rows_outside_the_kept_shapes_are_unsupported() {
        let rsp8 = CfaRule::<usize>::RegisterAndOffset { register: RSP, offset: 8 };
        let ra = Some(RegisterRule::Offset(-8));
        assert_eq!(
            rule_of_row(&rsp8, None, ra.clone()),
            FrameRule::Step { cfa_from_rbp: false, cfa_offset: 8, rbp_saved_at: None }
        );
        let r10 = CfaRule::<usize>::RegisterAndOffset { register: Register(10), offset: 0 };
        assert_eq!(rule_of_row(&r10, None, ra.clone()), FrameRule::Unsupported);
        assert_eq!(rule_of_row(&rsp8, Some(RegisterRule::Register(Register(3))), ra), FrameRule::Unsupported);
        assert_eq!(rule_of_row(&rsp8, None, Some(RegisterRule::Offset(-16))), FrameRule::Unsupported);
        assert_eq!(rule_of_row(&rsp8, None, Some(RegisterRule::Undefined)), FrameRule::Outermost);
    }

    #[test]
    fn this_function_has_a_rule_and_data_has_none() {
        let here = this_function_has_a_rule_and_data_has_none as *const () as usize;
        assert!(matches!(rule_for(here + 1), FrameRule::Step { .. }), "{:?}", rule_for(here + 1));
        static DATA: u64 = 0;
        assert_eq!(rule_for(&DATA as *const u64 as usize), FrameRule::Unsupported);
    }
}
