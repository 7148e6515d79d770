'use strict';
// Node.js binding for bitcask (include/bitcask.h) through koffi 3.3.4.
//
// Every call is synchronous and runs on the calling (JS) thread, so bc_last_error() read right
// after a failing call belongs to that call. Library memory is always released here: bc_get
// values with bc_free (after copying them into a JS Buffer), iterators with bc_iter_free,
// batches with bc_batch_free, options with bc_options_free. Handles are BigInt pointers in koffi
// 3 and carry no type, so they never leave this module: each lives in a small "state" object and
// is zeroed when released, and every method checks it first (a closed handle throws, it never
// reaches the library).

const koffi = require('koffi');

// ---------------------------------------------------------------------------------------------
// Status codes (bitcask.h)

const codes = Object.freeze({
  BC_OK: 0,
  BC_NOT_FOUND: 1,
  BC_STOPPED: 2,
  BC_E_INVALID: -1,
  BC_E_IO: -2,
  BC_E_CORRUPT: -3,
  BC_E_LOCKED: -4,
  BC_E_READ_ONLY: -5,
  BC_E_TOO_LARGE: -6,
  BC_E_BUFFER: -7,
  BC_E_PANIC: -8,
});
const codeNames = new Map(Object.entries(codes).map(([k, v]) => [v, k]));
const { BC_OK, BC_NOT_FOUND, BC_E_INVALID } = codes;

const SYNC_MODES = Object.freeze({ none: 0, always: 1, interval: 2 });
const DEFAULT_SYNC_INTERVAL_MS = 1000;

/** An error reported by the library (or a misuse caught before reaching it, such as a closed handle). */
class BitcaskError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'BitcaskError';
    /** The numeric bitcask status (negative), e.g. -6. */
    this.code = code;
    /** The status' name, e.g. 'BC_E_TOO_LARGE' ('BC_E_UNKNOWN' for a code this binding does not know). */
    this.codeName = codeNames.get(code) ?? 'BC_E_UNKNOWN';
  }
}

// ---------------------------------------------------------------------------------------------
// Library

const LIB_PATH = process.env.BITCASK_LIB || 'libbitcask.so.0.1';
let lib;
try {
  lib = koffi.load(LIB_PATH);
} catch (e) {
  throw new Error(
    `bitcask: cannot load the native library '${LIB_PATH}' (set BITCASK_LIB to its path): ${e.message}`,
  );
}

koffi.opaque('bc_db');
koffi.opaque('bc_iter');
koffi.opaque('bc_batch');
koffi.opaque('bc_options');
const BcStats = koffi.struct('bc_stats', {
  keys: 'uint64_t',
  data_files: 'uint64_t',
  total_bytes: 'uint64_t',
  live_bytes: 'uint64_t',
  dead_bytes: 'uint64_t',
  corrupt_records: 'uint64_t',
  corrupt_bytes: 'uint64_t',
  truncated_bytes: 'uint64_t',
  syncs: 'uint64_t',
  sealed_live_bytes: 'uint64_t',
  sealed_dead_bytes: 'uint64_t',
  merges: 'uint64_t',
  reclaimed_bytes: 'uint64_t',
  hint_files_loaded: 'uint64_t',
  data_files_scanned: 'uint64_t',
  incomplete_merges: 'uint64_t',
  // bc_stats_get has no size argument: room for fields a newer library may append.
  _reserved: koffi.array('uint64_t', 48),
});

