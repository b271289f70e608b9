#!/usr/bin/env bash
# The GPU suite. Runs on the GPU machine from the repository root, with the Linux build
# of pinguard carried in .gpu/ (see scripts/dev/prepare-gpu.sh):
#
#   bash scripts/gpu/test.sh
#
# 1. every test app built by nvcc in four builds (-cudart shared, -cudart static, the
#    driver API, dlopen + dlsym), run under libpinguard.so in log and abort mode and
#    compared with testing/apps/manifest.txt;
# 2. the differential check: every verdict against the driver's own answer
#    (PINGUARD_OPTIONS=verify_with_driver=1), zero disagreements allowed;
# 3. PyTorch and CuPy scenarios (scripts/gpu/scenarios.py);
# 4. the test apps built against CUDA 12.9 (scripts/dev/build-cuda12-apps.sh, carried as
#    .gpu/cu12.tar.xz), dynamic and static runtime, on the real driver;
# 5. pinguard run as CI uses it: a static-runtime app, a program that forks and execs
#    CUDA children, a PyTorch training script whose DataLoader does not pin memory, each
#    with --error-exitcode 3; the SARIF and HTML of the last one; the caching unwinder
#    against the C library's (scripts/gpu/compare-stacks.py); the gate (a static program is
#    not watched, a clean one renders empty SARIF); a thrust sort's site and title;
# 6. the reliability scenarios (fork, exec, signals, exit, stress) on nvcc builds.
# PARTS (comma list of manifest,differential,scenarios,cuda12,run,reliability; default
# all) picks parts, so that a long run can be split. Logs go to $OUT (or
# /tmp/pinguard-gpu); with PACK=1 they end up in one $OUT/gpu-test-logs.tar.gz, for
# tools that bring back only a few files.
# Ends with `N passed, M failed`.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-gpu}
mkdir -p "$out"
lib="$root/.gpu/libpinguard.so"
runner="$root/.gpu/pinguard-manifest-run"
for f in "$lib" "$runner"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "gpu-test: $f missing: run scripts/dev/prepare-gpu.sh here first" >&2; exit 2; }
done
PARTS=${PARTS:-manifest,differential,scenarios,cuda12,run,reliability}
want() { [[ ",$PARTS," == *",$1,"* ]]; }
passed=0
failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); }

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nvcc --version | tail -n 2
    python3 -c 'import torch, cupy; print("torch", torch.__version__, "cupy", cupy.__version__)'
    libcuda=$(ldconfig -p | awk '/libcuda.so.1 /{print $NF; exit}')
    echo "libcuda: $libcuda"
    echo "pinguard build: $(cat .gpu/commit 2>/dev/null | tr "\n" " ") $(cat .gpu/build-kind 2>/dev/null)"
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

# The real driver's exports of the entry points pinguard wraps (routing is by pointer;
# this shows which variants exist).
nm -D --defined-only "$(ldconfig -p | awk '/libcuda.so.1 /{print $NF; exit}')" 2>/dev/null |
    awk '{print $NF}' | grep -E '^cu(GetProcAddress|MemAllocHost|MemHost|MemFreeHost|Memcpy.*Async)' | sort > "$out/libcuda-exports.txt"
echo "libcuda exports of interest: $(wc -l < "$out/libcuda-exports.txt")"

echo "== building the test apps with nvcc [$(date -u +%T)]"
if [ -x build/gpu/static/pageable_h2d ] && [ -z "${REBUILD:-}" ]; then
    echo "(already built)"
elif ! JOBS=16 bash scripts/dev/build-test-apps.sh build/gpu --nvcc > "$out/build.log" 2>&1; then
    # Keep going: the apps that did build still run, and each missing one fails its case.
    grep -E 'error|FAILED' "$out/build.log" | head -n 20
fi
tail -n 1 "$out/build.log"

tally() { # tally LOG: adds the runner's closing "N passed, M failed" line
    read -r p f < <(awk '/ passed, .* failed$/ {print $1, $3}' "$1")
    pass "${p:-0}"; fail "${f:-1}"
}

if want manifest; then
echo "== manifest: four builds, log and abort [$(date -u +%T)]"
"$runner" --lib "$lib" --apps build/gpu > "$out/manifest.log" 2>&1
grep -v '^PASS' "$out/manifest.log" | cut -c1-2000 | tail -n 60
tally "$out/manifest.log"
fi

