#include "scheduler/scheduler.h"

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

core::Outcome ok(std::string body = "ok") {
  core::Response response;
  response.body = std::move(body);
  return core::Outcome::success(std::move(response));
}

// Dispatches rounds of quick events to `function` and waits for each round, until it may be
// handed runs of `length`: runs grow while they finish within their budget. Leaves no outcomes
// recorded.
void grow_runs(Harness& h, const std::string& function, std::size_t length, int per_round) {
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
void before_completion(core::Event& ev, std::function<void(core::Event& done)> first) {
  ev.completion = [first = std::move(first), then = std::move(ev.completion)](
                      core::Event& done, core::Outcome& outcome) {
    first(done);
    then(done, outcome);
  };
}

}  // namespace

TEST_CASE("in-flight invocations never exceed the function's concurrency") {
  Harness h(8);
  std::atomic<int> in_flight{0};
  std::atomic<int> high_water{0};
  h.add(h.manifest("limited", 3, 1000), [&](const core::Event&, const auto&) {
    int now = in_flight.fetch_add(1) + 1;
    int seen = high_water.load();
    while (now > seen && !high_water.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(1ms);
    in_flight.fetch_sub(1);
    return ok();
  });
  int started = 0;
  int queued = 0;
  for (int i = 0; i < 300; ++i) {
    Admission admission = h.sched.dispatch("limited", h.event(std::to_string(i)));
    started += admission == Admission::kStarted;
    queued += admission == Admission::kQueued;
  }
  CHECK(started == 3);
  CHECK(queued == 297);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 300; }));
  CHECK(high_water.load() == 3);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
  }
  CHECK(h.sched.stats("limited").in_flight == 0);
}

TEST_CASE("a fast function gets queued events in runs: fewer hand-offs, same concurrency") {
  Harness h(4);
  std::atomic<int> in_flight{0};
  std::atomic<int> high_water{0};
  h.add(h.manifest("fast", 2, 5000), [&](const core::Event& ev, const auto&) {
    int now = in_flight.fetch_add(1) + 1;
    int seen = high_water.load();
    while (now > seen && !high_water.compare_exchange_weak(seen, now)) {
    }
    in_flight.fetch_sub(1);
    return ok(ev.data);
  });
  // Rounds of queued events: the first runs are single invocations, longer ones follow while
  // they finish within their budget.
  const int rounds = 20;
  const int per_round = 200;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < per_round; ++i) {
      CHECK(h.sched.dispatch("fast", h.event(std::to_string(round * per_round + i))) !=
            Admission::kThrottled);
    }
    REQUIRE(run_until(h.loop, [&] {
      return h.outcomes.size() == static_cast<std::size_t>((round + 1) * per_round);
    }));
  }
  CHECK(high_water.load() <= 2);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    CHECK(outcome.attempts == 1);
    CHECK(outcome.body == "payload-" + outcome.id);
  }
  // One job per event without runs; with them, several events per job.
  CHECK(h.pool.jobs_started() < static_cast<std::uint64_t>(rounds * per_round / 4));
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("fast").in_flight == 0; }));
  CHECK(h.sched.stats("fast").queued == 0);
  CHECK(h.sched.busy_threads() == 0);
}

TEST_CASE("events behind a stuck member of a run go to a free slot, not to a timeout") {
  std::atomic<bool> release_blockers{false};
  std::atomic<bool> release_stuck{false};
  Harness h(4);
  Release guard_blockers(release_blockers);
  Release guard_stuck(release_stuck);
  h.add(h.manifest("mixed", 2, 100, 10s), [&](const core::Event& ev, const auto&) {
    std::atomic<bool>* wait = ev.id.starts_with("block") ? &release_blockers
                              : ev.id == "stuck"         ? &release_stuck
                                                         : nullptr;
    while (wait != nullptr && !wait->load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok(ev.data);
  });
  grow_runs(h, "mixed", 16, 50);  // Fast events first, so that runs grow.
  // Both slots blocked; then "stuck" and 20 fast events queue behind them.
  CHECK(h.sched.dispatch("mixed", h.event("block1")) == Admission::kStarted);
  CHECK(h.sched.dispatch("mixed", h.event("block2")) == Admission::kStarted);
  CHECK(h.sched.dispatch("mixed", h.event("stuck")) == Admission::kQueued);
  for (int i = 0; i < 20; ++i) {
    CHECK(h.sched.dispatch("mixed", h.event("f" + std::to_string(i))) == Admission::kQueued);
  }
  // The first slot to free takes "stuck" and the fast events after it as one run; "stuck"
  // blocks that run. The fast events must still all run, on the other slot, long before the
  // stuck one's 10s deadline, each at its first attempt.
  release_blockers = true;
  REQUIRE(run_until(
      h.loop, [&] { return h.outcomes.size() == 22; }, 8s));
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.id != "stuck");
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    CHECK(outcome.attempts == 1);
  }
  CHECK(h.sched.stats("mixed").timeouts == 0);
  release_stuck = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 23; }));
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("mixed").in_flight == 0; }));
}

TEST_CASE("a member's result does not wait for a later member of its run that hangs") {
  std::atomic<bool> release{false};
  Harness h(2);
  Release guard(release);
  h.add(h.manifest("one", 1, 100, 10s), [&](const core::Event& ev, const auto&) {
    while (ev.id == "stuck" && !release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok(ev.data);
  });
  grow_runs(h, "one", 2, 40);
  // "lead" takes the only slot; "quick" and "stuck" queue behind it and go as one run.
  CHECK(h.sched.dispatch("one", h.event("lead")) == Admission::kStarted);
  CHECK(h.sched.dispatch("one", h.event("quick")) == Admission::kQueued);
  CHECK(h.sched.dispatch("one", h.event("stuck")) == Admission::kQueued);
  // "quick" is answered long before "stuck" returns or reaches its 10s deadline.
  REQUIRE(run_until(
      h.loop, [&] { return h.outcomes.size() == 2; }, 3s));
  CHECK(h.outcomes[1].id == "quick");
  CHECK(h.outcomes[1].kind == core::OutcomeKind::kOk);
  CHECK(h.outcomes[1].body == "payload-quick");
  // Its completion gets the event as its source made it (a Redis list removes the element
  // from its processing list by its data).
  CHECK(h.outcomes[1].data == "payload-quick");
  CHECK(h.outcomes[1].source == "test:quick");
  CHECK(h.sched.stats("one").in_flight == 1);  // "stuck" still holds the slot.
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 3; }));
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  CHECK(h.outcomes.size() == 3);
  CHECK(h.outcomes[2].id == "stuck");
  CHECK(h.sched.stats("one").in_flight == 0);
  CHECK(h.sched.outstanding() == 0);
}

