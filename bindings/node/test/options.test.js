'use strict';
// The mmapWrites, compactHints and expectedKeys options (bc_options_set_mmap_writes /
// bc_options_set_compact_hints / bc_options_set_expected_keys).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Bitcask, BitcaskError } = require('..');
const { tmpDir, dataFiles } = require('./helpers');

const key = (i) => `key-${String(i).padStart(4, '0')}`;

/** Sum of the on-disk sizes of the store's *.data files. */
function dataBytes(dir) {
  return dataFiles(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/**
 * Fills a store with 300 distinct keys, merges and closes it; returns the hint file of the merge
 * output (the largest data file) as { version, size }, and the versions of every hint file.
 */
function mergedHint(dir, opts) {
  const db = Bitcask.open(dir, opts);
  try {
    for (let i = 0; i < 300; i++) db.put(key(i), `value-${i}`);
    db.merge();
  } finally {
    db.close();
  }
  const hints = fs.readdirSync(dir).filter((f) => f.endsWith('.hint')).sort();
  assert.ok(hints.length > 0, `hint files in ${fs.readdirSync(dir)}`);
  const versions = hints.map((f) => fs.readFileSync(path.join(dir, f)).readUInt16LE(8));
  const largest = dataFiles(dir)
    .map((f) => [f, fs.statSync(path.join(dir, f)).size])
    .sort((a, b) => b[1] - a[1])[0][0];
  const hint = path.join(dir, largest.replace(/\.data$/, '.hint'));
  assert.ok(fs.existsSync(hint), `${hint} exists`);
  return { version: fs.readFileSync(hint).readUInt16LE(8), size: fs.statSync(hint).size, versions };
}

function readBack(dir, opts) {
  const db = Bitcask.open(dir, opts);
  try {
    assert.equal(db.stats().keys, 300);
    for (let i = 0; i < 300; i++) assert.equal(db.get(key(i))?.toString(), `value-${i}`);
    assert.ok(db.stats().hintFilesLoaded > 0);
  } finally {
    db.close();
  }
}

test('compactHints: false writes hints that list their keys (version 1); the default writes compact ones (version 2)', () => {
  const listed = tmpDir('listed');
  const off = mergedHint(listed, { compactHints: false });
  assert.equal(off.version, 1);
  assert.deepEqual(off.versions, off.versions.map(() => 1), 'every hint file is version 1');

  const compact = tmpDir('compact');
  const on = mergedHint(compact, {});
  assert.equal(on.version, 2);
  assert.ok(on.size * 10 < off.size, `compact hint ${on.size} bytes is much smaller than ${off.size}`);

  // Each store reopens from its hints, whatever the option says now.
  readBack(listed, {});
  readBack(compact, { compactHints: false });
  readBack(listed, { compactHints: false });
  readBack(compact, { compactHints: true });
});

test('mmapWrites: false appends with pwrite (data files hold exactly the records); the default reserves space while open', () => {
  const value = Buffer.alloc(100, 0x78);
  const fill = (db) => {
    for (let i = 0; i < 50; i++) db.put(key(i), value);
  };

  const plain = tmpDir('pwrite');
  let db = Bitcask.open(plain, { mmapWrites: false });
  try {
    fill(db);
    const total = db.stats().totalBytes;
    assert.ok(total > 50 * 100);
    assert.equal(dataBytes(plain), total);
  } finally {
    db.close();
  }

  const mapped = tmpDir('mmap');
  db = Bitcask.open(mapped); // default on: /tmp is ext4 or tmpfs here, where the map is used
  let total;
  try {
    fill(db);
    total = db.stats().totalBytes;
    assert.ok(dataBytes(mapped) > total, `${dataBytes(mapped)} > ${total}: space is reserved while open`);
  } finally {
    db.close();
  }
  assert.equal(dataBytes(mapped), total, 'the reserved space is cut at close');

  for (const [dir, opts] of [[plain, {}], [mapped, { mmapWrites: false }]]) {
    db = Bitcask.open(dir, opts);
    try {
      assert.equal(db.stats().keys, 50);
      for (let i = 0; i < 50; i++) assert.deepEqual(db.get(key(i)), value);
    } finally {
      db.close();
    }
  }
});

test('mmapWrites and compactHints accept booleans only', () => {
  const dir = tmpDir();
  for (const name of ['mmapWrites', 'compactHints']) {
    for (const bad of [1, 0, 'yes', '', null, {}, 1n]) {
      assert.throws(() => Bitcask.open(dir, { [name]: bad }), (e) => e instanceof TypeError && e.message.includes(name),
        `${name}: ${String(bad)}`);
    }
  }
  assert.ok(!fs.existsSync(dir), 'nothing was created by the failed opens');
  const db = Bitcask.open(dir, { mmapWrites: true, compactHints: false });
  try {
    db.put('k', 'v');
    assert.equal(db.get('k').toString(), 'v');
  } finally {
    db.close();
  }
});

test('expectedKeys: a store sized for its keys up front holds and reads them all, across reopens with less or none', () => {
  const dir = tmpDir();
  const n = 5000;
  const k = (i) => `ek-${String(i).padStart(5, '0')}`;
  let db = Bitcask.open(dir, { expectedKeys: n });
  try {
    for (let i = 0; i < n; i++) db.put(k(i), `value-${i}`);
    assert.equal(db.stats().keys, n);
    for (let i = 0; i < n; i++) assert.equal(db.get(k(i))?.toString(), `value-${i}`);
  } finally {
    db.close();
  }
  // Fewer expected keys than the store holds (the index is sized for what it has), more (as a
  // number and a BigInt), and 0 = no expectation. Not the largest allowed count: the index for
  // 2^32 keys is tens of GiB, and with transparent huge pages a few thousand keys make most of
  // it resident.
  for (const expectedKeys of [100, 10n, 20000, 20000n, 0]) {
    db = Bitcask.open(dir, { expectedKeys });
    try {
      assert.equal(db.stats().keys, n, `expectedKeys ${expectedKeys}`);
      for (let i = 0; i < n; i++) assert.equal(db.get(k(i))?.toString(), `value-${i}`);
      db.put(k(n), 'one more');
      assert.equal(db.get(k(n)).toString(), 'one more');
      assert.ok(db.delete(k(n)));
    } finally {
      db.close();
    }
  }
});

test('expectedKeys: above 4294967296 the library rejects it; a value that is not a uint64 is rejected like maxFileSize', () => {
  const dir = tmpDir();
  const isInvalid = (re) => (e) => {
    assert.ok(e instanceof BitcaskError, `not a BitcaskError: ${e}`);
    assert.equal(e.codeName, 'BC_E_INVALID');
    assert.match(e.message, re);
    return true;
  };
  for (const big of [4294967297, 4294967297n, 2 ** 40, 0xffffffffffffffffn]) {
    assert.throws(() => Bitcask.open(dir, { expectedKeys: big }), isInvalid(/^bc_options_set_expected_keys: /), String(big));
  }
  for (const bad of [-1, 1.5, -1n, 2n ** 64n, '5000', null, true, {}]) {
    assert.throws(() => Bitcask.open(dir, { expectedKeys: bad }), isInvalid(/expectedKeys/), String(bad));
    // the same error maxFileSize gives for the same value
    assert.throws(() => Bitcask.open(dir, { maxFileSize: bad }), isInvalid(/maxFileSize/), String(bad));
  }
  assert.ok(!fs.existsSync(dir), 'nothing was created by the failed opens');
});
