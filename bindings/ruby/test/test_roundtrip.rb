# frozen_string_literal: true

require_relative "helper"

class TestRoundTrip < Minitest::Test
  include BitcaskTest

  def test_binary_keys_and_values
    db = open_db
    all = (0..255).to_a.pack("C*")
    db[all] = all.reverse
    db["k\0with\0nuls"] = "\0\0v\0"
    assert_equal all.reverse, db[all]
    assert_equal "\0\0v\0".b, db["k\0with\0nuls"]
    assert_equal Encoding::BINARY, db[all].encoding
  end

  def test_empty_value_is_a_value
    db = open_db
    db["empty"] = ""
    assert_equal "", db["empty"]
    assert_equal Encoding::BINARY, db["empty"].encoding
    assert db.key?("empty")
    assert_equal [["empty", ""]], db.to_a
  end

  def test_utf8_in_binary_out
    db = open_db
    key = "clé-ключ-鍵"
    value = "värde 🚀"
    db[key] = value
    got = db[key]
    assert_equal Encoding::BINARY, got.encoding
    assert_equal value.b, got
    assert_equal value, got.dup.force_encoding(Encoding::UTF_8)
    # The same bytes in another encoding name the same key.
    assert_equal value.b, db[key.b]
    assert_equal [key.b], db.keys
    assert_equal Encoding::BINARY, db.keys.first.encoding
  end

  def test_other_encodings_are_taken_as_bytes
    db = open_db
    utf16 = "hi".encode(Encoding::UTF_16LE)
    db["u16"] = utf16
    assert_equal "h\0i\0".b, db["u16"]
  end

  def test_large_value_and_overwrite
    db = open_db
    big = Random.new(1).bytes(3 * 1024 * 1024)
    db["big"] = big
    assert_equal big, db["big"]
    db["big"] = "small"
    assert_equal "small", db["big"]
  end

  def test_frozen_and_mutated_arguments
    db = open_db
    key = +"key"
    value = +"value"
    db[key] = value
    key << "!"
    value << "!"
    assert_equal "value", db["key"]
    assert_nil db["key!"]
    db["frozen".freeze] = "v".freeze
    assert_equal "v", db["frozen"]
  end

  def test_persists_across_reopen
    Bitcask::DB.open(@dir) do |db|
      db["a"] = "1"
      db["b\0"] = "\xff\xfe".b
      db.put("c", "")
    end
    Bitcask::DB.open(@dir) do |db|
      assert_equal({ "a" => "1", "b\0" => "\xff\xfe".b, "c" => "" }, db.to_h)
    end
  end

  def test_non_string_arguments_raise_type_error
    db = open_db
    assert_raises(TypeError) { db[:sym] }
    assert_raises(TypeError) { db[1] = "x" }
    assert_raises(TypeError) { db["k"] = nil }
    assert_raises(TypeError) { db.delete(nil) }
    assert_raises(TypeError) { db.scan(1).to_a }
    # Objects with an implicit String conversion are accepted.
    path_like = Object.new
    def path_like.to_str = "implicit"
    db[path_like] = "ok"
    assert_equal "ok", db["implicit"]
  end

  def test_library_version
    assert_match(/\A\d+\.\d+\.\d+/, Bitcask.library_version)
    assert_equal "0.1.0", Bitcask::VERSION
  end
end
