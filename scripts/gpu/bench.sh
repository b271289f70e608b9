#!/usr/bin/env bash
# pinguard's cost, measured on the GPU machine, everything side by side in one run
# (scripts/dev/prepare-gpu.sh builds what it needs into .gpu/ first):
#
#   bash scripts/gpu/bench.sh            results under $OUT (or /tmp/pinguard-bench)
#
# 1. copy loops (nvcc, static and shared runtime): 4 KiB pinned cudaMemcpyAsync, host ns
#    per call, without a preload, with the floor interposer (bench/floor/floor.c), with
#    pinguard in log mode and in off mode (and the BEFORE build); ROUNDS rounds, the
#    configurations interleaved in each, each round starting one further along, on one
#    pinned CPU, each run the median of its batches after a
#    warm-up; reported as the median over rounds and its interquartile range, and the
#    ratio to no preload round by round, with a 95% bootstrap interval of its median (the
#    "spread" the targets speak of is that interval's width);
# 2. the pageable loop (what the program's own blocked time is, beside pinguard's cost),
#    and what its driver query and clock reads cost alone (bench/gpu/oracle_cost.c);
# 3. the pinned loop under compute-sanitizer, for reference;
# 4. micro-benchmarks (criterion: registry, threads; thread scaling round by round,
#    core/benches/scaling.rs; memory per range; report rendering);
# 5. fakecuda hot loops (pinguard's own cost without GPU noise): pinned, pageable
#    repeated at one site, register/unregister at 100 000 ranges;
# 6. dlsym through a libcuda handle; start-up of a program that never touches CUDA;
#    resident memory;
# 7. real programs, with and without pinguard: two cuda-samples, asyncAPI and
#    simpleStreams (built here with nvcc's defaults, the static runtime, where
#    prepare-gpu.sh carried them: CUDA_SAMPLES), REAL_PROGRAMS (commands separated by
#    ';') and a PyTorch training step.
# 8. (PARTS=profile only, never by default: it slows what it watches) where the time of
#    the pageable and pinned loops and of the fakecuda pageable loop goes, sampled by
#    bench/prof/sampler.c (this machine has no perf) and named by
#    scripts/gpu/sample-report.py; the raw samples too, to name pinguard's addresses again
#    where its unstripped build is (--map libpinguard.so=target/release/libpinguard.so).
#
# RUNTIMES ("static shared" by default) picks the pinned loop's runtime builds.
# PARTS (comma list of pinned,pageable,oracle,sanitizer,micro,fake,dlsym,startup,real,profile;
# default all but profile) picks parts. Where .gpu/before/ holds an earlier build (prepare-gpu.sh
# with BEFORE=COMMIT), the pageable loop, the fakecuda loops, dlsym and the
# micro-benchmarks also run it, interleaved with the current one: before and after in
# one run, on one machine. With PACK=1 the raw files end up in one
# $OUT/bench-raw.tar.gz beside $OUT/bench.txt, for tools that bring back only a few files.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-bench}
mkdir -p "$out"
g=$root/.gpu
lib=$g/libpinguard.so
b=$root/build/bench
mkdir -p "$b"
ROUNDS=${ROUNDS:-40}
CPU=${BENCH_CPU:-3}
if [ "$CPU" -ge "$(nproc)" ]; then
    echo "bench-gpu: BENCH_CPU=$CPU is not a CPU of this machine ($(nproc) CPUs); using CPU $(($(nproc) - 1))" >&2
    CPU=$(($(nproc) - 1))
fi
PARTS=${PARTS:-pinned,pageable,oracle,sanitizer,micro,fake,dlsym,startup,real}
want() { [[ ",$PARTS," == *",$1,"* ]]; }
before=$g/before/libpinguard.so
[ -f "$before" ] || before=""
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$CPU")
log() { echo "$*" | tee -a "$out/bench.txt"; }
: > "$out/bench.txt"
log "date: $(date -u)"
log "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n 1)"
log "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; pinned to CPU $CPU: ${pin[*]:-no taskset}"
log "cpu topology: $(lscpu 2>/dev/null | grep -E "^(Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|L2 cache|L3 cache):" | sed "s/  */ /g" | paste -sd";" -)"
log "clock source: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown); cpu flags: $(grep -m1 -o -w -E 'constant_tsc|nonstop_tsc|tsc_known_freq|hypervisor' /proc/cpuinfo | sort -u | paste -sd' ' -)"
log "commit: $(cat "$g/commit" 2>/dev/null || echo unknown); before: $(cat "$g/before/commit" 2>/dev/null || echo none)"