if want differential; then
echo "== differential: every verdict against the driver's cudaPointerGetAttributes [$(date -u +%T)]"
"$runner" --lib "$lib" --apps build/gpu --modes log --options verify_with_driver=1 > "$out/differential.log" 2>&1
grep -v '^PASS' "$out/differential.log" | cut -c1-2000 | tail -n 30
tally "$out/differential.log"
fi

if want cuda12 && [ -f .gpu/cu12.tar.xz ]; then
echo "== CUDA 12.9 runtime (test apps built by g++ against the PyPI wheels), real driver [$(date -u +%T)]"
rm -rf build/cu12 && mkdir -p build && tar -xJf .gpu/cu12.tar.xz -C build
"$runner" --lib "$lib" --apps build/cu12 --manifest build/cu12/manifest.txt --builds dynamic,static \
    --library-path build/cu12/lib > "$out/cuda12.log" 2>&1
"$runner" --lib "$lib" --apps build/cu12 --manifest build/cu12/manifest.txt --builds dynamic,static \
    --library-path build/cu12/lib --modes log \
    --options verify_with_driver=1 > "$out/cuda12-differential.log" 2>&1
grep -v '^PASS' "$out/cuda12.log" "$out/cuda12-differential.log" | cut -c1-1500 | tail -n 40
tally "$out/cuda12.log"
tally "$out/cuda12-differential.log"
fi

if want run && [ -x .gpu/pinguard ]; then
echo "== pinguard run, as CI uses it [$(date -u +%T)]"
pg=.gpu/pinguard
expect_run() { # expect_run NAME WANT_CODE CMD...: pinguard run --error-exitcode 3 -- CMD
    local name=$1 want=$2; shift 2
    local dir="$out/run-$name"
    rm -rf "$dir"
    "$pg" run --lib "$lib" --report-dir "$dir" --error-exitcode 3 -- "$@" > "$out/run-$name.out" 2> "$out/run-$name.log"
    local rc=$?
    local summary
    summary=$(grep 'pinguard: run summary' "$out/run-$name.log")
    if [ "$rc" -eq "$want" ] && [ -n "$summary" ]; then
        echo "PASS run $name: exit $rc; $summary"; pass 1
    else
        echo "FAIL run $name: exit $rc (expected $want)"; tail -n 8 "$out/run-$name.log"; fail 1
    fi
}
expect_run static_app 3 build/gpu/static/pageable_h2d
expect_run clean_app 0 build/gpu/static/malloc_host
expect_run spawner 3 build/gpu/reliability/static/spawner
expect_run torch_dataloader 3 python3 scripts/gpu/scenarios.py torch_dataloader_pageable
"$pg" report "$out/run-torch_dataloader" --format sarif --source-root "$root" -o "$out/torch.sarif" &&
    "$pg" report "$out/run-torch_dataloader" --format html -o "$out/torch.html" &&
    "$pg" report "$out/run-torch_dataloader" --format markdown -o "$out/torch.md" &&
    "$pg" report "$out/run-spawner" --format text > "$out/spawner.txt"
# The DataLoader's pageable copies are located at the training loop's line (issue 27),
# in SARIF too (relative to the source root, as code scanning annotates it).
line=$(grep -n "# site: torch_dataloader_pageable\$" scripts/gpu/scenarios.py | cut -d: -f1)
if python3 - "$out/torch.sarif" "$line" <<'PY'
import json
import sys

d = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
locs = [r["locations"][0]["physicalLocation"] for r in d["runs"][0]["results"] if r.get("locations")]
ok = any(
    l["artifactLocation"].get("uri", "").endswith("scripts/gpu/scenarios.py") and l.get("region", {}).get("startLine") == want
    for l in locs
)
sys.exit(0 if ok else 1)
PY
then
    echo "PASS torch_dataloader location: scenarios.py:$line in the SARIF"; pass 1
else
    echo "FAIL torch_dataloader location: no SARIF result at scenarios.py:${line:-?}"; fail 1
