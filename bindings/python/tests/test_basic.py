"""Round trips and the mapping protocol."""

import unittest

import bitcask

from helpers import StoreTest


class RoundTrip(StoreTest):
    def test_binary_with_nul(self):
        key = b"\x00k\x00e\xffy\x00"
        value = bytes(range(256)) * 4
        self.db.put(key, value)
        got = self.db.get(key)
        self.assertIsInstance(got, bytes)
        self.assertEqual(got, value)

    def test_empty_value_is_not_absent(self):
        self.db.put(b"empty", b"")
        self.assertEqual(self.db.get(b"empty"), b"")
        self.assertEqual(self.db[b"empty"], b"")
        self.assertIn(b"empty", self.db)
        self.assertIsNone(self.db.get(b"other"))
        self.assertEqual(self.db.get(b"other", b"dflt"), b"dflt")

    def test_str_keys_and_values_are_utf8(self):
        self.db["clé"] = "välue ☃"
        self.assertEqual(self.db["clé".encode()], "välue ☃".encode())
        self.assertEqual(self.db["clé"], "välue ☃".encode())
        self.assertEqual(self.db.list_keys(), ["clé".encode()])

    def test_bytearray_and_memoryview(self):
        self.db.put(bytearray(b"ba"), bytearray(b"\x01\x02"))
        self.db.put(memoryview(b"mv"), memoryview(b"xyz")[1:])
        strided = memoryview(b"a0b1c2")[::2]  # non-contiguous
        self.db.put(strided, strided)
        self.assertEqual(self.db[b"ba"], b"\x01\x02")
        self.assertEqual(self.db[memoryview(b"mv")], b"yz")
        self.assertEqual(self.db[b"abc"], b"abc")

    def test_large_value(self):
        value = bytes(range(256)) * (4 << 10)  # 1 MiB
        self.db[b"big"] = value
        self.assertEqual(self.db[b"big"], value)

    def test_overwrite_and_delete(self):
        self.db.put(b"k", b"1")
        self.db.put(b"k", b"2")
        self.assertEqual(self.db.get(b"k"), b"2")
        self.assertTrue(self.db.delete(b"k"))
        self.assertFalse(self.db.delete(b"k"))
        self.assertIsNone(self.db.get(b"k"))

    def test_bad_types(self):
        for bad in (1, None, 1.5, [b"a"], object()):
            with self.assertRaises(TypeError):
                self.db.put(bad, b"v")
            with self.assertRaises(TypeError):
                self.db.put(b"k", bad)
            with self.assertRaises(TypeError):
                self.db.get(bad)
        self.assertEqual(len(self.db), 0)

    def test_empty_key_rejected_by_library(self):
        with self.assertRaises(bitcask.InvalidArgumentError) as cm:
            self.db.put(b"", b"v")
        self.assertEqual(cm.exception.code, bitcask.E_INVALID)
        self.assertIn("bc_put", cm.exception.message)
        self.assertIn("empty", cm.exception.message)

    def test_survives_reopen(self):
        data = {b"a": b"1", b"b\x00": b"", "c": b"3" * 1000}
        for k, v in data.items():
            self.db[k] = v
        self.reopen()
        self.assertEqual(self.db[b"a"], b"1")
        self.assertEqual(self.db[b"b\x00"], b"")
        self.assertEqual(self.db[b"c"], b"3" * 1000)
        self.assertEqual(len(self.db), 3)


class MappingProtocol(StoreTest):
    def test_is_a_mutable_mapping(self):
        import collections.abc

        self.assertIsInstance(self.db, collections.abc.MutableMapping)

    def test_getitem_delitem_keyerror(self):
        with self.assertRaises(KeyError) as cm:
            self.db[b"missing"]
        self.assertEqual(cm.exception.args[0], b"missing")
        with self.assertRaises(KeyError):
            del self.db["missing"]
        self.db[b"k"] = b"v"
        del self.db[b"k"]
        self.assertNotIn(b"k", self.db)
        with self.assertRaises(KeyError):
            self.db[b"k"]

    def test_contains_len_bool(self):
        self.assertFalse(self.db)
        self.assertEqual(len(self.db), 0)
        self.db[b"a"] = b"1"
        self.db["b"] = b"2"
        self.assertTrue(self.db)
        self.assertEqual(len(self.db), 2)
        self.assertIn(b"a", self.db)
        self.assertIn("b", self.db)
        self.assertNotIn(b"c", self.db)
        self.assertTrue(self.db.contains(b"a"))

    def test_views(self):
        data = {b"b": b"2", b"a": b"1", b"c": b""}
        self.db.update(data)
        self.assertEqual(list(self.db.keys()), [b"a", b"b", b"c"])
        self.assertEqual(list(self.db.values()), [b"1", b"2", b""])
        self.assertEqual(list(self.db.items()), [(b"a", b"1"), (b"b", b"2"), (b"c", b"")])
        self.assertEqual(len(self.db.keys()), 3)
        self.assertIn(b"a", self.db.keys())
        self.assertIn((b"b", b"2"), self.db.items())
        self.assertNotIn((b"b", b"x"), self.db.items())
        self.assertIn(b"", self.db.values())
        self.assertEqual(set(self.db.keys()) & {b"a", b"z"}, {b"a"})
        self.assertEqual(dict(self.db), data)
        self.assertEqual(self.db, data)

    def test_mixin_methods(self):
        self.assertEqual(self.db.setdefault(b"k", b"v"), b"v")
        self.assertEqual(self.db.setdefault(b"k", b"w"), b"v")
        self.assertEqual(self.db.pop(b"k"), b"v")
        self.assertEqual(self.db.pop(b"k", None), None)
        self.db.update({b"x": b"1"}, y=b"2")
        self.assertEqual(self.db.popitem(), (b"x", b"1"))  # smallest key first
        self.db.update([(b"p", b"q")])
        self.db.clear()
        self.assertEqual(len(self.db), 0)
        self.assertEqual(list(self.db), [])

    def test_iteration_is_sorted_snapshot(self):
        for i in range(50):
            self.db[b"k%03d" % i] = b"%d" % i
        seen = []
        for k in self.db:
            seen.append(k)
            # Writes during the iteration do not change what it yields.
            self.db[b"z" + k] = b"new"
            self.db.delete(b"k049")
        self.assertEqual(seen, [b"k%03d" % i for i in range(50)])


class Misc(unittest.TestCase):
    def test_version_and_status(self):
        self.assertEqual(bitcask.library_version(), "0.1.0")
        self.assertEqual(bitcask.__version__, "0.1.0")
        self.assertIn("large", bitcask.status_str(bitcask.E_TOO_LARGE))
        self.assertEqual(bitcask.status_str(-12345), "unknown status")

    def test_no_pickle(self):
        import pickle
        import tempfile

        with tempfile.TemporaryDirectory() as d, bitcask.open(d) as db:
            with self.assertRaises(TypeError):
                pickle.dumps(db)


if __name__ == "__main__":
    unittest.main()
