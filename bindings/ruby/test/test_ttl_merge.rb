# frozen_string_literal: true

require_relative "helper"

class TestTtlMerge < Minitest::Test
  include BitcaskTest

  def test_ttl_and_store_expiry
    db = open_db
    db.put_ttl("short", "gone soon", 1)
    db.put_ttl("made-permanent", "stays", 1)
    db.put("made-permanent", "stays")
    db.put_ttl("long", "stays", 3600)
    db["plain"] = "stays"
    expiring = open_db(File.join(@dir, "expiring"), expiry_secs: 1)
    expiring["k"] = "v"
    assert_equal "gone soon", db["short"]
    assert db.key?("short")
    assert_equal "v", expiring["k"]

    sleep 2.1

    assert_nil db["short"]
    refute db.key?("short")
    assert_raises(KeyError) { db.fetch("short") }
    assert_equal %w[long made-permanent plain], db.keys
    assert_equal [], db.scan_prefix("sh").to_a
    assert_nil expiring["k"]
    assert_equal [], expiring.to_a
    db.close
    db = open_db # stays expired across reopen
    assert_nil db["short"]
    assert_equal "stays", db["made-permanent"]
  end

  def test_ttl_argument_checks
    db = open_db
    err = assert_raises(Bitcask::InvalidError) { db.put_ttl("k", "v", 0) }
    assert_equal(-1, err.code)
    assert_match(/\Abc_put_ttl: .*ttl/, err.message)
    assert_raises(ArgumentError) { db.put_ttl("k", "v", -1) }
    assert_raises(ArgumentError) { db.put_ttl("k", "v", 1 << 32) }
    assert_raises(TypeError) { db.put_ttl("k", "v", nil) }
    assert_nil db["k"]
  end

  def test_merge_then_reopen
    db = open_db(max_file_size: 4096)
    500.times { |i| db["key#{i}"] = "first-#{i}" * 4 }
    500.times { |i| db["key#{i}"] = "second-#{i}" } # overwrite everything
    (0...500).step(2) { |i| db.delete("key#{i}") }
    db["empty"] = ""
    before = db.stats
    assert_operator before.dead_bytes, :>, 0
    assert_same db, db.merge
    after = db.stats
    assert_equal 1, after.merges
    assert_operator after.total_bytes, :<, before.total_bytes
    assert_operator after.reclaimed_bytes, :>, 0
    expected = db.to_h
    assert_equal 251, expected.size
    assert_equal "second-1", db["key1"]
    assert_nil db["key0"]
    assert_same db, db.sync
    db.close

    db = open_db
    assert_equal expected, db.to_h
    assert_equal "", db["empty"]
    assert_nil db["key0"]
    assert_operator db.stats.hint_files_loaded, :>, 0
  end
end
