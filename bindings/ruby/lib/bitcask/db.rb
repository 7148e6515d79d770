# frozen_string_literal: true

module Bitcask
  # Counters of a store (see struct bc_stats in bitcask.h).
  Stats = Struct.new(*Native::STATS_FIELDS, keyword_init: true)

  # An open store. Keys are non-empty Strings, values any Strings (both taken as raw bytes via
  # #bytesize, whatever their encoding); everything read back is a binary (ASCII-8BIT) String.
  #
  # One DB may be shared by any number of threads. Close it with #close or use the block form of
  # DB.open; a DB that is garbage collected unclosed is closed by a finalizer (a safety net only).
  class DB
    include Enumerable

    OPTIONS = %i[
      read_only create_if_missing sync sync_interval_ms max_file_size max_key_size
      max_value_size max_open_files auto_merge merge_trigger_percent merge_trigger_bytes
      expiry_secs expected_keys mmap_writes compact_hints
    ].freeze

    SYNC_MODES = { none: Native::SYNC_NONE, always: Native::SYNC_ALWAYS, interval: Native::SYNC_INTERVAL }.freeze

    U32 = (0..0xFFFF_FFFF).freeze
    U64 = (0..0xFFFF_FFFF_FFFF_FFFF).freeze

    # Opens (creating by default) the store in directory `dir`.
    #
    # Options: read_only: false, create_if_missing: true, sync: :none | :always | :interval,
    # sync_interval_ms: 1000, max_file_size:, max_key_size:, max_value_size:, max_open_files:,
    # auto_merge: false, merge_trigger_percent: 60, merge_trigger_bytes: 512 MiB, expiry_secs: 0,
    # expected_keys: 0, mmap_writes: true, compact_hints: true.
    #
    # expected_keys: how many keys the store is expected to hold (0..2**32; 0 = no expectation).
    # The open sizes the in-memory index for that many up front (about 9 bytes per key, touched as
    # keys arrive), so filling the store never pauses to grow and rehash it.
    # mmap_writes: appends go through a writable memory map of the active data file, over space
    # reserved ahead with fallocate (used only on ext4, XFS and tmpfs); false = pwrite. Durability
    # is the same. While open, the active file is longer on disk than its records by the reserved
    # space (up to 8 MiB), cut at close.
    # compact_hints: hint files of data files whose records are mostly live (such as a merge's
    # output) are written compact (one bit per record, no keys); false = every hint lists its keys.
    # Either kind is read whatever this says.
    #
    # With a block: yields the DB, closes it when the block ends (also by an exception) and returns
    # the block's value. Without: returns the open DB.
    def self.open(dir, **opts)
      db = new(dir, **opts)
      return db unless block_given?

      begin
        result = yield db
      rescue Exception # rubocop:disable Lint/RescueException
        begin
          db.close
        rescue Error
          nil # the block's exception is the one to report
        end
        raise
      end
      db.close
      result
    end

    attr_reader :path

    def initialize(dir, **opts)
      dir = dir.to_path if dir.respond_to?(:to_path)
      dir = String.try_convert(dir) or raise TypeError, "bitcask: dir must be a String or Pathname"
      raise ArgumentError, "bitcask: dir contains a NUL byte" if dir.include?("\0")

      @path = dir.dup.freeze
      @read_only = opts[:read_only] ? true : false
      ptr = Options.with(opts) do |o|
        out = FFI::MemoryPointer.new(:pointer)
        status = Native.bc_open(FFI::MemoryPointer.from_string(dir), o, out)
        raise Native.error(status) if status.negative?

        out.read_pointer
      end
      @handle = Handle.new(ptr)
      ObjectSpace.define_finalizer(self, Handle.finalizer(@handle))
    end

    # --- single keys -------------------------------------------------------------------------

    # The value of `key` (a binary String), or nil when absent.
    def get(key)
      kp, kl = Native.bytes(key, "key")
      @handle.use do |db|
        valp = FFI::MemoryPointer.new(:pointer)
        lenp = FFI::MemoryPointer.new(:size_t)
        begin
          status = Native.bc_get(db, kp, kl, valp, lenp)
          case status
          when Native::OK then Native.read(valp.read_pointer, lenp.read(:size_t))
          when Native::NOT_FOUND then nil
          else raise Native.error(status)
          end
        ensure
          buf = valp.read_pointer
          Native.bc_free(buf) unless buf.null?
        end
      end
    end
    alias [] get

    # Like Hash#fetch: the value, else the block's result, else `default`, else KeyError.
    def fetch(key, *default)
      if default.size > 1
        raise ArgumentError, "wrong number of arguments (given #{default.size + 1}, expected 1..2)"
      end

      value = get(key)
      return value unless value.nil?
      return yield(key) if block_given?
      return default.first unless default.empty?

      raise KeyError.new("key not found: #{key.inspect}", receiver: self, key: key)
    end

    # Stores `value` under `key`. Returns self.
    def put(key, value)
      kp, kl = Native.bytes(key, "key")
      vp, vl = Native.bytes(value, "value")
      @handle.use { |db| Native.check(Native.bc_put(db, kp, kl, vp, vl)) }
      self
    end
    alias store put

    def []=(key, value)
      put(key, value)
    end

    # Stores `value` under `key`, expiring `ttl` (>= 1) seconds from now. Returns self.
    def put_ttl(key, value, ttl)
      ttl = Integer(ttl)
      raise ArgumentError, "bitcask: ttl #{ttl} out of range 0..#{U32.max}" unless U32.cover?(ttl)

      kp, kl = Native.bytes(key, "key")
      vp, vl = Native.bytes(value, "value")
      @handle.use { |db| Native.check(Native.bc_put_ttl(db, kp, kl, vp, vl, ttl)) }
      self
    end

    # Deletes `key`. Returns true if it was present, false if not.
    def delete(key)
      kp, kl = Native.bytes(key, "key")
      @handle.use { |db| Native.check(Native.bc_delete(db, kp, kl)) == Native::OK }
    end

    # Whether `key` exists (answered from memory).
    def key?(key)
      kp, kl = Native.bytes(key, "key")
      @handle.use { |db| Native.check(Native.bc_contains(db, kp, kl)) == Native::OK }
    end
    alias include? key?
    alias has_key? key?
    alias member? key?

    # --- iteration ---------------------------------------------------------------------------

    # Yields [key, value] for every live key in ascending byte order of the keys, over a snapshot
    # taken when the iteration starts. Without a block, returns an Enumerator.
    def each(&block)
      return enum_for(:each) { size } unless block

      iterate(nil, nil, nil, &block)
      self
    end
    alias each_pair each

    # Yields every live key in ascending order.
    def each_key
      return enum_for(:each_key) { size } unless block_given?

      iterate(nil, nil, nil) { |pair| yield pair[0] }
      self
    end

    # All live keys, ascending.
    def keys
      each_key.to_a
    end

    # Yields [key, value] for each live key in [start, stop), ascending; nil is open on that side.
    def scan(start = nil, stop = nil, &block)
      return enum_for(:scan, start, stop) unless block

      start = Native.binary(start, "start") unless start.nil?
      stop = Native.binary(stop, "stop") unless stop.nil?
      iterate(start, stop, nil, &block)
      self
    end

    # Yields [key, value] for each live key starting with `prefix`, ascending.
    def scan_prefix(prefix, &block)
      return enum_for(:scan_prefix, prefix) unless block

      prefix = Native.binary(prefix, "prefix")
      iterate(prefix.empty? ? nil : prefix, nil, prefix, &block)
      self
    end

    # --- batches, maintenance ----------------------------------------------------------------

    # Yields a Bitcask::Batch and applies everything added to it atomically (bc_write) when the
    # block returns normally. If the block raises (or breaks/throws), nothing is applied.
    def batch
      raise ArgumentError, "bitcask: batch needs a block" unless block_given?

      b = Batch.new
      completed = false
      begin
        yield b
        completed = true
      ensure
        begin
          write(b) if completed
        ensure
          b.free
        end
      end
      nil
    end

    # Applies a Bitcask::Batch atomically. The batch is unchanged and may be written again.
    def write(batch)
      raise TypeError, "bitcask: expected a Bitcask::Batch, not #{batch.class}" unless batch.is_a?(Batch)

      batch.with_ptr do |b|
        @handle.use { |db| Native.check(Native.bc_write(db, b)) }
      end
      self
    end

    # Compacts the store (see bc_merge). Returns self.
    def merge
      @handle.use { |db| Native.check(Native.bc_merge(db)) }
      self
    end

    # Forces acknowledged writes to stable storage. Returns self.
    def sync
      @handle.use { |db| Native.check(Native.bc_sync(db)) }
      self
    end

    # The store's counters as a Bitcask::Stats struct.
    def stats
      raw = Native::StatsC.new
      @handle.use { |db| Native.check(Native.bc_stats_get(db, raw)) }
      Stats.new(**Native::STATS_FIELDS.to_h { |f| [f, raw[f]] })
    end

    # Number of live keys.
    def size
      stats.keys
    end
    alias length size

    def empty?
      size.zero?
    end

    def read_only?
      @read_only
    end

    # Closes the store (idempotent): waits for calls running in other threads, frees open
    # iterators, syncs and releases the lock. Raises Bitcask::IOError if the final sync failed
    # (the handle is closed all the same).
    def close
      status = @handle.close
      ObjectSpace.undefine_finalizer(self)
      Native.check(status)
      nil
    end

    def closed?
      @handle.closed?
    end

    def inspect
      "#<#{self.class} #{@path.inspect}#{' read-only' if @read_only}#{closed? ? ' closed' : ''}>"
    end
    alias to_s inspect

    private

    # Walks the pull iterator from the first key >= start, stopping before `stop` or at the first
    # key past `prefix`; yields [key, value]. The iterator is freed however the walk ends.
    def iterate(start, stop, prefix)
      it = @handle.iter_new
      begin
        while (pair = @handle.iter_next(it))
          key = pair[0]
          next if start && key < start
          break if stop && key >= stop
          break if prefix && !key.start_with?(prefix)

          yield pair
        end
      ensure
        @handle.iter_free(it)
      end
    end

    # Builds a bc_options from keyword options for the duration of a block.
    module Options
      module_function

      def with(opts)
        unknown = opts.keys - OPTIONS
        raise ArgumentError, "bitcask: unknown option(s) #{unknown.map(&:inspect).join(', ')}" unless unknown.empty?

        o = Native.bc_options_new
        raise NoMemoryError, "bc_options_new: out of memory" if o.null?

        begin
          apply(o, opts)
          yield o
        ensure
          Native.bc_options_free(o)
        end
      end

      def apply(o, opts)
        flag(o, :bc_options_set_read_only, opts[:read_only]) if opts.key?(:read_only)
        flag(o, :bc_options_set_create_if_missing, opts[:create_if_missing]) if opts.key?(:create_if_missing)
        flag(o, :bc_options_set_auto_merge, opts[:auto_merge]) if opts.key?(:auto_merge)
        flag(o, :bc_options_set_mmap_writes, opts[:mmap_writes]) if opts.key?(:mmap_writes)
        flag(o, :bc_options_set_compact_hints, opts[:compact_hints]) if opts.key?(:compact_hints)
        if opts.key?(:sync) || opts.key?(:sync_interval_ms)
          mode = opts.fetch(:sync, :interval)
          code = SYNC_MODES[mode] or raise ArgumentError, "bitcask: sync must be one of #{SYNC_MODES.keys.inspect}"
          set(o, :bc_options_set_sync, code, int(opts, :sync_interval_ms, U32, 1000))
        end
        set(o, :bc_options_set_max_file_size, int(opts, :max_file_size, U64)) if opts.key?(:max_file_size)
        set(o, :bc_options_set_max_key_size, int(opts, :max_key_size, U32)) if opts.key?(:max_key_size)
        set(o, :bc_options_set_max_value_size, int(opts, :max_value_size, U64)) if opts.key?(:max_value_size)
        set(o, :bc_options_set_max_open_files, int(opts, :max_open_files, U32)) if opts.key?(:max_open_files)
        set(o, :bc_options_set_expiry_secs, int(opts, :expiry_secs, U32)) if opts.key?(:expiry_secs)
        set(o, :bc_options_set_expected_keys, int(opts, :expected_keys, U64)) if opts.key?(:expected_keys)
        if opts.key?(:merge_trigger_percent) || opts.key?(:merge_trigger_bytes)
          set(o, :bc_options_set_merge_trigger, int(opts, :merge_trigger_percent, U32, 60),
              int(opts, :merge_trigger_bytes, U64, 512 * 1024 * 1024))
        end
      end

      def flag(o, setter, value)
        set(o, setter, value ? 1 : 0)
      end

      def set(o, setter, *args)
        Native.check(Native.public_send(setter, o, *args))
      end

      def int(opts, name, range, default = nil)
        v = opts.fetch(name, default)
        raise TypeError, "bitcask: option #{name} must be an Integer, not #{v.class}" unless v.is_a?(Integer)
        raise ArgumentError, "bitcask: option #{name} #{v} out of range #{range}" unless range.cover?(v)

        v
      end
    end
    private_constant :Options
  end
end
