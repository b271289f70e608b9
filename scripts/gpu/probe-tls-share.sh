#!/usr/bin/env bash
# Where a preloaded library's share of a thread's stack comes from (issue 24): glibc
# carves every thread's static TLS (that of each library loaded at start) from the top of
# its stack, and places it at an address rounded down to the largest TLS alignment among
# them. Run on the GPU machine from the repository root, with .gpu/ carried:
#
#   bash scripts/gpu/probe-tls-share.sh
#
# Prints each library's TLS segment (size, alignment), then small_stack's high-water mark
# (48 KiB stack, `--high-water`) in the dynamic and static builds: without any preload,
# with a library that has nothing but N bytes of TLS (N = 8, 408, 2048), and with
# libpinguard.so in mode=off and mode=log. If the TLS alone moves the mark by a page, the
# page is glibc's rounding, not pinguard's frames.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
lib="$root/.gpu/libpinguard.so"

for n in 8 408 2048; do
    printf '__thread char pad[%d];\nchar *touch(void) { return pad; }\n' "$n" > "$work/tls$n.c"
    gcc -shared -fPIC -O1 "$work/tls$n.c" -o "$work/libtls$n.so"
done
for b in dynamic static; do
    nvcc -x cu -std=c++17 -O1 -Itesting/apps -Xcompiler -Wno-attributes,-Wno-deprecated-declarations \
        -cudart "$([ $b = dynamic ] && echo shared || echo static)" testing/apps/reliability/small_stack.cpp \
        -o "$work/small_stack_$b" -lpthread || { echo "nvcc failed ($b)"; exit 1; }
done

echo "== TLS segments (readelf -lW: MemSiz, Align)"
cudart=$(ldd "$work/small_stack_dynamic" | awk '/libcudart/ {print $3}')
libcuda=$(ldconfig -p | awk '/libcuda.so.1 /{print $NF; exit}')
for f in "$lib" "$cudart" "$libcuda" "$work/small_stack_static" "$work/small_stack_dynamic" /lib/x86_64-linux-gnu/libc.so.6 \
    /lib/x86_64-linux-gnu/libstdc++.so.6 "$work/libtls408.so"; do
    [ -e "$f" ] || continue
    tls=$(readelf -lW "$f" 2>/dev/null | awk '$1 == "TLS" {print "memsz=" $6, "align=" $NF}')
    echo "$(basename "$f"): ${tls:-no TLS}"
done

mark() { # label, env...
    local label=$1; shift
    for b in dynamic static; do
        local line
        line=$(env "$@" "$work/small_stack_$b" --high-water 48 2>/dev/null | grep 'KiB: used')
        echo "$b  $label: ${line#small_stack: }"
    done
}
echo "== high-water marks, 48 KiB stack"
mark "no preload"
for n in 8 408 2048; do mark "TLS only, $n bytes" LD_PRELOAD="$work/libtls$n.so"; done
mark "libpinguard.so mode=off" LD_PRELOAD="$lib" PINGUARD_OPTIONS=mode=off
mark "libpinguard.so mode=log" LD_PRELOAD="$lib" PINGUARD_OPTIONS=mode=log:print_limit=0
rm -rf "$work"
