"""Collection rules for the whole suite (read before any folder's tests).

A module that runs compiled (streams/native.py) is imported from build/native/, not from its
source path, which pytest's doctest collection reports as an import mismatch: those modules'
doctests run from their source in tests/test_native.py instead.
"""
from streams import native

collect_ignore = [str(native.source_of(m)) for m in native.NATIVE_MODULES] if native.compiled() else []
