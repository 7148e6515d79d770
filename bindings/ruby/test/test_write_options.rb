# frozen_string_literal: true

require_relative "helper"

# mmap_writes and compact_hints: what each writes on disk.
class TestWriteOptions < Minitest::Test
  include BitcaskTest

  KEYS = 300

  # [[name, size, format version], ...] of the directory's hint files; the version is the
  # little-endian u16 at byte offset 8 (1 = keys listed, 2 = compact).
  def hints(dir)
    Dir[File.join(dir, "*.hint")].sort.map do |f|
      [File.basename(f), File.size(f), File.binread(f, 2, 8).unpack1("v")]
    end
  end

  def data_bytes(dir)
    Dir[File.join(dir, "*.data")].sum { |f| File.size(f) }
  end

  # Fills a store with KEYS distinct keys, merges and closes it; returns the expected contents.
  def fill_and_merge(dir, **opts)
    expected = {}
    Bitcask::DB.open(dir, **opts) do |db|
      KEYS.times do |i|
        k = format("key-%04d", i)
        expected[k] = "value-#{i}" * 3
        db[k] = expected[k]
      end
      db.merge
    end
    expected
  end

  def test_compact_hints
    keyed = File.join(@dir, "keyed")
    compact = File.join(@dir, "compact")
    expected = fill_and_merge(keyed, compact_hints: false)
    assert_equal expected, fill_and_merge(compact)

    keyed_hints = hints(keyed)
    compact_hints = hints(compact)
    refute_empty keyed_hints
    refute_empty compact_hints
    keyed_hints.each { |name, _, version| assert_equal 1, version, "#{name} with compact_hints: false" }
    # The merge output's hint (the largest) is compact by default, and much smaller.
    _, keyed_size, = keyed_hints.max_by { |_, size, _| size }
    name, compact_size, version = compact_hints.max_by { |_, size, _| size }
    assert_equal 2, version, "#{name} with default options"
    assert_operator compact_size * 4, :<, keyed_size

    # Either kind is read back, whatever the option says at open.
    [[keyed, {}], [compact, { compact_hints: false }],
     [keyed, { compact_hints: false }], [compact, {}]].each do |dir, opts|
      db = open_db(dir, **opts)
      assert_equal expected, db.to_h
      assert_operator db.stats.hint_files_loaded, :>, 0
      db.close
    end
  end

  def test_compact_hints_truthiness
    # Like the other boolean options: nil/false off, any other value on.
    fill_and_merge(File.join(@dir, "nil"), compact_hints: nil)
    fill_and_merge(File.join(@dir, "one"), compact_hints: 1)
    assert(hints(File.join(@dir, "nil")).all? { |_, _, v| v == 1 })
    assert_equal 2, hints(File.join(@dir, "one")).max_by { |_, size, _| size }[2]
  end

  def put50(db)
    50.times { |i| db[format("key-%02d", i)] = "x" * 100 }
  end

  def test_mmap_writes_off
    db = open_db(mmap_writes: false)
    put50(db)
    total = db.stats.total_bytes
    assert_operator total, :>, 50 * 100
    assert_equal total, data_bytes(@dir)
    db.close
    assert_equal total, data_bytes(@dir)
    db = open_db(mmap_writes: false)
    assert_equal 50, db.size
    assert_equal "x" * 100, db["key-49"]
  end

  def test_mmap_writes_default_reserves_space
    skip "mmap_writes is used only on ext4, XFS and tmpfs" unless mmap_fs?(@dir)

    db = open_db
    put50(db)
    total = db.stats.total_bytes
    assert_operator data_bytes(@dir), :>, total # the reservation past the records
    db.close
    assert_equal total, data_bytes(@dir) # cut at close
    db = open_db(mmap_writes: true)
    assert_equal 50, db.size
    assert_equal "x" * 100, db["key-00"]
  end

  # Whether `dir` is on a file system where the library maps writes (from /proc/self/mounts: the
  # longest mount point that is a prefix of the directory's real path).
  def mmap_fs?(dir)
    real = File.realpath(dir)
    mounts = File.readlines("/proc/self/mounts").map { |l| l.split(" ", 4).values_at(1, 2) }
    _, type = mounts.select { |m, _| real == m || real.start_with?(m.end_with?("/") ? m : "#{m}/") }
                    .max_by { |m, _| m.size }
    %w[ext4 xfs tmpfs].include?(type)
  rescue SystemCallError
    false
  end
end