nvcc -O2 -cudart static bench/gpu/copy_loop.cu -o "$b/loop_static"
nvcc -O2 -cudart shared bench/gpu/copy_loop.cu -o "$b/loop_shared"
gcc -O2 -shared -fPIC -Wl,-Bsymbolic-functions bench/floor/floor.c -o "$b/libfloor.so" -ldl
gcc -O2 bench/gpu/dlsym_loop.c -o "$b/dlsym_loop" -ldl

# one configuration's environment
cfg_env() {
    case $1 in
        none) echo "" ;;
        floor) echo "LD_PRELOAD=$b/libfloor.so" ;;
        log) echo "LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=1" ;;
        off) echo "LD_PRELOAD=$lib PINGUARD_OPTIONS=mode=off" ;;
        # the copy checked and classified (the driver query too), but not reported:
        # min_bytes above its size makes it a "small" copy, counted only
        classify) echo "LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=1:min_bytes=8192" ;;
        before) echo "LD_PRELOAD=$before PINGUARD_OPTIONS=summary=1" ;;
        # pageable-pair: 4096-byte copies reported, 4095-byte ones classified only
        pair) echo "LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=1:min_bytes=4096" ;;
        beforepair) echo "LD_PRELOAD=$before PINGUARD_OPTIONS=summary=1:min_bytes=4096" ;;
        # the floor, with the fixed parts of an exact, timed finding (the driver query,
        # two counter reads) on the 4096-byte copies only
        floorpair) echo "LD_PRELOAD=$b/libfloor.so FLOOR_EXACT_FROM=4096" ;;
        # a build from prepare-gpu.sh's BUILDS, in log mode as "log" is
        b-*) echo "LD_PRELOAD=$g/builds/${1#b-}/libpinguard.so PINGUARD_OPTIONS=summary=1" ;;
    esac
}

# rotated R CFG...: the configurations in round R's order, each round's starting one
# further along. In a fixed order, a disturbance of the host that recurs at about a
# round's length falls on the same configuration round after round: at 00:53 (seventh
# session) 7 of pinguard's 40 shared-runtime runs, in rounds 19 to 38 and five of them in
# rounds 24 to 29, were 3.4 to 11% slower than their round, and no other configuration's.
# Rotated, it moves from one configuration to the next.
rotated() {
    local r=$1
    shift
    local cfgs=("$@") n=$#
    for ((i = 0; i < n; i++)); do echo "${cfgs[$(((i + r) % n))]}"; done
}

