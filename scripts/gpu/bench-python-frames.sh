#!/usr/bin/env bash
# What reading a Python program's frames adds to a repeated finding, in host time on
# this machine (issue 27's target: under 1 us for a 30-frame stack). fakecuda's runtime
# (carried in .gpu/fakecuda) takes the copies, so no GPU time is in the figures:
# bench/python/deep_copies.py makes N pageable copies from one line, 2 and 32 Python
# frames deep, with and without .gpu/libpinguard.so; ROUNDS rounds, the four runs
# interleaved in each, on one CPU; the median of each. The cost of 30 frames is
# (with32 - without32) - (with2 - without2).
#
#   bash scripts/gpu/bench-python-frames.sh        (also runs here: LIB=target/release/libpinguard.so)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
python=${PYTHON:-python3}
lib=${LIB:-$root/.gpu/libpinguard.so}
fake=${FAKECUDA:-$root/.gpu/fakecuda}
n=${N:-200000}
rounds=${ROUNDS:-7}
cpu=${CPU:-2}
echo "python: $("$python" --version 2>&1); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
declare -A runs
m=()
one() { # PRELOAD DEPTH
    LD_LIBRARY_PATH="$fake" LD_PRELOAD="$1" PINGUARD_OPTIONS=summary=0:print_limit=0 \
        taskset -c "$cpu" "$python" bench/python/deep_copies.py "$n" "$2" --time 2>/dev/null |
        sed -n 's/^ns_per_copy=//p'
}
for r in $(seq "$rounds"); do
    for cfg in bare2 bare32 pg2 pg32; do
        pre=""
        [[ $cfg == pg* ]] && pre=$lib
        runs[$cfg]+="$(one "$pre" "${cfg//[a-z]/}") "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cfg in bare2 bare32 pg2 pg32; do
    m[${#m[@]}]=$(echo "${runs[$cfg]}" | median)
    echo "$cfg: ${runs[$cfg]}-> median ${m[-1]} ns per copy"
done
python3 - "${m[@]}" <<'PY'
import sys
b2, b32, p2, p32 = map(float, sys.argv[1:])
own2, own32 = p2 - b2, p32 - b32
print(f"pinguard's own cost per repeated finding: {own2:.0f} ns at 2 frames, {own32:.0f} ns at 32")
print(f"30 more Python frames add {own32 - own2:.0f} ns ({(own32 - own2) / 30:.1f} ns a frame)")
PY
