//! A Bitcask storage engine: a log-structured hash table (Sheehy & Smith, Basho 2010).
//!
//! A store is a directory of append-only data files. Every write appends one record to the active
//! file; an in-memory index (the keydir) maps each live key to the file, offset and length of its
//! newest record, so a read is one hash lookup and one read of a memory-mapped file.
//!
//! ```
//! use bitcask::{Bitcask, Options};
//! let dir = tempfile::tempdir().unwrap();
//! let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
//! db.put(b"hello", b"world").unwrap();
//! assert_eq!(db.get(b"hello").unwrap().as_deref(), Some(&b"world"[..]));
//! assert!(db.delete(b"hello").unwrap());
//! assert_eq!(db.get(b"hello").unwrap(), None);
//! db.close().unwrap();
//! ```
//!
//! The C ABI (`include/bitcask.h`) lives in [`ffi`]; everything else is safe Rust.

// The engine modules are not part of the C header.
/// cbindgen:ignore
mod engine;
/// cbindgen:ignore
mod error;
/// cbindgen:ignore
pub mod format;
/// cbindgen:ignore
mod io;
/// cbindgen:ignore
pub mod keydir;
/// cbindgen:ignore
mod log;
/// cbindgen:ignore
mod options;
/// cbindgen:ignore
pub mod verify;

pub mod ffi;

pub use engine::batch::Batch;
pub use engine::merge::MergeProgress;
pub use engine::scan::Iter;
pub use engine::{Bitcask, FileStats, Stats};
pub use error::{Error, ErrorKind, Result};
pub use log::merge_records::IncompleteMerge;
pub use options::{
    MAX_EXPECTED_KEYS, MAX_FILE_SIZE_LIMIT, MAX_KEY_SIZE_LIMIT, MAX_VALUE_SIZE_LIMIT,
    MIN_FILE_SIZE, MergeTrigger, Options, SyncMode,
};
