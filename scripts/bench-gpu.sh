#!/usr/bin/env bash
# pinguard's cost, measured on the GPU machine, everything side by side in one run
# (scripts/prepare-gpu.sh builds what it needs into .gpu/ first):
#
#   bash scripts/bench-gpu.sh            results under $OUT (or /tmp/pinguard-bench)
#
# 1. copy loops (nvcc, static and shared runtime): 4 KiB pinned cudaMemcpyAsync, host ns
#    per call, without a preload, with the floor interposer (bench/floor/floor.c), with
#    pinguard in log mode and in off mode; ROUNDS rounds, the four configurations
#    interleaved in each, on one pinned CPU, each run the median of its batches after a
#    warm-up; reported as the median over rounds and its interquartile range;
# 2. the pageable loop (what the program's own blocked time is, beside pinguard's cost),
#    and what its driver query and clock reads cost alone (bench/gpu/oracle_cost.c);
# 3. the pinned loop under compute-sanitizer, for reference;
# 4. micro-benchmarks (criterion: registry, threads; memory per range; report rendering);
# 5. fakecuda hot loops (pinguard's own cost without GPU noise): pinned, pageable
#    repeated at one site, register/unregister at 100 000 ranges;
# 6. dlsym through a libcuda handle; start-up of a program that never touches CUDA;
#    resident memory;
# 7. real programs, with and without pinguard: REAL_PROGRAMS (commands separated by ';')
#    and a PyTorch training step.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-bench}
mkdir -p "$out"
g=$root/.gpu
lib=$g/libpinguard.so
b=$root/build/bench
mkdir -p "$b"
ROUNDS=${ROUNDS:-10}
CPU=${BENCH_CPU:-3}
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$CPU")
log() { echo "$*" | tee -a "$out/bench.txt"; }
: > "$out/bench.txt"
log "date: $(date -u)"
log "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n 1)"
log "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; pinned to CPU $CPU: ${pin[*]:-no taskset}"
log "cpu topology: $(lscpu 2>/dev/null | grep -E "^(Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|L2 cache|L3 cache):" | sed "s/  */ /g" | paste -sd";" -)"

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
    esac
}

# 1. pinned loop, interleaved rounds
for rt in static shared; do
    for cfg in none floor log off; do : > "$out/pinned-$rt-$cfg.txt"; done
    for r in $(seq 1 "$ROUNDS"); do
        for cfg in none floor log off; do
            # shellcheck disable=SC2046
            env $(cfg_env $cfg) "${pin[@]}" "$b/loop_$rt" pinned 4096 20000 15 2>"$out/stderr-$rt-$cfg.txt" |
                sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p' >> "$out/pinned-$rt-$cfg.txt"
        done
    done
    # pinguard must really have been there (a figure "with pinguard" means nothing else)
    grep -q 'checked=[1-9]' "$out/stderr-$rt-log.txt" || log "WARNING: pinguard did not check the $rt loop's copies"
done

# 2. pageable loop (the program's own blocked time per call, and pinguard's on top)
for rt in static shared; do
    for cfg in none log; do : > "$out/pageable-$rt-$cfg.txt"; done
    for r in $(seq 1 5); do
        for cfg in none log; do
            env $(cfg_env $cfg) "${pin[@]}" "$b/loop_$rt" pageable 4096 2000 9 2>/dev/null |
                sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p' >> "$out/pageable-$rt-$cfg.txt"
        done
    done
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
for rt in ("static", "shared"):
    none = read(f"pinned-{rt}-none.txt")
    if not none:
        continue
    m0, _, _ = q(none)
    print(f"pinned 4 KiB loop, {rt} runtime, host ns per call over {len(none)} interleaved rounds (median [IQR], spread = IQR/median):")
    for cfg in ("none", "floor", "log", "off"):
        xs = read(f"pinned-{rt}-{cfg}.txt")
        m, lo, hi = q(xs)
        print(f"  {cfg:5s} {m:8.1f} [{lo:.1f} .. {hi:.1f}]  spread {100 * (hi - lo) / m:.2f}%  ratio to none {m / m0:.4f}  minus none {m - m0:+.1f} ns")
    # ratios within each round (pairs measured back to back)
    for cfg in ("floor", "log", "off"):
        xs = read(f"pinned-{rt}-{cfg}.txt")
        pairs = [x / y for x, y in zip(xs, none)]
        m, lo, hi = q(pairs)
        print(f"  round-by-round ratio {cfg}/none: median {m:.4f} [{lo:.4f} .. {hi:.4f}]")
    fl, lg = read(f"pinned-{rt}-floor.txt"), read(f"pinned-{rt}-log.txt")
    d = [l - f for l, f in zip(lg, fl)]
    m, lo, hi = q(d)
    print(f"  pinguard (log) minus floor, round by round: median {m:+.1f} ns [{lo:+.1f} .. {hi:+.1f}]")
for rt in ("static", "shared"):
    a, b = read(f"pageable-{rt}-none.txt"), read(f"pageable-{rt}-log.txt")
    if a and b:
        print(f"pageable 4 KiB loop, {rt}: without {q(a)[0]:.0f} ns per call (the copy itself, host blocked), with pinguard {q(b)[0]:.0f} ns: {q(b)[0] - q(a)[0]:+.0f} ns")
