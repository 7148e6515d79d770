import os
import shutil
import tempfile
import unittest

import bitcask


class StoreTest(unittest.TestCase):
    """Gives each test a fresh directory (self.dir) and an open store (self.db), closed after."""

    open_db = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bitcask-py-")
        self.dir = os.path.join(self.tmp, "store")
        self.db = bitcask.open(self.dir) if self.open_db else None

    def tearDown(self):
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def reopen(self, **opts):
        self.db.close()
        self.db = bitcask.open(self.dir, **opts)
        return self.db
