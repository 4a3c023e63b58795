#include "config/units.h"

#include <doctest/doctest.h>

namespace switchyard::config {
namespace {

using std::chrono::milliseconds;

std::string duration_error(std::string_view text) {
  auto result = parse_duration(text);
  REQUIRE_FALSE(result.ok());
  return result.error().message();
}

std::string size_error(std::string_view text) {
  auto result = parse_size(text);
  REQUIRE_FALSE(result.ok());
  return result.error().message();
}

TEST_CASE("parse_duration accepts the units people write") {
  CHECK(parse_duration("250ms").value() == milliseconds(250));
  CHECK(parse_duration("5s").value() == milliseconds(5000));
  CHECK(parse_duration("2m").value() == milliseconds(120000));
  CHECK(parse_duration("1h").value() == milliseconds(3600000));
  CHECK(parse_duration("1.5s").value() == milliseconds(1500));
  CHECK(parse_duration("0.25s").value() == milliseconds(250));
  CHECK(parse_duration("1m30s").value() == milliseconds(90000));
  CHECK(parse_duration("0").value() == milliseconds(0));
  CHECK(parse_duration("0s").value() == milliseconds(0));
}

TEST_CASE("parse_duration rejects what it cannot represent, saying what is expected") {
  CHECK(duration_error("5x") ==
        "invalid duration \"5x\": expected a number followed by ms, s, m or h (e.g. 250ms, 5s)");
  CHECK(duration_error("") ==
        "invalid duration \"\": expected a number followed by ms, s, m or h (e.g. 250ms, 5s)");
  CHECK(duration_error("s") ==
        "invalid duration \"s\": expected a number followed by ms, s, m or h (e.g. 250ms, 5s)");
  CHECK(duration_error("5") ==
        "invalid duration \"5\": missing unit; expected a number followed by ms, s, m or h "
        "(e.g. 250ms, 5s)");
  CHECK(duration_error("500us") ==
        "invalid duration \"500us\": durations have millisecond resolution; expected a number "
        "followed by ms, s, m or h (e.g. 250ms, 5s)");
  CHECK(duration_error("10ns").find("millisecond resolution") != std::string::npos);
  CHECK(duration_error("1.5ms") ==
        "invalid duration \"1.5ms\": durations have millisecond resolution; the value must be a "
        "whole number of milliseconds");
  CHECK(duration_error("-5s") == "invalid duration \"-5s\": durations cannot be negative");
  CHECK(duration_error("5 s").find("expected a number") != std::string::npos);
  CHECK(duration_error("1.s").find("expected a number") != std::string::npos);
  CHECK(duration_error("99999999999999999999h") ==
        "invalid duration \"99999999999999999999h\": expected a number followed by ms, s, m or h "
        "(e.g. 250ms, 5s)");
  CHECK(duration_error("9999999999999999h") ==
        "invalid duration \"9999999999999999h\": too large (at most 876000h, 100 years)");
  CHECK(parse_duration("876000h").value() == kMaxDuration);
  CHECK(duration_error("876000h1ms").find("too large") != std::string::npos);
}

TEST_CASE("parse_size accepts binary and decimal units") {
  CHECK(parse_size("512").value() == 512);
  CHECK(parse_size("512B").value() == 512);
  CHECK(parse_size("64KiB").value() == 64 * 1024);
  CHECK(parse_size("6MiB").value() == 6 * 1024 * 1024);
  CHECK(parse_size("1GiB").value() == 1024ull * 1024 * 1024);
  CHECK(parse_size("10KB").value() == 10000);
  CHECK(parse_size("10MB").value() == 10000000);
  CHECK(parse_size("1.5KiB").value() == 1536);
  CHECK(parse_size("0").value() == 0);
}

TEST_CASE("parse_size rejects unknown units and fractions of a byte") {
  std::string expected =
      "expected a number of bytes, optionally followed by B, KiB, MiB, GiB, KB, MB or GB "
      "(e.g. 512, 64KiB, 6MiB)";
  CHECK(size_error("6XB") == "invalid size \"6XB\": " + expected);
  CHECK(size_error("MiB") == "invalid size \"MiB\": " + expected);
  CHECK(size_error("6 MiB") == "invalid size \"6 MiB\": " + expected);
  CHECK(size_error("6mib") == "invalid size \"6mib\": " + expected);
  CHECK(size_error("1.5B") == "invalid size \"1.5B\": not a whole number of bytes");
  CHECK(size_error("-1") == "invalid size \"-1\": sizes cannot be negative");
  CHECK(size_error("100000000TiB") == "invalid size \"100000000TiB\": too large");
}

TEST_CASE("format_duration and format_size pick the largest exact unit") {
  CHECK(format_duration(milliseconds(0)) == "0");
  CHECK(format_duration(milliseconds(250)) == "250ms");
  CHECK(format_duration(milliseconds(1500)) == "1500ms");
  CHECK(format_duration(milliseconds(5000)) == "5s");
  CHECK(format_duration(milliseconds(900000)) == "15m");
  CHECK(format_duration(milliseconds(7200000)) == "2h");
  CHECK(format_size(512) == "512");
  CHECK(format_size(64 * 1024) == "64KiB");
  CHECK(format_size(6 * 1024 * 1024) == "6MiB");
  CHECK(format_size(1000) == "1000");
}

}  // namespace
}  // namespace switchyard::config
