"""Loading libbitcask with ctypes and declaring its C API (include/bitcask.h).

Every function gets explicit ``argtypes``/``restype``: without them ctypes assumes ``int`` and
truncates 64-bit pointers.  Out-parameters that the library fills with pointers are declared as
``POINTER(c_void_p)`` / ``POINTER(POINTER(c_uint8))`` so ctypes hands back raw pointers (never an
auto-converted ``bytes`` object that would lose, and leak, the library's buffer).
"""

import ctypes
import ctypes.util
import os
import threading

# Status codes (bitcask.h).  New negative codes may appear; treat any negative value as an error.
BC_OK = 0
BC_NOT_FOUND = 1
BC_STOPPED = 2
BC_E_INVALID = -1
BC_E_IO = -2
BC_E_CORRUPT = -3
BC_E_LOCKED = -4
BC_E_READ_ONLY = -5
BC_E_TOO_LARGE = -6
BC_E_BUFFER = -7
BC_E_PANIC = -8

BC_SYNC_NONE = 0
BC_SYNC_ALWAYS = 1
BC_SYNC_INTERVAL = 2

SONAME = "libbitcask.so.0.1"

c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p  # only for *input* byte strings (keys, values, paths)
u8p = ctypes.POINTER(ctypes.c_uint8)
P = ctypes.POINTER

# int (*bc_fold_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
FOLD_FN = ctypes.CFUNCTYPE(c_int, c_void_p, u8p, c_size_t, u8p, c_size_t)
# int (*bc_key_fn)(void *ctx, const uint8_t *key, size_t klen)
KEY_FN = ctypes.CFUNCTYPE(c_int, c_void_p, u8p, c_size_t)

STATS_FIELDS = (
    "keys",
    "data_files",
    "total_bytes",
    "live_bytes",
    "dead_bytes",
    "corrupt_records",
    "corrupt_bytes",
    "truncated_bytes",
    "syncs",
    "sealed_live_bytes",
    "sealed_dead_bytes",
    "merges",
    "reclaimed_bytes",
    "hint_files_loaded",
    "data_files_scanned",
    "incomplete_merges",
)


class bc_stats(ctypes.Structure):
    # bc_stats may grow at the end in later library versions and bc_stats_get has no size
    # argument, so reserve room: a newer library writing more fields must not overrun the buffer.
    _fields_ = [(name, c_uint64) for name in STATS_FIELDS] + [("_reserved", c_uint64 * 48)]


# name: (restype, argtypes)
_PROTOTYPES = {
    "bc_version": (c_char_p, []),
    "bc_status_str": (c_char_p, [c_int]),
    # Library-owned text, valid until the next failing call on this thread: c_char_p copies it.
    "bc_last_error": (c_char_p, []),
    "bc_free": (None, [c_void_p]),
    "bc_batch_new": (c_void_p, []),
    "bc_batch_put": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
    "bc_batch_delete": (c_int, [c_void_p, c_char_p, c_size_t]),
    "bc_batch_clear": (None, [c_void_p]),
    "bc_batch_free": (None, [c_void_p]),
    "bc_write": (c_int, [c_void_p, c_void_p]),
    "bc_open": (c_int, [c_char_p, c_void_p, P(c_void_p)]),
    "bc_close": (c_int, [c_void_p]),
    "bc_put": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
    "bc_get": (c_int, [c_void_p, c_char_p, c_size_t, P(u8p), P(c_size_t)]),
    "bc_get_into": (c_int, [c_void_p, c_char_p, c_size_t, c_void_p, c_size_t, P(c_size_t)]),
    "bc_delete": (c_int, [c_void_p, c_char_p, c_size_t]),
    "bc_contains": (c_int, [c_void_p, c_char_p, c_size_t]),
    "bc_fold": (c_int, [c_void_p, FOLD_FN, c_void_p]),
    "bc_fold_keys": (c_int, [c_void_p, KEY_FN, c_void_p]),
    "bc_sync": (c_int, [c_void_p]),
    "bc_stats_get": (c_int, [c_void_p, P(bc_stats)]),
    "bc_merge": (c_int, [c_void_p]),
    "bc_put_ttl": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_uint32]),
    "bc_scan": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, FOLD_FN, c_void_p]),
    "bc_scan_prefix": (c_int, [c_void_p, c_char_p, c_size_t, FOLD_FN, c_void_p]),
    "bc_iter_new": (c_int, [c_void_p, P(c_void_p)]),
    "bc_iter_next": (c_int, [c_void_p, P(u8p), P(c_size_t), P(u8p), P(c_size_t)]),
    "bc_iter_free": (None, [c_void_p]),
    "bc_options_new": (c_void_p, []),
    "bc_options_free": (None, [c_void_p]),
    "bc_options_set_max_file_size": (c_int, [c_void_p, c_uint64]),
    "bc_options_set_sync": (c_int, [c_void_p, c_int, c_uint32]),
    "bc_options_set_read_only": (c_int, [c_void_p, c_int]),
    "bc_options_set_create_if_missing": (c_int, [c_void_p, c_int]),
    "bc_options_set_max_key_size": (c_int, [c_void_p, c_uint32]),
    "bc_options_set_max_value_size": (c_int, [c_void_p, c_uint64]),
    "bc_options_set_max_open_files": (c_int, [c_void_p, c_uint32]),
    "bc_options_set_merge_trigger": (c_int, [c_void_p, c_uint32, c_uint64]),
    "bc_options_set_auto_merge": (c_int, [c_void_p, c_int]),
    "bc_options_set_mmap_writes": (c_int, [c_void_p, c_int]),
    "bc_options_set_compact_hints": (c_int, [c_void_p, c_int]),
    "bc_options_set_expected_keys": (c_int, [c_void_p, c_uint64]),
    "bc_options_set_expiry_secs": (c_int, [c_void_p, c_uint32]),
}

_lock = threading.Lock()
_lib = None


def _candidates():
    """Where to look, in order: $BITCASK_LIB, $BITCASK_LIB_DIR, then the system loader."""
    env = os.environ.get("BITCASK_LIB")
    if env:
        # An explicit choice is honoured strictly: no silent fallback to another copy.
        return [env], True
    names = []
    libdir = os.environ.get("BITCASK_LIB_DIR")
    if libdir:
        names += [os.path.join(libdir, "libbitcask.so"), os.path.join(libdir, SONAME)]
    found = ctypes.util.find_library("bitcask")
    if found:
        names.append(found)
    names += [SONAME, "libbitcask.so"]
    return names, False


def load():
    """Returns the loaded library, loading and declaring it on first use (thread-safe)."""
    global _lib
    lib = _lib
    if lib is not None:
        return lib
    with _lock:
        if _lib is not None:
            return _lib
        names, strict = _candidates()
        errors = []
        for name in names:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError as e:
                errors.append("%s: %s" % (name, e))
                if strict:
                    break
        else:
            lib = None
        if lib is None:
            raise OSError(
                "bitcask: cannot load the bitcask C library (set BITCASK_LIB to the path of "
                "libbitcask.so); tried " + "; ".join(errors)
            )
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _lib = lib
        return lib
