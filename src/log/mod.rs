//! The log: replaying data files into a keydir at open (`recovery`), hint files (`hint`),
//! and the open-time handling of merge records (`merge_records`). Reads and repairs files; knows
//! nothing of the open handle above it.

pub(crate) mod hint;
pub(crate) mod merge_records;
pub(crate) mod recovery;

/// Threads an open uses for one large file: the cores, at most 8.
pub(crate) fn load_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}