fi
# The caching unwinder against the C library's, on nvcc builds (CUDA's static runtime
# inside the program) and under Python and PyTorch: the same stacks, site for site.
unwind_case() { # unwind_case NAME [--allow-slow] -- CMD...
    local name=$1 allow=(); shift
    [ "$1" = --allow-slow ] && { allow=(--allow-slow); shift; }
    shift
    for fast in 1 0; do
        rm -rf "$out/unwind-$name-$fast"
        "$pg" run --lib "$lib" --report-dir "$out/unwind-$name-$fast" --options "fast_unwind=$fast" -- "$@" \
            > /dev/null 2> "$out/unwind-$name-$fast.log"
    done
    if python3 scripts/gpu/compare-stacks.py "$out/unwind-$name-1" "$out/unwind-$name-0" "${allow[@]}"; then pass 1; else fail 1; fi
}
unwind_case deep_stacks_static -- build/gpu/static/deep_stacks
unwind_case deep_stacks_dynamic -- build/gpu/dynamic/deep_stacks
unwind_case torch_pageable --allow-slow -- python3 scripts/gpu/scenarios.py torch_pageable
# One report per process that made a CUDA call pinguard saw: the parent and the
# posix_spawn, vfork+exec and system children (a forked child's calls are refused by the
# static runtime before they reach the driver, so it has none).
procs=$(grep -l '"event":"process"' "$out"/run-spawner/*.jsonl | wc -l)
if [ "$procs" -eq 4 ]; then echo "PASS run spawner: one report per process that used CUDA (4)"; pass 1; else echo "FAIL run spawner: $procs reports, expected 4"; fail 1; fi
# The gate never fails open (issue 23): a static program is not watched (exit 69); a
# clean program leaves a run that renders as valid, empty SARIF; PyTorch's run is
# watched (a static helper it starts, such as ldconfig, is noted, not failing).
printf 'int main(void) { return 0; }\n' > "$out/static_c.c" && gcc -static -O1 "$out/static_c.c" -o build/gpu/static_c
expect_run static_c 69 build/gpu/static_c
grep -q 'static binary' "$out/run-static_c.log" && { echo "PASS run static_c: says static binary"; pass 1; } ||
    { echo "FAIL run static_c: no reason given"; fail 1; }
expect_run clean_true 0 true
if "$pg" report "$out/run-clean_true" --format sarif --fail-on-findings -o "$out/clean.sarif" &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["runs"][0]; assert r["results"]==[] and r["invocations"][0]["executionSuccessful"]' "$out/clean.sarif"; then
    echo "PASS run clean_true: valid empty SARIF"; pass 1
else echo "FAIL run clean_true: SARIF"; fail 1; fi
if grep -q 'result: NOT WATCHED' "$out/run-torch_dataloader.log"; then echo "FAIL torch_dataloader: not watched"; fail 1; else pass 1; fi
grep 'not watched' "$out/run-torch_dataloader.log" | head -n 3
# Names a person can read: a thrust sort's site is the program's own testSort, its
# title short (thrust's template arguments elided).
if nvcc -O2 -lineinfo testing/apps/gpu/thrust_sort.cu -o build/gpu/thrust_sort > "$out/thrust-build.log" 2>&1; then
    expect_run thrust_sort 3 build/gpu/thrust_sort
    site=$(grep -E '^pinguard:   1\. ' "$out/run-thrust_sort.log" | head -n 1)
    if [[ "$site" == *" in testSort("* ]] && [ "${#site}" -lt 400 ]; then
        echo "PASS thrust_sort: the site is testSort, ${#site} characters: $site"; pass 1
    else
        echo "FAIL thrust_sort: ${#site} characters: ${site:0:600}"; fail 1
    fi
else
    echo "FAIL thrust_sort: nvcc failed"; tail -n 5 "$out/thrust-build.log"; fail 1
fi
fi

if want reliability; then
echo "== reliability scenarios (nvcc builds) [$(date -u +%T)]"
# RELIABILITY_SCALE=full for the long version (16 threads x 1M operations in stress).
scale=(--quick); [ "${RELIABILITY_SCALE:-quick}" = full ] && scale=()
"$runner" --reliability "${scale[@]}" --lib "$lib" --apps build/gpu --builds dynamic,static > "$out/reliability.log" 2>&1
cut -c1-300 "$out/reliability.log" | grep -E '^(PASS|FAIL)|passed'
tally "$out/reliability.log"
fi

if want scenarios; then
echo "== framework scenarios [$(date -u +%T)]"
# expect: "found" (a pageable finding of exactly the scenario's bytes), "none" (no finding
# of that size) or "any" (either: CuPy's get and JAX may stage their transfers their own way). A finding's
# location must be the scenario's line marked `# site: NAME` (Python frames, issue 27).
for spec in torch_pageable:found torch_pinned:none cupy_set:found cupy_asarray:none cupy_get:any jax_device_put:any; do
    name=${spec%%:*}
    want=${spec##*:}
    log="$out/scenario-$name.log"
    PYTHONUNBUFFERED=1 LD_PRELOAD="$lib" timeout 300 python3 scripts/gpu/scenarios.py "$name" > "$log.out" 2> "$log"
    rc=$?
    bytes=$(sed -n 's/.*bytes=\([0-9]*\)$/\1/p' "$log.out")
    hits=$(grep -c "verdict=pageable api=[^ ]* layer=[^ ]* dir=[DH]2[DH] bytes=${bytes:-x} " "$log")
    line=$(grep -n "# site: $name\$" scripts/gpu/scenarios.py | cut -d: -f1)
    located=$(grep -c "^pinguard:   in .* at [^ ]*scenarios.py:${line:-x}\$" "$log")
    total=$(grep -c '\[verdict=' "$log")
    summary=$(grep 'pinguard: summary' "$log" | sed 's/.*\[//; s/\]//')
    checked=$(sed -n 's/.*\[summary=1 .* checked=\([0-9]*\).*/\1/p' "$log" | head -n 1)
    # Each finding's fix is its framework's (the framework whose code made the copy).
    case $name in torch_*) word=pin_memory ;; cupy_*) word=cupyx ;; jax_*) word=pinned_host ;; *) word=. ;; esac
    wrong_fix=$(grep '^pinguard:   fix:' "$log" | grep -vc -- "$word")
    if [ "$rc" -ne 0 ] || [ -z "$bytes" ]; then
        echo "FAIL $name: exit $rc"; tail -n 5 "$log"; fail 1
    elif [ "${checked:-0}" -lt 1 ]; then
        # A "none" verdict means nothing unless pinguard was there and checked copies.
        echo "FAIL $name: no pinguard summary with checked copies: was pinguard loaded?"; tail -n 5 "$log"; fail 1
    elif [ "$hits" -ge 1 ] && [ "$located" -lt 1 ]; then
        echo "FAIL $name: the finding's location is not scenarios.py:${line:-?} (the line that copies)"
        grep '^pinguard:   in ' "$log" | head -n 3
        fail 1
    elif [ "$wrong_fix" -gt 0 ]; then
        echo "FAIL $name: $wrong_fix findings' fix is not the framework's (no \"$word\")"
        grep '^pinguard:   fix:' "$log" | grep -v -- "$word" | sort | uniq -c | head -n 3
        fail 1
    elif { [ "$want" = found ] && [ "$hits" -ge 1 ]; } || { [ "$want" = none ] && [ "$hits" -eq 0 ]; } || [ "$want" = any ]; then
        echo "PASS $name: $hits findings of $bytes bytes ($total records in all), located at scenarios.py:${line:-none} [$summary]"; pass 1
    else
        echo "FAIL $name: expected $want, got $hits findings of $bytes bytes ($total in all) [$summary]"
        grep 'pinguard:' "$log" | cut -c1-600 | head -n 5
        fail 1
    fi
