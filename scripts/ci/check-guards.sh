#!/usr/bin/env bash
# Cheap guards on the preload library's source, run in CI:
# - one constructor, in preload/src/interpose/lifecycle.rs, that registers the fork handlers, notes fd 2's
#   identity, writes the run mark (system calls on stack buffers) and looks up the C library's
#   release functions (so that no free waits on a lookup later) and nothing else
#   (pinguard initialises lazily on its first hooked call), and one destructor there;
# - no call of the public dlsym (our own hook) and no crate that makes one;
# - exports come only from the hook declarations (preload/src/interpose/hooks.rs), the dlsym trampoline
#   (preload/src/interpose/loader.rs), the exec family (preload/src/interpose/run_marks.rs) and the C
#   library's release functions (preload/src/interpose/releases.rs); preload/tests/exports.rs checks the
#   built library;
# - no std Once/LazyLock/OnceLock in the library (fork-unsafe);
# - imports point one way (scripts/ci/check-layers.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
if grep -rnE 'init_array|fini_array|#\[ctor|link_section' preload/src/ | grep -vE ':[0-9]+:\s*//' | grep -v '^preload/src/interpose/lifecycle.rs:'; then
    echo "check-guards: constructors and destructors live in preload/src/interpose/lifecycle.rs only" >&2
    fail=1
fi
if [ "$(grep -c 'link_section = ".init_array"' preload/src/interpose/lifecycle.rs)" != 1 ] ||
   ! grep -A1 'link_section = ".init_array"' preload/src/interpose/lifecycle.rs | grep -q '= at_load;'; then
    echo "check-guards: the one constructor must be at_load" >&2
    fail=1
fi
# The constructor's body: pthread_atfork, the run mark, and nothing else.
body=$(awk '/extern "C" fn at_load\(\)/ {on=1; next} on && /^}/ {exit} on' preload/src/interpose/lifecycle.rs |
    grep -vE '^\s*//' | grep -v 'pthread_atfork' | grep -vxE '\s*(run_marks::at_load|sink::note_stderr_at_load|releases::resolve)\(\);' |
    grep -vx '\s*process::set_child_reset(after_fork_in_child);' | tr -d '[:space:]' || true)
if [ -n "$body" ]; then
    echo "check-guards: the constructor does more than register fork handlers and write the run mark: $body" >&2
    fail=1
fi
if grep -rnE 'libc::dlsym\b|libloading' preload/src/ preload/Cargo.toml | grep -vE ':[0-9]+:\s*//'; then
    echo "check-guards: never call the public dlsym from pinguard (it is our own hook): use symbols::lookup" >&2
    fail=1
fi
# (A file's `#[cfg(test)] mod tests` at its end is not in the library: a test there may
# define a symbol of its own, e.g. to count calls into glibc; preload/tests/exports.rs checks
# what the built library really exports.)
if for f in preload/src/*/*.rs; do
       awk -v f="$f" '/^#\[cfg\(test\)\]/ { t = 1 } /^(pub\(crate\) )?mod tests/ && t { exit } !/^#\[cfg\(test\)\]/ { t = 0 } /no_mangle/ { print f ":" NR ":" $0 }' "$f"
   done | grep -vE '^preload/src/interpose/(hooks|loader|run_marks|releases)\.rs:'; then
    echo "check-guards: exports come only from preload/src/interpose/hooks.rs (declarations), preload/src/interpose/loader.rs (dlsym), preload/src/interpose/run_marks.rs (the exec family) and preload/src/interpose/releases.rs (free, realloc, munmap, mremap)" >&2
    fail=1
fi
# No std lazy/once cells in the library: one left running by another thread at fork
# hangs the child (use spin::ForkSafeLazy, which the fork handler resets).
if grep -rnE '\b(LazyLock|OnceLock|OnceCell|LazyCell|Once)\b' preload/src/ | grep -vE ':[0-9]+:\s*//'; then
    echo "check-guards: no Once/LazyLock/OnceLock in preload/src/ (fork-unsafe): use spin::ForkSafeLazy" >&2
    fail=1
fi
# Each module imports only modules below it in preload/src/lib.rs's map and docs/design.md's layout.
python3 scripts/ci/check-layers.py || fail=1
[ $fail -eq 0 ] && echo "check-guards: ok"
exit $fail
