"""Iteration, list_keys, fold and scan: order and bounds."""

import unittest
import warnings
from unittest import mock

import bitcask
from bitcask import _db

from helpers import StoreTest

# Unsigned byte order, shorter first when one key prefixes the other.
KEYS = [b"\x00", b"\x00\x00", b"a", b"a\x00", b"ab", b"abc", b"b", b"ba", b"\x7f", b"\x80", b"\xff", b"\xff\xff", b"\xff\xff\x01"]
SORTED = sorted(KEYS)


class Order(StoreTest):
    def setUp(self):
        super().setUp()
        for i, k in enumerate(reversed(KEYS)):  # written in reverse order
            self.db.put(k, b"v%d" % i)
        self.expected = {k: b"v%d" % i for i, k in enumerate(reversed(KEYS))}

    def test_sorted_is_unsigned_byte_order(self):
        self.assertEqual(SORTED[:3], [b"\x00", b"\x00\x00", b"a"])
        self.assertEqual(SORTED[-3:], [b"\xff", b"\xff\xff", b"\xff\xff\x01"])

    def test_iter_and_list_keys(self):
        self.assertEqual(list(self.db), SORTED)
        self.assertEqual(self.db.list_keys(), SORTED)
        self.assertEqual([k for k, _ in self.db.items()], SORTED)
        self.assertEqual(list(self.db.values()), [self.expected[k] for k in SORTED])

    def test_fold_is_key_order(self):
        acc = self.db.fold(lambda k, v, acc: acc + [(k, v)], [])
        self.assertEqual(acc, [(k, self.expected[k]) for k in SORTED])
        total = self.db.fold(lambda k, v, n: n + len(v), 0)
        self.assertEqual(total, sum(len(v) for v in self.expected.values()))

    def test_fold_exception_propagates_and_frees_iterator(self):
        def boom(k, v, acc):
            if len(acc) == 3:
                raise ValueError("stop here")
            return acc + [k]

        with self.assertRaisesRegex(ValueError, "stop here"):
            self.db.fold(boom, [])
        self.assertEqual(len(self.db._cursors), 0)

    def test_fold_may_use_the_handle(self):
        def copy(k, v, n):
            self.db.put(b"copy:" + k, v)
            return n + 1

        self.assertEqual(self.db.fold(copy, 0), len(KEYS))
        self.assertEqual(self.db[b"copy:ab"], self.expected[b"ab"])

    def scan(self, start=None, end=None):
        return list(self.db.scan(start, end))

    def test_scan_bounds(self):
        def want(lo, hi):
            return [(k, self.expected[k]) for k in SORTED if (lo is None or k >= lo) and (hi is None or k < hi)]

        cases = [(None, None), (b"a", None), (None, b"b"), (b"a", b"b"), (b"a\x00", b"ab"),
                 (b"ab", b"ab"), (b"b", b"a"), (b"", b"\x00\x00"), (b"\x80", None), (b"zz", None),
                 (b"\xff", b"\xff\xff\x01"), ("a", "abc")]
        for lo, hi in cases:
            with self.subTest(start=lo, end=hi):
                b = lambda x: x.encode() if isinstance(x, str) else x
                self.assertEqual(self.scan(lo, hi), want(b(lo), b(hi)))
        # start inclusive, end exclusive
        self.assertEqual([k for k, _ in self.scan(b"ab", b"b")], [b"ab", b"abc"])

    def test_scan_prefix(self):
        cases = {b"a": [b"a", b"a\x00", b"ab", b"abc"], b"ab": [b"ab", b"abc"], b"\x00": [b"\x00", b"\x00\x00"],
                 b"\xff": [b"\xff", b"\xff\xff", b"\xff\xff\x01"], b"\xff\xff": [b"\xff\xff", b"\xff\xff\x01"],
                 b"q": [], b"": SORTED, "b": [b"b", b"ba"]}
        for prefix, keys in cases.items():
            with self.subTest(prefix=prefix):
                got = list(self.db.scan_prefix(prefix))
                self.assertEqual(got, [(k, self.expected[k]) for k in keys])

    def test_scan_is_a_generator(self):
        import types

        g = self.db.scan(b"a")
        self.assertIsInstance(g, types.GeneratorType)
        self.assertEqual(next(g), (b"a", self.expected[b"a"]))
        g.close()

    def test_scan_argument_errors_are_eager(self):
        with self.assertRaises(TypeError):
            self.db.scan(1)
        with self.assertRaises(TypeError):
            self.db.scan_prefix(None)


