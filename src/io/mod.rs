//! Everything that touches the operating system below the log: memory maps of data files and
//! the sequential reader ([`map`]), the store's lock file ([`lock`]), file-system helpers
//! ([`fs`]) and the clock ([`clock`]). Knows the format's file names and headers, nothing above.

pub(crate) mod clock;
pub(crate) mod fs;
pub(crate) mod lock;
pub(crate) mod map;
