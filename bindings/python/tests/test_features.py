"""Batches, TTL, merge, stats, options."""

import os
import time
import unittest

import bitcask

from helpers import StoreTest


class Batches(StoreTest):
    def test_applied_on_success(self):
        self.db[b"gone"] = b"x"
        with self.db.batch() as b:
            b.put(b"a", b"1")
            b[b"b"] = "2"
            b.delete(b"gone")
            del b[b"never-existed"]
            b.put(b"c", b"old")
            b.put(b"c", b"new")  # later operations win
            self.assertEqual(len(b), 6)
            self.assertNotIn(b"a", self.db)  # nothing applied before the block ends
        self.assertTrue(b.closed)
        self.assertEqual(dict(self.db), {b"a": b"1", b"b": b"2", b"c": b"new"})

    def test_nothing_applied_when_block_raises(self):
        self.db[b"keep"] = b"v"
        with self.assertRaisesRegex(RuntimeError, "inside"):
            with self.db.batch() as b:
                b.put(b"a", b"1")
                b.delete(b"keep")
                raise RuntimeError("inside the block")
        self.assertTrue(b.closed)
        self.assertEqual(dict(self.db), {b"keep": b"v"})

    def test_failed_write_applies_nothing(self):
        self.reopen(max_value_size=10)
        with self.assertRaises(bitcask.TooLargeError) as cm:
            with self.db.batch() as b:
                b.put(b"small", b"ok")
                b.put(b"large", b"x" * 11)
        self.assertEqual(cm.exception.code, bitcask.E_TOO_LARGE)
        self.assertIn("bc_write", cm.exception.message)
        self.assertEqual(len(self.db), 0)

    def test_batch_put_error_is_immediate(self):
        b = self.db.batch()
        try:
            with self.assertRaises(bitcask.InvalidArgumentError):
                b.put(b"", b"v")
            with self.assertRaises(TypeError):
                b.put(3, b"v")
        finally:
            b.close()

    def test_manual_write_clear_and_reuse(self):
        b = self.db.batch()
        b.put(b"a", b"1")
        b.write()
        self.assertEqual(self.db[b"a"], b"1")
        b.clear()
        self.assertEqual(len(b), 0)
        b.put(b"b", b"2")
        b.commit()
        b.close()
        b.close()  # idempotent
        with self.assertRaises(bitcask.ClosedError):
            b.put(b"c", b"3")
        with self.assertRaises(bitcask.ClosedError):
            b.write()
        self.assertEqual(dict(self.db), {b"a": b"1", b"b": b"2"})

    def test_empty_batch(self):
        with self.db.batch():
            pass
        self.assertEqual(len(self.db), 0)

    def test_batch_survives_reopen(self):
        with self.db.batch() as b:
            for i in range(100):
                b.put(b"%03d" % i, b"v%d" % i)
        self.reopen()
        self.assertEqual(len(self.db), 100)
        self.assertEqual(self.db[b"042"], b"v42")


class TTL(StoreTest):
    def test_expiry(self):
        self.db.put_ttl(b"short", b"v", 1)
        self.db.put_ttl(b"long", b"v", 3600)
        self.db.put_ttl(b"renewed", b"v", 1)
        self.db.put(b"renewed", b"forever")  # a later put makes the key permanent
        self.db.put(b"plain", b"v")
        self.assertEqual(self.db[b"short"], b"v")
        self.assertEqual(len(self.db), 4)
        time.sleep(2.1)
        self.assertIsNone(self.db.get(b"short"))
        self.assertNotIn(b"short", self.db)
        with self.assertRaises(KeyError):
            self.db[b"short"]
        live = [b"long", b"plain", b"renewed"]
        self.assertEqual(list(self.db), live)
        self.assertEqual(self.db.list_keys(), live)
        self.assertEqual([k for k, _ in self.db.scan()], live)
        self.assertEqual(len(self.db), 3)
        self.assertFalse(self.db.delete(b"short"))
        self.assertEqual(self.db[b"renewed"], b"forever")
        self.reopen()
        self.assertEqual(self.db.list_keys(), live)

    def test_bad_ttl(self):
        with self.assertRaises(bitcask.InvalidArgumentError) as cm:
            self.db.put_ttl(b"k", b"v", 0)
        self.assertIn("bc_put_ttl", cm.exception.message)
        with self.assertRaises(bitcask.InvalidArgumentError):
            self.db.put_ttl(b"k", b"v", -1)  # checked before ctypes could wrap it
        with self.assertRaises(bitcask.InvalidArgumentError):
            self.db.put_ttl(b"k", b"v", 1 << 32)
        with self.assertRaises(TypeError):
            self.db.put_ttl(b"k", b"v", 1.5)
        self.assertNotIn(b"k", self.db)


