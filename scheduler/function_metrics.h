#pragma once

// One function's metrics: admissions by result, completions by final outcome, timeouts,
// retries, dead letters, slots in use, events waiting and time spent per invocation.
//
// They are looked up in the registry once, when the function is added, so that the hot path
// only touches the counters themselves. Thread rules: loop thread only (the scheduler counts
// with the unshared increments).

#include <cstdint>
#include <string>

#include "core/event.h"
#include "core/metrics.h"

namespace switchyard::scheduler {

struct FunctionMetrics {
  FunctionMetrics(core::MetricsRegistry& registry, const std::string& name);

  // Counts `events` completed with `outcome` in switchyard_events_total.
  void count_completed(const core::Outcome& outcome, std::uint64_t events) {
    switch (outcome.kind) {
      case core::OutcomeKind::kOk:
        ok.inc_unshared(events);
        break;
      case core::OutcomeKind::kTimeout:
        timed_out.inc_unshared(events);
        break;
      case core::OutcomeKind::kFunctionError:
        failed.inc_unshared(events);
        break;
      default:
        abandoned.inc_unshared(events);
        break;
    }
  }

  core::Counter& started;
  core::Counter& queued;
  core::Counter& throttled;
  core::Counter& rejected;
  core::Counter& ok;
  core::Counter& failed;
  core::Counter& timed_out;
  core::Counter& abandoned;
  core::Counter& timeouts;
  core::Counter& retries;
  core::Counter& dead_letters;
  core::Gauge& in_flight;
  core::Gauge& queue_depth;
  core::Histogram& duration;
};

}  // namespace switchyard::scheduler
