#!/usr/bin/env bash
# Does a program whose threads are still copying when exit() runs crash with a real CUDA
# runtime by itself, or only under pinguard? Runs testing/apps/reliability/sigterm_exit
# (nvcc builds, from scripts/dev/build-test-apps.sh --nvcc into build/gpu) RUNS times each
# without pinguard, with it, and with it in mode=off, interleaved; counts the runs that
# did not exit 0 and keeps the stderr of the first few crashes under $OUT. A run still
# alive after 20 s is a hang: before it is killed, its threads go to $OUT/hangs/ (gdb's
# stacks where the machine has gdb; testing/harness/stack-scan.py's scan of each blocked thread:
# its system call, kernel wait and the code addresses on its stack, named by module and
# symbol), with the executable mappings and pinguard's last lines. BUILDS (default
# "dynamic static") and RUNS pick what runs.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-exit}
mkdir -p "$out/crashes" "$out/hangs"
RUNS=${RUNS:-40}
lib=$root/.gpu/libpinguard.so
# dump PID: what each thread of a hung process is doing
dump() {
    local pid=$1
    echo "== pid $pid: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
    if command -v gdb > /dev/null; then
        timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 | grep -v '^\[New LWP' | head -400
    fi
    echo "== stacks, scanned (testing/harness/stack-scan.py)"
    timeout 120 python3 "$root/testing/harness/stack-scan.py" "$pid"
    echo "== executable mappings"
    grep ' r-xp ' "/proc/$pid/maps"
}

# run_one APP ARGS...: runs it with env[] for up to 20 s; rc (124: hung, dumped to $hang)
run_one() {
    env "${env[@]}" "$@" > /dev/null 2> "$out/last.txt" &
    local pid=$! waited=0
    while [ "$waited" -lt 200 ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ -e "/proc/$pid" ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ "$waited" -ge 200 ]; then
        { dump "$pid"; echo "== stderr (last 40 lines)"; tail -n 40 "$out/last.txt"; } > "$hang" 2>&1
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
        rc=124
    else
        wait "$pid"
        rc=$?
    fi
}

for build in ${BUILDS:-dynamic static}; do
    app=build/gpu/reliability/$build/sigterm_exit
    declare -A crashed=([bare]=0 [pinguard]=0 [off]=0)
    for i in $(seq 1 "$RUNS"); do
        for cfg in bare pinguard off; do
            case $cfg in
                bare) env=() ;;
                pinguard) env=(LD_PRELOAD="$lib") ;;
                off) env=(LD_PRELOAD="$lib" PINGUARD_OPTIONS=mode=off) ;;
            esac
            hang=$out/hangs/$build-$cfg-$i.txt
            run_one "$app" 4
            if [ "$rc" -ne 0 ]; then
                crashed[$cfg]=$((crashed[$cfg] + 1))
                [ "${crashed[$cfg]}" -le 2 ] && cp "$out/last.txt" "$out/crashes/$build-$cfg-$i-rc$rc.txt"
            fi
        done
    done
    echo "sigterm_exit ($build runtime), $RUNS runs each: without pinguard ${crashed[bare]} did not exit 0, with pinguard ${crashed[pinguard]}, with pinguard mode=off ${crashed[off]}; hangs (rc 124) kept in $out/hangs: $(ls "$out/hangs" | grep -c "^$build-")"
    unset crashed
done
rm -f "$out/last.txt"
