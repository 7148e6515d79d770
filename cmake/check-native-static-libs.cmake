# Checks that the system libraries CMakeLists.txt lists for the static library (and writes into
# bitcask.pc and bitcaskConfig.cmake) are still what rustc says a staticlib of this crate needs.
# Run by the ctest test "native_static_libs":
#   cmake -DCARGO=... -DSOURCE_DIR=... -DTARGET_DIR=... -DEXPECTED="gcc_s;util;..." -P this-file
# TARGET_DIR is a cargo target directory of its own: building the crate as a staticlib alone in
# the main one would change its fingerprints and make the next build redo the library.
foreach(var CARGO SOURCE_DIR TARGET_DIR EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check-native-static-libs.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${TARGET_DIR}"
          "${CARGO}" rustc --locked --release --lib --crate-type staticlib
          --manifest-path "${SOURCE_DIR}/Cargo.toml" -- --print native-static-libs
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cargo rustc failed (${rc}):\n${out}")
endif()
if(NOT out MATCHES "native-static-libs: ([^\r\n]*)")
  message(FATAL_ERROR "no native-static-libs line in the output of cargo rustc:\n${out}")
endif()
string(STRIP "${CMAKE_MATCH_1}" printed)
separate_arguments(printed UNIX_COMMAND "${printed}")
set(actual "")
foreach(flag IN LISTS printed)
  string(REGEX REPLACE "^-l" "" lib "${flag}")
  if(NOT lib STREQUAL "c") # libc is linked anyway
    list(APPEND actual "${lib}")
  endif()
endforeach()
if(NOT actual STREQUAL EXPECTED)
  message(FATAL_ERROR "rustc says a staticlib needs '${actual}' (besides libc), but "
                      "BITCASK_NATIVE_STATIC_LIBS in CMakeLists.txt is '${EXPECTED}': update it")
endif()
message(STATUS "native-static-libs: ${actual} (as in CMakeLists.txt)")
