'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Bitcask, BitcaskError, codes } = require('..');
const { tmpDir } = require('./helpers');

function isBc(codeName, re) {
  return (e) => {
    assert.ok(e instanceof BitcaskError, `not a BitcaskError: ${e}`);
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'BitcaskError');
    assert.equal(e.codeName, codeName);
    assert.equal(e.code, codes[codeName]);
    if (re) assert.match(e.message, re);
    return true;
  };
}

test('too large key and value: BC_E_TOO_LARGE with the library message', () => {
  const db = Bitcask.open(tmpDir(), { maxKeySize: 8, maxValueSize: 10 });
  try {
    assert.throws(() => db.put('k', 'x'.repeat(11)), isBc('BC_E_TOO_LARGE', /^bc_put: value is 11 bytes, more than the limit of 10/));
    assert.throws(() => db.put('k'.repeat(9), 'v'), isBc('BC_E_TOO_LARGE', /^bc_put: key is 9 bytes/));
    assert.throws(() => db.putTTL('k'.repeat(9), 'v', 5), isBc('BC_E_TOO_LARGE', /^bc_put_ttl: /));
    assert.throws(() => db.get('k'.repeat(9)), isBc('BC_E_TOO_LARGE', /^bc_get: /));
    db.put('k', 'x'.repeat(10)); // exactly the limit is fine
    assert.equal(db.get('k').length, 10);
    assert.equal(db.stats().keys, 1);
  } finally {
    db.close();
  }
});

test('empty key: BC_E_INVALID', () => {
  const db = Bitcask.open(tmpDir());
  try {
    assert.throws(() => db.put('', 'v'), isBc('BC_E_INVALID', /^bc_put: .*empty/));
    assert.throws(() => db.get(Buffer.alloc(0)), isBc('BC_E_INVALID', /^bc_get: /));
  } finally {
    db.close();
  }
});

test('read-only handle: reads work, writes fail with BC_E_READ_ONLY', () => {
  const dir = tmpDir();
  const w = Bitcask.open(dir);
  w.put('a', '1');
  const ro = Bitcask.open(dir, { readOnly: true }); // beside the writer: no lock needed
  try {
    assert.equal(ro.get('a').toString(), '1');
    assert.throws(() => ro.put('a', '2'), isBc('BC_E_READ_ONLY', /^bc_put: .*read-only/));
    assert.throws(() => ro.delete('a'), isBc('BC_E_READ_ONLY', /^bc_delete: /));
    assert.throws(() => ro.putTTL('a', '2', 9), isBc('BC_E_READ_ONLY'));
    assert.throws(() => ro.merge(), isBc('BC_E_READ_ONLY', /^bc_merge: /));
    ro.sync(); // a no-op on a read-only handle
    assert.equal(w.get('a').toString(), '1');
  } finally {
    ro.close();
    w.close();
  }
});

test('second read-write open of the same store: BC_E_LOCKED until the first is closed', () => {
  const dir = tmpDir();
  const first = Bitcask.open(dir);
  assert.throws(() => Bitcask.open(dir), isBc('BC_E_LOCKED', /^bc_open: .*LOCK/));
  // also from another process
  const child = `
    const { Bitcask } = require(${JSON.stringify(path.join(__dirname, '..'))});
    try { Bitcask.open(process.argv[1]); console.log('opened'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, codeName: e.codeName, message: e.message })); }`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', child, dir], { encoding: 'utf8', timeout: 30000 }));
  assert.equal(out.code, -4);
  assert.equal(out.codeName, 'BC_E_LOCKED');
  assert.match(out.message, /^bc_open: store is locked/);
  first.close();
  const second = Bitcask.open(dir);
  second.close();
});

