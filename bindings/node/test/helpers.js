'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** A fresh empty directory under the OS temp dir, removed when the process exits. */
const made = [];
function tmpDir(name = 'store') {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bitcask-node-'));
  made.push(base);
  return path.join(base, name);
}
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** Data file names in a store directory. */
function dataFiles(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.data')).sort();
}

/** Fills a store with many small files and overwrites every key, so a merge has old files to delete. */
function fillWithGarbage(db, rounds = 3, n = 20) {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) db.put(`k${String(i).padStart(3, '0')}`, `value-${r}-${'x'.repeat(40)}`);
  }
}

module.exports = { tmpDir, dataFiles, fillWithGarbage };