# 1. pinned loop, interleaved rounds
# (with BEFORE, the earlier build too, in the same rounds: a difference between sessions'
# machines and a difference between builds then read apart)
pinned_cfgs=(none floor log off)
[ -n "$before" ] && pinned_cfgs+=(before)
# and each build of prepare-gpu.sh's BUILDS, as b-SHORT
for d in "$g"/builds/*/; do
    [ -f "$d/libpinguard.so" ] && pinned_cfgs+=("b-$(basename "$d")")
done
want pinned && for rt in ${RUNTIMES:-static shared}; do
    for cfg in "${pinned_cfgs[@]}"; do : > "$out/pinned-$rt-$cfg.txt"; done
    : > "$out/runs-pinned-$rt.txt"
    for r in $(seq 1 "$ROUNDS"); do
        slot=0
        for cfg in $(rotated "$r" "${pinned_cfgs[@]}"); do
            # shellcheck disable=SC2046
            line=$(env $(cfg_env $cfg) "${pin[@]}" "$b/loop_$rt" pinned 4096 20000 15 2>"$out/stderr-$rt-$cfg.txt")
            sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p' <<< "$line" >> "$out/pinned-$rt-$cfg.txt"
            # every run, for reading a slow one afterwards: its round, slot, batches'
            # spread and, with pinguard, its summary's counts
            echo "round=$r slot=$slot cfg=$cfg $line $(grep -o '\[summary=1 [^]]*' "$out/stderr-$rt-$cfg.txt" | tail -n 1)" >> "$out/runs-pinned-$rt.txt"
            slot=$((slot + 1))
        done
    done
    # pinguard must really have been there (a figure "with pinguard" means nothing else)
    grep -q ' checked=[1-9]' "$out/stderr-$rt-log.txt" || log "WARNING: pinguard did not check the $rt loop's copies"
done

# 2. pageable loop (the program's own blocked time per call, and pinguard's on top):
#    none, pinguard reporting (log), pinguard classifying only (classify: the driver
#    query, no clock, stack or site), off, and the earlier build if there is one
pageable_cfgs=(none log classify off)
[ -n "$before" ] && pageable_cfgs+=(before)
want pageable && for rt in static shared; do
    for cfg in "${pageable_cfgs[@]}"; do : > "$out/pageable-$rt-$cfg.txt"; done
    for r in $(seq 1 "${PAGEABLE_ROUNDS:-7}"); do
        for cfg in $(rotated "$r" "${pageable_cfgs[@]}"); do
            # shellcheck disable=SC2046
            env $(cfg_env $cfg) "${pin[@]}" "$b/loop_$rt" pageable 4096 2000 9 2>"$out/stderr-pageable-$rt-$cfg.txt" |
                sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p' >> "$out/pageable-$rt-$cfg.txt"
        done
    done
    grep -q 'pageable=[1-9]' "$out/stderr-pageable-$rt-log.txt" || log "WARNING: pinguard reported no pageable copy in the $rt loop"
    grep -q 'small=[1-9]' "$out/stderr-pageable-$rt-classify.txt" || log "WARNING: the classify-only $rt run counted no small copy"
    # In one process: batches of 4096-byte copies (reported) and 4095-byte ones (only
    # classified) alternate, so their difference is what reporting costs, free of the
    # run-to-run spread of the real copy; without pinguard, the control.
    pair_cfgs=(none pair floorpair)
    [ -n "$before" ] && pair_cfgs+=(beforepair)
    for cfg in "${pair_cfgs[@]}"; do : > "$out/pair-$rt-$cfg.txt"; done
    for r in $(seq 1 "${PAGEABLE_ROUNDS:-7}"); do
        for cfg in $(rotated "$r" "${pair_cfgs[@]}"); do
            # shellcheck disable=SC2046
            env $(cfg_env $cfg) "${pin[@]}" "$b/loop_$rt" pageable-pair 4096 2000 9 2>"$out/stderr-pair-$rt-$cfg.txt" |
                sed -n 's/ns_per_call=\([0-9.]*\) .*smaller_ns_per_call=\([0-9.]*\).*/\1 \2/p' >> "$out/pair-$rt-$cfg.txt"
        done
    done
    grep -q 'small=[1-9]' "$out/stderr-pair-$rt-pair.txt" || log "WARNING: the $rt pair run counted no small copy"
    grep -q 'queries_answered=[1-9]' "$out/stderr-pair-$rt-floorpair.txt" || log "WARNING: the $rt floor pair run made no driver query"
done

python3 - "$out" "$ROUNDS" <<'PY' | tee -a "$out/bench.txt"
import statistics, sys, pathlib
out = pathlib.Path(sys.argv[1])
def q(xs):
    xs = sorted(xs)
    n = len(xs)
    return statistics.median(xs), xs[n // 4], xs[(3 * n) // 4]
def read(name):
    p = out / name
    return [float(x) for x in p.read_text().split()] if p.exists() else []
def interval(xs, resamples=10000):
    """95% percentile-bootstrap interval of the median of xs (fixed seed: a rerun of the
    summary on the same files gives the same interval)."""
    import random
    rng = random.Random(20261201)
    ms = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(resamples))
    return ms[int(0.025 * resamples)], ms[int(0.975 * resamples) - 1]
