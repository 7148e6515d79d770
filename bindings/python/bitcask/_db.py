"""The Bitcask handle, its batches and iterators."""

import collections.abc as abc
import ctypes
import dataclasses
import operator
import os
import threading
import warnings

from . import _native as N
from ._errors import closed, error_from, invalid

_string_at = ctypes.string_at
_byref = ctypes.byref
_MISSING = object()

# scan() reads in pages (see Bitcask.scan): the first page holds about this many bytes of keys
# and values, each following page twice as many, up to _PAGE_MAX.  _ENTRY_OVERHEAD approximates
# what one (key, value) pair costs in Python objects besides its bytes.
_PAGE_START = 1 << 20
_PAGE_MAX = 32 << 20
_ENTRY_OVERHEAD = 128

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1

SYNC_NONE = N.BC_SYNC_NONE
SYNC_ALWAYS = N.BC_SYNC_ALWAYS
SYNC_INTERVAL = N.BC_SYNC_INTERVAL
_SYNC_NAMES = {"none": SYNC_NONE, "always": SYNC_ALWAYS, "interval": SYNC_INTERVAL}


def _as_bytes(x, what="key"):
    """bytes, bytearray, memoryview (any contiguous or not) or str (UTF-8) -> bytes."""
    if type(x) is bytes:
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if isinstance(x, memoryview):
        return x.tobytes()
    raise TypeError(
        "bitcask: %s must be bytes, bytearray, memoryview or str, not %s"
        % (what, type(x).__name__)
    )


def _uint(name, value, hi):
    if isinstance(value, bool):
        raise TypeError("bitcask: %s must be an int, not bool" % name)
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError("bitcask: %s must be an int, not %s" % (name, type(value).__name__)) from None
    # ctypes would silently wrap an out-of-range int, so range-check before the call.
    if not 0 <= value <= hi:
        raise invalid("%s=%d is out of range 0..%d" % (name, value, hi))
    return value


def _successor(prefix):
    """The smallest key greater than every key starting with ``prefix``, None if there is none."""
    p = prefix.rstrip(b"\xff")
    if not p:
        return None
    return p[:-1] + bytes((p[-1] + 1,))


@dataclasses.dataclass(frozen=True)
class Stats:
    """Counters of a store (bc_stats); see include/bitcask.h for each field's meaning."""

    keys: int
    data_files: int
    total_bytes: int
    live_bytes: int
    dead_bytes: int
    corrupt_records: int
    corrupt_bytes: int
    truncated_bytes: int
    syncs: int
    sealed_live_bytes: int
    sealed_dead_bytes: int
    merges: int
    reclaimed_bytes: int
    hint_files_loaded: int
    data_files_scanned: int
    incomplete_merges: int

    def asdict(self):
        return dataclasses.asdict(self)


def _bool(v):
    return 1 if v else 0


# option name -> (C setter, converter to its argument)
_SIMPLE_OPTIONS = {
    "read_only": ("bc_options_set_read_only", _bool),
    "create_if_missing": ("bc_options_set_create_if_missing", _bool),
    "auto_merge": ("bc_options_set_auto_merge", _bool),
    "mmap_writes": ("bc_options_set_mmap_writes", _bool),
    "compact_hints": ("bc_options_set_compact_hints", _bool),
    "max_file_size": ("bc_options_set_max_file_size", lambda v: _uint("max_file_size", v, _U64)),
    "max_key_size": ("bc_options_set_max_key_size", lambda v: _uint("max_key_size", v, _U32)),
    "max_value_size": ("bc_options_set_max_value_size", lambda v: _uint("max_value_size", v, _U64)),
    "max_open_files": ("bc_options_set_max_open_files", lambda v: _uint("max_open_files", v, _U32)),
    "expiry_secs": ("bc_options_set_expiry_secs", lambda v: _uint("expiry_secs", v, _U32)),
    "expected_keys": ("bc_options_set_expected_keys", lambda v: _uint("expected_keys", v, _U64)),
}
OPTIONS = tuple(_SIMPLE_OPTIONS) + (
    "sync",
    "sync_interval_ms",
    "merge_fragmentation_percent",
    "merge_dead_bytes",
)


