#include "scheduler/function_metrics.h"

#include <doctest/doctest.h>

#include <string>

using switchyard::core::MetricsRegistry;
using switchyard::core::Outcome;
using switchyard::core::OutcomeKind;
using switchyard::scheduler::FunctionMetrics;

TEST_CASE("completed events are counted by final outcome, per function") {
  MetricsRegistry registry;
  FunctionMetrics thumb(registry, "thumb");
  FunctionMetrics other(registry, "other");
  thumb.count_completed(Outcome::success({}), 3);
  thumb.count_completed(Outcome::failure(OutcomeKind::kFunctionError, "Boom", "no"), 2);
  thumb.count_completed(Outcome::failure(OutcomeKind::kTimeout, "Timeout", "late"), 1);
  thumb.count_completed(Outcome::failure(OutcomeKind::kRejected, "ShuttingDown", "stop"), 4);
  thumb.count_completed(Outcome::failure(OutcomeKind::kThrottled, "Throttled", "full"), 1);
  CHECK(thumb.ok.value() == 3);
  CHECK(thumb.failed.value() == 2);
  CHECK(thumb.timed_out.value() == 1);
  CHECK(thumb.abandoned.value() == 5);  // Rejected and throttled: never run to an end.
  CHECK(other.ok.value() == 0);
  const std::string text = registry.render();
  CHECK(text.find(R"(switchyard_events_total{function="thumb",outcome="ok"} 3)") !=
        std::string::npos);
  CHECK(text.find(R"(switchyard_events_total{function="thumb",outcome="rejected"} 5)") !=
        std::string::npos);
  CHECK(text.find(R"(switchyard_admissions_total{function="other",result="throttled"} 0)") !=
        std::string::npos);
}
