'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Bitcask, BitcaskError, codes, version } = require('..');
const { tmpDir } = require('./helpers');

test('library version is 0.1.x', () => {
  assert.match(version, /^0\.1\./);
  assert.equal(codes.BC_E_TOO_LARGE, -6);
});

test('round trips: binary, empty, string and unicode keys and values', () => {
  const db = Bitcask.open(tmpDir());
  try {
    const bin = Buffer.from([0, 255, 0, 1, 2, 0, 128]);
    db.put(bin, bin);
    assert.deepEqual(db.get(bin), bin);

    db.put('empty', Buffer.alloc(0));
    const e = db.get('empty');
    assert.ok(Buffer.isBuffer(e));
    assert.equal(e.length, 0);
    db.put('empty-str', '');
    assert.equal(db.get('empty-str').length, 0);

    db.put('héllo wörld ✓', 'ünïcode 🚀');
    assert.equal(db.get('héllo wörld ✓').toString('utf8'), 'ünïcode 🚀');
    // the string key and its UTF-8 bytes are the same key
    assert.equal(db.get(Buffer.from('héllo wörld ✓', 'utf8')).toString(), 'ünïcode 🚀');

    // a key containing NUL bytes is not cut short
    db.put('a\0b', 'nul');
    assert.equal(db.get('a\0b').toString(), 'nul');
    assert.equal(db.get('a'), undefined);

    // views with an offset into a larger ArrayBuffer, Uint8Array, ArrayBuffer
    const big = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    db.put(big.subarray(2, 5), new Uint8Array([7, 8]).buffer);
    assert.deepEqual(db.get(Buffer.from([1, 2, 3])), Buffer.from([7, 8]));
    const pooled = Buffer.from('pooled'); // small Buffers live at an offset in Node's pool
    db.put(pooled, pooled);
    assert.equal(db.get('pooled').toString(), 'pooled');

    // a large value
    const large = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < large.length; i += 4096) large[i] = i & 0xff;
    db.put('large', large);
    assert.ok(db.get('large').equals(large));

    // overwrite
    db.put('k', 'v1');
    db.put('k', 'v2');
    assert.equal(db.get('k').toString(), 'v2');

    // the returned Buffer is a copy the program owns
    const got = db.get('k');
    got[0] = 0x41;
    assert.equal(db.get('k').toString(), 'v2');
  } finally {
    db.close();
  }
});

test('not found, has and delete', () => {
  const db = Bitcask.open(tmpDir());
  try {
    assert.equal(db.get('missing'), undefined);
    assert.equal(db.has('missing'), false);
    assert.equal(db.delete('missing'), false);
    db.put('k', 'v');
    assert.equal(db.has('k'), true);
    assert.equal(db.delete('k'), true);
    assert.equal(db.has('k'), false);
    assert.equal(db.get('k'), undefined);
    assert.equal(db.delete('k'), false);
  } finally {
    db.close();
  }
});

test('data survives close and reopen; sync modes', () => {
  const dir = tmpDir();
  for (const [i, opts] of [{ sync: 'always' }, { sync: 'interval', syncIntervalMs: 5 }, { sync: 'none' }].entries()) {
    const db = Bitcask.open(dir, opts);
    db.put(`key${i}`, `value${i}`);
    db.sync();
    db.close();
  }
  const db = Bitcask.open(dir, { readOnly: true });
  try {
    for (let i = 0; i < 3; i++) assert.equal(db.get(`key${i}`).toString(), `value${i}`);
    assert.equal(db.stats().keys, 3);
    assert.equal(db.readOnly, true);
  } finally {
    db.close();
  }
});

test('stats is a plain object of numbers', () => {
  const db = Bitcask.open(tmpDir(), { sync: 'always' });
  try {
    db.put('a', '1');
    db.put('a', '2');
    db.put('b', '3');
    db.delete('b');
    const s = db.stats();
    assert.equal(Object.getPrototypeOf(s), Object.prototype);
    for (const [k, v] of Object.entries(s)) assert.equal(typeof v, 'number', k);
    assert.equal(s.keys, 1);
    assert.equal(s.dataFiles, 1);
    assert.ok(s.deadBytes > 0);
    assert.ok(s.liveBytes > 0);
    assert.ok(s.totalBytes >= s.liveBytes + s.deadBytes);
    assert.ok(s.syncs >= 4, `syncs ${s.syncs}`);
    assert.deepEqual(Object.keys(s), [
      'keys', 'dataFiles', 'totalBytes', 'liveBytes', 'deadBytes', 'corruptRecords', 'corruptBytes',
      'truncatedBytes', 'syncs', 'sealedLiveBytes', 'sealedDeadBytes', 'merges', 'reclaimedBytes',
      'hintFilesLoaded', 'dataFilesScanned', 'incompleteMerges',
    ]);
    assert.equal(s.incompleteMerges, 0);
  } finally {
    db.close();
  }
});

test('all options are accepted', () => {
  const db = Bitcask.open(tmpDir(), {
    maxFileSize: 1024n * 1024n,
    sync: 'interval',
    syncIntervalMs: 50,
    createIfMissing: true,
    readOnly: false,
    maxKeySize: 128,
    maxValueSize: 1 << 20,
    maxOpenFiles: 8,
    expirySecs: 3600,
    autoMerge: true,
    mergeTrigger: { fragmentationPercent: 50, deadBytes: 1 << 20 },
    mmapWrites: false,
    compactHints: false,
    expectedKeys: 1000,
  });
  try {
    db.put('k', 'v');
    assert.equal(db.get('k').toString(), 'v');
  } finally {
    db.close();
  }
  assert.ok(new BitcaskError(-6, 'x') instanceof Error);
});

test('stats count a merge whose output file is missing', () => {
  const dir = tmpDir();
  let db = Bitcask.open(dir);
  db.put('a', '1');
  db.close();
  // A version-2 merge record (docs/FORMAT.md): merge 9 of file 1 into file 9, which is absent.
  const body = Buffer.alloc(8 + 5 * 4 + 8);
  body.write('BCMERGE2', 0, 'latin1');
  [9, 1, 1, 1, 9].forEach((v, i) => body.writeUInt32LE(v, 8 + 4 * i));
  body.writeBigUInt64LE(4096n, 28);
  // CRC-32 (IEEE), computed here: zlib.crc32 needs Node 20.15 or later.
  let c = 0xffffffff;
  for (const byte of body) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE((c ^ 0xffffffff) >>> 0);
  require('node:fs').writeFileSync(require('node:path').join(dir, 'MERGED-9'), Buffer.concat([body, crc]));
  db = Bitcask.open(dir);
  try {
    assert.equal(db.get('a').toString(), '1');
    assert.equal(db.stats().incompleteMerges, 1);
  } finally {
    db.close();
  }
});
