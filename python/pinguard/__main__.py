"""``pinguard ...`` and ``python -m pinguard ...``: runs the command this package carries
(it finds its preload library beside it), after checking that this machine is one the
build is for."""

import os
import platform
import sys

from . import bin_path

SUPPORTED = "x86-64 Linux with glibc 2.17 or newer (manylinux2014)"


def unsupported():
    """Why this machine cannot run the carried build, or None."""
    if not sys.platform.startswith("linux"):
        return "this is %s" % sys.platform
    machine = platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return "this machine is %s" % machine
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    if not libc.startswith("glibc "):
        return "this system's C library is not glibc (%s)" % (libc or "unknown")
    major, minor = (int(x) for x in libc.split()[1].split(".")[:2])
    if (major, minor) < (2, 17):
        return "this system has %s" % libc
    return None


def main():
    why = unsupported()
    if why:
        sys.stderr.write("pinguard: this wheel carries a build for %s only; %s\n" % (SUPPORTED, why))
        return 2
    exe = bin_path()
    argv = ["pinguard"] + sys.argv[1:]
    try:
        os.execv(exe, argv)
    except OSError as e:
        sys.stderr.write("pinguard: cannot run %s: %s\n" % (exe, e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
