"""Error classes, codes and messages; use after close; the finalizer safety net."""

import gc
import os
import subprocess
import sys
import textwrap
import unittest
import warnings

import bitcask

from helpers import StoreTest


class ErrorClasses(unittest.TestCase):
    def test_hierarchy(self):
        for cls, code in [
            (bitcask.InvalidArgumentError, bitcask.E_INVALID),
            (bitcask.BitcaskIOError, bitcask.E_IO),
            (bitcask.CorruptError, bitcask.E_CORRUPT),
            (bitcask.LockedError, bitcask.E_LOCKED),
            (bitcask.ReadOnlyError, bitcask.E_READ_ONLY),
            (bitcask.TooLargeError, bitcask.E_TOO_LARGE),
            (bitcask.BufferTooSmallError, bitcask.E_BUFFER),
            (bitcask.PanicError, bitcask.E_PANIC),
            (bitcask.ClosedError, bitcask.E_INVALID),
        ]:
            self.assertTrue(issubclass(cls, bitcask.BitcaskError))
            self.assertTrue(issubclass(cls, Exception))
        self.assertTrue(issubclass(bitcask.InvalidArgumentError, ValueError))
        self.assertEqual(bitcask.E_TOO_LARGE, -6)

    def test_pickle_round_trip(self):
        import pickle

        e = bitcask.TooLargeError(-6, "bc_put: too big", "key or value too large")
        e2 = pickle.loads(pickle.dumps(e))
        self.assertIs(type(e2), bitcask.TooLargeError)
        self.assertEqual((e2.code, e2.message), (-6, "bc_put: too big"))


