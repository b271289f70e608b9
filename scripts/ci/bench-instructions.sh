#!/usr/bin/env bash
# Instructions per hooked call, counted by valgrind (callgrind) on fakecuda: stable where
# times are not, so docs/benchmarks.md tracks them. Each figure is the difference between
# two runs of bench/fake/hotloop.cpp that differ only in the number of calls, divided by
# the extra calls, so start-up and set-up cancel out. Configurations: no preload, the
# floor interposer (bench/floor/floor.c: forwards the same calls, does nothing else), and
# pinguard.
#
#   bash scripts/ci/bench-instructions.sh            (needs valgrind: scripts/setup.sh)
#
# BUDGET_PINNED=N fails the run (exit 1) if pinguard's pinned copy costs more than N
# instructions above the floor: a count, not a time, so a CI check can hold it.
#
# Then system calls per call (strace -c, same method): instruction counts do not see a
# system call's cost in the kernel (a gettid on every copy once cost 130 ns a call here
# and was invisible to callgrind), so every hot path must make none: a system call whose
# count grows with the calls fails the run, and is named; one that does not grow (a lock
# contended once under load, a periodic flush) is named, and fails nothing.
#
# Last, the memory a call site costs (max RSS with 1 and with 4096 distinct sites, the
# site table's cap); BUDGET_LIBRARY_KIB=N fails the run above N KiB added at the cap. And the same
# with MALLOC_PERTURB_ set, which must not grow it (the registry table's reservation
# stays untouched whatever the allocator does).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "bench-instructions: valgrind is missing (scripts/setup.sh installs it)" >&2; exit 2; }
command -v strace >/dev/null || { echo "bench-instructions: strace is missing (scripts/setup.sh installs it)" >&2; exit 2; }
cargo build --release --quiet -p pinguard
b=build/bench-instr
bash scripts/dev/build-test-apps.sh "$b" > /dev/null
inc=$(ls -d build/cuda/nvidia/cu13/include)
g++ -std=c++17 -O2 -w -Itesting/apps -I"$inc" bench/fake/hotloop.cpp -o "$b/hotloop" -L"$b/fakecuda" -lcudart -lpthread
gcc -O2 -shared -fPIC -Wl,-Bsymbolic-functions bench/floor/floor.c -o "$b/libfloor.so" -ldl
export LD_LIBRARY_PATH="$root/$b/fakecuda"

# instructions RUN-ENV... -- ARGS: the callgrind total of one run
instructions() {
    local env=()
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    env "${env[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$b/hotloop" "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# per_call ENV -- MODE N [RANGES]: extra instructions per call between N and 2N calls
# (the hot loop runs 9 batches of N calls)
per_call() {
    local env=()
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    local mode=$1 n=$2
    shift 2
    local one two
    one=$(instructions "${env[@]}" -- "$mode" "$n" "$@")
    two=$(instructions "${env[@]}" -- "$mode" $((2 * n)) "$@")
    echo $(((two - one) / (9 * n)))
}

lib=$root/target/release/libpinguard.so
floor=$root/$b/libfloor.so
printf '%-40s %10s %10s %10s\n' "instructions per call (fakecuda)" none floor pinguard
result=()
for spec in "pinned 2000" "pageable 2000" "register 200 100000"; do
    set -- $spec
    none=$(per_call PINGUARD_OPTIONS=summary=0 -- "$@")
    fl=$(per_call LD_PRELOAD="$floor" -- "$@")
    pg=$(per_call LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0 -- "$@")
    case $1 in
        pinned) what="pinned 4 KiB copy" ;;
        pageable) what="pageable copy, repeated finding at one site" ;;
        register) what="register + unregister, 100 000 ranges held" ;;
    esac
    printf '%-40s %10d %10d %10d   pinguard - floor: %d\n' "$what" "$none" "$fl" "$pg" $((pg - fl))
    result+=("$1:$((pg - fl))")