TEST_CASE("switchyard_queued counts the events waiting behind the first member of a run") {
  std::atomic<bool> release{false};
  Harness h(2);
  Release guard(release);
  std::atomic<int> blocked{0};
  h.add(h.manifest("gated", 1, 100, 10s), [&](const core::Event& ev, const auto&) {
    if (ev.id.starts_with("e")) {
      blocked.fetch_add(1);
      while (!release.load()) {
        std::this_thread::sleep_for(1ms);
      }
    }
    return ok();
  });
  grow_runs(h, "gated", 7, 16);  // Quick events first, so that runs grow.
  auto gauge = [&h] {
    const std::string text = h.metrics.render();
    const std::string name = "switchyard_queued{function=\"gated\"} ";
    const auto at = text.find(name);
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + name.size()));
  };
  // A quick one takes the slot; seven queue behind it.
  CHECK(h.sched.dispatch("gated", h.event("quick")) == Admission::kStarted);
  for (int i = 0; i < 7; ++i) {
    CHECK(h.sched.dispatch("gated", h.event("e" + std::to_string(i))) == Admission::kQueued);
  }
  CHECK(gauge() == 7);
  // The slot frees: the seven go to it as a run, whose first member blocks. Six are still
  // waiting, behind it (or in the queue if the run is shorter).
  REQUIRE(run_until(h.loop, [&] { return blocked.load() == 1; }));
  // Waited for, not read at once: on a loaded machine the loop may first have taken a run back
  // that no worker had started yet (all seven waiting), and made it again.
  CHECK(run_until(h.loop, [&] { return h.sched.stats("gated").queued == 6; }));
  CHECK(gauge() == 6);
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 8; }));
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("gated").in_flight == 0; }));
  CHECK(gauge() == 0);
}

TEST_CASE("a run hands over the results of members that took time before the run ends") {
  std::atomic<bool> first_done{false};
  Harness h(2);
  h.add(h.manifest("steps", 1, 100, 10s), [&](const core::Event& ev, const auto&) {
    if (ev.id == "slow") {
      // Well over the time a worker lets results wait for the rest of their run, well under
      // the run's budget (which would end the run).
      const auto until = Clock::now() + 300us;
      while (Clock::now() < until) {
      }
    } else if (ev.id == "gate") {
      // Returns once the loop has heard of "slow", the member before it in the same run: at
      // worst after 5s, and the test fails.
      const auto until = Clock::now() + 5s;
      while (!first_done.load() && Clock::now() < until) {
        std::this_thread::sleep_for(1ms);
      }
    }
    return ok(first_done.load() ? "after" : "before");
  });
  grow_runs(h, "steps", 2, 40);
  // "lead" takes the only slot; the other two queue behind it and go as one run when it ends.
  CHECK(h.sched.dispatch("steps", h.event("lead")) == Admission::kStarted);
  core::Event slow = h.event("slow");
  before_completion(slow, [&first_done](core::Event&) { first_done = true; });
  CHECK(h.sched.dispatch("steps", std::move(slow)) == Admission::kQueued);
  CHECK(h.sched.dispatch("steps", h.event("gate")) == Admission::kQueued);
  const auto jobs = h.pool.jobs_started();
  REQUIRE(run_until(
      h.loop, [&] { return h.outcomes.size() == 3; }, 8s));
  CHECK(h.pool.jobs_started() - jobs == 2);  // "lead", then "slow" and "gate" in one run.
  std::map<std::string, std::string> body;
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    body[outcome.id] = outcome.body;
  }
  CHECK(body["gate"] == "after");  // The loop had "slow"'s result while "gate" still ran.
}

TEST_CASE("a full queue throttles and leaves the event with the trigger") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  h.add(h.manifest("busy", 1, 2), [&](const core::Event&, const auto&) {
    while (!release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok();
  });
  CHECK(h.sched.capacity("busy") == 3);
  CHECK(h.sched.dispatch("busy", h.event("a")) == Admission::kStarted);
  CHECK(h.sched.dispatch("busy", h.event("b")) == Admission::kQueued);
  CHECK(h.sched.dispatch("busy", h.event("c")) == Admission::kQueued);
  CHECK(h.sched.capacity("busy") == 0);
  core::Event refused = h.event("d");
  CHECK(h.sched.dispatch("busy", std::move(refused)) == Admission::kThrottled);
  // The trigger still owns the refused event, intact.
  CHECK(refused.id == "d");
  CHECK(refused.data == "payload-d");
  CHECK(static_cast<bool>(refused.completion));
  CHECK(h.sched.stats("busy").throttled == 1);
  CHECK(h.sched.retry_after("busy") >= 1s);
  CHECK(h.sched.dispatch("nope", h.event("e")) == Admission::kRejected);

  bool resumed = false;
  h.sched.watch_capacity("busy", [&] { resumed = true; });
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 3; }));
  CHECK(resumed);
  CHECK(h.metrics.render().find(
            "switchyard_admissions_total{function=\"busy\",result=\"throttled\"} 1") !=
        std::string::npos);
}

