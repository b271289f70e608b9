//! The clock of the copy path: how long a reported call kept the thread, and when it
//! returned.
//!
//! A finding reads the clock on each side of the real call. `clock_gettime` through the
//! vDSO costs 34 to 40 ns a read on the GPU machine, `rdtsc` 16 to 19 (both measured by
//! `bench/gpu/oracle_cost.c`). So the path reads the time-stamp counter where the CPU
//! says it is invariant (it ticks at one rate in every power state and on every core:
//! CPUID 0x80000007, EDX bit 8, Linux's `constant_tsc` and `nonstop_tsc`) and the
//! kernel's own clock source is the counter (the kernel drops it when the CPUs' counters
//! disagree), and converts ticks to nanoseconds with a rate it calibrates against
//! `CLOCK_MONOTONIC` itself. Elsewhere a tick is a nanosecond of `CLOCK_MONOTONIC`.
//!
//! Calibration: the counter and the monotonic clock are read together when pinguard
//! starts ([`Clock::start`]) and again whenever the time since the last calibration has
//! doubled, so a run of n seconds calibrates about log2(n / 1 us) times, each one
//! `clock_gettime`. The rate is the slope between the start and the latest pair: its
//! error is the skew between the two reads of a pair (tens of ns) over the time since
//! start, 1% after the first 10 us, 0.01% after the first millisecond.

use std::sync::atomic::{AtomicU64, Ordering};

/// The readings taken together at start, which every conversion counts from, and the
/// latest calibration (any thread may calibrate; each store is a whole, valid rate).
#[derive(Debug)]
pub struct Clock {
    /// Whether ticks are the time-stamp counter's (else `CLOCK_MONOTONIC` ns).
    tsc: bool,
    start_ticks: u64,
    start_ns: u64,
    /// Nanoseconds per tick in 32.32 fixed point, once calibrated.
    ns_per_tick_q32: AtomicU64,
    /// The tick reading of the latest calibration.
    calibrated_at: AtomicU64,
}

impl Clock {
    /// Reads the start pair; the counter only where it is invariant (and `no_tsc`, a
    /// test-only switch, is not set).
    pub fn start(no_tsc: bool) -> Clock {
        Clock::start_with(!no_tsc && invariant_tsc())
    }

    fn start_with(tsc: bool) -> Clock {
        let (start_ticks, start_ns) = pair(tsc);
        Clock {
            tsc,
            start_ticks,
            start_ns,
            ns_per_tick_q32: AtomicU64::new(1 << 32),
            calibrated_at: AtomicU64::new(start_ticks),
        }
    }

    /// A reading, in ticks.
    #[inline(always)]
    pub fn ticks(&self) -> u64 {
        if self.tsc { rdtsc() } else { monotonic_ns() }
    }

    /// `ticks` ticks in nanoseconds. `now` is a reading taken just before (the call's
    /// end): when the time since the last calibration has doubled by then, this
    /// calibrates again first.
    #[inline]
    pub fn ns(&self, ticks: u64, now: u64) -> u64 {
        if !self.tsc {
            return ticks;
        }
        let at = self.calibrated_at.load(Ordering::Relaxed);
        // A reading older than the latest calibration (another thread's, made after this
        // call ended) needs none: saturating, not wrapping, or every such reading would
        // calibrate again, and threads would take turns writing the rate's line.
        if now.saturating_sub(at) > at.saturating_sub(self.start_ticks) {
            self.calibrate();
        }
        scaled(ticks, self.ns_per_tick_q32.load(Ordering::Relaxed))
    }

    /// Nanoseconds from the start pair's monotonic reading to the reading `t`.
    pub fn since_start_ns(&self, t: u64) -> u64 {
        self.ns(t.saturating_sub(self.start_ticks), t)
    }

    #[cold]
    #[inline(never)]
    fn calibrate(&self) {
        let (ticks, ns) = pair(true);
        let (dt, dn) = (ticks.saturating_sub(self.start_ticks), ns.saturating_sub(self.start_ns));
        if dt == 0 {
            return;
        }
        let q32 = ((u128::from(dn) << 32) / u128::from(dt)).min(u128::from(u64::MAX)) as u64;
        self.ns_per_tick_q32.store(q32, Ordering::Relaxed);
        self.calibrated_at.store(ticks, Ordering::Relaxed);
    }
}

/// `ticks` times a 32.32 rate, in 128 bits (a day of ticks times the rate overflows 64).
#[inline(always)]
fn scaled(ticks: u64, q32: u64) -> u64 {
    ((u128::from(ticks) * u128::from(q32)) >> 32) as u64
}

