#!/usr/bin/env bash
# Does a program whose threads are still copying when exit() runs crash with a real CUDA
# runtime by itself, or only under pinguard? Runs test-apps/reliability/sigterm_exit
# (nvcc builds, from scripts/build-test-apps.sh --nvcc into build/gpu) RUNS times each
# without pinguard, with it, and with it in mode=off, interleaved; counts the runs that
# did not exit 0 and keeps the stderr of the first few crashes under $OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-exit}
mkdir -p "$out/crashes"
RUNS=${RUNS:-40}
lib=$root/.gpu/libpinguard.so
for build in dynamic static; do
    app=build/gpu/reliability/$build/sigterm_exit
    declare -A crashed=([bare]=0 [pinguard]=0 [off]=0)
    for i in $(seq 1 "$RUNS"); do
        for cfg in bare pinguard off; do
            case $cfg in
                bare) env=() ;;
                pinguard) env=(LD_PRELOAD="$lib") ;;
                off) env=(LD_PRELOAD="$lib" PINGUARD_OPTIONS=mode=off) ;;
            esac
            env "${env[@]}" timeout 20 "$app" 4 > /dev/null 2> "$out/last.txt"
            rc=$?
            if [ "$rc" -ne 0 ]; then
                crashed[$cfg]=$((crashed[$cfg] + 1))
                [ "${crashed[$cfg]}" -le 2 ] && cp "$out/last.txt" "$out/crashes/$build-$cfg-$i-rc$rc.txt"
            fi
        done
    done
    echo "sigterm_exit ($build runtime), $RUNS runs each: without pinguard ${crashed[bare]} did not exit 0, with pinguard ${crashed[pinguard]}, with pinguard mode=off ${crashed[off]}"
    unset crashed
done
rm -f "$out/last.txt"
