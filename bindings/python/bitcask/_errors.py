"""Exceptions: one class per bitcask status code, all subclasses of BitcaskError."""

from . import _native as N


class BitcaskError(Exception):
    """A failed bitcask call.

    ``code`` is the C status (a negative ``BC_E_*`` value), ``message`` the library's detail text
    from ``bc_last_error()`` read right after the failing call on the same thread (for example
    ``"bc_put: key of 70000 bytes exceeds max_key_size 65536"``) and ``status`` the static text of
    the code from ``bc_status_str()``.
    """

    def __init__(self, code, message, status=""):
        self.code = code
        self.message = message
        self.status = status
        super().__init__(code, message)

    def __str__(self):
        text = self.message or self.status or "bitcask error"
        return "%s (status %d)" % (text, self.code)

    def __repr__(self):
        return "%s(code=%d, message=%r)" % (type(self).__name__, self.code, self.message)


class InvalidArgumentError(BitcaskError, ValueError):
    """BC_E_INVALID: a bad argument (empty key, option out of range, path not a directory)."""


class BitcaskIOError(BitcaskError):
    """BC_E_IO: the operating system failed an I/O call, or an earlier fsync failure."""


class CorruptError(BitcaskError):
    """BC_E_CORRUPT: data on disk failed a checksum or format check (nothing wrong returned)."""


class LockedError(BitcaskError):
    """BC_E_LOCKED: another read-write handle (this or another process) holds the store."""


class ReadOnlyError(BitcaskError):
    """BC_E_READ_ONLY: a write through a handle opened with read_only=True."""


class TooLargeError(BitcaskError, ValueError):
    """BC_E_TOO_LARGE: a key or value is larger than the handle's limit."""


class BufferTooSmallError(BitcaskError):
    """BC_E_BUFFER: a caller's buffer was too small (not raised by this binding's API)."""


class PanicError(BitcaskError):
    """BC_E_PANIC: a bug inside the library; the handle stays usable. Please report it."""


class ClosedError(BitcaskError):
    """The database (or batch, or iterator) was used after close(). Code BC_E_INVALID, as the C
    API returns for a NULL handle; raised by the binding without calling the library."""


_BY_CODE = {
    N.BC_E_INVALID: InvalidArgumentError,
    N.BC_E_IO: BitcaskIOError,
    N.BC_E_CORRUPT: CorruptError,
    N.BC_E_LOCKED: LockedError,
    N.BC_E_READ_ONLY: ReadOnlyError,
    N.BC_E_TOO_LARGE: TooLargeError,
    N.BC_E_BUFFER: BufferTooSmallError,
    N.BC_E_PANIC: PanicError,
}


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


def error_from(lib, code):
    """Builds the exception for a failed call. Must run on the thread that made the call, before
    any other library call there (bc_last_error is per thread and overwritten by later failures).
    """
    message = _text(lib.bc_last_error())
    status = _text(lib.bc_status_str(code))
    return _BY_CODE.get(code, BitcaskError)(code, message, status)


def closed(what="database"):
    """The ClosedError for a use of ``what`` after its close()."""
    return ClosedError(N.BC_E_INVALID, "bitcask: %s is closed" % what, "invalid argument")


def invalid(message):
    """An InvalidArgumentError raised by the binding itself (checked before calling the library)."""
    return InvalidArgumentError(N.BC_E_INVALID, "bitcask: " + message, "invalid argument")