for rt in ("static", "shared"):
    none = read(f"pinned-{rt}-none.txt")
    if not none:
        continue
    m0, _, _ = q(none)
    print(f"pinned 4 KiB loop, {rt} runtime, host ns per call over {len(none)} interleaved rounds (median [IQR], spread = IQR/median):")
    builds = sorted(p.name[len(f"pinned-{rt}-"):-len(".txt")] for p in out.glob(f"pinned-{rt}-b-*.txt"))
    cfgs = [c for c in ("none", "floor", "log", "off", "before", *builds) if read(f"pinned-{rt}-{c}.txt")]
    for cfg in cfgs:
        xs = read(f"pinned-{rt}-{cfg}.txt")
        m, lo, hi = q(xs)
        print(f"  {cfg:9s} {m:8.1f} [{lo:.1f} .. {hi:.1f}]  spread {100 * (hi - lo) / m:.2f}%  ratio to none {m / m0:.4f}  minus none {m - m0:+.1f} ns")
    # ratios within each round (pairs measured back to back)
    for cfg in cfgs[1:]:
        xs = read(f"pinned-{rt}-{cfg}.txt")
        pairs = [x / y for x, y in zip(xs, none)]
        m, lo, hi = q(pairs)
        blo, bhi = interval(pairs)
        print(f"  round-by-round ratio {cfg}/none: median {m:.4f} [IQR {lo:.4f} .. {hi:.4f}]; 95% interval of the median [{blo:.4f}, {bhi:.4f}], width {100 * (bhi - blo):.2f}%")
    fl, lg = read(f"pinned-{rt}-floor.txt"), read(f"pinned-{rt}-log.txt")
    d = [l - f for l, f in zip(lg, fl)]
    m, lo, hi = q(d)
    blo, bhi = interval(d)
    print(f"  pinguard (log) minus floor, round by round: median {m:+.1f} ns [IQR {lo:+.1f} .. {hi:+.1f}]; 95% interval of the median [{blo:+.1f}, {bhi:+.1f}]")
    # slow processes: a run well above the median of its own round. A machine's noise
    # falls on every configuration alike; a count that stands out in one configuration
    # is that configuration's (7 of 40 in log, 0 to 1 elsewhere, shared runtime, 00:53)
    cols = {c: read(f"pinned-{rt}-{c}.txt") for c in cfgs}
    rounds = min(len(v) for v in cols.values())
    mids = [statistics.median(cols[c][i] for c in cfgs) for i in range(rounds)]
    slow = {c: sum(cols[c][i] > 1.03 * mids[i] for i in range(rounds)) for c in cfgs}
    print("  runs more than 3% above their round's median: " + ", ".join(f"{c} {n}" for c, n in slow.items()) + f" (of {rounds})")