done

# A copy captured into a CUDA graph through PyTorch (issue 28): a `captured` finding at
# the scenario's line, or PyTorch's own refusal of the copy (then pinguard must not have
# crashed it, and says nothing of a copy that was not made).
log="$out/scenario-torch_graph_capture.log"
PYTHONUNBUFFERED=1 LD_PRELOAD="$lib" timeout 300 python3 scripts/gpu/scenarios.py torch_graph_capture > "$log.out" 2> "$log"
rc=$?
line=$(grep -n "# site: torch_graph_capture\$" scripts/gpu/scenarios.py | cut -d: -f1)
captured=$(grep -c "verdict=captured api=" "$log")
located=$(grep -c "^pinguard:   in .* at [^ ]*scenarios.py:${line:-x}\$" "$log")
said=$(grep -E "torch_refused|replayed_sum" "$log.out" | head -n 1)
if [ "$rc" -ne 0 ]; then
    echo "FAIL torch_graph_capture: exit $rc"; tail -n 5 "$log"; fail 1
elif grep -q torch_refused "$log.out" && [ "$captured" -eq 0 ]; then
    echo "PASS torch_graph_capture: PyTorch refused the copy itself ($said); no captured finding"; pass 1
elif [ "$captured" -ge 1 ] && [ "$located" -ge 1 ]; then
    echo "PASS torch_graph_capture: $captured captured finding(s) at scenarios.py:$line; $said"; pass 1
else
    echo "FAIL torch_graph_capture: $captured captured findings, located $located at scenarios.py:${line:-?}; $said"
    grep 'pinguard:' "$log" | cut -c1-600 | head -n 5
    fail 1
fi
fi

echo "$passed passed, $failed failed [$(date -u +%T)]"
if [ -n "${PACK:-}" ]; then
    pack=$(mktemp -d)/gpu-test-logs.tar.gz
    tar -czf "$pack" -C "$out" . && rm -rf "${out:?}"/* && mv "$pack" "$out/"
fi
[ "$failed" -eq 0 ]
