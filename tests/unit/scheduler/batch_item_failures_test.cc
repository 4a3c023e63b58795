#include "scheduler/batch_item_failures.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using switchyard::core::Event;
using switchyard::scheduler::read_batch_item_failures;

namespace {

std::vector<Event> items(std::initializer_list<const char*> ids) {
  std::vector<Event> events;
  for (const char* id : ids) {
    events.emplace_back().id = id;
  }
  return events;
}

}  // namespace

TEST_CASE("a response without batchItemFailures reports no failure") {
  const auto batch = items({"a", "b"});
  for (const char* body :
       {"", "ok", R"({"status": "done"})", R"({"batchItemFailures": null})",
        R"({"batchItemFailures": []})", R"(["batchItemFailures"])", R"({"batchItemFailures": [)"}) {
    CAPTURE(body);
    const auto report = read_batch_item_failures(body, batch);
    CHECK_FALSE(report.any());
    CHECK(report.failed.empty());
  }
}

TEST_CASE("the items named in batchItemFailures fail, every item of a repeated id included") {
  const auto batch = items({"a", "b", "c", "b"});
  const auto report = read_batch_item_failures(
      R"({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]})", batch);
  CHECK(report.any());
  CHECK_FALSE(report.whole_batch_error);
  CHECK(report.failed == std::vector<bool>{false, true, true, true});
}

TEST_CASE("a batchItemFailures that cannot be followed fails the whole batch") {
  const auto batch = items({"a", "b"});
  struct Case {
    const char* body;
    const char* error;
  };
  for (const Case& c : {
           Case{R"({"batchItemFailures": {"itemIdentifier": "a"}})", "is not an array"},
           Case{R"({"batchItemFailures": [{"id": "a"}]})", "no itemIdentifier string"},
           Case{R"({"batchItemFailures": [{"itemIdentifier": 1}]})", "no itemIdentifier string"},
           Case{R"({"batchItemFailures": ["a"]})", "no itemIdentifier string"},
           Case{R"({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "z"}]})",
                "names \"z\", which is not in the batch"},
       }) {
    CAPTURE(c.body);
    const auto report = read_batch_item_failures(c.body, batch);
    REQUIRE(report.whole_batch_error);
    CHECK(report.whole_batch_error->find(c.error) != std::string::npos);
    CHECK(report.any());
  }
}
