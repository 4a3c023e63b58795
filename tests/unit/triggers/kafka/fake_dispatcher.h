#pragma once

// A scheduler::Dispatcher for the Kafka trigger's unit tests: it keeps what it is offered, takes
// no more than a test allows, and lets the test answer each event with the outcome it chooses,
// as the scheduler would (the completion is called once, with the event handed back).

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "scheduler/dispatcher.h"

namespace switchyard::triggers::kafka::testing {

class FakeDispatcher final : public scheduler::Dispatcher {
 public:
  // How many events dispatch_run() takes at most (run_room()), and whether dispatch() admits.
  std::size_t room = 32;
  bool admits = true;
  // Events taken and not answered yet, in the order they were taken.
  std::vector<core::Event> running;
  // The order of each dispatch_run() call, for tests that check it.
  std::vector<RunOrder> orders;

  scheduler::Admission dispatch(std::string_view, core::Event&& event) override {
    if (!admits) {
      return scheduler::Admission::kThrottled;
    }
    running.push_back(std::move(event));
    return scheduler::Admission::kStarted;
  }

  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&& items,
                                      scheduler::BatchEncoder) override {
    if (!admits) {
      return scheduler::Admission::kThrottled;
    }
    for (auto& item : items) {
      running.push_back(std::move(item));
    }
    return scheduler::Admission::kStarted;
  }

  std::size_t dispatch_run(std::string_view, std::span<core::Event> events,
                           RunOrder order) override {
    orders.push_back(order);
    const std::size_t taken = admits ? std::min(room, events.size()) : 0;
    for (std::size_t i = 0; i < taken; ++i) {
      running.push_back(std::move(events[i]));
    }
    return taken;
  }

  std::size_t run_room(std::string_view) const override { return room; }
  std::size_t capacity(std::string_view) const override { return admits ? room : 0; }
  std::chrono::seconds retry_after(std::string_view) const override {
    return std::chrono::seconds(1);
  }
  std::size_t watch_capacity(std::string_view, std::function<void()>) override { return 0; }
  void unwatch_capacity(std::size_t) override {}

  // Answers the running event whose source_tag (a Kafka record's offset) is `offset` with
  // `outcome`, through its completion. Returns false when no such event runs.
  bool answer(std::uint64_t offset, core::Outcome outcome) {
    auto it = std::find_if(running.begin(), running.end(), [offset](const core::Event& event) {
      return event.source_tag == offset;
    });
    if (it == running.end()) {
      return false;
    }
    core::Event event = std::move(*it);
    running.erase(it);
    core::Completion completion = std::move(event.completion);
    completion(event, outcome);
    return true;
  }

  // The offsets of the running events, in the order they were taken.
  std::vector<std::uint64_t> running_offsets() const {
    std::vector<std::uint64_t> offsets;
    for (const auto& event : running) {
      offsets.push_back(event.source_tag);
    }
    return offsets;
  }
};

inline core::Outcome succeeded() {
  return core::Outcome::success({});
}
inline core::Outcome failed() {
  return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "it failed");
}
inline core::Outcome dead_lettered() {
  core::Outcome outcome = failed();
  outcome.dead_lettered = true;
  return outcome;
}
inline core::Outcome not_run() {
  return core::Outcome::failure(core::OutcomeKind::kRejected, std::string(scheduler::kNotRun),
                                "its sequence stopped");
}
inline core::Outcome rejected() {
  return core::Outcome::failure(core::OutcomeKind::kRejected, "Rejected", "draining");
}

}  // namespace switchyard::triggers::kafka::testing
