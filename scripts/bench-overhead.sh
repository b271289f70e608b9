#!/usr/bin/env bash
# pinguard's hot-path overhead on the GPU machine: host time per 4 KiB pinned
# cudaMemcpyAsync, without and with libpinguard.so, alternating runs, side by side.
#   bash scripts/bench-overhead.sh [.gpu/libpinguard.so]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/.gpu/libpinguard.so}
b=$root/build/bench
mkdir -p "$b"
for rt in shared static; do
    nvcc -O2 -cudart $rt "$root/scripts/bench/pinned_loop.cu" -o "$b/pinned_loop_$rt"
done
for rt in shared static; do
    base=(); with=()
    for i in 1 2 3 4 5; do
        base+=("$("$b/pinned_loop_$rt" | sed 's/us_per_call=//')")
        with+=("$(LD_PRELOAD=$lib "$b/pinned_loop_$rt" 2>"$b/stderr" | sed 's/us_per_call=//')")
        # A figure "with pinguard" means nothing unless pinguard was loaded and checked copies.
        grep -q 'pinguard: summary: .*\[summary=1 .*checked=[1-9]' "$b/stderr" ||
            { echo "bench: pinguard did not check the copies (not loaded?):" >&2; cat "$b/stderr" >&2; exit 1; }
    done
    python3 - "$rt" "${base[*]}" "${with[*]}" <<'PY'
import statistics, sys
rt, base, with_ = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
b, w = statistics.median(base), statistics.median(with_)
print(f"bench cudart={rt}: 4 KiB pinned cudaMemcpyAsync host time, median of 5 runs: "
      f"without {b:.3f} us, with pinguard {w:.3f} us, ratio {w / b:.3f} (runs: {base} vs {with_})")
PY
done
