# frozen_string_literal: true

require_relative "helper"

class TestThreads < Minitest::Test
  include BitcaskTest

  THREADS = 8
  PER_THREAD = 400

  def test_many_threads_share_one_db
    db = open_db
    db["shared"] = "0"
    threads = (0...THREADS).map do |t|
      Thread.new do
        PER_THREAD.times do |i|
          key = "t#{t}-#{i}"
          db[key] = "value-#{t}-#{i}" * 3
          raise "lost #{key}" unless db[key] == "value-#{t}-#{i}" * 3
          db["shared"] = "#{t}:#{i}"
          db.delete(key) if i % 10 == 0
          db.key?("t#{(t + 1) % THREADS}-#{i}")
        end
        :ok
      end
    end
    assert_equal [:ok] * THREADS, threads.map(&:value)
    assert_equal THREADS * (PER_THREAD - PER_THREAD / 10) + 1, db.size
    assert_match(/\A\d+:\d+\z/, db["shared"])
    assert_equal "value-3-7" * 3, db["t3-7"]
    assert_nil db["t3-10"]
  end

  def test_iterators_writers_and_merge_in_parallel
    db = open_db(max_file_size: 8192)
    200.times { |i| db[format("k%04d", i)] = "v#{i}" }
    stop = false
    writers = (0...3).map do |t|
      Thread.new do
        n = 0
        until stop
          db[format("w%d-%05d", t, n)] = "x" * 50
          db.delete(format("w%d-%05d", t, n - 5)) if n >= 5
          n += 1
        end
      end
    end
    readers = (0...3).map do
      Thread.new do
        10.times.map { db.scan_prefix("k").count }
      end
    end
    merger = Thread.new { 3.times { db.merge } }
    counts = readers.flat_map(&:value)
    merger.join
    stop = true
    writers.each(&:join)
    assert_equal [200], counts.uniq
    assert_equal 0, open_iterators(db)
    assert_operator db.stats.merges, :>=, 3
  end

  def test_errors_are_per_thread
    db = open_db(max_value_size: 4)
    threads = (0...THREADS).map do |t|
      Thread.new do
        200.times.map do |i|
          if (t + i).even?
            begin
              db["k"] = "too large"
              :no_error
            rescue Bitcask::TooLargeError => e
              e.message.start_with?("bc_put: value") && e.code == -6 ? :ok : e.message
            end
          else
            begin
              db.delete("")
              :no_error
            rescue Bitcask::InvalidError => e
              e.message.start_with?("bc_delete: ") && e.code == -1 ? :ok : e.message
            end
          end
        end
      end
    end
    assert_equal [:ok], threads.flat_map(&:value).uniq
  end

  def test_close_while_other_threads_work
    db = Bitcask::DB.open(@dir)
    started = Queue.new
    threads = (0...THREADS).map do |t|
      Thread.new do
        i = 0
        begin
          loop do
            db["t#{t}-#{i}"] = "v"
            db["t#{t}-#{i}"]
            db.each_key.first if i % 50 == 0
            started << t if i == 10
            i += 1
          end
        rescue Bitcask::ClosedError
          :closed
        end
      end
    end
    THREADS.times { started.pop }
    db.close
    assert_equal [:closed] * THREADS, threads.map(&:value)
    assert db.closed?
    Bitcask::DB.open(@dir) { |again| assert_operator again.size, :>, THREADS * 10 }
  end

  def test_shared_batch_object
    db = open_db
    batch = Bitcask::Batch.new
    threads = (0...4).map do |t|
      Thread.new { 100.times { |i| batch.put("b#{t}-#{i}", "v") } }
    end
    writer = Thread.new { 20.times { db.write(batch) } }
    threads.each(&:join)
    writer.join
    db.write(batch)
    assert_equal 400, db.size
  ensure
    batch&.free
  end
end
