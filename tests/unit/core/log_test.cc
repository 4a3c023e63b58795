#include "core/log.h"

#include <doctest/doctest.h>

using namespace switchyard;

TEST_CASE("JSON escaping covers quotes, backslashes and control characters") {
  std::string out;
  core::append_json_escaped(out, std::string("a\"b\\c\nd\x01", 8));
  CHECK(out == "a\\\"b\\\\c\\nd\\u0001");
}

TEST_CASE("log options are checked") {
  CHECK(core::parse_log_format("json").ok());
  CHECK(core::parse_log_format("text").value() == core::LogFormat::kText);
  auto bad = core::parse_log_format("xml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "log format must be auto, text or json (got \"xml\")");
  core::LogOptions options;
  options.level = "loud";
  auto status = core::configure_logging(options);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message().find("got \"loud\"") != std::string::npos);
  options.level = "debug";
  options.format = core::LogFormat::kJson;
  CHECK(core::configure_logging(options).ok());
}