// Library-owned static / thread-local strings: 'const char *' decodes (copies) them, nothing to free.
// Out-pointers to library memory are declared 'void **' so they come back as BigInt pointers (never
// auto-decoded, which would lose the pointer that must go to bc_free).
const C = {
  version: lib.func('const char *bc_version(void)'),
  status_str: lib.func('const char *bc_status_str(int status)'),
  last_error: lib.func('const char *bc_last_error(void)'),
  free: lib.func('void bc_free(void *ptr)'),

  options_new: lib.func('bc_options *bc_options_new(void)'),
  options_free: lib.func('void bc_options_free(bc_options *o)'),
  options_set_max_file_size: lib.func('int bc_options_set_max_file_size(bc_options *o, uint64_t bytes)'),
  options_set_sync: lib.func('int bc_options_set_sync(bc_options *o, int mode, uint32_t interval_ms)'),
  options_set_read_only: lib.func('int bc_options_set_read_only(bc_options *o, int on)'),
  options_set_create_if_missing: lib.func('int bc_options_set_create_if_missing(bc_options *o, int on)'),
  options_set_max_key_size: lib.func('int bc_options_set_max_key_size(bc_options *o, uint32_t bytes)'),
  options_set_max_value_size: lib.func('int bc_options_set_max_value_size(bc_options *o, uint64_t bytes)'),
  options_set_max_open_files: lib.func('int bc_options_set_max_open_files(bc_options *o, uint32_t files)'),
  options_set_merge_trigger: lib.func(
    'int bc_options_set_merge_trigger(bc_options *o, uint32_t fragmentation_percent, uint64_t dead_bytes)',
  ),
  options_set_auto_merge: lib.func('int bc_options_set_auto_merge(bc_options *o, int on)'),
  options_set_expiry_secs: lib.func('int bc_options_set_expiry_secs(bc_options *o, uint32_t secs)'),
  options_set_mmap_writes: lib.func('int bc_options_set_mmap_writes(bc_options *o, int on)'),
  options_set_compact_hints: lib.func('int bc_options_set_compact_hints(bc_options *o, int on)'),
  options_set_expected_keys: lib.func('int bc_options_set_expected_keys(bc_options *o, uint64_t keys)'),

  open: lib.func('int bc_open(const char *dir, const bc_options *opts, _Out_ bc_db **out)'),
  close: lib.func('int bc_close(bc_db *db)'),
  put: lib.func('int bc_put(bc_db *db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)'),
  put_ttl: lib.func(
    'int bc_put_ttl(bc_db *db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, uint32_t ttl_secs)',
  ),
  get: lib.func('int bc_get(bc_db *db, const uint8_t *key, size_t klen, _Out_ void **val, _Out_ size_t *vlen)'),
  delete: lib.func('int bc_delete(bc_db *db, const uint8_t *key, size_t klen)'),
  contains: lib.func('int bc_contains(bc_db *db, const uint8_t *key, size_t klen)'),
  sync: lib.func('int bc_sync(bc_db *db)'),
  merge: lib.func('int bc_merge(bc_db *db)'),
  stats_get: lib.func('int bc_stats_get(bc_db *db, _Out_ bc_stats *out)'),

  batch_new: lib.func('bc_batch *bc_batch_new(void)'),
  batch_put: lib.func('int bc_batch_put(bc_batch *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)'),
  batch_delete: lib.func('int bc_batch_delete(bc_batch *b, const uint8_t *key, size_t klen)'),
  batch_clear: lib.func('void bc_batch_clear(bc_batch *b)'),
  batch_free: lib.func('void bc_batch_free(bc_batch *b)'),
  write: lib.func('int bc_write(bc_db *db, const bc_batch *b)'),

  iter_new: lib.func('int bc_iter_new(bc_db *db, _Out_ bc_iter **out)'),
  iter_next: lib.func(
    'int bc_iter_next(bc_iter *it, _Out_ void **key, _Out_ size_t *klen, _Out_ void **val, _Out_ size_t *vlen)',
  ),
  iter_free: lib.func('void bc_iter_free(bc_iter *it)'),
};

const version = C.version();
if (!/^0\.1\./.test(version)) {
  throw new Error(`bitcask: '${LIB_PATH}' is version ${version}; this binding needs 0.1.x`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Builds the error of a failed call: bc_last_error() must be read right after it (same thread). */
function lastError(rc, fn) {
  let msg = C.last_error();
  if (!msg) msg = `${fn}: ${C.status_str(rc)}`;
  return new BitcaskError(rc, msg);
}

function check(rc, fn) {
  if (rc < 0) {
    const err = lastError(rc, fn);
    Error.captureStackTrace(err, check); // the stack starts at the binding's public method
    throw err;
  }
  return rc;
}

function invalid(msg) {
  return new BitcaskError(BC_E_INVALID, msg);
}

/** Key / value / bound as bytes: Buffer, any ArrayBuffer view, ArrayBuffer, or string (UTF-8). */
function toBytes(x, what) {
  if (typeof x === 'string') return Buffer.from(x, 'utf8');
  if (Buffer.isBuffer(x)) return x;
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer)) {
    return Buffer.from(x);
  }
  throw new TypeError(`${what} must be a Buffer, Uint8Array, ArrayBuffer or string, got ${x === null ? 'null' : typeof x}`);
}

