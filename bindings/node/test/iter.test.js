'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Bitcask, BitcaskError } = require('..');
const { tmpDir, dataFiles, fillWithGarbage } = require('./helpers');

const str = (entries) => entries.map(([k, v]) => [k.toString('latin1'), v.toString('latin1')]);

function sample() {
  const db = Bitcask.open(tmpDir());
  // inserted out of order; includes a prefix pair, a 0x00 and a 0xff byte
  for (const k of ['b', 'a', 'ab', 'abc', 'b\x00', 'ac', 'c', '\xff', 'a\xff', 'bz']) {
    db.put(Buffer.from(k, 'latin1'), Buffer.from(`v:${k}`, 'latin1'));
  }
  return db;
}
const SORTED = ['a', 'ab', 'abc', 'ac', 'a\xff', 'b', 'b\x00', 'bz', 'c', '\xff'];

test('for..of yields [key, value] Buffers in ascending unsigned byte order', () => {
  const db = sample();
  try {
    const got = [...db];
    assert.ok(got.every(([k, v]) => Buffer.isBuffer(k) && Buffer.isBuffer(v)));
    assert.deepEqual(str(got), SORTED.map((k) => [k, `v:${k}`]));
    assert.deepEqual([...db.keys()].map((k) => k.toString('latin1')), SORTED);
    assert.deepEqual([...db.values()].map((k) => k.toString('latin1')), SORTED.map((k) => `v:${k}`));
    assert.deepEqual(str([...db.entries()]), str(got));
    assert.equal(db.openIterators, 0, 'exhausted iterators are freed');
  } finally {
    db.close();
  }
});

test('empty store and empty values iterate', () => {
  const db = Bitcask.open(tmpDir());
  try {
    assert.deepEqual([...db], []);
    db.put('e', Buffer.alloc(0));
    const [[k, v]] = [...db];
    assert.equal(k.toString(), 'e');
    assert.equal(v.length, 0);
  } finally {
    db.close();
  }
});

test('scan: start (inclusive), end (exclusive), prefix, and combinations', () => {
  const db = sample();
  try {
    const keys = (r) => [...db.scan(r)].map(([k]) => k.toString('latin1'));
    assert.deepEqual(keys({}), SORTED);
    assert.deepEqual(keys(), SORTED);
    assert.deepEqual(keys({ start: 'ab' }), SORTED.slice(1));
    assert.deepEqual(keys({ start: 'ab', end: 'b' }), ['ab', 'abc', 'ac', 'a\xff']);
    assert.deepEqual(keys({ end: 'ab' }), ['a']);
    assert.deepEqual(keys({ start: 'aa', end: 'aa' }), []);
    assert.deepEqual(keys({ start: 'zz' }), ['\xff']);
    assert.deepEqual(keys({ start: Buffer.from([0xfe]) }), ['\xff']);
    assert.deepEqual(keys({ prefix: 'a' }), ['a', 'ab', 'abc', 'ac', 'a\xff']);
    assert.deepEqual(keys({ prefix: 'ab' }), ['ab', 'abc']);
    assert.deepEqual(keys({ prefix: 'b' }), ['b', 'b\x00', 'bz']);
    assert.deepEqual(keys({ prefix: Buffer.from([0xff]) }), ['\xff']);
    assert.deepEqual(keys({ prefix: 'x' }), []);
    assert.deepEqual(keys({ prefix: '' }), SORTED);
    assert.deepEqual(keys({ prefix: 'a', start: 'abc' }), ['abc', 'ac', 'a\xff']);
    assert.deepEqual(keys({ prefix: 'a', end: 'ac' }), ['a', 'ab', 'abc']);
    assert.deepEqual(keys({ start: 'b', end: 'a' }), []);
    // values come with keys
    assert.deepEqual(str([...db.scan({ prefix: 'ab' })]), [['ab', 'v:ab'], ['abc', 'v:abc']]);
    // keys() and values() take the same bounds
    assert.deepEqual([...db.keys({ prefix: 'b' })].map((k) => k.toString('latin1')), ['b', 'b\x00', 'bz']);
    assert.deepEqual([...db.values({ start: 'c' })].map((k) => k.toString('latin1')), ['v:c', 'v:\xff']);
    // scans stop at the end bound and free their iterator
    assert.equal(db.openIterators, 0);
    assert.throws(() => db.scan({ stop: 'x' }), TypeError);
  } finally {
    db.close();
  }
});