TEST_CASE("a timeout is reported at the deadline while the slot stays held") {
  Harness h;
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> returned{0};
  h.add(h.manifest("slow", 1, 10, 150ms), [&](const core::Event& ev, const auto& ctx) {
    if (ev.id == "slow") {
      auto until = Clock::now() + 600ms;
      while (Clock::now() < until) {
        std::this_thread::sleep_for(2ms);
      }
      saw_cancel = ctx.is_cancelled();
    }
    returned.fetch_add(1);
    return ok("late");
  });
  auto begin = Clock::now();
  CHECK(h.sched.dispatch("slow", h.event("slow")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  auto reported = h.outcomes[0].at - begin;
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kTimeout);
  CHECK(h.outcomes[0].error_type == "Timeout");
  CHECK(reported >= 150ms);
  CHECK(reported < 450ms);
  // The function has not returned: its slot is still taken, so the next event waits.
  CHECK(returned.load() == 0);
  CHECK(h.sched.stats("slow").in_flight == 1);
  CHECK(h.sched.dispatch("slow", h.event("next")) == Admission::kQueued);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  CHECK(saw_cancel.load());
  CHECK(h.outcomes[1].id == "next");
  CHECK(h.outcomes[1].kind == core::OutcomeKind::kOk);
  // The late result of the timed-out invocation was discarded, not reported twice.
  CHECK(h.outcomes[1].at - begin >= 600ms);
  CHECK(h.sched.stats("slow").timeouts == 1);
  CHECK(h.sched.stats("slow").in_flight == 0);
}

TEST_CASE("failures are retried the configured number of times with growing delays") {
  Harness h;
  std::mutex mutex;
  std::vector<Clock::time_point> calls;
  auto m = h.manifest("flaky", 2, 10);
  m.retry.attempts = 4;
  m.retry.backoff = 40ms;
  m.retry.max_backoff = 1s;
  m.retry.jitter = 0;
  h.add(m, [&](const core::Event&, const auto&) {
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back(Clock::now());
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "always fails");
  });
  CHECK(h.sched.dispatch("flaky", h.event("e1")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(calls.size() == 4);
  std::chrono::nanoseconds previous{0};
  std::chrono::milliseconds expected[] = {40ms, 80ms, 160ms};
  for (int i = 1; i < 4; ++i) {
    auto gap = calls[i] - calls[i - 1];
    CHECK(gap >= expected[i - 1]);
    CHECK(gap > previous);
    previous = gap;
  }
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kFunctionError);
  CHECK(h.outcomes[0].attempts == 4);
  CHECK(h.sched.stats("flaky").retries == 3);
  // After the last attempt the event is dead-lettered, and counted, before it completes.
  CHECK(h.sched.stats("flaky").dead_letters == 1);
  REQUIRE(h.sink.letters.size() == 1);
  CHECK(h.sink.letters[0].id == "e1");
  CHECK(h.sink.letters[0].error_type == "Boom");
  CHECK(h.sink.letters[0].attempts == 4);
  CHECK(h.metrics.render().find("switchyard_dead_letters_total{function=\"flaky\"} 1") !=
        std::string::npos);
}

TEST_CASE("a retry that succeeds completes once, ok, with its attempt count") {
  Harness h;
  std::atomic<int> calls{0};
  auto m = h.manifest("second-time", 1, 10);
  m.retry.attempts = 3;
  m.retry.backoff = 10ms;
  h.add(m, [&](const core::Event&, const auto&) {
    if (calls.fetch_add(1) == 0) {
      throw std::runtime_error("first call fails");
    }
    return ok("fine");
  });
  CHECK(h.sched.dispatch("second-time", h.event("x")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kOk);
  CHECK(h.outcomes[0].attempts == 2);
  CHECK(h.outcomes[0].body == "fine");
  CHECK(h.sink.letters.empty());
}

TEST_CASE("a synchronous event is neither retried nor dead-lettered") {
  Harness h;
  std::atomic<int> calls{0};
  auto m = h.manifest("sync", 1, 10);
  m.retry.attempts = 5;
  h.add(m, [&](const core::Event&, const auto&) {
    calls.fetch_add(1);
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Nope", "no");
  });
  core::Event ev = h.event("s");
  ev.synchronous = true;
  CHECK(h.sched.dispatch("sync", std::move(ev)) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  CHECK(calls.load() == 1);
  CHECK(h.outcomes[0].error_type == "Nope");
  CHECK(h.sink.letters.empty());
}

TEST_CASE("a timed-out event is retried while the stuck invocation keeps its slot") {
  Harness h;
  std::atomic<int> calls{0};
  auto m = h.manifest("stuck-once", 2, 10, 100ms);
  m.retry.attempts = 2;
  m.retry.backoff = 10ms;
  h.add(m, [&](const core::Event& ev, const auto&) {
    if (calls.fetch_add(1) == 0) {
      std::this_thread::sleep_for(400ms);
    }
    return ok(ev.data);
  });
  CHECK(h.sched.dispatch("stuck-once", h.event("t")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kOk);
  CHECK(h.outcomes[0].attempts == 2);
  // The retry received the original payload.
  CHECK(h.outcomes[0].body == "payload-t");
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("stuck-once").in_flight == 0; }));
}

TEST_CASE("a saturated function does not hold up another with free slots") {
  std::atomic<bool> release{false};
  Harness h(2);
  Release guard(release);
  h.add(h.manifest("hog", 4, 20), [&](const core::Event&, const auto&) {
    while (!release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok();
  });
  h.add(h.manifest("quick", 2, 10), [&](const core::Event&, const auto&) { return ok("quick"); });
  for (int i = 0; i < 24; ++i) {
    CHECK(h.sched.dispatch("hog", h.event("hog" + std::to_string(i))) != Admission::kThrottled);
  }
  CHECK(h.sched.dispatch("hog", h.event("more")) == Admission::kThrottled);
  auto begin = Clock::now();
  CHECK(h.sched.dispatch("quick", h.event("q")) == Admission::kStarted);
  REQUIRE(run_until(
      h.loop, [&] { return h.outcomes.size() == 1; }, 2s));
  CHECK(h.outcomes[0].id == "q");
  CHECK(h.outcomes[0].at - begin < 500ms);
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 25; }));
}

TEST_CASE("inline functions run on the loop thread and complete before dispatch returns") {
  Harness h;
  auto m = h.manifest("tiny", 1, 0);
  m.execution = config::Execution::kInline;
  std::thread::id ran_on;
  h.add(m, [&](const core::Event& ev, const auto&) {
    ran_on = std::this_thread::get_id();
    return ok(ev.data);
  });
  for (int i = 0; i < 100; ++i) {
    CHECK(h.sched.dispatch("tiny", h.event(std::to_string(i))) == Admission::kStarted);
    REQUIRE(h.outcomes.size() == static_cast<std::size_t>(i + 1));
  }
  CHECK(ran_on == std::this_thread::get_id());
  CHECK(h.outcomes.back().body == "payload-99");
}

TEST_CASE("a new implementation takes new events while old invocations finish on the old one") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  auto m = h.manifest("swap", 4, 10);
  h.add(m, [&](const core::Event&, const auto&) {
    while (!release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok("v1");
  });
  CHECK(h.sched.dispatch("swap", h.event("old")) == Admission::kStarted);
  h.add(m, [&](const core::Event&, const auto&) { return ok("v2"); });
  CHECK(h.sched.dispatch("swap", h.event("new")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 1; }));
  CHECK(h.outcomes[0].id == "new");
  CHECK(h.outcomes[0].body == "v2");
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  CHECK(h.outcomes[1].body == "v1");
}

TEST_CASE("drain refuses new events and reports idle once accepted ones are done") {
  Harness h;
  auto m = h.manifest("d", 1, 10);
  h.add(m, [&](const core::Event&, const auto&) {
    std::this_thread::sleep_for(20ms);
    return ok();
  });
  for (int i = 0; i < 3; ++i) {
    CHECK(h.sched.dispatch("d", h.event(std::to_string(i))) != Admission::kThrottled);
  }
  bool idle = false;
  h.sched.drain([&] { idle = true; });
  CHECK(h.sched.dispatch("d", h.event("late")) == Admission::kRejected);
  REQUIRE(run_until(h.loop, [&] { return idle; }));
  CHECK(h.outcomes.size() == 3);
}

TEST_CASE("a removed function finishes what it accepted and then refuses") {
  Harness h;
  h.add(h.manifest("gone", 1, 10), [&](const core::Event&, const auto&) {
    std::this_thread::sleep_for(10ms);
    return ok();
  });
  CHECK(h.sched.dispatch("gone", h.event("1")) == Admission::kStarted);
  CHECK(h.sched.dispatch("gone", h.event("2")) == Admission::kQueued);
  h.sched.remove("gone");
  CHECK_FALSE(h.sched.has_function("gone"));
  CHECK(h.sched.dispatch("gone", h.event("3")) == Admission::kRejected);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kOk);
  CHECK(h.outcomes[1].kind == core::OutcomeKind::kOk);
}