// Copying library memory into JS: memcpy straight into a new Buffer is one copy and allocates
// nothing else. (koffi.view() + copy was measured to grow RSS by ~200 bytes per call that GC never
// returned, koffi.decode() somewhat less; so they are only the fallback where libc is not found.)
let memcpy = null;
for (const name of ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so', 'libSystem.dylib']) {
  try {
    memcpy = koffi.load(name).func('void *memcpy(void *dst, const void *src, size_t n)');
    break;
  } catch {
    // try the next name
  }
}

/** Copies len bytes of library memory at ptr into a new JS-owned Buffer. */
function copyOut(ptr, len) {
  len = Number(len);
  if (len === 0) return Buffer.alloc(0);
  if (memcpy) {
    const buf = Buffer.allocUnsafe(len);
    memcpy(buf, ptr, len);
    return buf;
  }
  return Buffer.from(koffi.decode(ptr, 'uint8_t', len));
}

function u32(v, fn, name) {
  if (typeof v === 'bigint') v = Number(v);
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw invalid(`${fn}: ${name} must be an integer in 0..4294967295, got ${String(v)}`);
  }
  return v;
}

function u64(v, fn, name) {
  if (typeof v === 'bigint') {
    if (v < 0n || v > 0xffffffffffffffffn) throw invalid(`${fn}: ${name} is out of the uint64 range`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw invalid(`${fn}: ${name} must be a non-negative integer (or BigInt), got ${String(v)}`);
  }
  return v;
}

/** A strictly boolean option (true / false; anything else is a TypeError) as the C int 1 / 0. */
function bool(v, fn, name) {
  if (typeof v !== 'boolean') {
    throw new TypeError(`${fn}: ${name} must be a boolean, got ${v === null ? 'null' : typeof v}`);
  }
  return v ? 1 : 0;
}

const OPTION_NAMES = new Set([
  'maxFileSize', 'sync', 'syncIntervalMs', 'readOnly', 'createIfMissing', 'maxKeySize',
  'maxValueSize', 'maxOpenFiles', 'expirySecs', 'autoMerge', 'mergeTrigger', 'mmapWrites',
  'compactHints', 'expectedKeys',
]);

/** Builds a bc_options from a JS options object; the caller frees it. */
function buildOptions(opts) {
  const fn = 'Bitcask.open';
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== 'object') throw new TypeError(`${fn}: options must be an object`);
  for (const k of Object.keys(opts)) {
    if (!OPTION_NAMES.has(k)) throw new TypeError(`${fn}: unknown option '${k}'`);
  }
  // Validate everything before allocating.
  const set = [];
  if (opts.maxFileSize !== undefined) {
    const v = u64(opts.maxFileSize, fn, 'maxFileSize');
    set.push((o) => C.options_set_max_file_size(o, v));
  }
  if (opts.sync !== undefined || opts.syncIntervalMs !== undefined) {
    const name = opts.sync ?? 'none';
    if (!Object.prototype.hasOwnProperty.call(SYNC_MODES, name)) {
      throw invalid(`${fn}: sync must be 'none', 'always' or 'interval', got ${String(name)}`);
    }
    const ms = u32(opts.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS, fn, 'syncIntervalMs');
    set.push((o) => C.options_set_sync(o, SYNC_MODES[name], ms));
  }
  if (opts.readOnly !== undefined) {
    const v = opts.readOnly ? 1 : 0;
    set.push((o) => C.options_set_read_only(o, v));
  }
  if (opts.createIfMissing !== undefined) {
    const v = opts.createIfMissing ? 1 : 0;
    set.push((o) => C.options_set_create_if_missing(o, v));
  }
  if (opts.maxKeySize !== undefined) {
    const v = u32(opts.maxKeySize, fn, 'maxKeySize');
    set.push((o) => C.options_set_max_key_size(o, v));
  }
  if (opts.maxValueSize !== undefined) {
    const v = u64(opts.maxValueSize, fn, 'maxValueSize');
    set.push((o) => C.options_set_max_value_size(o, v));
  }
  if (opts.maxOpenFiles !== undefined) {
    const v = u32(opts.maxOpenFiles, fn, 'maxOpenFiles');
    set.push((o) => C.options_set_max_open_files(o, v));
  }
  if (opts.expirySecs !== undefined) {
    const v = u32(opts.expirySecs, fn, 'expirySecs');
    set.push((o) => C.options_set_expiry_secs(o, v));
  }
  if (opts.autoMerge !== undefined) {
    const v = opts.autoMerge ? 1 : 0;
    set.push((o) => C.options_set_auto_merge(o, v));
  }
  if (opts.mergeTrigger !== undefined) {
    const t = opts.mergeTrigger;
    if (t === null || typeof t !== 'object') {
      throw new TypeError(`${fn}: mergeTrigger must be { fragmentationPercent, deadBytes }`);
    }
    const pct = u32(t.fragmentationPercent ?? 60, fn, 'mergeTrigger.fragmentationPercent');
    const dead = u64(t.deadBytes ?? 536870912, fn, 'mergeTrigger.deadBytes');
    set.push((o) => C.options_set_merge_trigger(o, pct, dead));
  }
  if (opts.mmapWrites !== undefined) {
    const v = bool(opts.mmapWrites, fn, 'mmapWrites');
    set.push((o) => C.options_set_mmap_writes(o, v));
  }
  if (opts.compactHints !== undefined) {
    const v = bool(opts.compactHints, fn, 'compactHints');
    set.push((o) => C.options_set_compact_hints(o, v));
  }
  if (opts.expectedKeys !== undefined) {
    const v = u64(opts.expectedKeys, fn, 'expectedKeys');
    set.push((o) => C.options_set_expected_keys(o, v));
  }

  const o = C.options_new();
  if (!o) throw new BitcaskError(codes.BC_E_IO, 'bc_options_new: out of memory');
  try {
    for (const s of set) check(s(o), fn);
  } catch (e) {
    C.options_free(o);
    throw e;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Safety nets: release what the program forgot to close once its JS object is garbage collected.
// They are not a substitute for close() / return() / free(): GC timing is unpredictable, and a
// forgotten iterator keeps a merge from deleting the files it reads.

function releaseIter(st) {
  if (st.ptr) {
    const p = st.ptr;
    st.ptr = null;
    st.db.iters.delete(st);
    C.iter_free(p);
  }
}

/** Frees the store's open iterators then closes it; returns the bc_close status. */
function releaseDb(st) {
  if (!st.ptr) return BC_OK;
  for (const it of [...st.iters]) releaseIter(it);
  const p = st.ptr;
  st.ptr = null;
  return C.close(p);
}

function releaseBatch(st) {
  if (st.ptr) {
    const p = st.ptr;
    st.ptr = null;
    C.batch_free(p);
  }
}

const dbRegistry = new FinalizationRegistry(releaseDb);
const iterRegistry = new FinalizationRegistry(releaseIter);
const batchRegistry = new FinalizationRegistry(releaseBatch);

// ---------------------------------------------------------------------------------------------
// Iterator

const CONSTRUCT = Symbol('bitcask.construct'); // module-private: only this file makes handles

function inRangeFilter(opts, fn) {
  if (opts === undefined || opts === null) return null;
  if (typeof opts !== 'object') throw new TypeError(`${fn}: options must be an object`);
  for (const k of Object.keys(opts)) {
    if (k !== 'start' && k !== 'end' && k !== 'prefix') throw new TypeError(`${fn}: unknown option '${k}'`);
  }
  const start = opts.start == null ? null : toBytes(opts.start, 'start');
  const end = opts.end == null ? null : toBytes(opts.end, 'end');
  let prefix = opts.prefix == null ? null : toBytes(opts.prefix, 'prefix');
  if (prefix && prefix.length === 0) prefix = null;
  if (!start && !end && !prefix) return null;
  // Returns 0 = yield, -1 = skip (before the range), 1 = stop (past the range: keys come in
  // ascending unsigned byte order, so nothing after can match).
  return (key) => {
    if (end && Buffer.compare(key, end) >= 0) return 1;
    if (prefix) {
      const head = key.subarray(0, prefix.length);
      const c = Buffer.compare(head, prefix);
      if (c > 0) return 1;
      if (c < 0) return -1;
    }
    if (start && Buffer.compare(key, start) < 0) return -1;
    return 0;
  };
}

/**
 * A pull iterator over a snapshot of the store, in ascending unsigned byte order of the keys.
 * Yields [key, value] Buffers (or keys only, for keys()). The native snapshot is taken at the
 * first next() and released at the end, on return() (a `break` out of for..of), on an error, or
 * when the store is closed.
 */
class BitcaskIterator {
  #db; // the Bitcask object (kept alive while this iterator is)
  #dbState;
  #st = null; // { ptr, db } once started
  #done = false;
  #filter;
  #mode; // 'entries' | 'keys' | 'values'
  #kOut = [null];
  #kLen = [0];
  #vOut = [null];
  #vLen = [0];

  /** Made by Bitcask's iteration methods only. */
  constructor(token, db, dbState, filter, mode) {
    if (token !== CONSTRUCT) throw new TypeError('BitcaskIterator: use db.keys(), db.scan(), for..of');
    this.#db = db;
    this.#dbState = dbState;
    this.#filter = filter;
    this.#mode = mode;
  }

  [Symbol.iterator]() {
    return this;
  }

  next() {
    if (this.#done) return { done: true, value: undefined };
    if (!this.#st) {
      if (!this.#dbState.ptr) throw invalid('BitcaskIterator.next: the store is closed');
      const out = [null];
      check(C.iter_new(this.#dbState.ptr, out), 'bc_iter_new');
      this.#st = { ptr: out[0], db: this.#dbState };
      this.#dbState.iters.add(this.#st);
      iterRegistry.register(this, this.#st, this);
    }
    const st = this.#st;
    for (;;) {
      if (!st.ptr) {
        this.#finish();
        throw invalid('BitcaskIterator.next: the store was closed during the iteration');
      }
      const rc = C.iter_next(st.ptr, this.#kOut, this.#kLen, this.#vOut, this.#vLen);
      if (rc === BC_NOT_FOUND) {
        this.#finish();
        return { done: true, value: undefined };
      }
      if (rc !== BC_OK) {
        const err = rc < 0 ? lastError(rc, 'bc_iter_next') : new BitcaskError(rc, `bc_iter_next: unexpected status ${rc}`);
        this.#finish();
        throw err;
      }
      const key = copyOut(this.#kOut[0], this.#kLen[0]);
      if (this.#filter) {
        const f = this.#filter(key);
        if (f > 0) {
          this.#finish();
          return { done: true, value: undefined };
        }
        if (f < 0) continue;
      }
      if (this.#mode === 'keys') return { done: false, value: key };
      const val = copyOut(this.#vOut[0], this.#vLen[0]);
      return { done: false, value: this.#mode === 'values' ? val : [key, val] };
    }
  }

  /** Ends the iteration and frees the native iterator (called by for..of on break/throw). */
  return(value) {
    this.#finish();
    return { done: true, value };
  }

  [Symbol.dispose]() {
    this.#finish();
  }

  #finish() {
    this.#done = true;
    if (this.#st) {
      iterRegistry.unregister(this);
      releaseIter(this.#st);
    }
    this.#db = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Batch

let batchPtr; // (batch, fn) => native pointer; set by Batch's static block, module-private

/**
 * A group of puts and deletes applied all together or not at all by `db.write(batch)`. It copies
 * keys and values, is independent of any store, and can be written several times. Free it with
 * free() (or `Symbol.dispose`) when done.
 */
class Batch {
  #st;
  #count = 0;

  constructor() {
    const p = C.batch_new();
    if (!p) throw new BitcaskError(codes.BC_E_IO, 'bc_batch_new: out of memory');
    this.#st = { ptr: p };
    batchRegistry.register(this, this.#st, this);
  }

  #ptr(fn) {
    if (!this.#st.ptr) throw invalid(`${fn}: the batch is freed`);
    return this.#st.ptr;
  }

  /** Adds "store value under key". Returns the batch. */
  put(key, value) {
    const p = this.#ptr('Batch.put');
    const k = toBytes(key, 'key');
    const v = toBytes(value, 'value');
    check(C.batch_put(p, k, k.length, v, v.length), 'bc_batch_put');
    this.#count++;
    return this;
  }

  /** Adds "delete key" (a tombstone, whether or not the key exists). Returns the batch. */
  delete(key) {
    const p = this.#ptr('Batch.delete');
    const k = toBytes(key, 'key');
    check(C.batch_delete(p, k, k.length), 'bc_batch_delete');
    this.#count++;
    return this;
  }

  /** Removes every operation, keeping the memory. Returns the batch. */
  clear() {
    C.batch_clear(this.#ptr('Batch.clear'));
    this.#count = 0;
    return this;
  }

  /** Number of operations added since creation or the last clear(). */
  get length() {
    return this.#count;
  }

  get freed() {
    return !this.#st.ptr;
  }

  /** Releases the native batch. Idempotent. */
  free() {
    batchRegistry.unregister(this);
    releaseBatch(this.#st);
  }

  [Symbol.dispose]() {
    this.free();
  }

  static {
    batchPtr = (batch, fn) => {
      if (!(batch instanceof Batch)) throw new TypeError(`${fn}: expected a Batch`);
      return batch.#ptr(fn);
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Store

const STATS_FIELDS = [
  ['keys', 'keys'], ['dataFiles', 'data_files'], ['totalBytes', 'total_bytes'],
  ['liveBytes', 'live_bytes'], ['deadBytes', 'dead_bytes'], ['corruptRecords', 'corrupt_records'],
  ['corruptBytes', 'corrupt_bytes'], ['truncatedBytes', 'truncated_bytes'], ['syncs', 'syncs'],
  ['sealedLiveBytes', 'sealed_live_bytes'], ['sealedDeadBytes', 'sealed_dead_bytes'],
  ['merges', 'merges'], ['reclaimedBytes', 'reclaimed_bytes'],
  ['hintFilesLoaded', 'hint_files_loaded'], ['dataFilesScanned', 'data_files_scanned'],
  ['incompleteMerges', 'incomplete_merges'],
];

class Bitcask {
  #st; // { ptr, iters: Set<iterState> }
  #path;
  #readOnly;
  #vOut = [null];
  #vLen = [0];

  /** Use Bitcask.open(). */
  constructor(token, ptr, path, readOnly) {
    if (token !== CONSTRUCT) throw new TypeError('use Bitcask.open(dir, options)');
    this.#st = { ptr, iters: new Set() };
    this.#path = path;
    this.#readOnly = readOnly;
    dbRegistry.register(this, this.#st, this);
  }

  /**
   * Opens (by default creating) the store in directory `dir`.
   * @param {string} dir
   * @param {object} [options] maxFileSize, sync ('none'|'always'|'interval'), syncIntervalMs,
   *   readOnly, createIfMissing, maxKeySize, maxValueSize, maxOpenFiles, expirySecs, autoMerge,
   *   mergeTrigger: { fragmentationPercent, deadBytes }, mmapWrites, compactHints, expectedKeys
   */
  static open(dir, options) {
    if (typeof dir !== 'string') throw new TypeError('Bitcask.open: dir must be a string');
    if (dir.includes('\0')) throw invalid('Bitcask.open: dir contains a NUL character');
    const o = buildOptions(options);
    const out = [null];
    let err = null;
    try {
      const rc = C.open(dir, o, out);
      if (rc < 0) err = lastError(rc, 'bc_open'); // read bc_last_error before any other call
    } finally {
      C.options_free(o);
    }
    if (err) throw err;
    if (!out[0]) throw new BitcaskError(codes.BC_E_PANIC, 'bc_open: returned BC_OK without a handle');
    return new Bitcask(CONSTRUCT, out[0], dir, Boolean(options && options.readOnly));
  }

  #ptr(fn) {
    const p = this.#st.ptr;
    if (!p) throw invalid(`Bitcask.${fn}: the store is closed`);
    return p;
  }

  /** The directory passed to open(). */
  get path() {
    return this.#path;
  }

  get readOnly() {
    return this.#readOnly;
  }

  get closed() {
    return !this.#st.ptr;
  }

  /** Number of native iterators this handle has open right now (diagnostic). */
  get openIterators() {
    return this.#st.iters.size;
  }

  /** The value of `key` as a new Buffer, or undefined when the key does not exist. */
  get(key) {
    const p = this.#ptr('get');
    const k = toBytes(key, 'key');
    const rc = C.get(p, k, k.length, this.#vOut, this.#vLen);
    if (rc === BC_NOT_FOUND) return undefined;
    check(rc, 'bc_get');
    const ptr = this.#vOut[0];
    try {
      return copyOut(ptr, this.#vLen[0]);
    } finally {
      C.free(ptr);
    }
  }

  /** Stores `value` under `key`, replacing any previous value. */
  put(key, value) {
    const p = this.#ptr('put');
    const k = toBytes(key, 'key');
    const v = toBytes(value, 'value');
    check(C.put(p, k, k.length, v, v.length), 'bc_put');
  }

  /** Like put(); the key expires `secs` (>= 1) seconds from now. */
  putTTL(key, value, secs) {
    const p = this.#ptr('putTTL');
    const k = toBytes(key, 'key');
    const v = toBytes(value, 'value');
    const s = u32(secs, 'Bitcask.putTTL', 'secs');
    check(C.put_ttl(p, k, k.length, v, v.length, s), 'bc_put_ttl');
  }

  /** Deletes `key`; true if it existed, false if there was nothing to delete. */
  delete(key) {
    const p = this.#ptr('delete');
    const k = toBytes(key, 'key');
    return check(C.delete(p, k, k.length), 'bc_delete') === BC_OK;
  }

  /** Whether `key` exists (answered from memory). */
  has(key) {
    const p = this.#ptr('has');
    const k = toBytes(key, 'key');
    return check(C.contains(p, k, k.length), 'bc_contains') === BC_OK;
  }

  /** Applies a Batch atomically. The batch is unchanged and can be reused. */
  write(batch) {
    const p = this.#ptr('write');
    const b = batchPtr(batch, 'Bitcask.write');
    check(C.write(p, b), 'bc_write');
  }

  /**
   * Applies `ops` atomically: an array of { type: 'put', key, value } and { type: 'del' | 'delete', key }.
   * Without an argument, returns a new (unbound) Batch to fill and pass to write().
   */
  batch(ops) {
    if (ops === undefined) return new Batch();
    this.#ptr('batch');
    if (!Array.isArray(ops)) throw new TypeError('Bitcask.batch: ops must be an array');
    const b = new Batch();
    try {
      for (const op of ops) {
        if (op === null || typeof op !== 'object') throw new TypeError('Bitcask.batch: each op must be an object');
        if (op.type === 'put') b.put(op.key, op.value);
        else if (op.type === 'del' || op.type === 'delete') b.delete(op.key);
        else throw new TypeError(`Bitcask.batch: unknown op type ${String(op.type)}`);
      }
      this.write(b);
    } finally {
      b.free();
    }
  }

  /** Iterates over [key, value] Buffers in ascending key order (a snapshot). */
  [Symbol.iterator]() {
    this.#ptr('iterator');
    return new BitcaskIterator(CONSTRUCT, this, this.#st, null, 'entries');
  }

  /** Same as [Symbol.iterator], with optional bounds as scan(). */
  entries(range) {
    this.#ptr('entries');
    return new BitcaskIterator(CONSTRUCT, this, this.#st, inRangeFilter(range, 'Bitcask.entries'), 'entries');
  }

  /** Iterates over keys (Buffers) in ascending order, with optional bounds as scan(). */
  keys(range) {
    this.#ptr('keys');
    return new BitcaskIterator(CONSTRUCT, this, this.#st, inRangeFilter(range, 'Bitcask.keys'), 'keys');
  }

  /** Iterates over values (Buffers) in ascending key order, with optional bounds as scan(). */
  values(range) {
    this.#ptr('values');
    return new BitcaskIterator(CONSTRUCT, this, this.#st, inRangeFilter(range, 'Bitcask.values'), 'values');
  }

  /**
   * [key, value] Buffers for the keys in [start, end) that start with `prefix` (each optional),
   * ascending. Runs on the pull iterator: stops at the first key past the range.
   */
  scan(range = {}) {
    this.#ptr('scan');
    return new BitcaskIterator(CONSTRUCT, this, this.#st, inRangeFilter(range, 'Bitcask.scan'), 'entries');
  }

  /** Compacts the store (blocks until the merged files are published). */
  merge() {
    check(C.merge(this.#ptr('merge')), 'bc_merge');
  }

  /** Forces every acknowledged write onto stable storage. */
  sync() {
    check(C.sync(this.#ptr('sync')), 'bc_sync');
  }

  /** The store's counters, as plain numbers (exact up to 2^53). */
  stats() {
    const p = this.#ptr('stats');
    const s = {};
    check(C.stats_get(p, s), 'bc_stats_get');
    const out = {};
    for (const [js, c] of STATS_FIELDS) out[js] = Number(s[c]);
    return out;
  }

  /**
   * Frees the handle's open iterators, then syncs, unlocks and closes the store. Idempotent.
   * Throws BC_E_IO if the final fsync failed (the handle is closed anyway).
   */
  close() {
    if (!this.#st.ptr) return;
    dbRegistry.unregister(this);
    const rc = releaseDb(this.#st);
    check(rc, 'bc_close');
  }

  [Symbol.dispose]() {
    this.close();
  }
}

module.exports = {
  Bitcask,
  Batch,
  BitcaskError,
  BitcaskIterator,
  codes,
  version,
  libraryPath: LIB_PATH,
};