done
# The register pair pins and releases at one place again and again: from the 100th
# cycle on each is a pinned_churn finding. Without that finding (churn_min=0), what is
# left is the registry, the timing and the pinning's kept stack.
pg=$(per_call LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0:churn_min=0 -- register 200 100000)
printf '%-40s %10s %10s %10d   pinguard - floor: %d\n' "  the same with churn_min=0" "" "" "$pg" $((pg - fl))
if [ -n "${BUDGET_PINNED:-}" ]; then
    over=${result[0]#pinned:}
    if [ "$over" -gt "$BUDGET_PINNED" ]; then
        echo "bench-instructions: pinned copy costs $over instructions above the floor, budget $BUDGET_PINNED" >&2
        exit 1
    fi
    echo "bench-instructions: pinned copy within budget ($over <= $BUDGET_PINNED above the floor)"
fi

# syscalls OUT ENV -- ARGS: the system calls one run made (every thread), as lines of
# "name count" in OUT.
syscalls() {
    local out=$1 env=()
    shift
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    env "${env[@]}" strace -f -c -o "$b/strace.txt" "$b/hotloop" "$@" > /dev/null 2>&1
    # strace -c's table: "% time seconds usecs/call calls [errors] syscall".
    awk '/^-/ {rule++; next} rule == 1 && NF >= 5 {print $NF, $4}' "$b/strace.txt" | sort > "$out"
}
# A system call on a hot path grows with the calls: each doubling of the calls adds as
# many again. One that does not (seen once, under load: a lock contended in the loader
# or the allocator, a periodic flush) is named and shown, but fails nothing. So each
# configuration runs at N, 2N and 4N calls, and a call that rises in both doublings, by
# at least as much the second time and by at least one in a thousand calls (a lock
# contended now and then rises by a few in a longer run), fails the run.
calls_with_syscalls=0
for spec in "pinned 2000" "pageable 2000" "register 200 100000"; do
    set -- $spec
    mode=$1 n=$2
    shift 2
    for k in 1 2 4; do
        syscalls "$b/syscalls.$k" LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0 -- "$mode" $((k * n)) "$@"
    done
    verdict=$(join -a1 -a2 -e0 -o 0,1.2,2.2 "$b/syscalls.1" "$b/syscalls.2" | join -a1 -a2 -e0 -o 0,1.2,1.3,2.2 - "$b/syscalls.4" |
        awk -v calls=$((9 * n)) '{ d1 = $3 - $2; d2 = $4 - $3
               if (d1 > 0 && d2 >= d1 && d1 * 1000 >= calls) { hot = hot sprintf(" %s (%d, %d, %d)", $1, $2, $3, $4) }
               else if (d1 != 0 || d2 != 0) { odd = odd sprintf(" %s (%d, %d, %d)", $1, $2, $3, $4) } }
             END { print (hot == "" ? "-" : hot) "|" (odd == "" ? "-" : odd) }')
    hot=${verdict%%|*} odd=${verdict#*|}
    if [ "$hot" = - ]; then
        printf 'system calls made by %d more %s calls: 0\n' $((27 * n)) "$mode"
    else
        printf 'system calls made by %d more %s calls: growing with the calls (counts at %d, %d, %d calls):%s\n' \
            $((27 * n)) "$mode" $((9 * n)) $((18 * n)) $((36 * n)) "$hot"
        calls_with_syscalls=1
    fi
    if [ "$odd" != - ]; then
        printf '  (not on the hot path: counts that did not grow with the calls, at %d, %d, %d calls:%s)\n' \
            $((9 * n)) $((18 * n)) $((36 * n)) "$odd"
    fi
done
if [ "$calls_with_syscalls" -ne 0 ]; then
    echo "bench-instructions: a hot path makes system calls (named above); it must make none" >&2
    exit 1
fi
echo "bench-instructions: no system call on the hot paths"

# Memory a call site costs (max RSS, KiB): one copy from each of 1 and 4096 distinct
# stacks (the site table's cap; bench/fake/hotloop.cpp, mode sites). A count of pages,
# not a time. BUDGET_LIBRARY_KIB=N fails the run if pinguard adds more than N KiB to the
# program's max RSS with the site table full (the issue's library RSS target is 8 MiB).
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
one=$(LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0:print_limit=0 rss "$b/hotloop" sites 1)
cap=$(LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0:print_limit=0 rss "$b/hotloop" sites 4096)
bare=$(rss "$b/hotloop" sites 4096)
per_site=$(((cap - one) * 1024 / 4095))
added=$((cap - bare))
printf 'max RSS: without pinguard %d KiB; with pinguard, 1 site %d KiB, 4096 sites %d KiB: %d bytes a site; pinguard adds %d KiB at the cap\n' "$bare" "$one" "$cap" "$per_site" "$added"
if [ -n "${BUDGET_LIBRARY_KIB:-}" ] && [ "$added" -gt "$BUDGET_LIBRARY_KIB" ]; then
    echo "bench-instructions: with 4096 sites pinguard adds $added KiB of resident memory, over the budget of $BUDGET_LIBRARY_KIB KiB" >&2
    exit 1
fi

# The registry's table reserves 64 MiB of address space and touches only what it uses.
# A program's allocator must not be able to change that: under MALLOC_PERTURB_, glibc
# writes every byte it hands out, so a reservation taken from the allocator would become
# 64 MiB of resident memory. With it set, one site's max RSS must stay within 1 MiB of
# the figure above.
perturbed=$(MALLOC_PERTURB_=7 LD_PRELOAD="$lib" PINGUARD_OPTIONS=summary=0:print_limit=0 rss "$b/hotloop" sites 1)
printf 'max RSS with MALLOC_PERTURB_ set: 1 site %d KiB (without it %d KiB)\n' "$perturbed" "$one"
if [ "$perturbed" -gt $((one + 1024)) ]; then
    echo "bench-instructions: under MALLOC_PERTURB_ pinguard's resident memory grows by $((perturbed - one)) KiB: the table's reservation is being touched" >&2
    exit 1
fi