TEST_CASE("abandon answers every unfinished event at once, as rejected") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> returned{false};
  std::atomic<bool> began{false};
  h.add(h.manifest("a", 1, 10), [&](const core::Event&, const auto& ctx) {
    began = true;
    while (!release.load() && !ctx.is_cancelled()) {
      std::this_thread::sleep_for(1ms);
    }
    saw_cancel = ctx.is_cancelled();
    returned = true;
    return ok();
  });
  CHECK(h.sched.dispatch("a", h.event("running")) == Admission::kStarted);
  CHECK(h.sched.dispatch("a", h.event("waiting")) == Admission::kQueued);
  REQUIRE(run_until(h.loop, [&] { return began.load(); }));
  h.sched.abandon();
  // Both completions ran before abandon() returned: the triggers that own them may go now.
  REQUIRE(h.outcomes.size() == 2);
  CHECK(h.outcomes[0].id == "waiting");
  CHECK(h.outcomes[0].kind == core::OutcomeKind::kRejected);
  CHECK(h.outcomes[1].id == "running");
  CHECK(h.outcomes[1].kind == core::OutcomeKind::kRejected);
  // Its completion gets the event as its source made it (a Redis list gives the element back
  // by its data).
  CHECK(h.outcomes[1].data == "payload-running");
  CHECK(h.outcomes[1].source == "test:running");
  CHECK(h.sched.outstanding() == 0);
  // The running invocation was cancelled; when its thread returns nothing is reported twice.
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  CHECK(saw_cancel.load());
  CHECK(returned.load());
  CHECK(h.outcomes.size() == 2);
}

namespace {

// A batch encoder that joins the item ids with commas, so a function can see what it got.
core::Event join_ids(std::span<const core::Event> items) {
  core::Event batch;
  batch.id = "batch";
  for (const core::Event& item : items) {
    batch.data += (batch.data.empty() ? "" : ",") + item.id;
  }
  return batch;
}

std::vector<core::Event> items(Harness& h, std::initializer_list<const char*> ids) {
  std::vector<core::Event> out;
  for (const char* id : ids) {
    out.push_back(h.event(id));
  }
  return out;
}

}  // namespace

TEST_CASE("a batch takes one slot and every item is answered with the batch's response") {
  Harness h;
  std::mutex mutex;
  std::vector<std::string> seen;
  h.add(h.manifest("batched", 1, 0), [&](const core::Event& ev, const auto&) {
    std::lock_guard lock(mutex);
    seen.push_back(ev.data);
    return ok("done");
  });
  auto batch = items(h, {"a", "b", "c"});
  CHECK(h.sched.dispatch_batch("batched", std::move(batch), join_ids) == Admission::kStarted);
  // Concurrency 1 and no queue: the second batch is throttled and stays with its trigger.
  auto second = items(h, {"d"});
  CHECK(h.sched.dispatch_batch("batched", std::move(second), join_ids) == Admission::kThrottled);
  REQUIRE(second.size() == 1);
  CHECK(second[0].id == "d");
  CHECK(static_cast<bool>(second[0].completion));
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 3; }));
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    CHECK(outcome.body == "done");
    CHECK(outcome.attempts == 1);
  }
  std::lock_guard lock(mutex);
  CHECK(seen == std::vector<std::string>{"a,b,c"});
}

TEST_CASE("batchItemFailures retries only the items named, then dead-letters them one by one") {
  Harness h;
  std::mutex mutex;
  std::vector<std::string> seen;
  auto m = h.manifest("partial", 2, 10);
  m.retry.attempts = 3;
  m.retry.backoff = 5ms;
  m.retry.jitter = 0;
  h.add(m, [&](const core::Event& ev, const auto&) {
    std::lock_guard lock(mutex);
    seen.push_back(ev.data);
    // "b" and "d" always fail; "c" fails on the first attempt only.
    std::string failures;
    for (std::string id : {"b", "c", "d"}) {
      bool first = seen.size() == 1;
      if (ev.data.find(id) != std::string::npos && (id != "c" || first)) {
        failures +=
            std::string(failures.empty() ? "" : ",") + "{\"itemIdentifier\":\"" + id + "\"}";
      }
    }
    return ok("{\"batchItemFailures\":[" + failures + "]}");
  });
  CHECK(h.sched.dispatch_batch("partial", items(h, {"a", "b", "c", "d"}), join_ids) ==
        Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 4; }));
  {
    std::lock_guard lock(mutex);
    CHECK(seen == std::vector<std::string>{"a,b,c,d", "b,c,d", "b,d"});
  }
  std::map<std::string, Harness::Recorded> by_id;
  for (const auto& outcome : h.outcomes) {
    by_id[outcome.id] = outcome;
  }
  CHECK(by_id["a"].kind == core::OutcomeKind::kOk);
  CHECK(by_id["a"].attempts == 1);
  CHECK(by_id["c"].kind == core::OutcomeKind::kOk);
  CHECK(by_id["c"].attempts == 2);
  for (const char* id : {"b", "d"}) {
    CHECK(by_id[id].kind == core::OutcomeKind::kFunctionError);
    CHECK(by_id[id].error_type == scheduler::kBatchItemFailure);
    CHECK(by_id[id].attempts == 3);
  }
  REQUIRE(h.sink.letters.size() == 2);
  CHECK(h.sink.letters[0].id == "b");
  CHECK(h.sink.letters[1].id == "d");
  CHECK(h.sink.letters[0].error_type == scheduler::kBatchItemFailure);
  CHECK(h.sched.stats("partial").dead_letters == 2);
  CHECK(h.metrics.render().find("switchyard_events_total{function=\"partial\",outcome=\"ok\"} 2") !=
        std::string::npos);
}

TEST_CASE("a batchItemFailures entry that names no item fails the whole batch") {
  Harness h;
  auto m = h.manifest("confused", 1, 0);
  h.add(m, [&](const core::Event&, const auto&) {
    return ok(R"({"batchItemFailures":[{"itemIdentifier":"nope"}]})");
  });
  CHECK(h.sched.dispatch_batch("confused", items(h, {"a", "b"}), join_ids) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kFunctionError);
    CHECK(outcome.error_type == scheduler::kBatchItemFailure);
  }
  CHECK(h.sink.letters.size() == 2);
}

TEST_CASE("an empty or absent batchItemFailures means the whole batch succeeded") {
  Harness h;
  std::atomic<int> calls{0};
  h.add(h.manifest("fine", 1, 5), [&](const core::Event&, const auto&) {
    return ok(calls++ == 0 ? R"({"batchItemFailures":[]})" : R"({"result":"x"})");
  });
  CHECK(h.sched.dispatch_batch("fine", items(h, {"a", "b"}), join_ids) == Admission::kStarted);
  CHECK(h.sched.dispatch_batch("fine", items(h, {"c"}), join_ids) == Admission::kQueued);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 3; }));
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
  }
  CHECK(h.sink.letters.empty());
}

TEST_CASE("a timed-out batch is retried whole, and abandon answers every item") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  auto m = h.manifest("slowbatch", 1, 5, 50ms);
  m.retry.attempts = 2;
  m.retry.backoff = 5ms;
  std::atomic<int> calls{0};
  h.add(m, [&](const core::Event&, const auto&) {
    if (calls++ == 0) {
      std::this_thread::sleep_for(200ms);
      return ok();
    }
    while (!release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok();
  });
  CHECK(h.sched.dispatch_batch("slowbatch", items(h, {"a", "b"}), join_ids) == Admission::kStarted);
  // The first attempt times out; the retry starts once its thread returns, and then hangs.
  REQUIRE(run_until(h.loop, [&] { return calls.load() == 2; }));
  CHECK(h.outcomes.empty());
  h.sched.abandon();
  REQUIRE(h.outcomes.size() == 2);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kRejected);
    CHECK(outcome.attempts == 2);
  }
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("slowbatch").in_flight == 0; }));
}

