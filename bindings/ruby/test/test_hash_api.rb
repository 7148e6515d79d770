# frozen_string_literal: true

require "zlib"

require_relative "helper"
require "pathname"

class TestHashApi < Minitest::Test
  include BitcaskTest

  def test_index_and_assign
    db = open_db
    assert_nil db["missing"]
    assert_equal "v", (db["k"] = "v")
    assert_equal "v", db["k"]
    assert_equal "v", db.get("k")
  end

  def test_put_and_store_return_self
    db = open_db
    assert_same db, db.put("a", "1")
    assert_same db, db.store("b", "2").put("c", "3")
    assert_equal %w[a b c], db.keys
  end

  def test_fetch
    db = open_db
    db["k"] = "v"
    assert_equal "v", db.fetch("k")
    assert_equal "v", db.fetch("k", "default")
    assert_equal "default", db.fetch("nope", "default")
    assert_nil db.fetch("nope", nil)
    assert_equal "NOPE", db.fetch("nope") { |k| k.upcase }
    err = assert_raises(KeyError) { db.fetch("nope") }
    assert_equal "nope", err.key
    assert_same db, err.receiver
    assert_match(/key not found: "nope"/, err.message)
    assert_raises(ArgumentError) { db.fetch("k", 1, 2) }
  end

  def test_delete_reports_presence
    db = open_db
    db["k"] = "v"
    assert_equal true, db.delete("k")
    assert_equal false, db.delete("k")
    assert_equal false, db.delete("never")
    assert_nil db["k"]
  end

  def test_key_predicates
    db = open_db
    db["k"] = ""
    %i[key? include? has_key? member?].each do |m|
      assert_equal true, db.public_send(m, "k"), m
      assert_equal false, db.public_send(m, "other"), m
    end
  end

  def test_stats_count_a_merge_whose_output_is_missing
    db = open_db
    db["a"] = "1"
    db.close
    # A version-2 merge record (docs/FORMAT.md): merge 9 of file 1 into file 9, which is absent.
    body = ["BCMERGE2", 9, 1, 1, 1, 9, 4096].pack("a8VVVVVQ<")
    File.binwrite(File.join(@dir, "MERGED-9"), body + [Zlib.crc32(body)].pack("V"))
    db = open_db
    assert_equal "1", db["a"]
    assert_equal 1, db.stats.incomplete_merges
  end

  def test_size_and_stats
    db = open_db
    assert_equal 0, db.size
    assert db.empty?
    10.times { |i| db["k#{i}"] = "v" * i }
    db.delete("k0")
    assert_equal 9, db.size
    assert_equal 9, db.length
    refute db.empty?
    st = db.stats
    assert_kind_of Bitcask::Stats, st
    assert_equal 9, st.keys
    assert_operator st.data_files, :>=, 1
    assert_operator st.total_bytes, :>, 0
    assert_operator st.dead_bytes, :>, 0
    assert_equal Bitcask::Native::STATS_FIELDS, st.to_h.keys
    assert_equal 0, st.incomplete_merges
  end

  def test_block_open_closes_and_returns_block_value
    captured = nil
    result = Bitcask::DB.open(@dir) do |db|
      captured = db
      db["k"] = "v"
      :done
    end
    assert_equal :done, result
    assert captured.closed?
    # The lock was released: a new read-write open works.
    Bitcask::DB.open(@dir) { |db| assert_equal "v", db["k"] }
  end

  def test_block_open_closes_on_exception
    captured = nil
    err = assert_raises(RuntimeError) do
      Bitcask::DB.open(@dir) do |db|
        captured = db
        db["k"] = "v"
        raise "boom"
      end
    end
    assert_equal "boom", err.message
    assert captured.closed?
    Bitcask::DB.open(@dir) { |db| assert_equal "v", db["k"] }
  end

  def test_open_without_block_returns_open_db
    db = Bitcask::DB.open(@dir)
    refute db.closed?
    db["k"] = "v"
    assert_nil db.close
    assert db.closed?
    assert_nil db.close # idempotent
    assert_match(/closed/, db.inspect)
  end

  def test_module_open_and_pathname
    Bitcask.open(Pathname.new(@dir) + "sub") { |db| db["a"] = "b" }
    assert File.directory?(File.join(@dir, "sub"))
    db = open_db(File.join(@dir, "sub"))
    assert_equal "b", db["a"]
    assert_equal File.join(@dir, "sub"), db.path
  end

  def test_options
    db = open_db(sync: :always, max_file_size: 4096, max_key_size: 16, max_value_size: 1024,
                 max_open_files: 4, auto_merge: false, merge_trigger_percent: 50,
                 merge_trigger_bytes: 1 << 20, expiry_secs: 0, create_if_missing: true)
    200.times { |i| db["key#{i}"] = "x" * 100 }
    assert_operator db.stats.data_files, :>, 4
    assert_operator db.stats.syncs, :>, 0
    assert_equal "x" * 100, db["key0"]
    db.close
    Bitcask::DB.open(@dir, sync: :interval, sync_interval_ms: 5) { |d| d["a"] = "b" }
    Bitcask::DB.open(@dir, sync_interval_ms: 5) { |d| assert_equal "b", d["a"] }
  end

  def test_expected_keys
    n = 5000
    expected = n.times.to_h { |i| [format("key-%05d", i), "value-#{i * 7}"] }
    Bitcask::DB.open(@dir, expected_keys: 2 * n) do |db|
      expected.each { |k, v| db[k] = v }
      assert_equal n, db.size
      expected.each { |k, v| assert_equal v, db[k] }
    end
    # A smaller expectation (or none) at reopen: the index is sized for the keys the store has.
    [{ expected_keys: 100 }, { expected_keys: 0 }, {}].each do |opts|
      Bitcask::DB.open(@dir, **opts) do |db|
        assert_equal n, db.stats.keys, opts.inspect
        expected.each { |k, v| assert_equal v, db[k], "#{k} with #{opts.inspect}" }
      end
    end
    # Filled past the expectation: the index grows as usual.
    db = open_db(File.join(@dir, "small"), expected_keys: 10)
    expected.each { |k, v| db[k] = v }
    assert_equal expected, db.to_h
  end

  def test_bad_options
    assert_raises(ArgumentError) { Bitcask::DB.open(@dir, no_such_option: 1) }
    assert_raises(ArgumentError) { Bitcask::DB.open(@dir, sync: :sometimes) }
    assert_raises(ArgumentError) { Bitcask::DB.open(@dir, max_key_size: -1) }
    assert_raises(TypeError) { Bitcask::DB.open(@dir, max_key_size: "10") }
    assert_raises(TypeError) { Bitcask::DB.open(@dir, expected_keys: "10") }
    assert_raises(TypeError) { Bitcask::DB.open(@dir, expected_keys: 1.5) }
    assert_raises(ArgumentError) { Bitcask::DB.open(@dir, expected_keys: -1) }
    assert_raises(ArgumentError) { Bitcask::DB.open("a\0b") }
    assert_raises(TypeError) { Bitcask::DB.open(42) }
    # The library judges ranges itself.
    err = assert_raises(Bitcask::InvalidError) { Bitcask::DB.open(@dir, max_file_size: 1) }
    assert_equal(-1, err.code)
    assert_match(/max_file_size/, err.message)
    err = assert_raises(Bitcask::InvalidError) { Bitcask::DB.open(@dir, sync: :interval, sync_interval_ms: 0) }
    assert_match(/bc_options_set_sync/, err.message)
    err = assert_raises(Bitcask::InvalidError) { Bitcask::DB.open(@dir, expected_keys: 2**32 + 1) }
    assert_equal(-1, err.code)
    assert_match(/bc_options_set_expected_keys/, err.message)
    # None of these failures left the store locked.
    Bitcask::DB.open(@dir) { |db| db["ok"] = "1" }
  end
end
