// config::Kinds: the registry of what a manifest may name.

#include "config/kinds.h"

#include <doctest/doctest.h>

namespace switchyard::config {
namespace {

TEST_CASE("kinds are found by key, listed in registration order, and refused twice") {
  Kinds kinds;
  REQUIRE(kinds.add(TriggerKind{"http", {}, {}, "http"}).ok());
  REQUIRE(kinds.add(TriggerKind{"cron", {}, {}, ""}).ok());
  REQUIRE(kinds.add(DeadLetterKind{"kafka_topic", "kafka", {}, "kafka"}).ok());
  REQUIRE(kinds.add(RuntimeKind{"native", {"library"}, {}}).ok());

  CHECK(kinds.trigger("cron") != nullptr);
  CHECK(kinds.trigger("kafka") == nullptr);
  CHECK(kinds.dead_letter("kafka_topic")->trigger_kind == "kafka");
  CHECK(kinds.runtime("native")->keys == std::vector<std::string>{"library"});
  CHECK(kinds.trigger_keys() == std::vector<std::string_view>{"http", "cron"});
  CHECK(kinds.runtime_keys() == std::vector<std::string_view>{"native"});

  auto twice = kinds.add(TriggerKind{"http", {}, {}, ""});
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message() == "trigger kind \"http\" is empty or registered twice");
  CHECK_FALSE(kinds.add(RuntimeKind{"", {}, {}}).ok());
  CHECK(kinds.trigger_keys().size() == 2);
}

}  // namespace
}  // namespace switchyard::config