TEST_CASE("the dead-letter router hands each letter to the writer of its destination's kind") {
  auto redis = std::make_shared<RecordingSink>();
  scheduler::DeadLetterRouter router;
  router.install("redis_stream", redis);
  CHECK(router.has("redis_stream"));
  CHECK_FALSE(router.has("kafka_topic"));

  core::Event event;
  event.id = "1-0";
  auto outcome = core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "no");
  std::string function = "f";
  auto send = [&](const config::DeadLetterSpec& spec) {
    std::optional<core::Status> result;
    router.send(scheduler::DeadLetter{function, spec, event, outcome},
                [&](core::Status status) { result = std::move(status); });
    REQUIRE(result.has_value());
    return *result;
  };
  config::DeadLetterSpec to_stream{"redis_stream", "dlq"};
  CHECK(send(to_stream).ok());
  REQUIRE(redis->letters.size() == 1);
  CHECK(redis->letters[0].id == "1-0");

  config::DeadLetterSpec to_topic{"kafka_topic", "dlq"};
  core::Status missing = send(to_topic);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message().find("kafka") != std::string::npos);

  // No destination: logged only, and reported written.
  CHECK(send(config::DeadLetterSpec{}).ok());
  CHECK(redis->letters.size() == 1);

  bool closed = false;
  router.close([&] { closed = true; });
  CHECK(closed);
}

namespace {

// Pending contents for tests: what a source would keep (a payload), and a record of who built or
// released it.
struct PendingLog {
  std::mutex mutex;
  std::vector<std::thread::id> built_on;
  std::vector<std::thread::id> viewed_on;
  std::vector<std::thread::id> copied_on;
  int released = 0;
};

struct TestItem {
  std::string id;
  std::string payload;
  PendingLog* log;
};

core::PendingContent::Ops pending_ops{[](void* raw, core::Event& event) {
                                        std::unique_ptr<TestItem> item(static_cast<TestItem*>(raw));
                                        event.id = item->id;
                                        event.data = item->payload;
                                        std::lock_guard lock(item->log->mutex);
                                        item->log->built_on.push_back(std::this_thread::get_id());
                                      },
                                      [](void* raw) {
                                        std::unique_ptr<TestItem> item(static_cast<TestItem*>(raw));
                                        std::lock_guard lock(item->log->mutex);
                                        ++item->log->released;
                                      }};

// The same contents, offered as a view too (PendingContent::Ops::view and copy).
core::PendingContent::Ops viewable_ops{pending_ops.build, pending_ops.release,
                                       [](void* raw, core::ViewScratch&, core::EventView& view) {
                                         auto* item = static_cast<TestItem*>(raw);
                                         view = core::EventView{};
                                         view.id = item->id;
                                         view.data = item->payload;
                                         std::lock_guard lock(item->log->mutex);
                                         item->log->viewed_on.push_back(std::this_thread::get_id());
                                         return true;
                                       },
                                       [](const void* raw, core::Event& event) {
                                         const auto* item = static_cast<const TestItem*>(raw);
                                         event.id = item->id;
                                         event.data = item->payload;
                                         std::lock_guard lock(item->log->mutex);
                                         item->log->copied_on.push_back(std::this_thread::get_id());
                                       }};

// A function (timeout 100ms, 2 attempts) that blocks past its deadline the first time it gets
// "built-hang" (until `release`: its retry then runs on a copy), fails on "built-fail" (retried,
// then dead-lettered), and answers the data of anything else.
void add_hang_or_fail(Harness& h, const std::string& name, int concurrency,
                      std::atomic<bool>& release, std::atomic<int>& hang_calls) {
  auto m = h.manifest(name, concurrency, 10, 100ms);
  m.retry.attempts = 2;
  m.retry.backoff = 10ms;
  h.add(m, [&release, &hang_calls](const core::Event& ev, const auto&) {
    if (ev.data == "built-hang" && hang_calls.fetch_add(1) == 0) {
      while (!release.load()) {
        std::this_thread::sleep_for(1ms);
      }
    }
    if (ev.data == "built-fail") {
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "no");
    }
    return ok(ev.data);
  });
}

// The data built for `id`: "built-<id>", padded with dots to `size` bytes.
std::string built_payload(const std::string& id, std::size_t size = 0) {
  std::string payload = "built-" + id;
  if (payload.size() < size) {
    payload.resize(size, '.');
  }
  return payload;
}

// An event whose id and data are built later; its completion records the id it ends with.
core::Event pending_event(Harness& h, PendingLog& log, std::string id, std::uint64_t tag = 0,
                          std::size_t size = 0, bool viewable = false) {
  core::Event ev = h.event("");
  ev.source_tag = tag;
  ev.pending = core::PendingContent(viewable ? &viewable_ops : &pending_ops,
                                    new TestItem{id, built_payload(id, size), &log});
  return ev;
}

}  // namespace

TEST_CASE("pending contents are built once, on the worker that runs the event") {
  Harness h;
  PendingLog log;
  h.add(h.manifest("lazy", 2, 100), [](const core::Event& ev, const auto&) { return ok(ev.data); });
  std::vector<std::uint64_t> tags;
  // Where each completed event's data lives: a wave built into recycled invocations reuses the
  // storage of the wave before it (nothing allocated, nothing for the loop to free).
  std::set<const char*> first_wave;
  int reused = 0;
  int emptied = 0;
  auto wave = [&](int from, int count, std::size_t size, bool first) {
    for (int i = from; i < from + count; ++i) {
      core::Event ev = pending_event(h, log, "e" + std::to_string(i), 1000 + i, size);
      before_completion(ev, [&, first](core::Event& done) {
        tags.push_back(done.source_tag);
        if (done.data.empty()) {
          ++emptied;
        } else if (first) {
          first_wave.insert(done.data.data());
        } else if (first_wave.count(done.data.data()) != 0) {
          ++reused;
        }
      });
      CHECK(h.sched.dispatch("lazy", std::move(ev)) != Admission::kThrottled);
    }
  };
  // A run that a loaded machine preempts past its stall check has what it finished answered by
  // the loop, unbuilt (no data, and nothing reused): then both waves go again.
  int from = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    first_wave.clear();
    reused = 0;
    emptied = 0;
    wave(from, 20, 64, true);
    REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == std::size_t(from) + 20; }));
    wave(from + 20, 20, 64, false);
    from += 40;
    REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == std::size_t(from); }));
    if (emptied == 0) {
      break;
    }
  }
  CHECK(emptied == 0);
  CHECK(reused == 20);
  // A large payload is not kept: its worker frees it once the function is done with it.
  const std::string large = "e" + std::to_string(from);
  wave(from, 1, 64 * 1024, false);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == std::size_t(from) + 1; }));
  CHECK(emptied == 1);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    CHECK(outcome.body == built_payload(outcome.id, outcome.id == large ? 64 * 1024 : 64));
  }
  std::sort(tags.begin(), tags.end());
  CHECK(tags.front() == 1000);  // The source's tag came back untouched.
  CHECK(tags.back() == 1000 + std::uint64_t(from));
  std::lock_guard lock(log.mutex);
  CHECK(log.built_on.size() == std::size_t(from) + 1);
  CHECK(log.released == 0);
  for (std::thread::id thread : log.built_on) {
    CHECK(thread != std::this_thread::get_id());  // Not on the loop thread.
  }
}

