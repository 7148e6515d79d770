"""bitcask: Python binding (ctypes, no compiled extension) of the bitcask C library.

    import bitcask

    with bitcask.open("/tmp/store") as db:
        db[b"k"] = b"v"            # or db.put("k", "v"): str is encoded as UTF-8
        assert db[b"k"] == b"v"    # values come back as bytes; KeyError when absent
        for key, value in db.scan_prefix(b"user:"):
            ...
        with db.batch() as b:      # applied atomically when the block succeeds
            b.put(b"a", b"1")
            b.delete(b"k")

The shared library is found through $BITCASK_LIB (a path), then $BITCASK_LIB_DIR, then the
system loader (ctypes.util.find_library("bitcask"), "libbitcask.so.0.1"). It is loaded on the
first open(), so importing this package never fails for want of it.
"""

from . import _native
from ._db import (
    OPTIONS,
    SYNC_ALWAYS,
    SYNC_INTERVAL,
    SYNC_NONE,
    Batch,
    Bitcask,
    Iterator,
    Stats,
    open,
)
from ._errors import (
    BitcaskError,
    BitcaskIOError,
    BufferTooSmallError,
    ClosedError,
    CorruptError,
    InvalidArgumentError,
    LockedError,
    PanicError,
    ReadOnlyError,
    TooLargeError,
)

__version__ = "0.1.0"

# Status codes of the C API (bitcask.h), for comparing with BitcaskError.code.
OK = _native.BC_OK
NOT_FOUND = _native.BC_NOT_FOUND
STOPPED = _native.BC_STOPPED
E_INVALID = _native.BC_E_INVALID
E_IO = _native.BC_E_IO
E_CORRUPT = _native.BC_E_CORRUPT
E_LOCKED = _native.BC_E_LOCKED
E_READ_ONLY = _native.BC_E_READ_ONLY
E_TOO_LARGE = _native.BC_E_TOO_LARGE
E_BUFFER = _native.BC_E_BUFFER
E_PANIC = _native.BC_E_PANIC


def library_version():
    """The loaded C library's version string, e.g. "0.1.0" (loads the library)."""
    return _native.load().bc_version().decode("ascii", "replace")


def status_str(code):
    """The C library's static text for a status code (loads the library)."""
    return _native.load().bc_status_str(int(code)).decode("utf-8", "replace")


__all__ = [
    "Batch",
    "Bitcask",
    "BitcaskError",
    "BitcaskIOError",
    "BufferTooSmallError",
    "ClosedError",
    "CorruptError",
    "InvalidArgumentError",
    "Iterator",
    "LockedError",
    "OPTIONS",
    "PanicError",
    "ReadOnlyError",
    "SYNC_ALWAYS",
    "SYNC_INTERVAL",
    "SYNC_NONE",
    "Stats",
    "TooLargeError",
    "library_version",
    "open",
    "status_str",
]
