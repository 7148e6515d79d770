'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Bitcask } = require('..');
const { tmpDir, dataFiles, fillWithGarbage } = require('./helpers');

test('merge reclaims dead bytes; data is intact after merge and after reopen (from hint files)', () => {
  const dir = tmpDir();
  let db = Bitcask.open(dir, { maxFileSize: 256 });
  try {
    fillWithGarbage(db, 4, 30);
    for (let i = 0; i < 30; i += 3) db.delete(`k${String(i).padStart(3, '0')}`);
    db.put('empty', Buffer.alloc(0));
    const expected = [...db].map(([k, v]) => [k.toString(), v.toString()]);
    assert.equal(expected.length, 21);
    const before = db.stats();
    assert.ok(before.deadBytes > 0);
    const filesBefore = dataFiles(dir).length;

    db.merge();
    const after = db.stats();
    assert.equal(after.merges, 1);
    assert.ok(after.deadBytes < before.deadBytes, `${after.deadBytes} < ${before.deadBytes}`);
    assert.ok(after.totalBytes < before.totalBytes);
    assert.ok(after.reclaimedBytes > 0);
    assert.ok(dataFiles(dir).length < filesBefore);
    assert.deepEqual([...db].map(([k, v]) => [k.toString(), v.toString()]), expected);

    db.close();
    db = Bitcask.open(dir, { maxFileSize: 256 });
    assert.deepEqual([...db].map(([k, v]) => [k.toString(), v.toString()]), expected);
    assert.equal(db.get('k000'), undefined);
    assert.equal(db.get('k001').toString(), `value-3-${'x'.repeat(40)}`);
    assert.ok(db.stats().hintFilesLoaded > 0);
    // writes after a merge and another reopen
    db.put('k000', 'back');
    db.merge();
    db.close();
    db = Bitcask.open(dir);
    assert.equal(db.get('k000').toString(), 'back');
    assert.equal(db.stats().keys, 22);
  } finally {
    db.close();
  }
});
