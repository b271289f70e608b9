#!/usr/bin/env bash
# The stress scenario at scale on the GPU machine (16 threads x OPS mixed operations,
# default 1 000 000, a fork every OPS/4), both runtime builds side by side:
#
#   OPS=450000 bash scripts/gpu/stress.sh start && bash scripts/gpu/stress.sh wait 570
#
#   start     builds the nvcc apps if needed, starts both builds under pinguard in the
#             background
#   wait [S]  waits up to S seconds (default 570), printing progress from the reports,
#             then the verdict (give it the same OPS)
#
# Run both in one device command: the device tool ends a command's processes with it. On
# the H100 the real driver serialises pinned allocations and registrations: with one
# operation in two of that kind (the app's first mix), 16 x 450 000 took about 460 s and
# the full 16 x 1 000 000 would have taken about 17 minutes, longer than one device
# command may run; the app's cycle of 32 (one in eight) brings it within the limit.
#
# The checks are the harness's (testing/harness/src/reliability.rs, `stress`): the parent's
# summary must count threads * 7/32 of ops pageable and as many straddling copies, and
# threads * 28/32 of ops copies checked (21/32 with the static runtime, which answers the
# empty copy itself); forked children, refused by the real driver, report nothing of
# their parent's. Logs and reports: $STRESS_DIR (default /tmp/pinguard-stress).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dir=${STRESS_DIR:-/tmp/pinguard-stress}
threads=${THREADS:-16} ops=${OPS:-1000000} every=$(( ${OPS:-1000000} / 4 ))
case ${1:-} in
start)
    [ -x build/gpu/reliability/static/stress ] || JOBS=16 bash scripts/dev/build-test-apps.sh build/gpu --nvcc > /dev/null
    rm -rf "$dir" && mkdir -p "$dir"
    for b in dynamic static; do
        mkdir -p "$dir/$b"
        ( start=$SECONDS
          LD_PRELOAD="$root/.gpu/libpinguard.so" PINGUARD_OPTIONS="log_path=$dir/$b/r.%p.jsonl:report_interval=30" \
              build/gpu/reliability/$b/stress $threads $ops $every > "$dir/$b/out.txt" 2> "$dir/$b/err.txt"
          echo "rc=$? seconds=$((SECONDS - start))" > "$dir/$b/done" ) &
    done
    echo "gpu-stress: started at $(date -u +%T)"
    ;;
wait)
    limit=${2:-570}
    for _ in $(seq 1 $((limit / 15))); do
        [ -f "$dir/dynamic/done" ] && [ -f "$dir/static/done" ] && break
        sleep 15
    done
    for b in dynamic static; do
        if [ ! -f "$dir/$b/done" ]; then
            # Progress: the largest site count in the latest aggregates (the parent's;
            # forked children make 10 copies each).
            n=$(grep -h '"event":"aggregate"' "$dir/$b"/r.*.jsonl 2>/dev/null | sed 's/.*"count":\([0-9]*\).*/\1/' | sort -n | tail -n 1)
            echo "gpu-stress $b: still running at $(date -u +%T); latest site count ${n:-none}"
            continue
        fi
        # stress.cpp's cycle of 32: positions 2 to 29 copy, in turn pinned, pageable,
        # straddling, empty (the static runtime answers the empty copy itself).
        per_kind() { local n=0 at; for at in $(seq $((2 + $1)) 4 29); do n=$((n + ops / 32 + (at < ops % 32 ? 1 : 0))); done; echo $n; }
        want=$((threads * $(per_kind 1)))
        checked=$((threads * ($(per_kind 0) + $(per_kind 1) + $(per_kind 2))))
        [ "$b" = static ] || checked=$((checked + threads * $(per_kind 3)))
        # The parent ends last, so its summary is the last one (forked children, which
        # the real driver refuses, print none).
        parent=$(grep -h '^pinguard: summary' "$dir/$b/err.txt" | tail -n 1)
        got_p=$(echo "$parent" | sed -n 's/.* pageable=\([0-9]*\).*/\1/p')
        got_s=$(echo "$parent" | sed -n 's/.* straddles=\([0-9]*\).*/\1/p')
        got_c=$(echo "$parent" | sed -n 's/.* checked=\([0-9]*\).*/\1/p')
        children=$(grep -c '^pinguard: summary' "$dir/$b/err.txt")
        verdict=FAIL
        [ "$got_p" = "$want" ] && [ "$got_s" = "$want" ] && [ "$got_c" = "$checked" ] && verdict=PASS
        echo "$verdict stress $b: $(cat "$dir/$b/done"); $(cat "$dir/$b/out.txt"); pageable $got_p straddles $got_s checked $got_c (expected $want, $want, $checked); summaries $children"
    done
    ;;
*) echo "usage: gpu-stress.sh start | wait [SECONDS]" >&2; exit 2 ;;
esac
