# frozen_string_literal: true

module Bitcask
  # Internal: owns one bc_db pointer and makes it safe to share between Ruby threads.
  #
  # The library forbids bc_close while any other call on the handle runs, and wants every
  # iterator freed before bc_close. So every call goes through #use, which counts calls in flight
  # and raises ClosedError once the handle is closed; #close marks the handle closed, waits for
  # the calls in flight to end, frees the iterators still open and only then calls bc_close.
  class Handle
    def initialize(ptr)
      @ptr = ptr
      @lock = Mutex.new
      @idle = ConditionVariable.new
      @inflight = 0
      @closed = false
      @iters = {}            # id => FFI::Pointer of a live bc_iter
      @next_iter_id = 0
      @orphans = Queue.new   # ids of iterators whose Ruby owner was garbage collected
    end

    def closed?
      @closed
    end

    # Runs the block with the raw bc_db pointer, guaranteeing that the handle stays open meanwhile.
    def use
      Thread.handle_interrupt(Object => :never) do
        enter
        begin
          Thread.handle_interrupt(Object => :immediate) { yield @ptr }
        ensure
          leave
        end
      end
    end

    # Closes the handle (idempotent). Returns the status of bc_close (BC_OK when already closed).
    # Calls already running in other threads finish first; later ones raise ClosedError.
    def close
      ptr = nil
      iters = nil
      Thread.handle_interrupt(Object => :never) do
        @lock.synchronize do
          return Native::OK if @closed

          @closed = true
          @idle.wait(@lock) while @inflight.positive?
          iters = @iters.values
          @iters.clear
          iters.each { |it| Native.bc_iter_free(it) }
          ptr = @ptr
          @ptr = nil
        end
        Native.bc_close(ptr)
      end
    end

    # Finalizer path: no Ruby object can reach the DB any more, so nothing else uses the handle.
    def self.finalizer(handle)
      proc { handle.close }
    end

    # --- iterators --------------------------------------------------------------------------

    # Internal owner of one bc_iter. If it is garbage collected without #free (an abandoned
    # external Enumerator), its finalizer queues the id and the next call on the DB frees it.
    class Iter
      attr_reader :id, :key_out, :klen_out, :val_out, :vlen_out

      def initialize(id)
        @id = id
        @key_out = FFI::MemoryPointer.new(:pointer)
        @klen_out = FFI::MemoryPointer.new(:size_t)
        @val_out = FFI::MemoryPointer.new(:pointer)
        @vlen_out = FFI::MemoryPointer.new(:size_t)
      end

      def self.finalizer(queue, id)
        proc { queue.push(id) }
      end
    end

    # A new iterator over a snapshot of the live keys.
    def iter_new
      use do |db|
        out = FFI::MemoryPointer.new(:pointer)
        begin
          status = Native.bc_iter_new(db, out)
          raise Native.error(status) if status.negative?
        ensure
          ptr = out.read_pointer
          unless ptr.null?
            id = @lock.synchronize do
              @next_iter_id += 1
              @iters[@next_iter_id] = ptr
              @next_iter_id
            end
          end
        end
        it = Iter.new(id)
        ObjectSpace.define_finalizer(it, Iter.finalizer(@orphans, id))
        it
      end
    end

    # The next [key, value] of the iterator (binary Strings), or nil at the end.
    def iter_next(it)
      use do
        ptr = @lock.synchronize { @iters[it.id] }
        raise ClosedError.new("bc_iter_next: the iterator was freed", Native::E_INVALID) unless ptr

        status = Native.bc_iter_next(ptr, it.key_out, it.klen_out, it.val_out, it.vlen_out)
        case status
        when Native::OK
          [Native.read(it.key_out.read_pointer, it.klen_out.read(:size_t)),
           Native.read(it.val_out.read_pointer, it.vlen_out.read(:size_t))]
        when Native::NOT_FOUND then nil
        else raise Native.error(status)
        end
      end
    end

    # Frees the iterator now (idempotent; a no-op once the handle closed and freed it).
    def iter_free(it)
      ObjectSpace.undefine_finalizer(it)
      release_iter(it.id)
    end

    private

    def release_iter(id)
      @lock.synchronize do
        ptr = @iters.delete(id)
        Native.bc_iter_free(ptr) if ptr
      end
    end

    def enter
      @lock.synchronize do
        raise ClosedError.new("bitcask: the database is closed", Native::E_INVALID) if @closed

        @inflight += 1
      end
      drain_orphans unless @orphans.empty?
    end

    def leave
      @lock.synchronize do
        @inflight -= 1
        @idle.broadcast if @inflight.zero?
      end
    end

    def drain_orphans
      loop { release_iter(@orphans.pop(true)) }
    rescue ThreadError
      nil # queue empty
    end
  end
end
