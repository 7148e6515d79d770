//! File-system helpers every layer above shares: making directory entries durable, creating a
//! data file, and advising writeback.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, FileHeader, FileKind};

/// Makes a directory's entries (new or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir.to_path_buf(), e))
}

/// Creates `<id>.data` with its header and makes its directory entry durable.
pub(crate) fn create_data_file(dir: &Path, id: u32) -> Result<(File, u32)> {
    if id == u32::MAX {
        return Err(Error::invalid("data file ids are exhausted"));
    }
    let path = format::data_path(dir, id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io("create data file", path.clone(), e))?;
    let header = FileHeader {
        kind: FileKind::Data,
        file_id: id,
        order: id,
    };
    if let Err(e) = file.write_all_at(&header.encode(), 0) {
        let _ = fs::remove_file(&path);
        return Err(Error::io("write data file header", path, e));
    }
    sync_dir(dir)?;
    Ok((file, id))
}

/// Starts (does not wait for) writeback of `[from, to)` of the active file, RocksDB's
/// `bytes_per_sync`: without it the dirty pages of a whole data file (256 MiB by default) wait
/// for the fdatasync that seals the file, under the write mutex, and every writer stalls for it.
/// With it, that fdatasync finds at most about this many bytes still dirty. Advice only: an
/// error is ignored (the seal's fdatasync reports real I/O errors).
pub(crate) fn start_writeback(file: &File, from: u64, to: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a plain system call on an open descriptor; it reads no memory of ours.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            from as libc::off64_t,
            (to - from) as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}
