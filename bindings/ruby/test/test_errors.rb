# frozen_string_literal: true

require_relative "helper"
require "rbconfig"
require "open3"

class TestErrors < Minitest::Test
  include BitcaskTest

  def test_hierarchy
    [Bitcask::InvalidError, Bitcask::IOError, Bitcask::CorruptError, Bitcask::LockedError,
     Bitcask::ReadOnlyError, Bitcask::TooLargeError, Bitcask::BufferError, Bitcask::PanicError,
     Bitcask::ClosedError].each do |cls|
      assert_operator cls, :<, Bitcask::Error
    end
    assert_operator Bitcask::Error, :<, StandardError
    assert_operator Bitcask::ClosedError, :<, Bitcask::InvalidError
    refute_operator Bitcask::IOError, :<=, ::IOError
    assert_equal Bitcask::Error, Bitcask.error_class(-99)
  end

  def test_empty_key_is_invalid
    db = open_db
    %i[get delete key?].each do |m|
      err = assert_raises(Bitcask::InvalidError) { db.public_send(m, "") }
      assert_equal(-1, err.code)
      assert_match(/empty/, err.message)
    end
    err = assert_raises(Bitcask::InvalidError) { db[""] = "v" }
    assert_match(/\Abc_put: /, err.message)
  end

  def test_too_large
    db = open_db(max_key_size: 4, max_value_size: 8)
    err = assert_raises(Bitcask::TooLargeError) { db["12345"] = "v" }
    assert_equal(-6, err.code)
    assert_match(/\Abc_put: key is 5 bytes.*4/, err.message)
    err = assert_raises(Bitcask::TooLargeError) { db["k"] = "x" * 9 }
    assert_match(/value is 9 bytes/, err.message)
    assert_raises(Bitcask::TooLargeError) { db.put_ttl("k", "x" * 9, 10) }
    assert_raises(Bitcask::TooLargeError) { db["123456"] }
    db["k"] = "x" * 8 # at the limit
    assert_equal 1, db.size
  end

  def test_locked_second_open
    db = open_db
    db["k"] = "v"
    err = assert_raises(Bitcask::LockedError) { Bitcask::DB.open(@dir) }
    assert_equal(-4, err.code)
    assert_match(/\Abc_open: .*lock/, err.message)
    db.close
    Bitcask::DB.open(@dir) { |again| assert_equal "v", again["k"] }
  end

  def test_locked_by_another_process
    db = open_db
    script = <<~RUBY
      require "bitcask"
      begin
        Bitcask::DB.open(ARGV[0])
        puts "opened"
      rescue Bitcask::LockedError => e
        puts "locked \#{e.code}"
      end
    RUBY
    out, status = Open3.capture2(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script, @dir)
    assert status.success?
    assert_equal "locked -4", out.strip
    db.close
  end

  def test_read_only_beside_writer
    writer = open_db
    writer["a"] = "1"
    ro = open_db(read_only: true)
    assert ro.read_only?
    assert_equal "1", ro["a"]
    writer["b"] = "2" # after the read-only open: not seen by it
    assert_equal ["a"], ro.keys
    [
      -> { ro["x"] = "y" },
      -> { ro.put_ttl("x", "y", 5) },
      -> { ro.delete("a") },
      -> { ro.merge }
    ].each do |call|
      err = assert_raises(Bitcask::ReadOnlyError, &call)
      assert_equal(-5, err.code)
      assert_match(/read-only/, err.message)
    end
    assert_same ro, ro.sync # a no-op
    assert_equal "1", ro["a"]
  end

  def test_missing_directory_without_create
    err = assert_raises(Bitcask::IOError) do
      Bitcask::DB.open(File.join(@dir, "missing"), create_if_missing: false)
    end
    assert_equal(-2, err.code)
    assert_match(/\Abc_open: .*missing.*No such file/, err.message)
  end

  def test_path_is_a_file
    file = File.join(@dir, "file")
    File.write(file, "x")
    err = assert_raises(Bitcask::InvalidError) { Bitcask::DB.open(file) }
    assert_match(/not a directory/, err.message)
  end

  def test_corrupt_record
    db = open_db
    db["a"] = "1"
    db["key"] = "CORRUPTME-PAYLOAD"
    db["z"] = "2"
    db.sync
    data_file = Dir[File.join(@dir, "*.data")].first
    offset = File.binread(data_file).index("CORRUPTME")
    File.open(data_file, "r+b") do |io|
      io.seek(offset)
      io.write("X")
    end
    err = assert_raises(Bitcask::CorruptError) { db["key"] }
    assert_equal(-3, err.code)
    assert_match(/\Abc_get: .*checksum/, err.message)
    err = assert_raises(Bitcask::CorruptError) { db.to_a }
    assert_match(/\Abc_iter_next: /, err.message)
    assert_equal 0, open_iterators(db)
    assert_equal "1", db["a"]
    db.close
    db = open_db
    assert_equal({ "a" => "1", "z" => "2" }, db.to_h)
    assert_equal 1, db.stats.corrupt_records
  end

  def test_use_after_close_raises
    db = Bitcask::DB.open(@dir)
    db["k"] = "v"
    db.close
    assert db.closed?
    calls = [
      -> { db["k"] }, -> { db["k"] = "v" }, -> { db.fetch("k") }, -> { db.put_ttl("k", "v", 1) },
      -> { db.delete("k") }, -> { db.key?("k") }, -> { db.each { nil } }, -> { db.to_a },
      -> { db.each_key.to_a }, -> { db.scan("a", "z").to_a }, -> { db.scan_prefix("k").first },
      -> { db.batch { |b| b.put("k", "v") } }, -> { db.merge }, -> { db.sync }, -> { db.stats },
      -> { db.size }
    ]
    calls.each do |call|
      err = assert_raises(Bitcask::ClosedError, &call)
      assert_kind_of Bitcask::Error, err
      assert_equal(-1, err.code)
      assert_match(/closed/, err.message)
    end
    assert_nil db.close
  end

  def test_messages_are_per_call
    db = open_db(max_value_size: 2)
    a = assert_raises(Bitcask::TooLargeError) { db["k"] = "xxx" }
    b = assert_raises(Bitcask::InvalidError) { db.delete("") }
    db["ok"] = "1" # a success does not disturb the messages already raised
    assert_match(/\Abc_put: value/, a.message)
    assert_match(/\Abc_delete: /, b.message)
  end

  def test_finalizer_closes_a_forgotten_handle
    db = Bitcask::DB.open(@dir)
    db["k"] = "v"
    handle = db.instance_variable_get(:@handle)
    Bitcask::Handle.finalizer(handle).call # what the GC runs for an unreachable DB
    assert db.closed?
    assert_raises(Bitcask::ClosedError) { db["k"] }
    Bitcask::DB.open(@dir) { |again| assert_equal "v", again["k"] }
    db.close # still idempotent
  end

  def test_forgotten_handle_closed_at_exit
    script = <<~RUBY
      require "bitcask"
      db = Bitcask::DB.open(ARGV[0])
      db["k"] = "written by a process that never closed"
      it = db.each # an open iterator too
      it.next
      puts "exiting"
    RUBY
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script, @dir)
    assert status.success?, err
    assert_equal "exiting\n", out
    assert_equal "", err
    # Closing writes the active file's hint; a finalizer did it.
    refute_empty Dir[File.join(@dir, "*.hint")]
    Bitcask::DB.open(@dir) { |db| assert_equal "written by a process that never closed", db["k"] }
  end
end