def _make_options(lib, opts):
    """A bc_options pointer for ``opts`` (None when empty: the library's defaults)."""
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise TypeError(
            "bitcask: unknown option(s) %s; known: %s" % (", ".join(unknown), ", ".join(OPTIONS))
        )
    if not opts:
        return None
    # Convert everything first so a bad value raises before anything is allocated.
    calls = []
    for name, (setter, conv) in _SIMPLE_OPTIONS.items():
        if name in opts:
            calls.append((setter, (conv(opts[name]),)))
    if "sync" in opts or "sync_interval_ms" in opts:
        mode = opts.get("sync", SYNC_INTERVAL if "sync_interval_ms" in opts else SYNC_NONE)
        if isinstance(mode, str):
            if mode.lower() not in _SYNC_NAMES:
                raise invalid("sync=%r: use 'none', 'always' or 'interval'" % mode)
            mode = _SYNC_NAMES[mode.lower()]
        mode = _uint("sync", mode, 2)
        interval = _uint("sync_interval_ms", opts.get("sync_interval_ms", 1000), _U32)
        calls.append(("bc_options_set_sync", (mode, interval)))
    if "merge_fragmentation_percent" in opts or "merge_dead_bytes" in opts:
        pct = _uint("merge_fragmentation_percent", opts.get("merge_fragmentation_percent", 60), _U32)
        dead = _uint("merge_dead_bytes", opts.get("merge_dead_bytes", 512 << 20), _U64)
        calls.append(("bc_options_set_merge_trigger", (pct, dead)))
    o = lib.bc_options_new()
    if not o:
        raise MemoryError("bitcask: bc_options_new failed")
    try:
        for setter, args in calls:
            rc = getattr(lib, setter)(o, *args)
            if rc != N.BC_OK:
                raise error_from(lib, rc)
    except BaseException:
        lib.bc_options_free(o)
        raise
    return o


class _Cursor:
    """A raw bc_iter pointer, owned by its Bitcask (which frees it at close at the latest)."""

    __slots__ = ("ptr", "lock", "state")

    def __init__(self, ptr):
        self.ptr = ptr
        self.lock = threading.Lock()
        self.state = "open"  # "open", "done" (exhausted or closed by the user), "dbclosed"