class MergeAndStats(StoreTest):
    def test_merge_then_reopen(self):
        self.reopen(max_file_size=4096)
        for round_ in range(5):
            for i in range(200):
                self.db[b"key%03d" % i] = b"round%d-" % round_ + b"x" * 50
        for i in range(0, 200, 2):
            del self.db[b"key%03d" % i]
        before = self.db.stats()
        self.assertGreater(before.dead_bytes, 0)
        self.assertGreater(before.data_files, 1)
        self.db.merge()
        after = self.db.stats()
        self.assertEqual(after.merges, before.merges + 1)
        self.assertLess(after.total_bytes, before.total_bytes)
        self.assertGreater(after.reclaimed_bytes, 0)
        self.assertEqual(after.keys, 100)
        self.reopen()
        st = self.db.stats()
        self.assertGreater(st.hint_files_loaded, 0)
        self.assertEqual(len(self.db), 100)
        self.assertEqual(self.db.list_keys(), [b"key%03d" % i for i in range(1, 200, 2)])
        self.assertEqual(self.db[b"key001"], b"round4-" + b"x" * 50)
        self.assertNotIn(b"key000", self.db)

    def test_stats_dataclass_and_sync(self):
        self.db[b"a"] = b"1"
        self.db.sync()
        st = self.db.stats()
        self.assertIsInstance(st, bitcask.Stats)
        d = st.asdict()
        self.assertEqual(d["keys"], 1)
        self.assertEqual(st.data_files, 1)
        self.assertGreaterEqual(st.syncs, 1)
        self.assertEqual(set(d), {
            "keys", "data_files", "total_bytes", "live_bytes", "dead_bytes", "corrupt_records",
            "corrupt_bytes", "truncated_bytes", "syncs", "sealed_live_bytes", "sealed_dead_bytes",
            "merges", "reclaimed_bytes", "hint_files_loaded", "data_files_scanned"})


class Options(StoreTest):
    open_db = False

    def test_all_options_accepted(self):
        self.db = bitcask.Bitcask(
            self.dir, create_if_missing=True, sync="always", max_file_size=1 << 20,
            max_key_size=128, max_value_size=1 << 16, max_open_files=8, auto_merge=True,
            merge_fragmentation_percent=50, merge_dead_bytes=1 << 20, expiry_secs=0,
        )
        self.db[b"a"] = b"1"
        self.assertGreaterEqual(self.db.stats().syncs, 1)
        self.db.close()
        self.db = bitcask.open(self.dir, sync="interval", sync_interval_ms=5)
        self.assertEqual(self.db[b"a"], b"1")
        self.db.close()
        self.db = bitcask.open(self.dir, sync=bitcask.SYNC_NONE)
        self.assertEqual(self.db[b"a"], b"1")

    def test_bad_options(self):
        with self.assertRaises(TypeError):
            bitcask.open(self.dir, no_such_option=1)
        with self.assertRaises(bitcask.InvalidArgumentError):
            bitcask.open(self.dir, sync="sometimes")
        with self.assertRaises(bitcask.InvalidArgumentError):
            bitcask.open(self.dir, max_key_size=-1)
        with self.assertRaises(bitcask.InvalidArgumentError) as cm:
            bitcask.open(self.dir, max_key_size=0)  # range checked by the library
        self.assertIn("max_key_size", cm.exception.message)
        with self.assertRaises(bitcask.InvalidArgumentError) as cm:
            bitcask.open(self.dir, sync="interval", sync_interval_ms=0)
        with self.assertRaises(TypeError):
            bitcask.open(self.dir, max_file_size="big")
        self.assertFalse(os.path.exists(self.dir))  # nothing was opened

    def test_create_if_missing_and_bad_paths(self):
        with self.assertRaises(bitcask.BitcaskIOError) as cm:
            bitcask.open(self.dir, create_if_missing=False)
        self.assertEqual(cm.exception.code, bitcask.E_IO)
        self.assertIn(self.dir, cm.exception.message)
        path = os.path.join(self.tmp, "a-file")
        with open(path, "w") as f:
            f.write("x")
        with self.assertRaises(bitcask.InvalidArgumentError):
            bitcask.open(path)
        with self.assertRaises(bitcask.InvalidArgumentError):
            bitcask.open(self.dir + "\0x")
        with self.assertRaises(bitcask.InvalidArgumentError):
            bitcask.open("")

    def test_pathlike_and_bytes_paths(self):
        import pathlib

        with bitcask.open(pathlib.Path(self.dir)) as db:
            db[b"a"] = b"1"
        with bitcask.open(os.fsencode(self.dir)) as db:
            self.assertEqual(db[b"a"], b"1")
            self.assertEqual(db.path, self.dir)


if __name__ == "__main__":
    unittest.main()