TEST_CASE("an event built into an invocation that ran others carries nothing of theirs") {
  Harness h(1);
  PendingLog log;
  struct Seen {
    std::string id, source, subject, traceparent, data;
    std::size_t attributes;
  };
  std::mutex mutex;
  std::vector<Seen> seen;
  h.add(h.manifest("reuse", 1, 10), [&](const core::Event& ev, const auto&) {
    std::lock_guard lock(mutex);
    seen.push_back({ev.id, ev.source, ev.subject, ev.traceparent, ev.data, ev.attributes.size()});
    return ok(ev.data);
  });
  std::vector<std::string> completed_ids;
  auto run_one = [&](core::Event ev) {
    before_completion(ev,
                      [&completed_ids](core::Event& done) { completed_ids.push_back(done.id); });
    const std::size_t before = h.outcomes.size();
    REQUIRE(h.sched.dispatch("reuse", std::move(ev)) == Admission::kStarted);
    REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == before + 1; }));
  };
  // One at a time, so that each goes into the invocation the one before left.
  core::Event plain = h.event("plain");
  plain.source = "source-of-plain";
  plain.subject = "subject-of-plain";
  plain.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  plain.attributes.push_back({"test.attribute", "of plain"});
  run_one(std::move(plain));
  run_one(pending_event(h, log, "viewed", 0, 0, /*viewable=*/true));
  run_one(pending_event(h, log, "built-1"));
  run_one(pending_event(h, log, "viewed-2", 0, 0, /*viewable=*/true));
  run_one(pending_event(h, log, "built-2"));
  REQUIRE(seen.size() == 5);
  CHECK(seen[0].subject == "subject-of-plain");
  for (std::size_t i : {std::size_t{2}, std::size_t{4}}) {
    // Built: exactly what the source built (an id and data), nothing of the events before.
    CHECK(seen[i].id == (i == 2 ? "built-1" : "built-2"));
    CHECK(seen[i].data == built_payload(seen[i].id));
    CHECK(seen[i].source.empty());
    CHECK(seen[i].subject.empty());
    CHECK(seen[i].traceparent.empty());
    CHECK(seen[i].attributes == 0);
  }
  // Completions see each event's own id, those that ran on a view (never built) too.
  CHECK(completed_ids ==
        std::vector<std::string>{"plain", "viewed", "built-1", "viewed-2", "built-2"});
  // And nothing of the events before: those never built come back with their identity alone.
  REQUIRE(h.outcomes.size() == 5);
  CHECK(h.outcomes[0].source == "source-of-plain");
  for (std::size_t i = 1; i < h.outcomes.size(); ++i) {
    CAPTURE(h.outcomes[i].id);
    CHECK(h.outcomes[i].source.empty());
    const bool viewed = h.outcomes[i].id.starts_with("viewed");
    CHECK(h.outcomes[i].data == (viewed ? "" : built_payload(h.outcomes[i].id)));
  }
  std::lock_guard lock(log.mutex);
  CHECK(log.viewed_on.size() == 2);
  CHECK(log.built_on.size() == 2);
  CHECK(log.released == 2);
}

TEST_CASE("pending contents are built for a retry after a timeout and for a dead letter") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  PendingLog log;
  std::atomic<int> calls{0};
  add_hang_or_fail(h, "lazy", 2, release, calls);
  CHECK(h.sched.dispatch("lazy", pending_event(h, log, "hang")) == Admission::kStarted);
  CHECK(h.sched.dispatch("lazy", pending_event(h, log, "fail")) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  std::map<std::string, Harness::Recorded> by_id;
  for (const auto& outcome : h.outcomes) {
    by_id[outcome.id] = outcome;
  }
  REQUIRE(by_id.count("hang") == 1);
  CHECK(by_id["hang"].kind == core::OutcomeKind::kOk);
  CHECK(by_id["hang"].attempts == 2);
  CHECK(by_id["hang"].body == "built-hang");  // The retry got the contents built the first time.
  REQUIRE(by_id.count("fail") == 1);
  CHECK(by_id["fail"].kind == core::OutcomeKind::kFunctionError);
  REQUIRE(h.sink.letters.size() == 1);
  CHECK(h.sink.letters[0].id == "fail");  // The dead letter has the built event.
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  std::lock_guard lock(log.mutex);
  CHECK(log.built_on.size() == 2);
  CHECK(log.released == 0);
}

TEST_CASE(
    "viewable pending contents run on a view: let go after a success, built after a "
    "failure, copied at a timeout") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  PendingLog log;
  std::atomic<int> hang_calls{0};
  add_hang_or_fail(h, "viewed", 3, release, hang_calls);
  for (const char* id : {"ok", "fail", "hang"}) {
    CHECK(h.sched.dispatch("viewed", pending_event(h, log, id, 0, 0, /*viewable=*/true)) ==
          Admission::kStarted);
  }
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 3; }));
  std::map<std::string, Harness::Recorded> by_id;
  for (const auto& outcome : h.outcomes) {
    by_id[outcome.id] = outcome;
  }
  // A success on a view comes back unbuilt, with the view's id (its completion may rely on
  // its id and tag only).
  REQUIRE(by_id.count("ok") == 1);
  CHECK(by_id["ok"].kind == core::OutcomeKind::kOk);
  CHECK(by_id["ok"].body == "built-ok");  // The function read the view.
  REQUIRE(by_id.count("fail") == 1);
  CHECK(by_id["fail"].kind == core::OutcomeKind::kFunctionError);
  CHECK(by_id["fail"].attempts == 2);
  REQUIRE(h.sink.letters.size() == 1);
  CHECK(h.sink.letters[0].id == "fail");  // Built after the failure: the dead letter has it.
  REQUIRE(by_id.count("hang") == 1);
  CHECK(by_id["hang"].kind == core::OutcomeKind::kOk);
  CHECK(by_id["hang"].attempts == 2);
  CHECK(by_id["hang"].body == "built-hang");  // The retry ran on the copy.
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  REQUIRE(run_until(h.loop, [&] {
    std::lock_guard lock(log.mutex);
    return log.released == 2;
  }));
  std::lock_guard lock(log.mutex);
  CHECK(log.viewed_on.size() == 3);
  for (std::thread::id thread : log.viewed_on) {
    CHECK(thread != std::this_thread::get_id());  // Viewed by the workers.
  }
  CHECK(log.built_on.size() == 1);  // Only the failed one, for its retry and dead letter.
  REQUIRE(log.copied_on.size() == 1);
  CHECK(log.copied_on[0] == std::this_thread::get_id());  // The timeout's copy, on the loop.
  CHECK(log.released == 2);  // The success and the timed-out original, unbuilt.
}

