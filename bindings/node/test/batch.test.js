'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Bitcask, Batch, BitcaskError } = require('..');
const { tmpDir } = require('./helpers');

test('batch(ops) applies puts and deletes in order', () => {
  const dir = tmpDir();
  let db = Bitcask.open(dir);
  try {
    db.put('old', 'x');
    db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: Buffer.from([0, 1]), value: Buffer.alloc(0) },
      { type: 'del', key: 'old' },
      { type: 'delete', key: 'a' },
      { type: 'put', key: 'a', value: '2' }, // a later put wins over the delete
      { type: 'del', key: 'never-existed' },
    ]);
    assert.equal(db.get('a').toString(), '2');
    assert.equal(db.get(Buffer.from([0, 1])).length, 0);
    assert.equal(db.get('old'), undefined);
    db.batch([]); // empty batch: a no-op
    db.close();
    db = Bitcask.open(dir);
    assert.deepEqual([...db.keys()].map((k) => k.toString('hex')), ['0001', '61']);
  } finally {
    db.close();
  }
});

test('a batch is all or nothing: one too-large value writes nothing', () => {
  const dir = tmpDir();
  let db = Bitcask.open(dir, { maxValueSize: 16 });
  try {
    db.put('keep', 'before');
    const ops = [
      { type: 'put', key: 'a', value: 'small' },
      { type: 'del', key: 'keep' },
      { type: 'put', key: 'b', value: 'x'.repeat(17) },
      { type: 'put', key: 'c', value: 'small' },
    ];
    assert.throws(() => db.batch(ops), (e) => e instanceof BitcaskError && e.codeName === 'BC_E_TOO_LARGE' && e.code === -6 && /bc_write/.test(e.message));
    assert.equal(db.get('a'), undefined);
    assert.equal(db.get('c'), undefined);
    assert.equal(db.get('keep').toString(), 'before');
    assert.equal(db.stats().keys, 1);
    db.close();
    db = Bitcask.open(dir, { maxValueSize: 16 });
    assert.deepEqual([...db.keys()].map(String), ['keep']);
  } finally {
    db.close();
  }
});

test('Batch object: put/delete/clear, reusable, written with write(); iterators never see part of it', () => {
  const db = Bitcask.open(tmpDir());
  const b = new Batch();
  try {
    assert.equal(b.put('x', '1').put('y', '2').delete('z').length, 3);
    const it = db.keys();
    assert.equal(it.next().done, true); // snapshot of the empty store
    db.write(b);
    assert.equal(db.get('x').toString(), '1');
    assert.deepEqual([...db.keys()].map(String), ['x', 'y']);
    // a batch is unchanged by write and can be written again
    db.put('x', 'changed');
    db.write(b);
    assert.equal(db.get('x').toString(), '1');
    b.clear();
    assert.equal(b.length, 0);
    b.delete('x');
    db.write(b);
    assert.equal(db.has('x'), false);
    const b2 = db.batch(); // same as new Batch()
    assert.ok(b2 instanceof Batch);
    b2.free();
  } finally {
    b.free();
    db.close();
  }
  // use after free throws, never crashes
  assert.equal(b.freed, true);
  b.free(); // idempotent
  assert.throws(() => b.put('a', 'b'), (e) => e instanceof BitcaskError && e.codeName === 'BC_E_INVALID');
  const db2 = Bitcask.open(tmpDir());
  try {
    assert.throws(() => db2.write(b), (e) => e instanceof BitcaskError && /freed/.test(e.message));
    assert.throws(() => db2.write({}), TypeError);
    assert.throws(() => db2.batch([{ type: 'merge', key: 'a' }]), TypeError);
    assert.throws(() => db2.batch([{ type: 'put', key: '', value: 'v' }]), (e) => e.codeName === 'BC_E_INVALID');
  } finally {
    db2.close();
  }
});

test('a batch on a read-only store fails with BC_E_READ_ONLY', () => {
  const dir = tmpDir();
  Bitcask.open(dir).close();
  const db = Bitcask.open(dir, { readOnly: true });
  try {
    assert.throws(() => db.batch([{ type: 'put', key: 'a', value: 'b' }]), (e) => e.codeName === 'BC_E_READ_ONLY');
  } finally {
    db.close();
  }
});