class Bitcask(abc.MutableMapping):
    """An open store: a mutable mapping of bytes keys to bytes values.

    ``Bitcask(path, **options)`` opens (by default creating) the store in directory ``path``.
    Options (all optional; defaults are the library's):

    ``read_only`` (bool), ``create_if_missing`` (bool, default True), ``sync`` ('none',
    'always', 'interval' or SYNC_*), ``sync_interval_ms`` (int, for 'interval', default 1000),
    ``max_file_size``, ``max_key_size``, ``max_value_size``, ``max_open_files`` (ints),
    ``auto_merge`` (bool), ``merge_fragmentation_percent`` and ``merge_dead_bytes`` (the
    auto-merge trigger, defaults 60 and 512 MiB), ``expiry_secs`` (store-wide TTL, 0 = never),
    ``mmap_writes`` (bool, default True: append through a writable memory map over space
    reserved with fallocate on ext4/XFS/tmpfs, else pwrite; while open the active data file is
    longer on disk than its records by up to 8 MiB, cut at close), ``compact_hints`` (bool,
    default True: write compact hint files, one bit per record and no keys, for data files whose
    records are mostly live such as a merge's output; False lists every key; either is read),
    ``expected_keys`` (int, 0 ..= 4294967296, default 0 = no expectation: how many keys the
    store will hold; the open sizes the in-memory index for them up front, about 9 bytes per
    expected key touched as keys arrive, so filling the store never pauses to grow and rehash).

    Keys and values may be bytes, bytearray, memoryview or str (encoded as UTF-8); values are
    returned as bytes.  One handle may be shared by any number of threads.  Close it with
    ``close()`` or a ``with`` block.
    """

    def __init__(self, path, **options):
        self._handle = None  # first, so __del__ works whatever fails below
        self._cv = threading.Condition(threading.Lock())
        self._active = 0  # library calls running on the handle
        self._cursors = set()
        lib = N.load()
        self._lib = lib
        raw = os.fsencode(path)
        if b"\0" in raw:
            raise invalid("path contains a NUL byte")
        self.path = os.fsdecode(raw)
        self.read_only = bool(options.get("read_only", False))
        o = _make_options(lib, options)
        try:
            out = ctypes.c_void_p()
            rc = lib.bc_open(raw, o, _byref(out))
            if rc != N.BC_OK:
                raise error_from(lib, rc)
        finally:
            lib.bc_options_free(o)
        self._handle = out.value

    # -- handle life cycle -------------------------------------------------------------------

    def _enter(self):
        """Registers a library call on the handle; raises ClosedError after close()."""
        with self._cv:
            h = self._handle
            if h is None:
                raise closed()
            self._active += 1
            return h

    def _leave(self):
        with self._cv:
            self._active -= 1
            if not self._active:
                self._cv.notify_all()

    @property
    def closed(self):
        """True once close() ran."""
        return self._handle is None

    def close(self):
        """Syncs and closes the store; a no-op when already closed.

        Waits for calls running in other threads to finish (new calls fail with ClosedError),
        frees every open iterator, then calls bc_close.  Raises BitcaskIOError if the final
        fsync failed; the handle is closed either way.
        """
        with self._cv:
            h = self._handle
            if h is None:
                return
            self._handle = None
            while self._active:
                self._cv.wait()
            cursors = list(self._cursors)
            self._cursors.clear()
        lib = self._lib
        for cur in cursors:
            with cur.lock:
                p, cur.ptr, cur.state = cur.ptr, None, "dbclosed"
                if p:
                    lib.bc_iter_free(p)
        rc = lib.bc_close(h)
        if rc != N.BC_OK:
            raise error_from(lib, rc)

    def __enter__(self):
        if self._handle is None:
            raise closed()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # Safety net only: close explicitly or with `with`.
        if getattr(self, "_handle", None) is None:
            return
        try:
            self.close()
        except Exception:
            pass
        try:
            warnings.warn("unclosed bitcask %r" % (self.path,), ResourceWarning, source=self)
        except Exception:  # e.g. during interpreter shutdown
            pass

    def __reduce__(self):
        raise TypeError("bitcask: a Bitcask handle cannot be pickled or copied")

    def __repr__(self):
        return "<bitcask.Bitcask %r%s%s>" % (
            self.path,
            " read-only" if self.read_only else "",
            " closed" if self.closed else "",
        )

    # -- single keys -------------------------------------------------------------------------

    def put(self, key, value):
        """Stores ``value`` under ``key``, replacing any previous value."""
        k = _as_bytes(key)
        v = _as_bytes(value, "value")
        h = self._enter()
        try:
            rc = self._lib.bc_put(h, k, len(k), v, len(v))
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
        finally:
            self._leave()

    def put_ttl(self, key, value, secs):
        """Like put(); the key expires ``secs`` (an int >= 1) seconds from now."""
        k = _as_bytes(key)
        v = _as_bytes(value, "value")
        secs = _uint("secs", secs, _U32)
        h = self._enter()
        try:
            rc = self._lib.bc_put_ttl(h, k, len(k), v, len(v), secs)
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
        finally:
            self._leave()

    def _get(self, key, default):
        k = _as_bytes(key)
        lib = self._lib
        val = N.u8p()
        n = ctypes.c_size_t()
        h = self._enter()
        try:
            rc = lib.bc_get(h, k, len(k), _byref(val), _byref(n))
            if rc == N.BC_OK:
                return _string_at(val, n.value)
            if rc == N.BC_NOT_FOUND:
                return default
            raise error_from(lib, rc)
        finally:
            if val:
                lib.bc_free(val)
            self._leave()

    def get(self, key, default=None):
        """The value of ``key`` as bytes, or ``default`` when it is absent."""
        return self._get(key, default)

    def delete(self, key):
        """Deletes ``key``: True if it existed, False if there was nothing to delete."""
        k = _as_bytes(key)
        h = self._enter()
        try:
            rc = self._lib.bc_delete(h, k, len(k))
            if rc == N.BC_OK:
                return True
            if rc == N.BC_NOT_FOUND:
                return False
            raise error_from(self._lib, rc)
        finally:
            self._leave()

    def contains(self, key):
        """Whether ``key`` exists (answered from memory; no value is read)."""
        k = _as_bytes(key)
        h = self._enter()
        try:
            rc = self._lib.bc_contains(h, k, len(k))
            if rc == N.BC_OK:
                return True
            if rc == N.BC_NOT_FOUND:
                return False
            raise error_from(self._lib, rc)
        finally:
            self._leave()

    # Mapping protocol.
    def __getitem__(self, key):
        v = self._get(key, _MISSING)
        if v is _MISSING:
            raise KeyError(key)
        return v

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key):
        return self.contains(key)

    # -- whole store -------------------------------------------------------------------------

    def _fold_keys(self, on_key):
        """Calls on_key(key_bytes) for every live key, in no particular order (bc_fold_keys).

        on_key returns True to stop.  It runs inside the library call, so it must not call this
        handle; an exception in it stops the fold and is re-raised afterwards.
        """
        lib = self._lib
        raised = []

        def cb(_ctx, kp, kl):
            try:
                return 1 if on_key(_string_at(kp, kl)) else 0
            except BaseException as e:  # never let an exception reach the C frames
                raised.append(e)
                return 1

        fn = N.KEY_FN(cb)  # referenced until the call returns
        h = self._enter()
        try:
            rc = lib.bc_fold_keys(h, fn, None)
            if rc < 0:
                raise error_from(lib, rc)
        finally:
            self._leave()
        if raised:
            raise raised[0]

    def list_keys(self):
        """Every live key, as a list of bytes in ascending unsigned byte order.

        Reads no value from disk (bc_fold_keys), then sorts.
        """
        keys = []
        self._fold_keys(lambda k: keys.append(k))
        keys.sort()
        return keys

    def __len__(self):
        """The number of live keys: counted with bc_fold_keys (O(n), no disk reads), so expired
        keys are never counted."""
        count = [0]

        def one(_k):
            count[0] += 1

        self._fold_keys(one)
        return count[0]

    def __bool__(self):
        found = []
        self._fold_keys(lambda k: found.append(k) or True)
        return bool(found)

    def __iter__(self):
        """Keys in ascending unsigned byte order, from a snapshot (bc_iter_*)."""
        return Iterator(self, Iterator.KEYS)

    def iterator(self, what="items"):
        """A closeable Iterator over 'keys', 'values' or 'items' of a snapshot, ascending keys."""
        modes = {"keys": Iterator.KEYS, "values": Iterator.VALUES, "items": Iterator.ITEMS}
        if what not in modes:
            raise ValueError("bitcask: iterator(what=%r): use 'keys', 'values' or 'items'" % what)
        return Iterator(self, modes[what])

    def keys(self):
        return _KeysView(self)

    def values(self):
        return _ValuesView(self)

    def items(self):
        return _ItemsView(self)

    def clear(self):
        """Deletes every key (one tombstone each)."""
        for k in self.list_keys():
            self.delete(k)

    def fold(self, fn, acc):
        """Returns ``fn(key, value, acc)`` applied over every live key, threading ``acc``.

        Order: ascending unsigned byte order of the keys (it uses the snapshot iterator, not the
        library's log-order bc_fold, so ``fn`` runs outside any library call and may use this
        handle freely).  Exceptions from ``fn`` propagate; the iterator is freed.
        """
        with Iterator(self, Iterator.ITEMS) as it:
            for k, v in it:
                acc = fn(k, v, acc)
        return acc

    def scan(self, start=None, end=None):
        """A generator of ``(key, value)`` for the live keys in ``[start, end)``, ascending.

        ``None`` leaves that side open.  Runs bc_scan (which reads only the matching values)
        in pages: one page holds about 1 MiB of entries, each following page twice as many up to
        32 MiB, so memory stays bounded; a scan whose matches fit one page sees one snapshot, a
        longer one starts each page after the last key yielded, so keys written or deleted during
        a long scan may or may not appear, but every key is yielded at most once and in strictly
        ascending order.  The loop body may use this handle (writes included).
        """
        lo = None if start is None else _as_bytes(start, "start")
        hi = None if end is None else _as_bytes(end, "end")
        if self._handle is None:
            raise closed()
        return self._scan(lo, hi, None)

    def scan_prefix(self, prefix):
        """A generator of ``(key, value)`` for the live keys starting with ``prefix``, ascending.

        Same paging and guarantees as scan(); the first page comes from bc_scan_prefix.
        """
        p = _as_bytes(prefix, "prefix")
        if self._handle is None:
            raise closed()
        return self._scan(p, _successor(p), p)

    def _scan(self, lo, hi, prefix):
        lib = self._lib
        budget = _PAGE_START
        while True:
            page = []
            used = [0]
            raised = []

            def cb(_ctx, kp, kl, vp, vl, page=page, used=used, raised=raised, budget=budget):
                try:
                    page.append((_string_at(kp, kl), _string_at(vp, vl)))
                    used[0] += kl + vl + _ENTRY_OVERHEAD
                    return 1 if used[0] >= budget else 0
                except BaseException as e:  # never let an exception reach the C frames
                    raised.append(e)
                    return 1

            fn = N.FOLD_FN(cb)
            h = self._enter()
            try:
                if prefix is not None:
                    rc = lib.bc_scan_prefix(h, prefix, len(prefix), fn, None)
                    prefix = None
                else:
                    rc = lib.bc_scan(
                        h,
                        lo,
                        0 if lo is None else len(lo),
                        hi,
                        0 if hi is None else len(hi),
                        fn,
                        None,
                    )
                err = error_from(lib, rc) if rc < 0 else None
            finally:
                self._leave()
            if raised:
                raise raised[0]
            if err is not None:
                raise err
            yield from page
            if rc != N.BC_STOPPED or not page:
                return
            lo = page[-1][0] + b"\0"  # the smallest key after the last one yielded
            budget = min(budget * 2, _PAGE_MAX)

    def batch(self):
        """A Batch of puts and deletes; as a context manager it is written atomically when the
        block ends without an exception, and discarded (nothing applied) when it raises."""
        if self._handle is None:
            raise closed()
        return Batch(self)

    def merge(self):
        """Compacts the store (bc_merge); readers and writers keep working meanwhile."""
        self._simple("bc_merge")

    def sync(self):
        """Forces every acknowledged write onto stable storage (bc_sync)."""
        self._simple("bc_sync")

    def _simple(self, name):
        h = self._enter()
        try:
            rc = getattr(self._lib, name)(h)
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
        finally:
            self._leave()

    def stats(self):
        """The store's counters as a frozen Stats dataclass (``.asdict()`` for a dict).

        ``keys`` is the library's count of indexed keys, which may include expired keys not yet
        merged away; ``len(db)`` counts only live ones.
        """
        s = N.bc_stats()
        h = self._enter()
        try:
            rc = self._lib.bc_stats_get(h, _byref(s))
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
        finally:
            self._leave()
        return Stats(*(getattr(s, f) for f in N.STATS_FIELDS))