TEST_CASE("a function failing on a view after the daemon gave up on it does not build it") {
  Harness h;
  PendingLog log;
  std::atomic<bool> started{false};
  h.add(h.manifest("viewed", 1, 10), [&](const core::Event&, const auto& ctx) {
    started = true;
    while (!ctx.is_cancelled()) {
      std::this_thread::sleep_for(1ms);
    }
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Cancelled", "gave up");
  });
  int rejected = 0;
  core::Event ev = pending_event(h, log, "running", 0, 0, /*viewable=*/true);
  ev.completion = [&rejected](core::Event&, core::Outcome& outcome) {
    rejected += outcome.kind == core::OutcomeKind::kRejected ? 1 : 0;
  };
  CHECK(h.sched.dispatch("viewed", std::move(ev)) == Admission::kStarted);
  REQUIRE(run_until(h.loop, [&] { return started.load(); }));
  h.sched.abandon();  // Answers it now (rejected) and cancels the function.
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  CHECK(rejected == 1);
  std::lock_guard lock(log.mutex);
  CHECK(log.viewed_on.size() == 1);
  CHECK(log.built_on.empty());  // Nobody needs its contents any more.
  CHECK(log.released == 1);
}

TEST_CASE("pending contents never built are released, before the completion runs") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  PendingLog log;
  h.add(h.manifest("lazy", 1, 10), [&](const core::Event&, const auto& ctx) {
    while (!release.load() && !ctx.is_cancelled()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok();
  });
  CHECK(h.sched.dispatch("lazy", pending_event(h, log, "running")) == Admission::kStarted);
  core::Event waiting = pending_event(h, log, "waiting");
  waiting.completion = [&log](core::Event& done, core::Outcome& outcome) {
    CHECK(outcome.kind == core::OutcomeKind::kRejected);
    CHECK_FALSE(done.pending);
    std::lock_guard lock(log.mutex);
    CHECK(log.released == 1);  // Already let go when the source hears of it.
  };
  CHECK(h.sched.dispatch("lazy", std::move(waiting)) == Admission::kQueued);
  REQUIRE(run_until(h.loop, [&] {
    std::lock_guard lock(log.mutex);
    return log.built_on.size() == 1;
  }));
  h.sched.abandon();
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  std::lock_guard lock(log.mutex);
  CHECK(log.built_on.size() == 1);  // Only the one that ran.
  CHECK(log.released == 1);
}

namespace {

// Runs offered at once (dispatch_run): what a sequence's source gets back unrun, kept as a source
// would keep it.
struct Returned {
  std::vector<core::Event> events;  // Their pending contents, for the source to offer again.
  std::vector<std::uint64_t> tags;
};

// `count` viewable pending events tagged 0..count-1, named <prefix><tag>; those answered not run
// are kept in `returned`.
std::vector<core::Event> sequence(Harness& h, PendingLog& log, const std::string& prefix, int count,
                                  Returned& returned) {
  std::vector<core::Event> events;
  for (int i = 0; i < count; ++i) {
    core::Event ev = pending_event(h, log, prefix + std::to_string(i),
                                   static_cast<std::uint64_t>(i), 0, /*viewable=*/true);
    auto record = std::move(ev.completion);
    ev.completion = [&returned, record = std::move(record)](core::Event& done,
                                                            core::Outcome& outcome) {
      if (scheduler::not_run(outcome)) {
        returned.tags.push_back(done.source_tag);
        core::Event kept;
        kept.source_tag = done.source_tag;
        kept.pending = std::move(done.pending);
        returned.events.push_back(std::move(kept));
      }
      record(done, outcome);
    };
    events.push_back(std::move(ev));
  }
  return events;
}

// The events `returned` kept, with completions again, to offer once more.
std::vector<core::Event> offer_again(Harness& h, Returned& returned) {
  std::vector<core::Event> events;
  for (core::Event& kept : returned.events) {
    core::Event ev = h.event("");
    ev.source_tag = kept.source_tag;
    ev.pending = std::move(kept.pending);
    events.push_back(std::move(ev));
  }
  returned.events.clear();
  return events;
}

}  // namespace

TEST_CASE("a sequence runs in order on one slot; after a failure the rest come back unrun") {
  Harness h(4);
  std::mutex mutex;
  std::vector<std::string> calls;
  auto m = h.manifest("seq", 4, 100);
  m.retry.attempts = 1;
  h.add(m, [&](const core::Event& ev, const auto&) {
    {
      std::lock_guard lock(mutex);
      calls.push_back(ev.data);
    }
    if (ev.data == built_payload("s4")) {
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "s4 fails");
    }
    return ok(ev.data);
  });
  grow_runs(h, "seq", 10, 64);  // Sequences are as long as runs may be.
  calls.clear();
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "s", 10, returned);
  CHECK(h.sched.run_room("seq") >= 10);
  auto jobs = h.pool.jobs_started();
  CHECK(h.sched.dispatch_run("seq", events, kSequence) == 10);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 10; }));
  CHECK(h.pool.jobs_started() - jobs == 1);  // One hand-off for the lot.
  {
    std::lock_guard lock(mutex);
    CHECK(calls == std::vector<std::string>{built_payload("s0"), built_payload("s1"),
                                            built_payload("s2"), built_payload("s3"),
                                            built_payload("s4")});
  }
  std::map<std::string, core::OutcomeKind> kinds;
  for (const auto& outcome : h.outcomes) {
    kinds[outcome.id] = outcome.kind;
  }
  for (const char* id : {"s0", "s1", "s2", "s3"}) {
    CHECK(kinds[id] == core::OutcomeKind::kOk);
  }
  CHECK(kinds["s4"] == core::OutcomeKind::kFunctionError);
  REQUIRE(h.sink.letters.size() == 1);
  CHECK(h.sink.letters.front().id == "s4");
  // The five after the failure never ran: handed back in order, unbuilt, their contents kept.
  CHECK(returned.tags == std::vector<std::uint64_t>{5, 6, 7, 8, 9});
  for (const auto& kept : returned.events) {
    CHECK(static_cast<bool>(kept.pending));
  }
  {
    std::lock_guard lock(log.mutex);
    CHECK(log.built_on.size() == 1);  // s4, for its dead letter.
    CHECK(log.released == 4);         // s0..s3, after their successes on a view.
  }
  CHECK(h.sched.outstanding() == 0);
  // Offered again, they run, in order, in one run.
  h.outcomes.clear();
  calls.clear();
  auto again = offer_again(h, returned);
  jobs = h.pool.jobs_started();
  CHECK(h.sched.dispatch_run("seq", again, kSequence) == 5);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 5; }));
  CHECK(h.pool.jobs_started() - jobs == 1);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kOk);
    CHECK(outcome.attempts == 1);
  }
  {
    std::lock_guard lock(mutex);
    CHECK(calls == std::vector<std::string>{built_payload("s5"), built_payload("s6"),
                                            built_payload("s7"), built_payload("s8"),
                                            built_payload("s9")});
  }
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("seq").in_flight == 0; }));
  std::lock_guard lock(log.mutex);
  CHECK(log.released == 9);
}

