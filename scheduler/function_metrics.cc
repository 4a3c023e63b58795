#include "scheduler/function_metrics.h"

namespace switchyard::scheduler {

namespace {

constexpr const char* kAdmissionsHelp = "Events offered to a function, by admission result.";
constexpr const char* kEventsHelp = "Events completed, by final outcome.";

}  // namespace

FunctionMetrics::FunctionMetrics(core::MetricsRegistry& registry, const std::string& name)
    : started(registry.counter("switchyard_admissions_total", kAdmissionsHelp,
                               {{"function", name}, {"result", "started"}})),
      queued(registry.counter("switchyard_admissions_total", kAdmissionsHelp,
                              {{"function", name}, {"result", "queued"}})),
      throttled(registry.counter("switchyard_admissions_total", kAdmissionsHelp,
                                 {{"function", name}, {"result", "throttled"}})),
      rejected(registry.counter("switchyard_admissions_total", kAdmissionsHelp,
                                {{"function", name}, {"result", "rejected"}})),
      ok(registry.counter("switchyard_events_total", kEventsHelp,
                          {{"function", name}, {"outcome", "ok"}})),
      failed(registry.counter("switchyard_events_total", kEventsHelp,
                              {{"function", name}, {"outcome", "error"}})),
      timed_out(registry.counter("switchyard_events_total", kEventsHelp,
                                 {{"function", name}, {"outcome", "timeout"}})),
      abandoned(registry.counter("switchyard_events_total", kEventsHelp,
                                 {{"function", name}, {"outcome", "rejected"}})),
      timeouts(registry.counter("switchyard_invocation_timeouts_total",
                                "Invocations that passed their deadline.", {{"function", name}})),
      retries(registry.counter("switchyard_retries_total", "Retries scheduled after a failure.",
                               {{"function", name}})),
      dead_letters(registry.counter("switchyard_dead_letters_total",
                                    "Events handed to the dead-letter destination.",
                                    {{"function", name}})),
      in_flight(registry.gauge("switchyard_in_flight", "Invocations holding a concurrency slot.",
                               {{"function", name}})),
      queue_depth(registry.gauge("switchyard_queued", "Events waiting for a concurrency slot.",
                                 {{"function", name}})),
      duration(registry.histogram("switchyard_invocation_duration_seconds",
                                  "Time spent in the function per invocation.",
                                  {{"function", name}})) {}

}  // namespace switchyard::scheduler
