'use strict';
// The FinalizationRegistry safety net: a store the program forgot to close is closed (its lock
// released) once its object is garbage collected. Runs in a child node with --expose-gc.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { tmpDir } = require('./helpers');

const child = `
const { Bitcask } = require(${JSON.stringify(path.join(__dirname, '..'))});
const dir = process.argv[1];
(async () => {
  (() => {
    const db = Bitcask.open(dir);
    db.put('k', 'v');
    const it = db.keys(); it.next();          // a forgotten, half-read iterator
    const b = db.batch(); b.put('x', 'y');    // and a forgotten batch
  })();
  let reopened = null;
  for (let i = 0; i < 50 && !reopened; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 10));
    try { reopened = Bitcask.open(dir); } catch (e) { if (e.codeName !== 'BC_E_LOCKED') throw e; }
  }
  if (!reopened) throw new Error('the forgotten store was never closed by the finalizer');
  console.log(reopened.get('k').toString());
  reopened.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('a forgotten store is closed by the finalizer (safety net)', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', child, tmpDir()], { encoding: 'utf8', timeout: 30000 });
  assert.equal(out.trim(), 'v');
});
