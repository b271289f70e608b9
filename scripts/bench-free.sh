#!/usr/bin/env bash
# What pinguard's free hook costs a program that never releases registered memory
# (issue 28, item 3): malloc/free pairs (bench/free/free_pairs.c, small heap blocks,
# sixteen per round trip) in four configurations, interleaved round by round, each round
# starting one configuration further along:
#   none       no preload
#   none+R     no preload, R ranges registered with cudaHostRegister (the same program
#              state, for the comparison with pinguard+R)
#   floor      LD_PRELOAD of bench/free/free_floor.c: a free that only forwards to the
#              next one (what any interposer of free pays)
#   pinguard   LD_PRELOAD=libpinguard.so, nothing registered (the filter's one load)
#   pinguard+R the preload with R ranges registered, none near the freed blocks (two
#              loads: the count, then the block's granule)
# Each run prints the median ns per pair of its batches; the script prints each
# configuration's median over the rounds and the round-by-round differences (median and
# interquartile range), then proves the ranges were in pinguard's registry: one more run
# unmaps a registered range and must report released_while_registered.
#
#   bash scripts/bench-free.sh                     (ROUNDS=30 R=1000 by default)
#   LIB=.gpu/libpinguard.so bash scripts/bench-free.sh     (the GPU machine)
#
# LIB: the library (default target/release/libpinguard.so, built if missing).
# CUDART_DIR: a folder with libcudart.so.13: CUDA's where /usr/local/cuda has one, else
# fakecuda's, built here into build/bench-free/ from the headers scripts/setup.sh unpacked
# (fakecuda registers nothing physically: there the figure is pinguard's cost alone).
# CPU: the CPU the runs are pinned to (taskset), default the last one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-30}
ranges=${R:-1000}
work=${WORK:-build/bench-free}
mkdir -p "$work"
lib=${LIB:-target/release/libpinguard.so}
if [ ! -f "$lib" ]; then
    [ -z "${LIB:-}" ] || { echo "bench-free: no library at $lib" >&2; exit 2; }
    PINGUARD_EMBED_LIBRARY= cargo build --release -p pinguard
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
if [ -z "${CUDART_DIR:-}" ]; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -e "$d/libcudart.so.13" ] && { CUDART_DIR=$d; break; }
    done
fi
if [ -z "${CUDART_DIR:-}" ]; then
    inc=${CUDA_INCLUDE:-build/cuda/nvidia/cu13/include}
    [ -f "$inc/cuda_runtime_api.h" ] || { echo "bench-free: no CUDA runtime and no headers for fakecuda: run scripts/setup.sh" >&2; exit 2; }
    CUDART_DIR=$work/fakecuda
    mkdir -p "$CUDART_DIR"
    flags=(-std=c++17 -O1 -fPIC -Wl,-Bsymbolic-functions -I"$inc")
    g++ "${flags[@]}" -shared testing/fakecuda/driver.cpp -o "$CUDART_DIR/libcuda.so.1" -Wl,-soname,libcuda.so.1 -lpthread
    g++ "${flags[@]}" -shared testing/fakecuda/runtime.cpp -o "$CUDART_DIR/libcudart.so.13" -Wl,-soname,libcudart.so.13 -ldl -lpthread
fi
cc -O2 -Wall -Wextra -o "$work/free_pairs" bench/free/free_pairs.c -ldl
cc -O2 -Wall -Wextra -shared -fPIC -o "$work/libfree_floor.so" bench/free/free_floor.c -ldl
cpu=${CPU:-$(($(nproc) - 1))}
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu")
export LD_LIBRARY_PATH=$CUDART_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PINGUARD_OPTIONS=log_path=$work/pg.%p.jsonl
batches=${BATCHES:-100} pairs=${PAIRS:-160000}
configs=(none none+R floor pinguard pinguard+R)
run() { # CONFIG -> ns per pair
    local n=0 pre=()
    case $1 in *+R) n=$ranges ;; esac
    case $1 in pinguard*) pre=(env LD_PRELOAD="$lib") ;; floor) pre=(env LD_PRELOAD="$work/libfree_floor.so") ;; esac
    local line
    line=$("${pre[@]}" "${pin[@]}" "$work/free_pairs" "$n" "$batches" "$pairs" 2>"$work/stderr.txt") ||
        { echo "bench-free: $1 failed:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
    case $line in *collide=1*) echo "bench-free: $1: a freed block shares a granule slot with a registered range (this figure includes the registry's answer)" >&2 ;; esac
    line=${line#ns_per_pair=}
    echo "${line%% *}"
}
results=$work/results.txt
: >"$results"
for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < ${#configs[@]}; i++)); do
        c=${configs[$(((r + i) % ${#configs[@]}))]}
        v=$(run "$c")
        echo "$r $c $v" >>"$results"
    done
done
rm -f "$work"/pg.*.jsonl
python3 - "$results" "$ranges" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
R = sys.argv[2]
by = {}
for r, c, v in rows:
    by.setdefault(c, {})[int(r)] = float(v)
def q(xs):
    xs = sorted(xs)
    qs = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"{qs[1]:7.3f} ns (IQR {qs[0]:.3f} to {qs[2]:.3f})"
label = lambda c: c.replace("+R", f"+{R}")
print(f"malloc/free pair, median over {len(by['none'])} rounds:")
for c in ["none", "none+R", "floor", "pinguard", "pinguard+R"]:
    print(f"  {label(c):14} {q(list(by[c].values()))}")
print("round by round, the difference:")
for a, b in [("floor", "none"), ("pinguard", "none"), ("pinguard", "floor"), ("pinguard+R", "none+R"), ("pinguard+R", "none")]:
    d = [by[a][r] - by[b][r] for r in by[a] if r in by[b]]
    print(f"  {label(a):14} - {label(b):8} {q(d)}")
PY
# The proof: with the ranges registered, unmapping one must be a finding.
env -u PINGUARD_OPTIONS LD_PRELOAD="$lib" "$work/free_pairs" "$ranges" 4 16000 leak-one >/dev/null 2>"$work/proof.txt" || true
if grep -q "released_while_registered" "$work/proof.txt"; then
    echo "proof: the registered ranges were in pinguard's registry (unmapping one was reported)"
else
    echo "bench-free: unmapping a registered range was not reported: the ranges were not registered with pinguard" >&2
    cat "$work/proof.txt" >&2
    exit 1
fi