/// A tick reading and a monotonic one, taken back to back (the counter read on both
/// sides of the clock, and their midpoint kept, halves the skew).
fn pair(tsc: bool) -> (u64, u64) {
    if !tsc {
        let n = monotonic_ns();
        return (n, n);
    }
    let before = rdtsc();
    let ns = monotonic_ns();
    let after = rdtsc();
    (before + (after.wrapping_sub(before)) / 2, ns)
}

/// The monotonic clock in nanoseconds: one `clock_gettime` (the vDSO, no system call).
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid out-parameter; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(t.tv_nsec as u64)
}

#[inline(always)]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc exists on every x86-64 CPU and has no preconditions; only
        // `invariant_tsc` returning true leads here.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        monotonic_ns()
    }
}

/// Whether the time-stamp counter can time a call: the CPU says it is invariant (CPUID
/// 0x80000007, EDX bit 8), and the kernel keeps it as its clock source. The kernel
/// checks that the counters of all CPUs agree and drops `tsc` when they do not (a
/// thread that moves between CPUs during a call would otherwise read two clocks); a
/// clock source it cannot read counts as not `tsc`.
fn invariant_tsc() -> bool {
    cpu_says_invariant() && kernel_clock_source().as_deref() == Some("tsc")
}

/// The kernel's current clock source, read once at start (not on a copy's path).
fn kernel_clock_source() -> Option<String> {
    let text = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").ok()?;
    Some(text.trim().to_owned())
}

fn cpu_says_invariant() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // cpuid exists on every x86-64 CPU (safe to call); leaf 0x80000000 says which
        // extended leaves exist, and 0x80000007 is asked for only if it does.
        __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measured interval agrees with the monotonic clock's within 1%, from the first
    /// conversion on (the rate calibrated only against the start pair).
    #[test]
    fn ticks_convert_to_the_monotonic_clocks_nanoseconds() {
        let clock = Clock::start(false);
        for wait_ms in [2u64, 20] {
            let (t0, n0) = (clock.ticks(), monotonic_ns());
            std::thread::sleep(std::time::Duration::from_millis(wait_ms));
            let (t1, n1) = (clock.ticks(), monotonic_ns());
            let ours = clock.ns(t1 - t0, t1) as f64;
            let monotonic = (n1 - n0) as f64;
            assert!((ours / monotonic - 1.0).abs() < 0.01, "{wait_ms} ms: {ours} ns by ticks against {monotonic} ns");
        }
        // and the time since start is the monotonic clock's too
        let t = clock.ticks();
        let ours = clock.since_start_ns(t) as f64;
        let monotonic = (monotonic_ns() - clock.start_ns) as f64;
        assert!((ours / monotonic - 1.0).abs() < 0.01, "{ours} against {monotonic}");
    }

    #[test]
    fn calibration_happens_when_the_time_since_the_last_has_doubled() {
        let clock = Clock::start(false);
        if !clock.tsc {
            return; // nothing to calibrate: ticks are nanoseconds
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        let t = clock.ticks();
        clock.ns(1, t);
        let first = clock.calibrated_at.load(Ordering::Relaxed);
        assert!(first > clock.start_ticks, "the first conversion calibrates");
        clock.ns(1, first + 1);
        assert_eq!(clock.calibrated_at.load(Ordering::Relaxed), first, "not again before the span has doubled");
        clock.ns(1, first - 1);
        assert_eq!(clock.calibrated_at.load(Ordering::Relaxed), first, "nor for a reading older than the calibration");
    }

    /// Without the counter a tick is a nanosecond of CLOCK_MONOTONIC, unconverted.
    #[test]
    fn without_the_counter_ticks_are_monotonic_nanoseconds() {
        let clock = Clock::start_with(false);
        let (n0, t, n1) = (monotonic_ns(), clock.ticks(), monotonic_ns());
        assert!(n0 <= t && t <= n1, "{n0} <= {t} <= {n1}");
        assert_eq!(clock.ns(12_345, t), 12_345);
        assert_eq!(clock.since_start_ns(clock.start_ticks + 7), 7);
    }

    /// The kernel's clock source is read (the counter is used only where it says `tsc`).
    #[test]
    fn the_kernels_clock_source_is_read() {
        let source = kernel_clock_source().expect("Linux names its clock source in sysfs");
        assert!(!source.is_empty() && !source.contains('\n'), "{source:?}");
        assert_eq!(Clock::start(false).tsc, cpu_says_invariant() && source == "tsc");
    }

    #[test]
    fn a_scaled_day_of_ticks_does_not_overflow() {
        let day_at_3ghz = 3_000_000_000u64 * 86_400;
        assert_eq!(scaled(day_at_3ghz, 1 << 31), day_at_3ghz / 2);
    }
}
