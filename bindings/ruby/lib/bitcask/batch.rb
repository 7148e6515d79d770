# frozen_string_literal: true

module Bitcask
  # A group of puts and deletes applied all together or not at all by DB#write (or DB#batch).
  # The batch copies keys and values; DB#write leaves it unchanged, so it can be written again.
  # Safe to share between threads (calls are serialised), though one owner is the usual case.
  class Batch
    def initialize
      ptr = Native.bc_batch_new
      raise NoMemoryError, "bc_batch_new: out of memory" if ptr.null?

      # Safety net: a batch never freed is released by the GC.
      @ptr = FFI::AutoPointer.new(ptr, Native.method(:bc_batch_free))
      @lock = Mutex.new
      @size = 0
    end

    # Adds "store value under key". Returns self.
    def put(key, value)
      kp, kl = Native.bytes(key, "key")
      vp, vl = Native.bytes(value, "value")
      with_ptr do |b|
        Native.check(Native.bc_batch_put(b, kp, kl, vp, vl))
        @size += 1
      end
      self
    end

    def []=(key, value)
      put(key, value)
    end

    # Adds "delete key" (a tombstone, whether or not the key exists). Returns self.
    def delete(key)
      kp, kl = Native.bytes(key, "key")
      with_ptr do |b|
        Native.check(Native.bc_batch_delete(b, kp, kl))
        @size += 1
      end
      self
    end

    # Removes every operation, keeping the memory. Returns self.
    def clear
      with_ptr do |b|
        Native.bc_batch_clear(b)
        @size = 0
      end
      self
    end

    # Number of operations added since creation or the last #clear.
    attr_reader :size
    alias length size

    def empty?
      @size.zero?
    end

    # Releases the native batch now (idempotent); later use raises Bitcask::ClosedError.
    def free
      @lock.synchronize do
        return nil unless @ptr

        @ptr.free
        @ptr = nil
      end
      nil
    end
    alias close free

    def freed?
      @ptr.nil?
    end

    # Internal: yields the raw bc_batch pointer, holding the batch's lock for the whole call.
    def with_ptr
      @lock.synchronize do
        raise ClosedError.new("bitcask: the batch was freed", Native::E_INVALID) unless @ptr

        yield @ptr
      end
    end

    def inspect
      "#<#{self.class} size=#{@size}#{' freed' if freed?}>"
    end
  end
end