class _KeysView(abc.KeysView):
    __slots__ = ()

    def __iter__(self):
        return Iterator(self._mapping, Iterator.KEYS)


class _ValuesView(abc.ValuesView):
    __slots__ = ()

    def __iter__(self):
        return Iterator(self._mapping, Iterator.VALUES)


class _ItemsView(abc.ItemsView):
    __slots__ = ()

    def __iter__(self):
        return Iterator(self._mapping, Iterator.ITEMS)


class Iterator:
    """A snapshot of the live keys taken when created, read one entry at a time in ascending
    unsigned byte order of the keys (bc_iter_new / bc_iter_next / bc_iter_free).

    Yields keys, values or (key, value) pairs.  Writes made meanwhile do not change what it
    yields.  The native iterator is freed when it is exhausted, by close() / a ``with`` block,
    when the object is garbage-collected, or at the latest by the store's close() (after which
    next() raises ClosedError).  A CorruptError from next() concerns one entry: calling next()
    again continues after it.
    """

    KEYS, VALUES, ITEMS = 0, 1, 2

    def __init__(self, db, mode=ITEMS):
        self._db = db  # keeps the store alive while iterating
        self._mode = mode
        self._cur = None
        lib = db._lib
        out = ctypes.c_void_p()
        h = db._enter()
        try:
            rc = lib.bc_iter_new(h, _byref(out))
            if rc != N.BC_OK:
                raise error_from(lib, rc)
            cur = _Cursor(out.value)
            with db._cv:  # registered before _leave(): close() cannot miss it
                db._cursors.add(cur)
            self._cur = cur
        finally:
            db._leave()

    def __iter__(self):
        return self

    def __next__(self):
        cur = self._cur
        db = self._db
        lib = db._lib
        kp, kl, vp, vl = N.u8p(), ctypes.c_size_t(), N.u8p(), ctypes.c_size_t()
        with cur.lock:
            if cur.ptr is None:
                if cur.state == "dbclosed":
                    raise closed()
                raise StopIteration
            h = db._enter()
            try:
                rc = lib.bc_iter_next(cur.ptr, _byref(kp), _byref(kl), _byref(vp), _byref(vl))
                if rc == N.BC_OK:
                    # The bytes belong to the iterator until the next call: copy them now.
                    if self._mode == Iterator.KEYS:
                        return _string_at(kp, kl.value)
                    if self._mode == Iterator.VALUES:
                        return _string_at(vp, vl.value)
                    return _string_at(kp, kl.value), _string_at(vp, vl.value)
                if rc == N.BC_NOT_FOUND:
                    lib.bc_iter_free(cur.ptr)
                    cur.ptr, cur.state = None, "done"
                else:
                    raise error_from(lib, rc)
            finally:
                db._leave()
        self._forget(cur)
        raise StopIteration

    def _forget(self, cur):
        with self._db._cv:
            self._db._cursors.discard(cur)

    def close(self):
        """Frees the native iterator now; later next() calls raise StopIteration."""
        cur = self._cur
        if cur is None:
            return
        with cur.lock:
            p, cur.ptr = cur.ptr, None
            if p:
                cur.state = "done"
                self._db._lib.bc_iter_free(p)
        self._forget(cur)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __reduce__(self):
        raise TypeError("bitcask: an Iterator cannot be pickled or copied")


