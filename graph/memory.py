"""Give freed heap memory back to the operating system once a day (after pruning).

A flat graph under churn frees and allocates millions of small blocks a day: adjacency arrays
grow and shrink, dict tables are copied (``TypedGraph._compact``).  Buffers above pymalloc's
512 bytes come from glibc's malloc, which keeps freed memory in its arenas; over weeks of churn
that shows as RSS creeping up while the live data stays flat (benchmarks/bench_graph_scale.py
``stream``).  ``malloc_trim(0)`` returns the free pages.  On a C library without it (musl,
macOS) this does nothing.  ``ENABLED`` lets a benchmark compare with and without.

>>> give_back() in (True, False)
True
"""
from __future__ import annotations

import ctypes
import ctypes.util

ENABLED = True


def _trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _trim()


def give_back() -> bool:
    """Whether memory went back (``malloc_trim``'s answer); False when off or unsupported."""
    if not ENABLED or _TRIM is None:
        return False
    return bool(_TRIM(0))
