/// <reference types="node" />

/** Bytes accepted for keys, values and bounds. Strings are encoded as UTF-8. */
export type Bytes = Buffer | ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string;

export interface OpenOptions {
  /** Size at which the active data file is sealed: 256 ..= 4294967295 bytes (default 256 MiB). */
  maxFileSize?: number | bigint;
  /** When writes reach stable storage (default 'none'). */
  sync?: 'none' | 'always' | 'interval';
  /** fsync period for sync: 'interval', >= 1 (default 1000). */
  syncIntervalMs?: number;
  /** Open without the write lock; every write throws BC_E_READ_ONLY (default false). */
  readOnly?: boolean;
  /** Create the directory (last component only) when missing (default true). */
  createIfMissing?: boolean;
  /** Largest key, 1 ..= 1048576 bytes (default 65536). */
  maxKeySize?: number;
  /** Largest value, 0 ..= 3 GiB (default 64 MiB). */
  maxValueSize?: number | bigint;
  /** Data files kept open for reading, 1 ..= 1048576 (default 64). */
  maxOpenFiles?: number;
  /** Store-wide expiry in seconds; 0 = never (default). */
  expirySecs?: number;
  /** Merge in a background thread when the merge trigger holds (default false). */
  autoMerge?: boolean;
  /** Auto-merge trigger (defaults 60 % and 512 MiB). */
  mergeTrigger?: { fragmentationPercent?: number; deadBytes?: number | bigint };
  /**
   * Append through a writable memory map of the active data file, over space reserved with
   * fallocate (ext4, XFS and tmpfs only; elsewhere, or with false, appends use pwrite). Durability
   * is the same. While open, the active file is longer on disk than its records by the reserved
   * space (up to 8 MiB), cut at close (default true). Must be a boolean.
   */
  mmapWrites?: boolean;
  /**
   * Write compact hint files (version 2: one bit per record, no keys) for data files whose records
   * are mostly live, such as a merge's output; false = every hint lists its keys (version 1).
   * Either kind is read regardless (default true). Must be a boolean.
   */
  compactHints?: boolean;
  /**
   * How many keys the store is expected to hold: 0 ..= 4294967296 (default 0 = no expectation).
   * The open sizes the in-memory index for that many keys up front (about 9 bytes of memory per
   * expected key, touched as keys arrive), so filling the store never pauses to grow and rehash
   * it. A store that opens with more keys, or ends up with more, is sized for them as usual.
   */
  expectedKeys?: number | bigint;
}

export interface Range {
  /** Inclusive lower bound. */
  start?: Bytes;
  /** Exclusive upper bound. */
  end?: Bytes;
  /** Only keys starting with these bytes. */
  prefix?: Bytes;
}

/** Counters of a store, as numbers (exact up to 2^53). */
export interface Stats {
  keys: number;
  dataFiles: number;
  totalBytes: number;
  liveBytes: number;
  deadBytes: number;
  corruptRecords: number;
  corruptBytes: number;
  truncatedBytes: number;
  syncs: number;
  sealedLiveBytes: number;
  sealedDeadBytes: number;
  merges: number;
  reclaimedBytes: number;
  hintFilesLoaded: number;
  /** Merges whose outputs are missing or damaged: their inputs are kept and served (bitcask verify names them). */
  incompleteMerges: number;
}

export type BatchOp =
  | { type: 'put'; key: Bytes; value: Bytes }
  | { type: 'del' | 'delete'; key: Bytes };

export declare const codes: Readonly<{
  BC_OK: 0;
  BC_NOT_FOUND: 1;
  BC_STOPPED: 2;
  BC_E_INVALID: -1;
  BC_E_IO: -2;
  BC_E_CORRUPT: -3;
  BC_E_LOCKED: -4;
  BC_E_READ_ONLY: -5;
  BC_E_TOO_LARGE: -6;
  BC_E_BUFFER: -7;
  BC_E_PANIC: -8;
}>;

/** The native library's version, e.g. "0.1.0". */
export declare const version: string;
/** What was passed to dlopen: $BITCASK_LIB or 'libbitcask.so.0.1'. */
export declare const libraryPath: string;

export declare class BitcaskError extends Error {
  constructor(code: number, message: string);
  name: 'BitcaskError';
  /** The numeric bitcask status, e.g. -6. */
  code: number;
  /** e.g. 'BC_E_TOO_LARGE'; 'BC_E_UNKNOWN' for a code this binding does not know. */
  codeName: keyof typeof codes | 'BC_E_UNKNOWN';
}

export declare class BitcaskIterator<T> implements IterableIterator<T> {
  private constructor();
  next(): IteratorResult<T, undefined>;
  /** Ends the iteration and frees the native iterator. */
  return(value?: unknown): IteratorResult<T, undefined>;
  [Symbol.iterator](): this;
  [Symbol.dispose](): void;
}

export declare class Batch {
  constructor();
  put(key: Bytes, value: Bytes): this;
  delete(key: Bytes): this;
  clear(): this;
  readonly length: number;
  readonly freed: boolean;
  free(): void;
  [Symbol.dispose](): void;
}

export declare class Bitcask {
  private constructor();
  static open(dir: string, options?: OpenOptions): Bitcask;
  readonly path: string;
  readonly readOnly: boolean;
  readonly closed: boolean;
  /** Native iterators of this handle open right now (diagnostic). */
  readonly openIterators: number;
  get(key: Bytes): Buffer | undefined;
  put(key: Bytes, value: Bytes): void;
  putTTL(key: Bytes, value: Bytes, secs: number): void;
  delete(key: Bytes): boolean;
  has(key: Bytes): boolean;
  write(batch: Batch): void;
  batch(): Batch;
  batch(ops: BatchOp[]): void;
  [Symbol.iterator](): BitcaskIterator<[Buffer, Buffer]>;
  entries(range?: Range): BitcaskIterator<[Buffer, Buffer]>;
  keys(range?: Range): BitcaskIterator<Buffer>;
  values(range?: Range): BitcaskIterator<Buffer>;
  scan(range?: Range): BitcaskIterator<[Buffer, Buffer]>;
  merge(): void;
  sync(): void;
  stats(): Stats;
  close(): void;
  [Symbol.dispose](): void;
}
