# frozen_string_literal: true

require "ffi"

module Bitcask
  # Raw bindings to libbitcask (include/bitcask.h). Internal: use Bitcask::DB.
  module Native
    extend FFI::Library

    # Where to look for the library: $BITCASK_LIB, then $BITCASK_LIB_DIR, then the loader's path.
    def self.library_candidates
      lib = ENV["BITCASK_LIB"]
      return [lib] if lib && !lib.empty?

      names = %w[libbitcask.so.0.1 libbitcask.so]
      dir = ENV["BITCASK_LIB_DIR"]
      names = names.map { |n| File.join(dir, n) } + names if dir && !dir.empty?
      names
    end

    begin
      ffi_lib library_candidates
    rescue LoadError => e
      raise LoadError, "bitcask: cannot load libbitcask (set BITCASK_LIB to its path): #{e.message}"
    end

    OK = 0
    NOT_FOUND = 1
    STOPPED = 2
    E_INVALID = -1
    E_IO = -2
    E_CORRUPT = -3
    E_LOCKED = -4
    E_READ_ONLY = -5
    E_TOO_LARGE = -6
    E_BUFFER = -7
    E_PANIC = -8

    SYNC_NONE = 0
    SYNC_ALWAYS = 1
    SYNC_INTERVAL = 2

    STATS_FIELDS = %i[
      keys data_files total_bytes live_bytes dead_bytes corrupt_records corrupt_bytes
      truncated_bytes syncs sealed_live_bytes sealed_dead_bytes merges reclaimed_bytes
      hint_files_loaded data_files_scanned incomplete_merges
    ].freeze

    # struct bc_stats: uint64_t fields, new ones only ever appended. bc_stats_get has no size
    # argument, so room is reserved: a newer library writing more fields must not overrun it.
    class StatsC < FFI::Struct
      layout(*STATS_FIELDS.flat_map { |f| [f, :uint64] }, :_reserved, [:uint64, 48])
    end

    # Static / thread-local text owned by the library: :string copies it into a Ruby String.
    attach_function :bc_version, [], :string
    attach_function :bc_status_str, [:int], :string
    attach_function :bc_last_error, [], :string
    attach_function :bc_free, [:pointer], :void

    attach_function :bc_options_new, [], :pointer
    attach_function :bc_options_free, [:pointer], :void
    attach_function :bc_options_set_max_file_size, %i[pointer uint64], :int
    attach_function :bc_options_set_sync, %i[pointer int uint32], :int
    attach_function :bc_options_set_read_only, %i[pointer int], :int
    attach_function :bc_options_set_create_if_missing, %i[pointer int], :int
    attach_function :bc_options_set_max_key_size, %i[pointer uint32], :int
    attach_function :bc_options_set_max_value_size, %i[pointer uint64], :int
    attach_function :bc_options_set_max_open_files, %i[pointer uint32], :int
    attach_function :bc_options_set_merge_trigger, %i[pointer uint32 uint64], :int
    attach_function :bc_options_set_auto_merge, %i[pointer int], :int
    attach_function :bc_options_set_mmap_writes, %i[pointer int], :int
    attach_function :bc_options_set_compact_hints, %i[pointer int], :int
    attach_function :bc_options_set_expected_keys, %i[pointer uint64], :int
    attach_function :bc_options_set_expiry_secs, %i[pointer uint32], :int

    # Calls that may touch the disk or wait release the GVL (blocking: true) so that other Ruby
    # threads keep running; every pointer passed to them is native memory (FFI::MemoryPointer),
    # never a Ruby String that another thread or the GC could move or change meanwhile.
    attach_function :bc_open, %i[pointer pointer pointer], :int, blocking: true
    attach_function :bc_close, [:pointer], :int, blocking: true
    attach_function :bc_put, %i[pointer pointer size_t pointer size_t], :int, blocking: true
    attach_function :bc_put_ttl, %i[pointer pointer size_t pointer size_t uint32], :int, blocking: true
    attach_function :bc_get, %i[pointer pointer size_t pointer pointer], :int, blocking: true
    attach_function :bc_delete, %i[pointer pointer size_t], :int, blocking: true
    attach_function :bc_contains, %i[pointer pointer size_t], :int
    attach_function :bc_sync, [:pointer], :int, blocking: true
    attach_function :bc_merge, [:pointer], :int, blocking: true
    attach_function :bc_stats_get, %i[pointer pointer], :int

    attach_function :bc_batch_new, [], :pointer
    attach_function :bc_batch_put, %i[pointer pointer size_t pointer size_t], :int
    attach_function :bc_batch_delete, %i[pointer pointer size_t], :int
    attach_function :bc_batch_clear, [:pointer], :void
    attach_function :bc_batch_free, [:pointer], :void
    attach_function :bc_write, %i[pointer pointer], :int, blocking: true

    attach_function :bc_iter_new, %i[pointer pointer], :int, blocking: true
    attach_function :bc_iter_next, %i[pointer pointer pointer pointer pointer], :int, blocking: true
    attach_function :bc_iter_free, [:pointer], :void

    module_function

    # Copies a String argument's bytes into native memory: [pointer or nil, bytesize].
    # (nil, 0) is the empty byte string for the library.
    def bytes(str, what)
      s = String.try_convert(str)
      raise TypeError, "bitcask: #{what} must be a String, not #{str.class}" unless s

      n = s.bytesize
      return [nil, 0] if n.zero?

      mem = FFI::MemoryPointer.new(:uint8, n, false)
      mem.put_bytes(0, s)
      [mem, n]
    end

    # A String argument as a new binary String (for comparisons in Ruby).
    def binary(str, what)
      s = String.try_convert(str)
      raise TypeError, "bitcask: #{what} must be a String, not #{str.class}" unless s

      s.b
    end

    # Reads `len` bytes at `ptr` as a binary (ASCII-8BIT) String.
    def read(ptr, len)
      return String.new(encoding: Encoding::BINARY) if len.zero?

      ptr.read_bytes(len)
    end

    # The exception for a failed call. Must run right after the failing call on the same thread,
    # before any other library call, as bc_last_error() is per thread and per call.
    def error(status)
      msg = bc_last_error
      msg = "#{bc_status_str(status)} (status #{status})" if msg.nil? || msg.empty?
      Bitcask.error_class(status).new(msg.dup.force_encoding(Encoding::UTF_8).scrub, status)
    end

    # Raises for any negative status; returns non-negative ones.
    def check(status)
      raise error(status) if status.negative?

      status
    end
  end
end
