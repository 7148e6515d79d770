# frozen_string_literal: true

module Bitcask
  # Every failure the library reports. #code is the library's status (a negative BC_E_* value),
  # #message the library's detail text from bc_last_error(), "<function>: <what happened>".
  class Error < StandardError
    attr_reader :code

    def initialize(message = nil, code = nil)
      super(message)
      @code = code
    end
  end

  # BC_E_INVALID: a bad argument (empty key, option out of range, path not a directory).
  class InvalidError < Error; end
  # BC_E_IO: the operating system failed an I/O call. (Not Ruby's ::IOError.)
  class IOError < Error; end
  # BC_E_CORRUPT: data on disk failed a checksum or format check.
  class CorruptError < Error; end
  # BC_E_LOCKED: another read-write handle holds the store.
  class LockedError < Error; end
  # BC_E_READ_ONLY: a write through a read-only handle.
  class ReadOnlyError < Error; end
  # BC_E_TOO_LARGE: a key or value over the handle's limit.
  class TooLargeError < Error; end
  # BC_E_BUFFER: a caller buffer too small (not raised by this binding's API).
  class BufferError < Error; end
  # BC_E_PANIC: a bug inside the library; the handle stays usable.
  class PanicError < Error; end
  # Use of a DB (or of an iterator or batch) after it was closed or freed. Raised by the binding,
  # never by the library; #code is BC_E_INVALID (what the library answers for a NULL handle).
  class ClosedError < InvalidError; end

  ERROR_CLASSES = {
    -1 => InvalidError,
    -2 => IOError,
    -3 => CorruptError,
    -4 => LockedError,
    -5 => ReadOnlyError,
    -6 => TooLargeError,
    -7 => BufferError,
    -8 => PanicError
  }.freeze

  # The exception class for a status (Bitcask::Error for codes this binding does not know).
  def self.error_class(status)
    ERROR_CLASSES.fetch(status, Error)
  end
end