class Errors(StoreTest):
    def test_too_large_key_and_value(self):
        self.reopen(max_key_size=8, max_value_size=16)
        with self.assertRaises(bitcask.TooLargeError) as cm:
            self.db.put(b"k" * 9, b"v")
        e = cm.exception
        self.assertEqual(e.code, bitcask.E_TOO_LARGE)
        self.assertEqual(e.code, -6)
        self.assertTrue(e.message.startswith("bc_put:"), e.message)
        self.assertIn("9 bytes", e.message)
        self.assertIn(e.message, str(e))
        self.assertIn("-6", str(e))
        self.assertEqual(e.status, bitcask.status_str(-6))
        with self.assertRaises(bitcask.TooLargeError) as cm:
            self.db[b"k"] = b"v" * 17
        self.assertIn("bc_put", cm.exception.message)
        with self.assertRaises(bitcask.TooLargeError) as cm:
            self.db.get(b"k" * 9)
        self.assertIn("bc_get", cm.exception.message)
        self.db.put(b"k" * 8, b"v" * 16)  # the limits themselves are fine
        self.assertEqual(len(self.db), 1)

    def test_read_only(self):
        self.db[b"a"] = b"1"
        ro = bitcask.open(self.dir, read_only=True)  # beside the writer: needs no lock
        try:
            self.assertTrue(ro.read_only)
            self.assertEqual(ro[b"a"], b"1")
            for write in (lambda: ro.put(b"b", b"2"), lambda: ro.delete(b"a"),
                          lambda: ro.put_ttl(b"b", b"2", 5), ro.merge):
                with self.assertRaises(bitcask.ReadOnlyError) as cm:
                    write()
                self.assertEqual(cm.exception.code, bitcask.E_READ_ONLY)
                self.assertIn("read-only", cm.exception.message)
            with self.assertRaises(bitcask.ReadOnlyError):
                with ro.batch() as b:
                    b.put(b"c", b"3")
            ro.sync()  # a no-op on a read-only handle
            self.assertEqual(dict(ro), {b"a": b"1"})
        finally:
            ro.close()

    def test_locked_second_open_same_process(self):
        with self.assertRaises(bitcask.LockedError) as cm:
            bitcask.open(self.dir)
        e = cm.exception
        self.assertEqual(e.code, bitcask.E_LOCKED)
        self.assertIn("bc_open", e.message)
        self.assertIn("LOCK", e.message)
        self.db.close()
        self.db = bitcask.open(self.dir)  # released by close

    def test_locked_across_processes(self):
        code = textwrap.dedent("""
            import sys, bitcask
            try:
                bitcask.open(sys.argv[1])
            except bitcask.LockedError as e:
                print(e.code, e.message)
                sys.exit(0)
            sys.exit(1)
        """)
        r = subprocess.run([sys.executable, "-c", code, self.dir], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("-4 bc_open:"), r.stdout)

    def test_corrupt_record(self):
        for k in (b"a", b"b", b"c"):
            self.db[k] = k * 20 + b"MARK" + k * 20
        self.db.sync()
        # Flip one byte of b's value on disk, behind the open handle's back.
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            with open(path, "rb") as f:
                at = f.read().find(b"bMARK")
            if at >= 0:
                with open(path, "r+b") as f:
                    f.seek(at + 1)
                    f.write(b"X")
                break
        else:
            self.fail("record not found on disk")
        with self.assertRaises(bitcask.CorruptError) as cm:
            self.db.get(b"b")
        self.assertEqual(cm.exception.code, bitcask.E_CORRUPT)
        self.assertIn("bc_get", cm.exception.message)
        self.assertIn("checksum", cm.exception.message)
        self.assertEqual(self.db.get(b"a"), b"a" * 20 + b"MARK" + b"a" * 20)
        with self.db.iterator("keys") as it:
            self.assertEqual(next(it), b"a")
            with self.assertRaises(bitcask.CorruptError) as cm:
                next(it)
            self.assertIn("bc_iter_next", cm.exception.message)
            self.assertEqual(next(it), b"c")  # continues after the damaged entry
        with self.assertRaises(bitcask.CorruptError) as cm:
            list(self.db.scan())
        self.assertIn("bc_scan", cm.exception.message)

    def test_messages_are_per_call(self):
        with self.assertRaises(bitcask.InvalidArgumentError) as first:
            self.db.put(b"", b"v")
        self.reopen(max_key_size=4)
        with self.assertRaises(bitcask.TooLargeError) as second:
            self.db.delete(b"12345")
        self.assertIn("empty", first.exception.message)
        self.assertIn("bc_delete", second.exception.message)

    def test_missing_library_fails_clearly(self):
        env = dict(os.environ, BITCASK_LIB="/nonexistent/libbitcask.so")
        code = "import bitcask, sys\ntry:\n bitcask.open(sys.argv[1])\nexcept OSError as e:\n print(e)"
        r = subprocess.run([sys.executable, "-c", code, self.dir + "2"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("/nonexistent/libbitcask.so", r.stdout)


class UseAfterClose(StoreTest):
    def test_every_call_raises_closed_error(self):
        self.db[b"a"] = b"1"
        db = self.db
        db.close()
        self.assertTrue(db.closed)
        db.close()  # idempotent
        calls = [
            lambda: db.put(b"a", b"1"), lambda: db.put_ttl(b"a", b"1", 1), lambda: db.get(b"a"),
            lambda: db[b"a"], lambda: db.__setitem__(b"a", b"1"), lambda: db.__delitem__(b"a"),
            lambda: db.delete(b"a"), lambda: b"a" in db, lambda: len(db), lambda: bool(db),
            lambda: list(db), lambda: db.list_keys(), lambda: list(db.items()),
            lambda: db.fold(lambda k, v, a: a, 0), lambda: db.scan(), lambda: db.scan_prefix(b"a"),
            db.batch, db.merge, db.sync, db.stats, lambda: db.__enter__(),
        ]
        for i, call in enumerate(calls):
            with self.subTest(call=i):
                with self.assertRaises(bitcask.ClosedError) as cm:
                    call()
                self.assertIsInstance(cm.exception, bitcask.BitcaskError)
                self.assertEqual(cm.exception.code, bitcask.E_INVALID)
                self.assertIn("closed", str(cm.exception))

    def test_context_manager_closes(self):
        self.db.close()
        with bitcask.open(self.dir) as db:
            db[b"a"] = b"1"
            self.assertFalse(db.closed)
        self.assertTrue(db.closed)
        with self.assertRaises(bitcask.BitcaskError):
            db[b"a"]
        with self.assertRaises(ZeroDivisionError):
            with bitcask.open(self.dir) as db:
                1 / 0
        self.assertTrue(db.closed)
        self.db = bitcask.open(self.dir)  # lock released both times
        self.assertEqual(self.db[b"a"], b"1")

    def test_open_iterator_and_scan_across_close(self):
        for i in range(5):
            self.db[b"%d" % i] = b"v"
        it = iter(self.db)
        self.assertEqual(next(it), b"0")
        g = self.db.scan()
        self.assertEqual(next(g), (b"0", b"v"))
        b = self.db.batch()
        b.put(b"x", b"y")
        self.db.close()  # frees the native iterator before bc_close
        with self.assertRaises(bitcask.ClosedError):
            next(it)
        with self.assertRaises(bitcask.ClosedError):
            next(it)
        self.assertEqual(next(g), (b"1", b"v"))  # the rest of an already-read page
        with self.assertRaises(bitcask.ClosedError):
            b.write()
        b.close()
        self.db = None

    def test_finalizer_is_a_safety_net(self):
        self.db.close()
        db = bitcask.open(self.dir)
        db[b"a"] = b"1"
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            del db
            gc.collect()
        self.assertTrue(any(issubclass(x.category, ResourceWarning) for x in w))
        self.db = bitcask.open(self.dir)  # the lock was released by the finalizer
        self.assertEqual(self.db[b"a"], b"1")

    def test_failed_open_leaves_nothing(self):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with self.assertRaises(bitcask.LockedError):
                bitcask.open(self.dir)
            gc.collect()
        self.assertFalse([x for x in w if issubclass(x.category, ResourceWarning)])


if __name__ == "__main__":
    unittest.main()
