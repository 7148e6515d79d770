"""One handle shared by many threads."""

import threading
import time
import unittest

import bitcask

from helpers import StoreTest

THREADS = 8
PER_THREAD = 300


def run_all(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # reported by the main thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        if t.is_alive():
            raise AssertionError("thread hung")
    return errors


class Threads(StoreTest):
    def test_concurrent_writers_and_readers(self):
        def writer(n):
            def run():
                for i in range(PER_THREAD):
                    key = b"t%d-%04d" % (n, i)
                    self.db[key] = key * 2
                    if self.db[key] != key * 2:
                        raise AssertionError("read back %r" % key)
                    if i % 3 == 0:
                        self.db.delete(key)
            return run

        def reader():
            for _ in range(20):
                keys = list(self.db)
                if keys != sorted(keys):
                    raise AssertionError("iteration out of order")
                for k, v in self.db.scan_prefix(b"t1-"):
                    if v != k * 2:
                        raise AssertionError("scan value")
                self.db.stats()

        def batcher():
            for i in range(50):
                with self.db.batch() as b:
                    b.put(b"batch-a", b"%d" % i)
                    b.put(b"batch-b", b"%d" % i)
                a, b_ = self.db.get(b"batch-a"), self.db.get(b"batch-b")
                # another batcher is not running, so both keys move together
                if a != b_:
                    raise AssertionError("batch seen half applied: %r %r" % (a, b_))

        errors = run_all([writer(n) for n in range(THREADS)] + [reader, reader, batcher])
        self.assertEqual(errors, [])
        expected = THREADS * (PER_THREAD - len(range(0, PER_THREAD, 3))) + 2
        self.assertEqual(len(self.db), expected)
        self.reopen()
        self.assertEqual(len(self.db), expected)

    def test_error_messages_are_per_thread(self):
        self.reopen(max_key_size=16)
        barrier = threading.Barrier(4)
        results = {}

        def fail(n):
            def run():
                barrier.wait()
                for _ in range(200):
                    try:
                        if n % 2:
                            self.db.put(b"k" * (17 + n), b"v")
                        else:
                            self.db.put(b"", b"v")
                    except bitcask.BitcaskError as e:
                        results.setdefault(n, set()).add((type(e), e.code, e.message))
            return run

        self.assertEqual(run_all([fail(n) for n in range(4)]), [])
        for n in range(4):
            self.assertEqual(len(results[n]), 1, results[n])  # never another thread's message
            cls, code, msg = results[n].pop()
            if n % 2:
                self.assertIs(cls, bitcask.TooLargeError)
                self.assertIn("%d bytes" % (17 + n), msg)
            else:
                self.assertIs(cls, bitcask.InvalidArgumentError)
                self.assertIn("empty", msg)

    def test_close_while_other_threads_work(self):
        stop = threading.Event()
        counts = {"closed": 0, "ok": 0}
        lock = threading.Lock()

        def worker(n):
            def run():
                i = 0
                while not stop.is_set():
                    try:
                        self.db.put(b"w%d-%d" % (n, i), b"v")
                        self.db.get(b"w%d-%d" % (n, i))
                        for _ in self.db.scan_prefix(b"w%d-" % n):
                            pass
                        for _ in self.db.items():  # iterators open in every thread at close
                            pass
                        with lock:
                            counts["ok"] += 1
                    except bitcask.ClosedError:
                        with lock:
                            counts["closed"] += 1
                        return
                    i += 1
            return run

        threads = [threading.Thread(target=worker(n)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if counts["ok"] >= 20:
                    break
            time.sleep(0.001)
        self.assertGreaterEqual(counts["ok"], 20, "workers made no progress")
        db = self.db
        db.close()  # waits for running calls, then later ones raise ClosedError
        self.db = None
        stop.set()
        for t in threads:
            t.join(30)
        self.assertEqual(counts["closed"], 4)
        self.assertTrue(db.closed)
        with bitcask.open(self.dir) as again:
            self.assertGreater(len(again), 0)

    def test_merge_during_writes(self):
        for i in range(500):
            self.db[b"k%03d" % (i % 100)] = b"v%d" % i

        def merger():
            for _ in range(3):
                self.db.merge()

        def writer():
            for i in range(500):
                self.db[b"k%03d" % (i % 100)] = b"w%d" % i

        self.assertEqual(run_all([merger, writer]), [])
        self.assertEqual(self.db[b"k099"], b"w499")
        self.reopen()
        self.assertEqual(self.db[b"k099"], b"w499")
        self.assertEqual(len(self.db), 100)


if __name__ == "__main__":
    unittest.main()