PY

# 2b. what the pageable path's driver query (the oracle) and clock reads cost by themselves
gcc -O2 bench/gpu/oracle_cost.c -o "$b/oracle_cost" -ldl && "$b/oracle_cost" | while read -r line; do log "$line"; done

# 3. compute-sanitizer, for reference (a few thousand calls)
if command -v compute-sanitizer >/dev/null; then
    cs=$(compute-sanitizer --tool memcheck "$b/loop_static" pinned 4096 2000 5 2>/dev/null | sed -n 's/ns_per_call=\([0-9.]*\).*/\1/p')
    log "compute-sanitizer memcheck, pinned 4 KiB loop (static): ${cs:-failed} ns per call"
fi

# 4. micro-benchmarks (built here by prepare-gpu.sh; criterion's report: time [low mid high])
if [ -x "$g/bench-registry" ]; then
    # Single-thread groups on the pinned CPU; the threads group on every CPU (pinned to
    # one, 16 threads share it and the scaling figure means nothing: it did once).
    { "${pin[@]}" "$g/bench-registry" --bench --warm-up-time 1 --measurement-time 2 --noplot 'registry|classify'
      "$g/bench-registry" --bench --warm-up-time 1 --measurement-time 2 --noplot 'threads'; } 2>&1 |
        grep -E '^(registry|threads|classify)|time:|thrpt:' > "$out/micro.txt"
    log "micro-benchmarks (criterion): $out/micro.txt"
    grep -E -A1 '^(registry|threads|classify)' "$out/micro.txt" | grep -v '^--' | paste - - | sed 's/  */ /g' | tee -a "$out/bench.txt"
fi
[ -x "$g/bench-memory" ] && "$g/bench-memory" | tee -a "$out/bench.txt"
[ -x "$g/bench-render" ] && "$g/bench-render" | tee -a "$out/bench.txt"

# 5. fakecuda hot loops: pinguard's own cost, no GPU noise
if [ -x "$g/hotloop" ]; then
    export LD_LIBRARY_PATH="$g/fakecuda"
    for spec in "pinned 50000" "pageable 50000" "register 5000 100000"; do
        set -- $spec
        for r in 1 2 3; do
            n=$("${pin[@]}" "$g/hotloop" "$@" | sed 's/ns_per_call=//')
            f=$(LD_PRELOAD=$b/libfloor.so "${pin[@]}" "$g/hotloop" "$@" | sed 's/ns_per_call=//')
            p=$(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 "${pin[@]}" "$g/hotloop" "$@" 2>/dev/null | sed 's/ns_per_call=//')
            log "fakecuda $1 (${3:-0} ranges) round $r: none $n ns, floor $f ns, pinguard $p ns per call"
        done
    done
    unset LD_LIBRARY_PATH
fi

# 6. dlsym through a libcuda handle; start-up without CUDA; resident memory
ratios=()
for r in 1 2 3 4 5 6 7; do
    bare=$("$b/dlsym_loop") with=$(LD_PRELOAD=$lib "$b/dlsym_loop")
    log "dlsym via libcuda handle, round $r: $bare | with pinguard: $with"
    ratios+=("$(awk -v a="$bare" -v b="$with" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", y[2] / x[2] }')")
done
log "dlsym of a hooked name, with / without pinguard, round by round: median $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 4p)x (${ratios[*]})"
python3 - "$lib" <<'PY' | tee -a "$out/bench.txt"
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
log "max RSS, pinned loop (static), KiB: without $(rss "$b/loop_static" pinned 4096 20000 3), with pinguard $(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 rss "$b/loop_static" pinned 4096 20000 3)"
log "max RSS, pageable loop (static), KiB: without $(rss "$b/loop_static" pageable 4096 2000 3), with pinguard $(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 rss "$b/loop_static" pageable 4096 2000 3)"

# 7. real programs
IFS=';' read -r -a programs <<< "${REAL_PROGRAMS:-}"
for p in "${programs[@]}"; do
    [ -n "$p" ] || continue
    for r in 1 2 3; do
        t=$(python3 - "$p" "$lib" <<'PY'
import os, subprocess, sys, time
cmd, lib = sys.argv[1], sys.argv[2]
def run(env):
    t = time.perf_counter()
    subprocess.run(["bash", "-c", cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
a = run(dict(os.environ))
b = run(dict(os.environ, LD_PRELOAD=lib, PINGUARD_OPTIONS="summary=0"))
print(f"without {a:.3f} s, with pinguard {b:.3f} s")
PY
)
        log "real program '$p' round $r: $t"
    done
done
for r in 1 2 3; do
    a=$(python3 scripts/gpu_scenarios.py torch_train_step 2>/dev/null | sed -n 's/ms_per_step=//p')
    c=$(LD_PRELOAD=$lib PINGUARD_OPTIONS=summary=0 python3 scripts/gpu_scenarios.py torch_train_step 2>/dev/null | sed -n 's/ms_per_step=//p')
    log "PyTorch training step (pinned DataLoader) round $r: without $a ms, with pinguard $c ms"
done
log "done: $(date -u)"
