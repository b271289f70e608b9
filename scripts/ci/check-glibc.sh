#!/usr/bin/env bash
# The glibc baseline of built files (CI runs it on the release build):
#
#   bash scripts/ci/check-glibc.sh 2.17 FILE...
#
# Fails (exit 1) if a file needs a GLIBC_ symbol version newer than the baseline, or
# needs a function with no version at all that is not weak (a C library function linked
# from stubs of the baseline, which lack it: such a library does not load there, as
# `gettid` before glibc 2.30 showed). Prints each file's newest version.
set -euo pipefail
max=${1:?usage: check-glibc.sh MAX FILE...}
shift
fail=0
newer() { # newer A B: is version A above version B?
    [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}
for f in "$@"; do
    need=$(objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    echo "check-glibc: $f needs glibc ${need:-(none)}"
    if [ -n "$need" ] && newer "$need" "$max"; then
        echo "check-glibc: $f needs glibc $need, above the baseline $max:" >&2
        objdump -T "$f" | grep -E "GLIBC_($need)\b" | sed 's/^/    /' >&2
        fail=1
    fi
    # Undefined, not weak, no version: columns are "addr flags section [version] name".
    strong=$(objdump -T "$f" | awk '$0 ~ /\*UND\*/ && $2 !~ /w/ && $0 !~ /GLIBC_|GCC_|CXXABI|GLIBCXX/ {print $NF}' | grep -v '^$' || true)
    if [ -n "$strong" ]; then
        echo "check-glibc: $f needs unversioned functions the baseline may lack: $(echo $strong)" >&2
        fail=1
    fi
done
exit $fail
