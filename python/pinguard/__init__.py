"""pinguard: finds CUDA asynchronous copies from pageable host memory.

This package carries the ``pinguard`` command and its preload library,
``libpinguard.so``, built for x86-64 Linux with glibc 2.17 or newer. The command is on
the PATH once the wheel is installed; ``python -m pinguard`` runs it too.
"""

import os

__version__ = "@VERSION@"

_HERE = os.path.dirname(os.path.abspath(__file__))


def bin_path():
    """The ``pinguard`` command this package carries."""
    return os.path.join(_HERE, "bin", "pinguard")


def lib_path():
    """The preload library: ``LD_PRELOAD=$(python -c 'import pinguard; print(pinguard.lib_path())')``."""
    return os.path.join(_HERE, "lib", "libpinguard.so")
