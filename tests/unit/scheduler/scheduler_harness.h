#pragma once

// What the scheduler's tests share: the pieces a daemon wires together (Harness), a recording
// dead-letter sink, and helpers to grow runs and hook completions. Test-only: it brings the
// names the tests use into scope.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/scheduler.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using scheduler::Admission;
constexpr auto kSequence = scheduler::Dispatcher::RunOrder::kSequence;
constexpr auto kIndependent = scheduler::Dispatcher::RunOrder::kIndependent;
using switchyard::testing::run_until;
using Clock = std::chrono::steady_clock;

namespace {

class RecordingSink final : public scheduler::DeadLetterSink {
 public:
  void send(const scheduler::DeadLetter& letter, std::function<void(core::Status)> done) override {
    letters.push_back({letter.event.id, letter.outcome.error_type, letter.outcome.attempts});
    done(core::Status());
  }
  struct Letter {
    std::string id;
    std::string error_type;
    int attempts;
  };
  std::vector<Letter> letters;
};

// The pieces a daemon wires together, for one test.
struct Harness {
  explicit Harness(int core_threads = 2)
      : pool(scheduler::PoolOptions{core_threads, 64, 5ms, 30s}),
        sched(loop, pool, metrics, sink, "test") {}
  ~Harness() { pool.stop(); }

  config::FunctionManifest manifest(const std::string& name, int concurrency, int queue,
                                    std::chrono::milliseconds timeout = 5s) {
    config::FunctionManifest m;
    m.name = name;
    m.concurrency = concurrency;
    m.queue = queue;
    m.timeout = timeout;
    return m;
  }

  void add(const config::FunctionManifest& m, functions::CallableFunction::Callable fn) {
    sched.upsert(m, std::make_shared<functions::CallableFunction>(m.name, std::move(fn)));
  }

  // An event whose completion records its outcome into `outcomes`.
  core::Event event(std::string id) {
    core::Event ev;
    ev.id = std::move(id);
    ev.data = "payload-" + ev.id;
    ev.source = "test:" + ev.id;
    ev.completion = [this](core::Event& done, core::Outcome& outcome) {
      outcomes.push_back({done.id, outcome.kind, outcome.attempts, outcome.error_type,
                          outcome.response.body, Clock::now(), done.data, done.source});
    };
    return ev;
  }

  struct Recorded {
    std::string id;
    core::OutcomeKind kind;
    int attempts;
    std::string error_type;
    std::string body;
    Clock::time_point at;
    std::string data;  // What the completion was handed: the event as its source made it.
    std::string source;
  };

  core::Loop loop;
  core::MetricsRegistry metrics;
  RecordingSink sink;
  scheduler::WorkerPool pool;
  scheduler::Scheduler sched;
  std::vector<Recorded> outcomes;
};

// Sets a flag when the test ends, however it ends, so that blocked functions return before the
// harness joins the pool.
struct Release {
  explicit Release(std::atomic<bool>& flag) : flag(flag) {}
  ~Release() { flag = true; }
  std::atomic<bool>& flag;
};

inline core::Outcome ok(std::string body = "ok") {
  core::Response response;
  response.body = std::move(body);
  return core::Outcome::success(std::move(response));
}

// Dispatches rounds of quick events to `function` and waits for each round, until it may be
// handed runs of `length`: runs grow while they finish within their budget. Leaves no outcomes
// recorded.
inline void grow_runs(Harness& h, const std::string& function, std::size_t length, int per_round) {
  // A run that a loaded machine preempts past its budget starts them over from one.
  const auto deadline = Clock::now() + 60s;
  std::size_t done = 0;
  while (h.sched.run_room(function) < length) {
    REQUIRE(Clock::now() < deadline);
    for (int i = 0; i < per_round; ++i) {
      REQUIRE(h.sched.dispatch(function, h.event("warm" + std::to_string(i))) !=
              Admission::kThrottled);
    }
    done += static_cast<std::size_t>(per_round);
    REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == done; }));
  }
  h.outcomes.clear();
}

// Runs `first` with the event handed to its completion, before the completion it had.
inline void before_completion(core::Event& ev, std::function<void(core::Event& done)> first) {
  ev.completion = [first = std::move(first), then = std::move(ev.completion)](
                      core::Event& done, core::Outcome& outcome) {
    first(done);
    then(done, outcome);
  };
}

}  // namespace
