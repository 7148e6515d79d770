# frozen_string_literal: true

# Ruby binding of libbitcask (include/bitcask.h) through the ffi gem.
#
#   Bitcask::DB.open("/tmp/store") do |db|
#     db["k"] = "v"
#     db["k"]          # => "v" (binary String)
#   end
module Bitcask
  VERSION = "0.1.0"
end

require_relative "bitcask/native"
require_relative "bitcask/errors"
require_relative "bitcask/handle"
require_relative "bitcask/batch"
require_relative "bitcask/db"

module Bitcask
  # Version of the loaded library, e.g. "0.1.0".
  def self.library_version
    Native.bc_version
  end

  # Same as Bitcask::DB.open.
  def self.open(dir, **opts, &block)
    DB.open(dir, **opts, &block)
  end
end
