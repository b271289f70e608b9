//! Model check of the release protocol against the real registry, with shuttle
//! (`cargo test -p pinguard-core --features model --test model_release`). Shuttle's PCT
//! scheduler (probabilistic concurrency testing) explores the interleavings of the
//! registry's synchronisation points; each run of ITERATIONS schedules finds a bug that
//! needs at most DEPTH preemptions with a probability bounded from below (Burckhardt et
//! al., ASPLOS 2010); the bug of the first protocol needs two.
//!
//! CUDA is modelled by one atomic flag per registration: exactly one release of it
//! succeeds. pinguard's protocol (`Call::unpin` in the preload) notes the range's
//! generation before the call and removes that generation only if CUDA accepted the
//! release. The protocol that landed first (remove before the call, put the range back
//! when CUDA refuses) is checked too: the model must catch it.
#![cfg(feature = "model")]

use pinguard_core::registry::{PinOrigin, PinnedRange, PinnedRegistry};
use shuttle::sync::Arc;
use shuttle::sync::atomic::{AtomicBool, Ordering};
use shuttle::thread;

const P: usize = 0x10000;

fn range() -> PinnedRange {
    PinnedRange::new(P, 0x1000, PinOrigin::Registered).unwrap()
}

/// CUDA's view of the registration at P.
struct Cuda {
    pinned: AtomicBool,
}

impl Cuda {
    /// Exactly one release of a pinned range succeeds; the others get an error.
    fn release(&self) -> i32 {
        if self.pinned.swap(false, Ordering::SeqCst) { 0 } else { 713 }
    }
}

type Release = fn(&PinnedRegistry, &Cuda);

/// pinguard's protocol.
fn release_by_generation(reg: &PinnedRegistry, cuda: &Cuda) {
    let seen = reg.at_base(P);
    let rc = cuda.release();
    if let Some((_, generation)) = seen.filter(|_| rc == 0) {
        reg.remove_if(P, Some(generation));
    }
}

/// The protocol that landed first (bbf598a).
fn release_then_put_back(reg: &PinnedRegistry, cuda: &Cuda) {
    let removed = reg.remove(P);
    let rc = cuda.release();
    if let Some(r) = removed.filter(|_| rc != 0) {
        reg.insert(r);
    }
}

/// Two threads release the same registration at once; CUDA accepts one. Afterwards
/// pinguard must not believe the range pinned.
fn racing_releases(release: Release) {
    let reg = Arc::new(PinnedRegistry::new());
    reg.insert(range());
    let cuda = Arc::new(Cuda { pinned: AtomicBool::new(true) });
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (reg, cuda) = (reg.clone(), cuda.clone());
            thread::spawn(move || release(&reg, &cuda))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(!cuda.pinned.load(Ordering::SeqCst));
    assert!(reg.is_empty(), "CUDA released the range, but pinguard still holds it");
}

/// One thread frees the range while another pins the same address again if CUDA has it
/// free by then. Afterwards pinguard must hold the range exactly when CUDA does.
fn free_races_repin(release: Release) {
    let reg = Arc::new(PinnedRegistry::new());
    reg.insert(range());
    let cuda = Arc::new(Cuda { pinned: AtomicBool::new(true) });
    let freer = {
        let (reg, cuda) = (reg.clone(), cuda.clone());
        thread::spawn(move || release(&reg, &cuda))
    };
    let repinner = {
        let (reg, cuda) = (reg.clone(), cuda.clone());
        thread::spawn(move || {
            // CUDA hands the address out again only if it is free.
            if cuda.pinned.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                reg.insert(range());
            }
        })
    };
    freer.join().unwrap();
    repinner.join().unwrap();
    let held = if cuda.pinned.load(Ordering::SeqCst) { vec![range()] } else { vec![] };
    assert_eq!(reg.ranges(), held, "pinguard's registry and CUDA disagree");
}

const ITERATIONS: usize = 20_000;
const DEPTH: usize = 3;

#[test]
fn racing_releases_leave_nothing_behind() {
    shuttle::check_pct(|| racing_releases(release_by_generation), ITERATIONS, DEPTH);
}

#[test]
fn a_free_racing_a_repin_keeps_the_new_range() {
    shuttle::check_pct(|| free_races_repin(release_by_generation), ITERATIONS, DEPTH);
}

/// The model can fail: it finds the interleaving that broke the first protocol.
#[test]
fn the_model_catches_the_protocol_that_landed_first() {
    let caught =
        std::panic::catch_unwind(|| shuttle::check_pct(|| racing_releases(release_then_put_back), ITERATIONS, DEPTH));
    assert!(caught.is_err(), "the model check passed a protocol known to lose releases");
}
