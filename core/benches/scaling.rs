//! Lookup throughput, 16 threads against 1, round by round: the registry benchmark's
//! `threads` group measures each thread count on its own, a few seconds apart, so the
//! machine's drift between them (other tenants of a virtual machine's host) lands in the
//! ratio; six runs on machines of one kind gave 11.1x to 13.5x. Here each round measures
//! one thread and then 16 (the order alternating from round to round) back to back, and
//! the ratio is taken within the round, as `scripts/gpu/bench.sh` does for the copy
//! loops; the median over rounds comes with a 95% bootstrap interval. Beside the lookups,
//! in the same rounds, the same threads each chasing a private cycle through 2.9 MB:
//! how far the machine itself scales this kind of load.
//!
//!   cargo bench -p pinguard-core --bench scaling   (SCALING_ROUNDS, default 21;
//!                                                   SCALING_MS per measurement, 40)
//!
//! Absolute figures mean something only on the GPU machine (`docs/benchmarks.md`).

mod common;

use std::time::Duration;

use common::{below, private_chases, random_lookups, registry_and_cycles};

const THREADS: usize = 16;

fn main() {
    let rounds: usize = std::env::var("SCALING_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(21);
    let ms: u64 = std::env::var("SCALING_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let (reg, cycles) = registry_and_cycles();
    let lookups = |t: usize, n: u64| random_lookups(&reg, t, n);
    let chase = |t: usize, n: u64| private_chases(&cycles, t, n);
    for (name, work) in [("lookup", &lookups as &dyn Fn(usize, u64) -> Duration), ("chase", &chase)] {
        // Operations per thread for about `ms` milliseconds on one thread (after a warm-up).
        work(1, 100_000);
        let probe = work(1, 200_000);
        let n = (200_000.0 * ms as f64 / (probe.as_secs_f64() * 1e3)).max(10_000.0) as u64;
        let mut ratios = Vec::with_capacity(rounds);
        let mut one_ns = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let (t1, t16) = if r % 2 == 0 {
                let a = work(1, n);
                (a, work(THREADS, n))
            } else {
                let b = work(THREADS, n);
                (work(1, n), b)
            };
            // Throughput with 16 threads over throughput with one: each did n operations.
            ratios.push(THREADS as f64 * t1.as_secs_f64() / t16.as_secs_f64());
            one_ns.push(t1.as_secs_f64() * 1e9 / n as f64);
        }
        let (m, lo, hi) = quartiles(&ratios);
        let (blo, bhi) = interval(&ratios);
        println!(
            "scaling {name} {THREADS}/1 threads: median {m:.2}x [IQR {lo:.2} .. {hi:.2}]; 95% interval of the median [{blo:.2}, {bhi:.2}] over {rounds} interleaved rounds of {n} operations a thread; one thread {:.1} ns an operation",
            quartiles(&one_ns).0
        );
    }
}

fn quartiles(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// 95% percentile-bootstrap interval of the median (fixed seed: the same rounds give the
/// same interval).
fn interval(xs: &[f64]) -> (f64, f64) {
    let mut x = 20_261_201u64;
    let mut medians: Vec<f64> = (0..10_000)
        .map(|_| {
            let sample: Vec<f64> = (0..xs.len()).map(|_| xs[below(&mut x, xs.len())]).collect();
            quartiles(&sample).0
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    (medians[250], medians[9_749])
}