test('open failures: missing directory, not a directory, bad options', () => {
  const base = tmpDir('x');
  fs.mkdirSync(base, { recursive: true });
  assert.throws(() => Bitcask.open(path.join(base, 'missing'), { createIfMissing: false }), isBc('BC_E_IO', /^bc_open: .*missing/));
  assert.throws(() => Bitcask.open(path.join(base, 'a', 'b', 'c')), isBc('BC_E_IO'));
  const file = path.join(base, 'file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => Bitcask.open(file), isBc('BC_E_INVALID', /not a directory/));
  assert.throws(() => Bitcask.open(''), isBc('BC_E_INVALID'));
  assert.throws(() => Bitcask.open('a\0b'), isBc('BC_E_INVALID', /NUL/));
  // out of range for the library: its own message
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxKeySize: 0 }), isBc('BC_E_INVALID', /^bc_options_set_max_key_size: /));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxFileSize: 10 }), isBc('BC_E_INVALID', /^bc_options_set_max_file_size: /));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { expectedKeys: 4294967297 }), isBc('BC_E_INVALID', /^bc_options_set_expected_keys: /));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { sync: 'interval', syncIntervalMs: 0 }), isBc('BC_E_INVALID', /^bc_options_set_sync: /));
  // not representable in the C type: caught by the binding
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxKeySize: -1 }), isBc('BC_E_INVALID', /maxKeySize/));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxKeySize: 1.5 }), isBc('BC_E_INVALID'));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { expirySecs: 2 ** 32 }), isBc('BC_E_INVALID'));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxValueSize: -1n }), isBc('BC_E_INVALID'));
  assert.throws(() => Bitcask.open(path.join(base, 's'), { sync: 'sometimes' }), isBc('BC_E_INVALID', /sync/));
  // wrong JS types are TypeErrors
  assert.throws(() => Bitcask.open(path.join(base, 's'), { maxKeySise: 10 }), TypeError);
  assert.throws(() => Bitcask.open(42), TypeError);
  assert.throws(() => new Bitcask(), TypeError);
  assert.ok(!fs.existsSync(path.join(base, 's')), 'nothing was created by the failed opens');
});

test('bad key and value types are TypeErrors', () => {
  const db = Bitcask.open(tmpDir());
  try {
    assert.throws(() => db.put(42, 'v'), TypeError);
    assert.throws(() => db.put('k', null), TypeError);
    assert.throws(() => db.get(undefined), TypeError);
    assert.throws(() => db.has({}), TypeError);
  } finally {
    db.close();
  }
});

test('use after close throws BitcaskError (never crashes); close is idempotent', () => {
  const db = Bitcask.open(tmpDir());
  db.put('k', 'v');
  db.close();
  assert.equal(db.closed, true);
  db.close();
  const closed = isBc('BC_E_INVALID', /closed/);
  assert.throws(() => db.get('k'), closed);
  assert.throws(() => db.put('k', 'v'), closed);
  assert.throws(() => db.putTTL('k', 'v', 1), closed);
  assert.throws(() => db.delete('k'), closed);
  assert.throws(() => db.has('k'), closed);
  assert.throws(() => db.merge(), closed);
  assert.throws(() => db.sync(), closed);
  assert.throws(() => db.stats(), closed);
  assert.throws(() => db.batch([]), closed);
  assert.throws(() => db.keys(), closed);
  assert.throws(() => db.scan({ prefix: 'k' }), closed);
  assert.throws(() => db[Symbol.iterator](), closed);
});

test('Symbol.dispose closes stores, iterators and batches', () => {
  assert.equal(typeof Symbol.dispose, 'symbol');
  const dir = tmpDir();
  const db = Bitcask.open(dir);
  db.put('a', '1');
  const it = db.keys();
  it.next();
  it[Symbol.dispose]();
  assert.equal(db.openIterators, 0);
  const b = db.batch();
  b[Symbol.dispose]();
  assert.equal(b.freed, true);
  db[Symbol.dispose]();
  assert.equal(db.closed, true);
  Bitcask.open(dir).close(); // the lock was released
});

test('native handles cannot be forged from JS', () => {
  const { BitcaskIterator } = require('..');
  assert.throws(() => new BitcaskIterator(undefined, {}, { ptr: 1234n, iters: new Set() }, null, 'keys'), TypeError);
  assert.throws(() => new Bitcask(undefined, 1234n, '/x', false), TypeError);
});

test('a damaged record: BC_E_CORRUPT from get and from the iterator, which then ends and is freed', () => {
  const dir = tmpDir();
  const db = Bitcask.open(dir);
  try {
    db.put('a', 'AAAAAAAAAAAAAAAA');
    db.put('b', 'BBBBBBBBBBBBBBBB');
    db.put('c', 'CCCCCCCCCCCCCCCC');
    const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.data')));
    const at = fs.readFileSync(file).indexOf('BBBB');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, at);
    fs.closeSync(fd);

    assert.throws(() => db.get('b'), isBc('BC_E_CORRUPT', /^bc_get: .*checksum/));
    assert.equal(db.get('c').toString(), 'CCCCCCCCCCCCCCCC');
    const seen = [];
    assert.throws(() => {
      for (const [k] of db) seen.push(k.toString());
    }, isBc('BC_E_CORRUPT', /^bc_iter_next: /));
    assert.deepEqual(seen, ['a']);
    assert.equal(db.openIterators, 0);
  } finally {
    db.close();
  }
});