class Paging(StoreTest):
    """scan() reads in pages; force tiny pages to exercise the continuation."""

    def test_many_pages_same_result(self):
        keys = [b"k%04d" % i for i in range(300)] + [b"k0100\x00", b"k0100\x00\x00", b"k0100\xff"]
        for k in keys:
            self.db[k] = k * 3
        want = sorted(keys)
        with mock.patch.object(_db, "_PAGE_START", 1), mock.patch.object(_db, "_PAGE_MAX", 600):
            self.assertEqual([k for k, _ in self.db.scan()], want)
            self.assertEqual([k for k, _ in self.db.scan(b"k0050", b"k0250")],
                             [k for k in want if b"k0050" <= k < b"k0250"])
            self.assertEqual([k for k, _ in self.db.scan_prefix(b"k01")],
                             [k for k in want if k.startswith(b"k01")])
            self.assertTrue(all(v == k * 3 for k, v in self.db.scan()))

    def test_writes_during_scan(self):
        for i in range(100):
            self.db[b"k%03d" % i] = b"x"
        seen = []
        with mock.patch.object(_db, "_PAGE_START", 1), mock.patch.object(_db, "_PAGE_MAX", 300):
            for k, _ in self.db.scan(b"k"):
                seen.append(k)
                del self.db[k]  # the body may write through the same handle
                self.db[b"a" + k] = b"y"  # outside the range: never yielded
        self.assertEqual(seen, [b"k%03d" % i for i in range(100)])
        self.assertEqual(len(self.db), 100)

    def test_abandoned_scan_leaves_nothing_open(self):
        for i in range(10):
            self.db[b"%d" % i] = b"v"
        g = self.db.scan()
        next(g)
        del g
        self.db.close()  # nothing running, nothing to wait for
        self.db = None


class IteratorObject(StoreTest):
    def test_iterator_close_and_with(self):
        self.db.update({b"a": b"1", b"b": b"2"})
        it = self.db.iterator("items")
        self.assertEqual(next(it), (b"a", b"1"))
        self.assertEqual(len(self.db._cursors), 1)
        it.close()
        self.assertEqual(len(self.db._cursors), 0)
        with self.assertRaises(StopIteration):
            next(it)
        with self.db.iterator("keys") as it:
            self.assertEqual(list(it), [b"a", b"b"])
        with self.assertRaises(ValueError):
            self.db.iterator("bogus")

    def test_exhausted_and_abandoned_iterators_are_freed(self):
        self.db.update({b"a": b"1", b"b": b"2"})
        list(self.db)
        self.assertEqual(len(self.db._cursors), 0)
        for k in self.db:
            break
        self.assertEqual(len(self.db._cursors), 0)  # freed by refcounting at once
        it = iter(self.db)
        next(it)
        next(it)
        with self.assertRaises(StopIteration):
            next(it)
        with self.assertRaises(StopIteration):
            next(it)

    def test_iterator_keeps_store_open_without_other_references(self):
        import gc

        self.db.update({b"a": b"1", b"b": b"2"})
        self.db.close()
        it = bitcask.open(self.dir).iterator("keys")
        gc.collect()
        self.assertEqual(list(it), [b"a", b"b"])
        self.db = None
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            del it
            gc.collect()  # the store is closed by its finalizer (safety net)
        self.assertTrue(any(issubclass(x.category, ResourceWarning) for x in w))
        bitcask.open(self.dir).close()  # and its lock released


if __name__ == "__main__":
    unittest.main()