for rt in ("static", "shared"):
    none = read(f"pageable-{rt}-none.txt")
    if not none:
        continue
    print(f"pageable 4 KiB loop, {rt} runtime, host ns per call over {len(none)} interleaved rounds (the copy itself blocks the host):")
    for cfg in ("none", "log", "classify", "off", "before"):
        xs = read(f"pageable-{rt}-{cfg}.txt")
        if not xs:
            continue
        m, lo, hi = q(xs)
        d = [x - y for x, y in zip(xs, none)]
        dm, dlo, dhi = q(d)
        print(f"  {cfg:8s} {m:8.1f} [{lo:.1f} .. {hi:.1f}]  minus none, round by round: {dm:+.1f} ns [{dlo:+.1f} .. {dhi:+.1f}]")
    lg, cl = read(f"pageable-{rt}-log.txt"), read(f"pageable-{rt}-classify.txt")
    if lg and cl:
        d = [x - y for x, y in zip(lg, cl)]
        print(f"  reporting alone (log minus classify, round by round): {q(d)[0]:+.1f} ns")
    whats = {
        "none": "control without pinguard (4096 minus 4095 bytes)",
        "pair": "reporting a finding (4096 reported minus 4095 classified only)",
        "beforepair": "the earlier build, reporting a finding (the same pair)",
        "floorpair": "the floor's exact, timed parts (driver query and two counter reads on 4096, none on 4095)",
    }
    for cfg, what in whats.items():
        p = out / f"pair-{rt}-{cfg}.txt"
        rows = [tuple(map(float, l.split())) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []
        if rows:
            d = [a - b for a, b in rows]
            m, lo, hi = q(d)
            print(f"  in one process, {what}: {m:+.1f} ns [{lo:+.1f} .. {hi:+.1f}] over {len(d)} runs")
PY

# 2b. what the pageable path's driver query (the oracle) and clock reads cost by themselves
want oracle && gcc -O2 bench/gpu/oracle_cost.c -o "$b/oracle_cost" -ldl && "${pin[@]}" "$b/oracle_cost" | while read -r line; do log "$line"; done

# 3. compute-sanitizer, for reference (a few thousand calls)
if want sanitizer && command -v compute-sanitizer >/dev/null; then
    cs=$(compute-sanitizer --tool memcheck "$b/loop_static" pinned 4096 2000 5 2>/dev/null | sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p')
    log "compute-sanitizer memcheck, pinned 4 KiB loop (static): ${cs:-failed} ns per call"
fi

# 4. micro-benchmarks (built here by prepare-gpu.sh; criterion's report: time [low mid high])
micro() { # micro BINARY LABEL
    # Single-thread groups on the pinned CPU; the threads group on every CPU (pinned to
    # one, 16 threads share it and the scaling figure means nothing: it did once).
    { "${pin[@]}" "$1" --bench --warm-up-time 1 --measurement-time 2 --noplot 'registry|classify|sites'
      "$1" --bench --warm-up-time 1 --measurement-time 2 --noplot 'threads'; } 2>&1 |
        grep -E '^(registry|threads|classify|sites)|time:|thrpt:' > "$out/micro-$2.txt"
    log "micro-benchmarks (criterion), $2: $out/micro-$2.txt"
    # One line per benchmark: its name (criterion puts a long one on a line of its own)
    # and its time (the first "time:" after the name; a second is criterion's change
    # against an earlier run).
    awk '/^(registry|threads|classify|sites)/ { name = $1 } /time:/ && name != "" { sub(/^.*time:/, "time:"); print name, $0; name = "" }' "$out/micro-$2.txt" |
        sed 's/  */ /g' | sed "s/^/$2 /" | tee -a "$out/bench.txt"
}
if want micro; then
    [ -x "$g/bench-registry" ] && micro "$g/bench-registry" now
    [ -n "$before" ] && [ -x "$g/before/bench-registry" ] && micro "$g/before/bench-registry" before
    # thread scaling, 16 against 1, round by round (on every CPU, as the threads group)
    [ -x "$g/bench-scaling" ] && "$g/bench-scaling" | tee -a "$out/bench.txt"
    [ -x "$g/bench-memory" ] && "$g/bench-memory" | tee -a "$out/bench.txt"
    [ -x "$g/bench-render" ] && "$g/bench-render" | tee -a "$out/bench.txt"
fi

# 5. fakecuda hot loops: pinguard's own cost, no GPU noise
if want fake && [ -x "$g/hotloop" ]; then
    export LD_LIBRARY_PATH="$g/fakecuda"
    for spec in "pinned 50000" "pageable 50000" "register 5000 100000"; do
        set -- $spec
        for r in 1 2 3; do
            n=$("${pin[@]}" "$g/hotloop" "$@" | sed 's/ns_per_call=//')
            f=$(LD_PRELOAD=$b/libfloor.so "${pin[@]}" "$g/hotloop" "$@" | sed 's/ns_per_call=//')
            p=$(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 "${pin[@]}" "$g/hotloop" "$@" 2>/dev/null | sed 's/ns_per_call=//')
            o=""
            [ -n "$before" ] && o=", before $(LD_PRELOAD=$before PINGUARD_OPTIONS=summary=0 "${pin[@]}" "$g/hotloop" "$@" 2>/dev/null | sed 's/ns_per_call=//') ns"
            log "fakecuda $1 (${3:-0} ranges) round $r: none $n ns, floor $f ns, pinguard $p ns per call$o"
        done
    done
    # memory a call site costs: max RSS with 1, 1024 and 4096 distinct sites (the cap)
    for n in 1 1024 4096; do
        a=$(/usr/bin/time -f %M "$g/hotloop" sites "$n" 2>&1 >/dev/null | tail -n 1)
        p=$(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0:print_limit=0 /usr/bin/time -f %M "$g/hotloop" sites "$n" 2>&1 >/dev/null | tail -n 1)
        log "fakecuda max RSS with $n distinct sites, KiB: without $a, with pinguard $p"
    done
    unset LD_LIBRARY_PATH
fi

# 6. dlsym through a libcuda handle (on the pinned CPU, interleaved); start-up without
#    CUDA; resident memory
if want dlsym; then
    ratios=()
    before_ratios=()
    for r in 1 2 3 4 5 6 7 8 9; do
        bare=$("${pin[@]}" "$b/dlsym_loop") with=$(LD_PRELOAD=$lib "${pin[@]}" "$b/dlsym_loop")
        o=""
        if [ -n "$before" ]; then
            old=$(LD_PRELOAD=$before "${pin[@]}" "$b/dlsym_loop")
            o=" | before: $old"
            before_ratios+=("$(awk -v a="$bare" -v b="$old" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", y[2] / x[2] }')")
        fi
        log "dlsym via libcuda handle, round $r: $bare | with pinguard: $with$o"
        ratios+=("$(awk -v a="$bare" -v b="$with" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", y[2] / x[2] }')")
    done
    log "dlsym of a hooked name, with / without pinguard, round by round: median $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 5p)x (${ratios[*]})"
    [ -n "$before" ] && log "the same, before: median $(printf '%s\n' "${before_ratios[@]}" | sort -n | sed -n 5p)x (${before_ratios[*]})"
fi
want startup && python3 - "$lib" <<'PY' | tee -a "$out/bench.txt"
import os, statistics, subprocess, sys, time
lib = sys.argv[1]
def once(env):
    t = time.perf_counter()
    subprocess.run(["/bin/true"], env=env, check=True)
    return (time.perf_counter() - t) * 1e3
bare, pg = [], []
base = dict(os.environ)
with_pg = dict(base, LD_PRELOAD=lib)
for _ in range(300):
    bare.append(once(base))
    pg.append(once(with_pg))
mb, mp = statistics.median(bare), statistics.median(pg)
print(f"start-up of /bin/true (no CUDA), median of 300 interleaved runs: without {mb:.3f} ms, with pinguard {mp:.3f} ms: {mp - mb:+.3f} ms")
PY
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
want startup && log "max RSS, pinned loop (static), KiB: without $(rss "$b/loop_static" pinned 4096 20000 3), with pinguard $(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 rss "$b/loop_static" pinned 4096 20000 3)"
want startup && log "max RSS, pageable loop (static), KiB: without $(rss "$b/loop_static" pageable 4096 2000 3), with pinguard $(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 rss "$b/loop_static" pageable 4096 2000 3)"

# 7. real programs
IFS=';' read -r -a programs <<< "${REAL_PROGRAMS:-}"
if want real && [ -f "$g/samples/asyncAPI.cu" ]; then
    for sample in asyncAPI simpleStreams; do
        if nvcc -O2 --extended-lambda -I"$g/samples" "$g/samples/$sample.cu" -o "$b/$sample" > "$out/build-$sample.txt" 2>&1; then
            programs+=("$b/$sample")
        else
            log "WARNING: cuda-samples $sample did not build ($out/build-$sample.txt)"
        fi
    done
fi
want real || programs=()
for p in "${programs[@]}"; do
    [ -n "$p" ] || continue
    for r in 1 2 3; do
        t=$(python3 - "$p" "$lib" <<'PY'
import os, re, subprocess, sys, time
cmd, lib = sys.argv[1], sys.argv[2]
def run(env):
    t = time.perf_counter()
    done = subprocess.run(["bash", "-c", cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t, done.returncode, done.stderr.decode(errors="replace")
a, rc_a, _ = run(dict(os.environ))
# summary=1: one line at exit, so the figure shows pinguard was there and what it checked
b, rc_b, err = run(dict(os.environ, LD_PRELOAD=lib, PINGUARD_OPTIONS="summary=1"))
m = re.search(r"\[summary=1 .*?findings=(\d+) checked=(\d+)", err)
checked, findings = (int(m.group(2)), int(m.group(1))) if m else (0, 0)
line = f"without {a:.3f} s (exit {rc_a}), with pinguard {b:.3f} s (exit {rc_b}; {checked} copies checked, {findings} findings)"
if rc_a != rc_b:
    line += "; WARNING: the exit status differs"
if checked == 0:
    line += "; WARNING: pinguard checked no copy, so this is no figure with pinguard"
print(line)
PY
)
        log "real program '$p' round $r: $t"
    done
done
want real && for r in 1 2 3; do
    a=$(python3 scripts/gpu/scenarios.py torch_train_step 2>/dev/null | sed -n 's/ms_per_step=//p')
    c=$(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=1 python3 scripts/gpu/scenarios.py torch_train_step 2>"$out/stderr-torch-step.txt" | sed -n 's/ms_per_step=//p')
    # the summary line at exit: pinguard was there and checked the step's copies
    n=$(sed -n 's/.*\[summary=1 .* checked=\([0-9]*\).*/\1/p' "$out/stderr-torch-step.txt" | tail -n 1)
    log "PyTorch training step (pinned DataLoader) round $r: without $a ms, with pinguard $c ms (${n:-0} copies checked)"
    [ "${n:-0}" -gt 0 ] || log "WARNING: pinguard checked none of the training step's copies"
done
# 8. sampled profiles (see the header)
if want profile; then
    gcc -O2 -shared -fPIC bench/prof/sampler.c -o "$b/libsampler.so" -lrt
    prof() { # prof NAME ENV... -- COMMAND...
        local name=$1 env=()
        shift
        while [ "$1" != -- ]; do env+=("$1"); shift; done
        shift
        env "${env[@]}" SAMPLER_US="${SAMPLER_US:-97}" SAMPLER_OUT="$out/samples-$name.txt" "${pin[@]}" "$@" > "$out/prof-$name.out" 2>&1
        python3 scripts/gpu/sample-report.py "$out/samples-$name.txt" --top 45 > "$out/profile-$name.txt"
        log "profile $name: $(head -n 1 "$out/profile-$name.txt"); $(grep -m1 ns_per_call "$out/prof-$name.out")"
    }
    prof pageable-static LD_PRELOAD="$b/libsampler.so:$lib" PINGUARD_OPTIONS=summary=1 -- "$b/loop_static" pageable 4096 40000 9
    prof pageable-static-none LD_PRELOAD="$b/libsampler.so" -- "$b/loop_static" pageable 4096 40000 9
    prof pinned-static LD_PRELOAD="$b/libsampler.so:$lib" PINGUARD_OPTIONS=summary=1 -- "$b/loop_static" pinned 4096 50000 9
    [ -x "$g/hotloop" ] && prof fake-pageable LD_LIBRARY_PATH="$g/fakecuda" LD_PRELOAD="$b/libsampler.so:$lib" PINGUARD_OPTIONS=summary=0 -- "$g/hotloop" pageable 200000
fi
log "done: $(date -u)"
if [ -n "${PACK:-}" ]; then
    pack=$(mktemp -d)
    mv "$out/bench.txt" "$pack/"
    tar -czf "$pack/bench-raw.tar.gz" -C "$out" . && rm -rf "${out:?}"/* && mv "$pack"/* "$out/"
fi