test('an iterator sees a snapshot taken at its first next()', () => {
  const db = sample();
  try {
    const it = db.keys();
    const first = it.next();
    assert.equal(first.value.toString(), 'a');
    db.put('aa', 'new'); // after the snapshot: not seen
    db.delete('c'); // deleted after the snapshot: still yielded
    const rest = [...it].map((k) => k.toString('latin1'));
    assert.deepEqual(rest, SORTED.slice(1));
    assert.deepEqual(it.next(), { done: true, value: undefined });
    assert.equal(db.openIterators, 0);
  } finally {
    db.close();
  }
});

test('break out of for..of frees the iterator: a following merge deletes the old files', () => {
  const dir = tmpDir();
  const db = Bitcask.open(dir, { maxFileSize: 256 });
  try {
    fillWithGarbage(db);
    const before = dataFiles(dir);
    assert.ok(before.length > 5, `files: ${before}`);

    let n = 0;
    for (const [k] of db) {
      assert.equal(k.toString(), 'k000');
      n++;
      assert.equal(db.openIterators, 1);
      break;
    }
    assert.equal(n, 1);
    assert.equal(db.openIterators, 0);

    // also a throw out of the loop body frees it
    assert.throws(() => {
      for (const _ of db.scan({ prefix: 'k' })) throw new Error('boom');
    }, /boom/);
    assert.equal(db.openIterators, 0);

    db.merge();
    const after = dataFiles(dir);
    assert.deepEqual(before.filter((f) => after.includes(f)), [], 'every pre-merge data file is deleted');
    assert.equal(db.stats().merges, 1);
    assert.equal(db.stats().keys, 20);
  } finally {
    db.close();
  }
});

test('an iterator left open keeps the merged-away files until return()', () => {
  const dir = tmpDir();
  const db = Bitcask.open(dir, { maxFileSize: 256 });
  try {
    fillWithGarbage(db);
    const before = dataFiles(dir);
    const it = db[Symbol.iterator]();
    assert.equal(it.next().value[0].toString(), 'k000');
    db.merge();
    const during = dataFiles(dir);
    assert.ok(before.every((f) => during.includes(f)), 'old files kept while the iterator is open');
    // the iterator still reads its snapshot after the merge
    assert.equal(it.next().value[1].toString(), `value-2-${'x'.repeat(40)}`);
    assert.deepEqual(it.return(), { done: true, value: undefined });
    assert.equal(db.openIterators, 0);
    const after = dataFiles(dir);
    assert.deepEqual(before.filter((f) => after.includes(f)), []);
    assert.deepEqual(it.next(), { done: true, value: undefined });
  } finally {
    db.close();
  }
});

test('close() frees open iterators; using them afterwards throws', () => {
  const db = sample();
  const it = db.keys();
  it.next();
  const lazy = db.scan({ prefix: 'a' }); // never started: holds nothing native
  assert.equal(db.openIterators, 1);
  db.close();
  assert.equal(db.openIterators, 0);
  assert.throws(() => it.next(), (e) => e instanceof BitcaskError && e.codeName === 'BC_E_INVALID' && /closed/.test(e.message));
  assert.deepEqual(it.next(), { done: true, value: undefined });
  assert.throws(() => lazy.next(), (e) => e instanceof BitcaskError && e.codeName === 'BC_E_INVALID');
  assert.throws(() => [...db], BitcaskError);
  assert.throws(() => db.scan(), BitcaskError);
});

test('many binary keys iterate in Buffer.compare order', () => {
  const db = Bitcask.open(tmpDir());
  try {
    const keys = [];
    for (let i = 0; i < 200; i++) keys.push(Buffer.from([(i * 37) & 0xff, i >> 8, i & 0xff]));
    for (const k of keys) db.put(k, k);
    keys.sort(Buffer.compare);
    assert.deepEqual([...db.keys()], keys);
  } finally {
    db.close();
  }
});
