# frozen_string_literal: true

require "minitest/autorun"
require "tmpdir"
require "fileutils"
require "bitcask"

# Shared setup: a fresh store directory per test; every DB opened through #open_db is closed at
# teardown even when the test fails.
module BitcaskTest
  def setup
    super
    @dir = Dir.mktmpdir("bitcask-rb-")
    @opened = []
  end

  def teardown
    @opened.each do |db|
      db.close
    rescue Bitcask::Error
      nil
    end
    FileUtils.rm_rf(@dir)
    super
  end

  def open_db(dir = @dir, **opts)
    db = Bitcask::DB.open(dir, **opts)
    @opened << db
    db
  end

  def bin(str)
    str.b
  end

  # Open native iterators of a DB (white-box: proves that iterators are freed).
  def open_iterators(db)
    db.instance_variable_get(:@handle).instance_variable_get(:@iters).size
  end
end
