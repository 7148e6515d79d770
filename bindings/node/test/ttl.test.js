'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setTimeout: sleep } = require('node:timers/promises');
const { Bitcask } = require('..');
const { tmpDir } = require('./helpers');

test('putTTL and the store-wide expirySecs expire keys on every read path, across reopen', async () => {
  const dirA = tmpDir('ttl');
  const dirB = tmpDir('expiry');
  let a = Bitcask.open(dirA);
  let b = Bitcask.open(dirB, { expirySecs: 1 });
  try {
    a.putTTL('short', 'gone soon', 1);
    a.putTTL('long', 'stays', 3600);
    a.putTTL('made-permanent', 'p', 1);
    a.put('made-permanent', 'p2'); // a later put makes it permanent
    a.put('plain', 'stays');
    b.put('x', 'gone soon');
    assert.equal(a.get('short').toString(), 'gone soon');
    assert.equal(b.get('x').toString(), 'gone soon');
    assert.throws(() => a.putTTL('k', 'v', 0), (e) => e.codeName === 'BC_E_INVALID');
    assert.throws(() => a.putTTL('k', 'v', -1), (e) => e.codeName === 'BC_E_INVALID');

    // The library keeps time in whole seconds and a TTL of n lives at least n and less than
    // n + 1 seconds: TTLs of 1 are surely alive above and surely gone after 2.1 s.
    await sleep(2100); // the one long sleep of the suite

    for (const db of [a, b]) {
      const k = db === a ? 'short' : 'x';
      assert.equal(db.get(k), undefined);
      assert.equal(db.has(k), false);
      assert.ok(![...db.keys()].some((x) => x.toString() === k));
      assert.deepEqual([...db.scan({ prefix: k })], []);
    }
    assert.deepEqual([...a.keys()].map(String), ['long', 'made-permanent', 'plain']);
    assert.equal(a.get('made-permanent').toString(), 'p2');

    a.close();
    b.close();
    a = Bitcask.open(dirA);
    b = Bitcask.open(dirB, { expirySecs: 1 });
    assert.equal(a.get('short'), undefined);
    assert.equal(a.get('long').toString(), 'stays');
    assert.equal(b.get('x'), undefined);
    a.merge(); // a merge drops it for good
    assert.equal(a.get('short'), undefined);
    assert.equal(a.stats().keys, 3);
  } finally {
    a.close();
    b.close();
  }
});

// A key put just before a second boundary with a TTL of 1 must still be there just after the
// boundary: a TTL is a minimum lifetime, whatever the clock's granularity.
test('putTTL(k, v, 1) keeps the key for at least a second', async () => {
  const db = Bitcask.open(tmpDir('ttl-edge'));
  try {
    while (Date.now() % 1000 < 940) await sleep(5); // just before a second boundary
    db.putTTL('edge', 'v', 1);
    const t0 = Date.now();
    await sleep(1000 - (t0 % 1000) + 20); // just past it: ~80 ms after the put
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 500, `timing: ${elapsed} ms`);
    assert.equal(db.get('edge')?.toString(), 'v', `gone ${elapsed} ms after putTTL(…, 1)`);
  } finally {
    db.close();
  }
});
