"""Batches, TTL, merge, stats, options."""

import glob
import os
import struct
import time
import unittest
import zlib

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
            "merges", "reclaimed_bytes", "hint_files_loaded", "data_files_scanned",
            "incomplete_merges"})
        self.assertEqual(st.incomplete_merges, 0)

    def test_stats_count_a_merge_whose_output_is_missing(self):
        self.db[b"a"] = b"1"
        self.db.close()
        # A version-2 merge record (docs/FORMAT.md): merge 9 of file 1 into file 9, which is absent.
        body = b"BCMERGE2" + struct.pack("<IIIIIQ", 9, 1, 1, 1, 9, 4096)
        with open(os.path.join(self.dir, "MERGED-9"), "wb") as f:
            f.write(body + struct.pack("<I", zlib.crc32(body)))
        self.db = bitcask.open(self.dir)
        self.assertEqual(self.db[b"a"], b"1")
        self.assertEqual(self.db.stats().incomplete_merges, 1)


class Options(StoreTest):
    open_db = False

    def test_all_options_accepted(self):
        self.db = bitcask.Bitcask(
            self.dir, create_if_missing=True, sync="always", max_file_size=1 << 20,
            max_key_size=128, max_value_size=1 << 16, max_open_files=8, auto_merge=True,
            merge_fragmentation_percent=50, merge_dead_bytes=1 << 20, expiry_secs=0,
            mmap_writes=True, compact_hints=True, expected_keys=1000,
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
        with self.assertRaises(bitcask.InvalidArgumentError) as cm:
            bitcask.open(self.dir, expected_keys=4294967297)  # range checked by the library
        self.assertIn("expected_keys", cm.exception.message)
        self.assertFalse(os.path.exists(self.dir))  # nothing was opened

    def test_expected_keys(self):
        n = 5000
        want = {b"ek-%05d" % i: b"value-%d" % i for i in range(n)}
        with bitcask.open(self.dir, expected_keys=n) as db:
            for k, v in want.items():
                db[k] = v
            self.assertEqual(db.stats().keys, n)
            self.assertEqual(dict(db.items()), want)
        # Fewer expected keys than the store holds (it is sized for what it has), more, and 0 =
        # none. Not the largest allowed count: the index for 2^32 keys is tens of GiB, and with
        # transparent huge pages a few thousand keys make most of it resident.
        for expected in (100, 20000, 0):
            with self.subTest(expected_keys=expected):
                with bitcask.open(self.dir, expected_keys=expected) as db:
                    self.assertEqual(db.stats().keys, n)
                    self.assertEqual(len(db), n)
                    for k, v in want.items():
                        self.assertEqual(db[k], v)
                    db[b"one more"] = b"x"
                    self.assertEqual(db[b"one more"], b"x")
                    del db[b"one more"]

    def test_expected_keys_out_of_range_and_bad_types(self):
        # Above 4294967296: the library's own BC_E_INVALID and message.
        for big in (4294967297, 1 << 40, (1 << 64) - 1):
            with self.subTest(value=big):
                with self.assertRaises(bitcask.InvalidArgumentError) as cm:
                    bitcask.open(self.dir, expected_keys=big)
                self.assertEqual(cm.exception.code, bitcask.E_INVALID)
                self.assertTrue(
                    cm.exception.message.startswith("bc_options_set_expected_keys: "),
                    cm.exception.message,
                )
        # Outside uint64: caught by the binding, as for max_file_size.
        for bad in (-1, 1 << 64):
            for name in ("expected_keys", "max_file_size"):
                with self.subTest(option=name, value=bad):
                    with self.assertRaises(bitcask.InvalidArgumentError) as cm:
                        bitcask.open(self.dir, **{name: bad})
                    self.assertIn(name, cm.exception.message)
        # Not an int: the TypeError of every integer option.
        for bad in ("5000", 5000.0, True, None, b"1"):
            for name in ("expected_keys", "max_file_size"):
                with self.subTest(option=name, value=bad):
                    with self.assertRaises(TypeError) as cm:
                        bitcask.open(self.dir, **{name: bad})
                    self.assertNotIsInstance(cm.exception, bitcask.BitcaskError)
                    self.assertIn(name, str(cm.exception))
        self.assertFalse(os.path.exists(self.dir))  # nothing was opened

    def test_bool_options_are_converted_alike(self):
        # Boolean options take the value's truth, as bool(x) does; a value without one is
        # rejected with its own error before anything is opened, for each of them alike.
        class NoTruth:
            def __bool__(self):
                raise TypeError("no truth value")

        for name in ("auto_merge", "mmap_writes", "compact_hints"):
            with self.subTest(option=name):
                with self.assertRaisesRegex(TypeError, "no truth value"):
                    bitcask.open(self.dir, **{name: NoTruth()})
                self.assertFalse(os.path.exists(self.dir))
        with self.assertRaises(TypeError) as cm:
            bitcask.open(self.dir, mmap_write=False)  # misspelt: unknown, and the known listed
        self.assertIn("mmap_writes", str(cm.exception))
        self.assertIn("compact_hints", str(cm.exception))
        self.assertFalse(os.path.exists(self.dir))
        for name in ("mmap_writes", "compact_hints"):
            for value in (0, 1, False, True):
                with self.subTest(option=name, value=value):
                    with bitcask.open(self.dir, **{name: value}) as db:
                        db[b"k"] = b"v"
                        self.assertEqual(db[b"k"], b"v")

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


def _hint_versions(path):
    """{name: (format version, size)} of the store's hint files (u16 LE at byte offset 8)."""
    out = {}
    for h in glob.glob(os.path.join(path, "*.hint")):
        with open(h, "rb") as f:
            header = f.read(10)
        out[os.path.basename(h)] = (struct.unpack_from("<H", header, 8)[0], os.path.getsize(h))
    return out


def _data_bytes(path):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "*.data")))


