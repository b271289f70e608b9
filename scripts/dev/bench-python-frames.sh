#!/usr/bin/env bash
# What reading a Python program's frames costs a finding, in instructions (valgrind's
# callgrind, on fakecuda): bench/python/deep_copies.py makes N pageable copies from one
# line, DEPTH Python frames deep, under the release libpinguard.so. Each figure is the
# difference between runs of N and 2N copies, divided by N (start-up cancels), at two
# depths; their difference over the extra frames is the cost per Python frame of a
# repeated finding (the walk, the site key), and the shallow figure the whole
# repeated finding of a Python program.
#
#   bash scripts/dev/bench-python-frames.sh     (needs valgrind and python3: scripts/setup.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
python=${PYTHON:-/usr/bin/python3}
cargo build --release --quiet -p pinguard
b=build/bench-python
bash scripts/dev/build-test-apps.sh "$b" > /dev/null
lib=$root/target/release/libpinguard.so
n=1000
instructions() { # PRELOAD DEPTH COPIES
    rm -f "$b"/cg.*
    LD_LIBRARY_PATH="$b/fakecuda" valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$b/cg.%p" \
        env LD_PRELOAD="$1" PINGUARD_OPTIONS=summary=0 "$python" bench/python/deep_copies.py "$3" "$2" > /dev/null 2>&1
    cat "$b"/cg.* | awk '/^summary:/ {s += $2} END {print s}'
}
per_copy() { # PRELOAD DEPTH
    local one two
    one=$(instructions "$1" "$2" "$n")
    two=$(instructions "$1" "$2" $((2 * n)))
    echo $(((two - one) / n))
}
echo "python: $("$python" --version 2>&1)"
none2=$(per_copy "" 2)
none32=$(per_copy "" 32)
pg2=$(per_copy "$lib" 2)
pg32=$(per_copy "$lib" 32)
printf 'instructions per copy             2 frames deep   32 frames deep\n'
printf 'without pinguard                  %14d   %14d\n' "$none2" "$none32"
printf 'pinguard (a repeated finding)     %14d   %14d\n' "$pg2" "$pg32"
echo "pinguard's own cost: $((pg2 - none2)) at 2 frames, $((pg32 - none32)) at 32; per extra Python frame: $(((pg32 - none32 - pg2 + none2) / 30))"
