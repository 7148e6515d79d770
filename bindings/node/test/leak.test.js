'use strict';
// Library memory handed to JS is released: 30 000 gets and 30 000 iterated entries of a 64 KiB
// value would leak ~2 GB each if bc_free / bc_iter_free were missed. Runs in a child node with
// --expose-gc so RSS is measured after collection.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { tmpDir } = require('./helpers');

const child = `
const { Bitcask } = require(${JSON.stringify(path.join(__dirname, '..'))});
const db = Bitcask.open(process.argv[1]);
const rss = () => { global.gc(); global.gc(); return process.memoryUsage().rss; };
db.put('k', Buffer.alloc(64 * 1024, 7));
for (let i = 0; i < 3000; i++) db.get('k');
const base = rss();
for (let i = 0; i < 30000; i++) if (db.get('k').length !== 65536) throw new Error('bad length');
const afterGets = rss();
for (let i = 0; i < 30000; i++) for (const [, v] of db) if (v.length !== 65536) throw new Error('bad length');
const afterIters = rss();
db.close();
console.log(JSON.stringify({ gets: afterGets - base, iters: afterIters - base }));
`;

test('values and iterators are freed (RSS stays flat)', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', child, tmpDir()], { encoding: 'utf8', timeout: 30000 });
  const growth = JSON.parse(out);
  const limit = 64 * 1024 * 1024; // a leak would be ~2 GB
  assert.ok(growth.gets < limit, `RSS grew ${growth.gets} bytes over 30000 gets`);
  assert.ok(growth.iters < limit, `RSS grew ${growth.iters} bytes over 30000 iterations`);
});