TEST_CASE("a sequence is offered as one event when no slot is free, or to an inline function") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  h.add(h.manifest("busy", 1, 100), [&](const core::Event& ev, const auto&) {
    while (ev.id == "block" && !release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok(ev.data);
  });
  grow_runs(h, "busy", 3, 64);
  CHECK(h.sched.dispatch("busy", h.event("block")) == Admission::kStarted);
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "q", 3, returned);
  CHECK(h.sched.run_room("busy") == 1);
  CHECK(h.sched.dispatch_run("busy", events, kSequence) == 1);  // Queued behind "block".
  CHECK(h.sched.stats("busy").queued == 1);
  CHECK(static_cast<bool>(events[1].pending));  // Not taken: still the caller's.
  CHECK(static_cast<bool>(events[2].pending));
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 2; }));
  CHECK(returned.tags.empty());

  auto m = h.manifest("inline", 4, 100);
  m.execution = config::Execution::kInline;
  h.add(m, [](const core::Event& ev, const auto&) { return ok(ev.data); });
  h.outcomes.clear();
  auto inline_events = sequence(h, log, "i", 3, returned);
  CHECK(h.sched.run_room("inline") == 1);
  CHECK(h.sched.dispatch_run("inline", inline_events, kSequence) == 1);
  REQUIRE(h.outcomes.size() == 1);  // Answered during the call.
  CHECK(h.outcomes.front().id == "i0");
  CHECK(h.sched.dispatch_run("nobody", inline_events, kSequence) == 0);
}

TEST_CASE("a sequence member that times out gives back the members after it at once") {
  std::atomic<bool> release{false};
  Harness h;
  Release guard(release);
  std::mutex mutex;
  std::vector<std::string> calls;
  auto m = h.manifest("hang", 2, 100, 200ms);
  m.retry.attempts = 1;
  h.add(m, [&](const core::Event& ev, const auto&) {
    {
      std::lock_guard lock(mutex);
      calls.push_back(ev.data);
    }
    while (ev.data == built_payload("t1") && !release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    return ok(ev.data);
  });
  grow_runs(h, "hang", 4, 64);
  calls.clear();
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "t", 4, returned);
  CHECK(h.sched.dispatch_run("hang", events, kSequence) == 4);
  // t0 answered while t1 hangs (its result does not wait in the worker for t1's), t1 at its
  // deadline, t2 and t3 handed back with it.
  REQUIRE(run_until(
      h.loop, [&] { return h.outcomes.size() == 4; }, 3s));
  std::map<std::string, core::OutcomeKind> kinds;
  for (const auto& outcome : h.outcomes) {
    kinds[outcome.id] = outcome.kind;
  }
  CHECK(h.outcomes.front().id == "t0");
  CHECK(kinds["t0"] == core::OutcomeKind::kOk);
  CHECK(kinds["t1"] == core::OutcomeKind::kTimeout);
  CHECK(returned.tags == std::vector<std::uint64_t>{2, 3});
  release = true;
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  CHECK(h.outcomes.size() == 4);  // Nothing answered twice when t0's result came back.
  std::lock_guard lock(mutex);
  CHECK(calls == std::vector<std::string>{built_payload("t0"), built_payload("t1")});
}

TEST_CASE("a sequence that outlasts its run's budget gives back the rest; the next is shorter") {
  Harness h;
  h.add(h.manifest("slowish", 2, 100), [](const core::Event& ev, const auto&) {
    if (ev.data.starts_with(built_payload("w"))) {
      const auto until = Clock::now() + 400us;  // A run's budget is 1ms.
      while (Clock::now() < until) {
      }
    }
    return ok(ev.data);
  });
  grow_runs(h, "slowish", 10, 64);
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "w", 10, returned);
  CHECK(h.sched.dispatch_run("slowish", events, kSequence) == 10);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 10; }));
  // The ones that ran are the first ones; the rest came back in order.
  std::size_t ran = 0;
  for (const auto& outcome : h.outcomes) {
    ran += outcome.kind == core::OutcomeKind::kOk;
  }
  CHECK(ran >= 1);
  CHECK(ran < 10);
  REQUIRE(returned.tags.size() == 10 - ran);
  for (std::size_t i = 0; i < returned.tags.size(); ++i) {
    CHECK(returned.tags[i] == ran + i);
  }
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("slowish").in_flight == 0; }));
  // Runs went back to single invocations: the rest are offered one at a time.
  auto again = offer_again(h, returned);
  CHECK(h.sched.run_room("slowish") == 1);
  CHECK(h.sched.dispatch_run("slowish", again, kSequence) == 1);
}

TEST_CASE("abandon answers a sequence's members as rejected, unrun ones included") {
  std::atomic<bool> began{false};
  Harness h;
  h.add(h.manifest("stuck", 2, 100), [&](const core::Event& ev, const auto& ctx) {
    if (ev.data == built_payload("a0")) {
      began = true;
      while (!ctx.is_cancelled()) {
        std::this_thread::sleep_for(1ms);
      }
    }
    return ok();
  });
  grow_runs(h, "stuck", 3, 64);
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "a", 3, returned);
  CHECK(h.sched.dispatch_run("stuck", events, kSequence) == 3);
  REQUIRE(run_until(h.loop, [&] { return began.load(); }));
  h.sched.abandon();
  REQUIRE(h.outcomes.size() == 3);
  for (const auto& outcome : h.outcomes) {
    CHECK(outcome.kind == core::OutcomeKind::kRejected);
  }
  CHECK(returned.tags.empty());
  CHECK(h.sched.outstanding() == 0);
  REQUIRE(run_until(h.loop, [&] { return h.sched.busy_threads() == 0; }));
  std::lock_guard lock(log.mutex);
  CHECK(log.built_on.empty());  // None was built: a0 was read on a view, a1 and a2 never ran.
  CHECK(log.released == 3);
}

TEST_CASE("a group of independent events runs as one run; a failure does not stop the others") {
  Harness h(4);
  auto m = h.manifest("group", 8, 100);
  m.retry.attempts = 2;
  m.retry.backoff = 10ms;
  h.add(m, [](const core::Event& ev, const auto&) {
    if (ev.data == built_payload("g2")) {
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "g2 fails");
    }
    return ok(ev.data);
  });
  grow_runs(h, "group", 6, 64);
  PendingLog log;
  Returned returned;
  auto events = sequence(h, log, "g", 6, returned);
  CHECK(h.sched.run_room("group") >= 6);
  const auto jobs = h.pool.jobs_started();
  CHECK(h.sched.dispatch_run("group", events, kIndependent) == 6);
  REQUIRE(run_until(h.loop, [&] { return h.outcomes.size() == 6; }));
  // One job for the six (one each without groups, with eight free slots), one for g2's retry.
  CHECK(h.pool.jobs_started() - jobs <= 4);
  for (const auto& outcome : h.outcomes) {
    if (outcome.id == "g2") {
      CHECK(outcome.kind == core::OutcomeKind::kFunctionError);
      CHECK(outcome.attempts == 2);
    } else {
      CHECK(outcome.kind == core::OutcomeKind::kOk);
      CHECK(outcome.attempts == 1);
    }
  }
  CHECK(returned.tags.empty());  // Never handed back: not a sequence.
  REQUIRE(h.sink.letters.size() == 1);
  CHECK(h.sink.letters.front().id == "g2");
  REQUIRE(run_until(h.loop, [&] { return h.sched.stats("group").in_flight == 0; }));
  CHECK(h.sched.outstanding() == 0);
}