def _fs_type(path):
    """The file system type of ``path`` from /proc/self/mounts, None if unknown."""
    path = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mnt = fields[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, fields[2]
    except OSError:
        return None
    return kind


KEYED_HINT = 1
COMPACT_HINT = 2


class StorageOptions(StoreTest):
    """mmap_writes and compact_hints: what they change on disk."""

    open_db = False

    def _merged_store(self, path, **opts):
        """300 keys written, merged and closed; returns {key: value} written."""
        want = {b"key%04d" % i: b"value-%d-" % i + b"x" * 20 for i in range(300)}
        with bitcask.open(path, **opts) as db:
            for k, v in want.items():
                db[k] = v
            db.merge()
            self.assertEqual(db.stats().merges, 1)
        return want

    def _check_reads(self, path, want, **opts):
        with bitcask.open(path, **opts) as db:
            self.assertGreater(db.stats().hint_files_loaded, 0)
            self.assertEqual(len(db), len(want))
            self.assertEqual(dict(db.items()), want)

    def test_compact_hints(self):
        keyed_dir = os.path.join(self.tmp, "keyed")
        want = self._merged_store(keyed_dir, compact_hints=False)
        keyed = _hint_versions(keyed_dir)
        self.assertTrue(keyed)
        self.assertIn(KEYED_HINT, [v for v, _ in keyed.values()])
        # Off means every hint written lists its keys.
        self.assertEqual({v for v, _ in keyed.values()}, {KEYED_HINT}, keyed)
        keyed_size = max(size for _, size in keyed.values())  # the merge output's hint
        self.assertGreater(keyed_size, 300 * len(b"key0000"))

        for opts in ({"compact_hints": True}, {}):
            with self.subTest(opts=opts):
                compact_dir = os.path.join(self.tmp, "compact%d" % len(opts))
                self.assertEqual(self._merged_store(compact_dir, **opts), want)
                compact = _hint_versions(compact_dir)
                self.assertTrue(compact)
                # The merge's output is all live records: its hint is written compact.
                self.assertEqual({v for v, _ in compact.values()}, {COMPACT_HINT}, compact)
                compact_size = max(size for _, size in compact.values())
                self.assertLess(compact_size * 10, keyed_size, (compact, keyed))
                self._check_reads(compact_dir, want, **opts)
                # Either kind is read whatever the option says.
                self._check_reads(compact_dir, want, compact_hints=False)

        self._check_reads(keyed_dir, want, compact_hints=False)
        self._check_reads(keyed_dir, want, compact_hints=True)

    def _fill(self, db):
        for i in range(50):
            db[b"key%02d" % i] = bytes([i]) * 100

    def test_mmap_writes_off_keeps_data_files_exact(self):
        with bitcask.open(self.dir, mmap_writes=False) as db:
            self._fill(db)
            total = db.stats().total_bytes
            self.assertGreater(total, 50 * 100)
            # pwrite appends: no space reserved past the records while open.
            self.assertEqual(_data_bytes(self.dir), total)
        self.assertEqual(_data_bytes(self.dir), total)
        with bitcask.open(self.dir) as db:
            self.assertEqual(db[b"key49"], bytes([49]) * 100)
            self.assertEqual(len(db), 50)

    def test_mmap_writes_on_reserves_space_while_open(self):
        kind = _fs_type(self.tmp)
        if kind not in ("ext2", "ext3", "ext4", "xfs", "tmpfs"):
            self.skipTest("writable maps are used only on ext4, XFS and tmpfs; %s is %s"
                          % (self.tmp, kind))
        with bitcask.open(self.dir, mmap_writes=True) as db:
            self._fill(db)
            total = db.stats().total_bytes
            # The active file is longer on disk than its records by the reservation...
            self.assertGreater(_data_bytes(self.dir), total)
            self.assertLessEqual(_data_bytes(self.dir), total + (8 << 20))
        # ... which is cut at close.
        self.assertEqual(_data_bytes(self.dir), total)
        with bitcask.open(self.dir, mmap_writes=False) as db:
            self.assertEqual(db[b"key49"], bytes([49]) * 100)
            self.assertEqual(len(db), 50)


if __name__ == "__main__":
    unittest.main()
