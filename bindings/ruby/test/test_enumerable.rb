# frozen_string_literal: true

require_relative "helper"

class TestEnumerable < Minitest::Test
  include BitcaskTest

  KEYS = ["b", "a", "ab", "a\0", "\xff".b, "z", "aa", "A"].freeze

  def setup
    super
    @db = open_db
    KEYS.each { |k| @db[k] = "v:#{k}".b }
  end

  def sorted
    KEYS.map(&:b).sort
  end

  def test_each_yields_pairs_in_ascending_byte_order
    seen = []
    assert_same @db, @db.each { |k, v| seen << [k, v] }
    assert_equal sorted.map { |k| [k, "v:".b + k] }, seen
    pairs = []
    @db.each { |pair| pairs << pair }
    assert_equal seen, pairs
    assert_equal ["A", "a", "a\0", "aa", "ab", "b", "z", "\xff".b], @db.keys
  end

  def test_enumerable_methods
    assert_equal sorted.size, @db.to_a.size
    assert_equal sorted, @db.map { |k, _v| k }
    assert_equal ["A", "v:A"], @db.first
    assert_equal [%w[A v:A], %w[a v:a]], @db.first(2)
    assert_equal "v:z", @db.to_h["z"]
    assert_equal [["z", "v:z"]], @db.select { |k, _| k == "z" }
    assert_equal 3, @db.count { |k, _| k.start_with?("a") && k.size == 2 }
    assert_equal ["\xff".b, "v:\xff".b], @db.max_by { |k, _| k }
    assert_equal sorted, @db.each_key.to_a
    assert_equal sorted, @db.each_pair.map(&:first)
    assert_equal 0, open_iterators(@db)
  end

  def test_each_without_block_is_a_sized_enumerator
    e = @db.each
    assert_kind_of Enumerator, e
    assert_equal KEYS.size, e.size
    assert_equal %w[A v:A], e.next
    assert_equal %w[a v:a], e.next
    assert_equal 1, open_iterators(@db)
    e.rewind # drops the walk without running its ensure: the GC frees that iterator later
    assert_equal %w[A v:A], e.next
    assert_operator open_iterators(@db), :<=, 2
    @db.close # frees whatever is still open
    assert_raises(Bitcask::ClosedError) { e.next }
  end

  def test_early_break_and_exception_free_the_iterator
    got = @db.each { |k, _| break k if k == "a" }
    assert_equal "a", got
    assert_equal 0, open_iterators(@db)
    assert_raises(ZeroDivisionError) { @db.each { 1 / 0 } }
    assert_equal 0, open_iterators(@db)
    assert_equal "A", @db.each_key.first
    assert_equal 0, open_iterators(@db)
    caught = catch(:out) { @db.each { |k, _| throw :out, k } }
    assert_equal "A", caught
    assert_equal 0, open_iterators(@db)
  end

  def test_iteration_is_a_snapshot_and_allows_writes
    seen = []
    @db.each do |k, _v|
      seen << k
      @db["zz-new-#{k.unpack1('H*')}"] = "x" # written during the walk
      @db.delete("z")
    end
    assert_equal sorted, seen
    refute @db.key?("z")
    assert_equal KEYS.size - 1 + KEYS.size, @db.size
  end

  def test_abandoned_iterator_is_freed_on_next_call
    handle = @db.instance_variable_get(:@handle)
    it = handle.iter_new
    assert_equal 1, open_iterators(@db)
    # What the GC does to an unreachable iterator owner: queue its id ...
    Bitcask::Handle::Iter.finalizer(handle.instance_variable_get(:@orphans), it.id).call
    ObjectSpace.undefine_finalizer(it)
    # ... and the next call on the DB frees it.
    @db.key?("a")
    assert_equal 0, open_iterators(@db)
  end

  def test_close_frees_open_iterators
    e = @db.each
    e.next
    assert_equal 1, open_iterators(@db)
    @db.close
    assert_raises(Bitcask::ClosedError) { e.next }
  end

  def test_close_inside_each
    seen = []
    err = assert_raises(Bitcask::ClosedError) do
      @db.each do |k, _|
        seen << k
        @db.close
      end
    end
    assert_equal ["A"], seen
    assert_equal(-1, err.code)
    assert @db.closed?
  end

  def test_scan_bounds
    assert_equal ["a", "a\0", "aa"], @db.scan("a", "ab").map(&:first)
    assert_equal ["a\0", "aa", "ab"], @db.scan("a\0", "b").map(&:first)
    assert_equal ["z", "\xff".b], @db.scan("y").map(&:first)
    assert_equal ["A", "a"], @db.scan(nil, "a\0").map(&:first)
    assert_equal sorted, @db.scan.map(&:first)
    assert_equal sorted, @db.scan("", nil).map(&:first)
    assert_equal [], @db.scan("b", "b").to_a
    assert_equal [], @db.scan("z", "a").to_a
    assert_equal [], @db.scan("\xff\xff".b).to_a
    assert_equal [["b", "v:b"]], @db.scan("b", "b\0").to_a
    assert_equal ["\xff".b], @db.scan("\xfe".b, nil).map(&:first)
    assert_equal 0, open_iterators(@db)
  end

  def test_scan_returns_enumerator_and_block_form
    e = @db.scan("a", "b")
    assert_kind_of Enumerator, e
    assert_equal %w[a v:a], e.first
    got = []
    assert_same @db, @db.scan("a", "b") { |k, v| got << [k, v] }
    assert_equal [%w[a v:a], ["a\0", "v:a\0"], %w[aa v:aa], %w[ab v:ab]], got
    assert_equal 0, open_iterators(@db)
  end

  def test_scan_prefix
    assert_equal ["a", "a\0", "aa", "ab"], @db.scan_prefix("a").map(&:first)
    assert_equal ["aa"], @db.scan_prefix("aa").map(&:first)
    assert_equal [], @db.scan_prefix("aaa").to_a
    assert_equal [], @db.scan_prefix("c").to_a
    assert_equal ["\xff".b], @db.scan_prefix("\xff".b).map(&:first)
    assert_equal sorted, @db.scan_prefix("").map(&:first)
    assert_equal ["a\0"], @db.scan_prefix("a\0").map(&:first)
    assert_kind_of Enumerator, @db.scan_prefix("a")
    assert_equal "a", @db.scan_prefix("a").first.first
    # A UTF-8 prefix matches by bytes.
    @db["é1"] = "x"
    @db["é2"] = "y"
    assert_equal ["é1".b, "é2".b], @db.scan_prefix("é").map(&:first)
    assert_equal 0, open_iterators(@db)
  end
end