class Batch:
    """Puts and deletes applied together or not at all (bc_batch_*, bc_write).

    Use it as a context manager (``with db.batch() as b: b.put(k, v); b.delete(k2)``): the
    operations are written atomically when the block ends normally and dropped if it raises.
    Or call write() yourself (it may be called again; the batch is unchanged by it) and close().
    Later operations on the same key win, as in any sequence.  One thread at a time per batch.
    """

    def __init__(self, db):
        self._db = db
        self._lib = db._lib
        self._lock = threading.Lock()
        self._ops = 0
        self._ptr = self._lib.bc_batch_new()
        if not self._ptr:
            raise MemoryError("bitcask: bc_batch_new failed")

    def _live(self):
        if self._ptr is None:
            raise closed("batch")
        return self._ptr

    def put(self, key, value):
        """Adds "store value under key"."""
        k = _as_bytes(key)
        v = _as_bytes(value, "value")
        with self._lock:
            rc = self._lib.bc_batch_put(self._live(), k, len(k), v, len(v))
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
            self._ops += 1

    def delete(self, key):
        """Adds "delete key" (a tombstone whether or not the key exists)."""
        k = _as_bytes(key)
        with self._lock:
            rc = self._lib.bc_batch_delete(self._live(), k, len(k))
            if rc != N.BC_OK:
                raise error_from(self._lib, rc)
            self._ops += 1

    __setitem__ = put
    __delitem__ = delete

    def clear(self):
        """Removes every operation."""
        with self._lock:
            self._lib.bc_batch_clear(self._live())
            self._ops = 0

    def __len__(self):
        """The number of operations added."""
        return self._ops

    def write(self):
        """Applies every operation to the store, all or nothing (bc_write)."""
        db = self._db
        with self._lock:
            b = self._live()
            h = db._enter()
            try:
                rc = self._lib.bc_write(h, b)
                if rc != N.BC_OK:
                    raise error_from(self._lib, rc)
            finally:
                db._leave()

    commit = write

    def close(self):
        """Frees the batch without writing it; a no-op when already closed."""
        with self._lock:
            p, self._ptr = self._ptr, None
            if p:
                self._lib.bc_batch_free(p)

    @property
    def closed(self):
        return self._ptr is None

    def __enter__(self):
        self._live()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.write()
        finally:
            self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __reduce__(self):
        raise TypeError("bitcask: a Batch cannot be pickled or copied")


def open(path, **options):  # noqa: A001 - the name users of bitcask packages expect
    """Opens the store in directory ``path``; see Bitcask for the options."""
    return Bitcask(path, **options)
