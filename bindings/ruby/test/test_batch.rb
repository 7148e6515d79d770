# frozen_string_literal: true

require_relative "helper"

class TestBatch < Minitest::Test
  include BitcaskTest

  def test_batch_applies_puts_and_deletes
    db = open_db
    db["old"] = "1"
    db["gone"] = "2"
    assert_nil(db.batch do |b|
      b.put("a", "A")
      b["b"] = "B"
      b.delete("gone")
      b.delete("never-existed")
      b.delete("a2")
      b.put("a2", "wins") # a later put wins over an earlier delete
    end)
    assert_equal({ "old" => "1", "a" => "A", "b" => "B", "a2" => "wins" }, db.to_h)
  end

  def test_exception_inside_block_applies_nothing
    db = open_db
    db["keep"] = "1"
    err = assert_raises(RuntimeError) do
      db.batch do |b|
        b.put("x", "1")
        b.delete("keep")
        raise "abort"
      end
    end
    assert_equal "abort", err.message
    assert_equal({ "keep" => "1" }, db.to_h)
  end

  def test_non_local_exit_applies_nothing
    db = open_db
    [1].each do
      db.batch do |b|
        b.put("x", "1")
        break
      end
    end
    catch(:out) { db.batch { |b| b.put("y", "1") && throw(:out) } }
    assert_equal 0, db.size
  end

  def test_too_large_entry_fails_whole_batch
    db = open_db(max_value_size: 8)
    err = assert_raises(Bitcask::TooLargeError) do
      db.batch do |b|
        b.put("small", "ok")
        b.put("large", "x" * 9)
      end
    end
    assert_equal(-6, err.code)
    assert_match(/\Abc_write: /, err.message)
    assert_nil db["small"]
    assert_equal 0, db.size
  end

  def test_invalid_entry_raises_from_the_batch_call
    db = open_db
    err = assert_raises(Bitcask::InvalidError) { db.batch { |b| b.put("", "v") } }
    assert_match(/\Abc_batch_put: .*empty/, err.message)
    assert_equal 0, db.size
  end

  def test_batch_object_is_freed_after_block
    db = open_db
    kept = nil
    db.batch { |b| kept = b.put("k", "v") }
    assert kept.freed?
    assert_raises(Bitcask::ClosedError) { kept.put("k2", "v") }
    assert_equal "v", db["k"]
  end

  def test_reusable_batch_and_write
    db = open_db
    b = Bitcask::Batch.new
    begin
      b.put("a", "1").put("b", "2").delete("c")
      assert_equal 3, b.size
      db.write(b)
      db["a"] = "changed"
      db.write(b) # unchanged by the first write: applies again
      assert_equal "1", db["a"]
      b.clear
      assert b.empty?
      db.write(b) # empty batch: a no-op
      assert_equal({ "a" => "1", "b" => "2" }, db.to_h)
    ensure
      b.free
    end
    b.free # idempotent
    assert_raises(TypeError) { db.write("not a batch") }
  end

  def test_batch_is_atomic_for_concurrent_readers
    db = open_db
    keys = (0...50).map { |i| "k#{i}" }
    stop = false
    torn = 0
    reader = Thread.new do
      until stop
        vals = db.scan_prefix("k").map(&:last).uniq
        torn += 1 if vals.size > 1
      end
    end
    20.times do |round|
      db.batch { |b| keys.each { |k| b.put(k, "round#{round}") } }
    end
    stop = true
    reader.join
    assert_equal 0, torn
    assert_equal ["round19"], db.map(&:last).uniq
  end

  def test_batch_on_read_only_store
    Bitcask::DB.open(@dir) { |db| db["a"] = "1" }
    ro = open_db(read_only: true)
    err = assert_raises(Bitcask::ReadOnlyError) { ro.batch { |b| b.put("x", "y") } }
    assert_equal(-5, err.code)
  end
end
