//! The engine's error type.
//!
//! Every variant says what went wrong and, where the caller can do something about it, what to do.
//! The C layer maps each variant to one `BC_E_*` status (see [`Error::kind`]) and hands the
//! [`Display`](std::fmt::Display) text to `bc_last_error()`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of an error; one per C status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument or option was not acceptable (`BC_E_INVALID`).
    InvalidArgument,
    /// The operating system failed a file operation (`BC_E_IO`).
    Io,
    /// Data on disk failed a check (`BC_E_CORRUPT`).
    Corrupt,
    /// Another handle holds the store's write lock (`BC_E_LOCKED`).
    Locked,
    /// A write was attempted on a read-only handle (`BC_E_READ_ONLY`).
    ReadOnly,
    /// A key or value exceeds the configured limit (`BC_E_TOO_LARGE`).
    TooLarge,
}

/// Everything the engine can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied argument or option is out of range.
    InvalidArgument(String),
    /// An I/O call failed. `op` names what the engine was doing.
    Io {
        op: &'static str,
        path: Option<PathBuf>,
        source: io::Error,
    },
    /// A file or record failed validation.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The store's `LOCK` is held by another read-write handle (this process or another).
    Locked { path: PathBuf },
    /// The handle was opened read-only.
    ReadOnly,
    /// A key or value is larger than the configured maximum.
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// An earlier fsync or write failed; the handle refuses writes because it can no longer tell
    /// which acknowledged data reached the disk.
    Poisoned(String),
}

impl Error {
    /// The class of this error, used to pick the C status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Io { .. } | Error::Poisoned(_) => ErrorKind::Io,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::ReadOnly => ErrorKind::ReadOnly,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<Option<PathBuf>>,
        source: io::Error,
    ) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Io { op, path, source } => {
                write!(f, "{op}")?;
                if let Some(path) = path {
                    write!(f, " '{}'", path.display())?;
                }
                // io::Error's own text already ends in "(os error N)" for OS errors.
                write!(f, ": {source}")
            }
            Error::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corrupt data in '{}' at byte {offset}: {reason}",
                path.display()
            ),
            Error::Locked { path } => write!(
                f,
                "store is locked: '{}' is held by another read-write handle (in this or another \
                 process); close it first or open this one read-only",
                path.display()
            ),
            Error::ReadOnly => write!(
                f,
                "the store was opened read-only; reopen it without read_only to write"
            ),
            Error::TooLarge { what, size, limit } => write!(
                f,
                "{what} is {size} bytes, more than the limit of {limit} bytes (raise it with the \
                 max_{what}_size option)"
            ),
            Error::Poisoned(why) => write!(
                f,
                "the handle refuses writes after an earlier failure ({why}); data acknowledged \
                 since the last successful sync may not be on disk: close and reopen the store"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_message_names_operation_path_and_os_error() {
        let e = Error::io(
            "open data file",
            PathBuf::from("/x/1.data"),
            io::Error::from_raw_os_error(libc::EACCES),
        );
        let text = e.to_string();
        assert!(text.starts_with("open data file '/x/1.data': "), "{text}");
        assert!(text.contains("os error 13"), "{text}");
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn too_large_names_the_option_to_raise() {
        let e = Error::TooLarge {
            what: "key",
            size: 10,
            limit: 5,
        };
        assert!(e.to_string().contains("max_key_size"));
        assert_eq!(e.kind(), ErrorKind::TooLarge);
    }
}
