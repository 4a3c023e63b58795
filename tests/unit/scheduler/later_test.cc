// Functions that finish later (Function::finishes_later()): started on the loop thread, answered
// through their callback, no worker held; stopped at their deadline with their slot free at once.

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using scheduler::Admission;
using switchyard::testing::run_until;

namespace {

// Keeps every invocation started until the test finishes or the scheduler cancels it.
class LaterFunction final : public functions::Function {
 public:
  explicit LaterFunction(std::string name) : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  core::Outcome invoke(const core::Event&, const functions::InvocationContext&) noexcept override {
    ++invoked;  // Never: the scheduler must call start().
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Wrong", "invoke()");
  }
  bool finishes_later() const override { return true; }
  std::uint64_t start(const core::Event& event, const functions::InvocationContext& ctx,
                      Finish finish) noexcept override {
    if (answer_at_once) {
      // Breaks the contract (never from inside start()): the scheduler must cope.
      finish(core::Outcome::success(core::Response{200, {}, "at once " + event.data}));
      return ++last;
    }
    calls[++last] = Call{event.id, event.data, std::string(ctx.request_id), std::move(finish)};
    return last;
  }
  void cancel(std::uint64_t call) noexcept override {
    cancelled.push_back(calls.at(call).event);
    stale.push_back(std::move(calls.at(call).finish));
    calls.erase(call);
  }

  // Answers the running invocation of event `id` with "done " and its data.
  bool finish(const std::string& id) {
    for (auto it = calls.begin(); it != calls.end(); ++it) {
      if (it->second.event == id) {
        Call call = std::move(it->second);
        calls.erase(it);
        core::Response response;
        response.body = "done " + call.data;
        call.finish(core::Outcome::success(std::move(response)));
        return true;
      }
    }
    return false;
  }
  bool running(const std::string& id) const {
    for (const auto& [number, call] : calls) {
      if (call.event == id) {
        return true;
      }
    }
    return false;
  }

  struct Call {
    std::string event;
    std::string data;
    std::string request_id;
    Finish finish;
  };
  std::map<std::uint64_t, Call> calls;
  std::vector<std::string> cancelled;
  std::vector<Finish> stale;  // The callbacks of cancelled invocations, to call out of turn.
  bool answer_at_once = false;
  std::uint64_t last = 0;
  int invoked = 0;

 private:
  std::string name_;
};

class NullSink final : public scheduler::DeadLetterSink {
 public:
  void send(const scheduler::DeadLetter&, std::function<void(core::Status)> done) override {
    done(core::Status());
  }
};

struct Harness {
  Harness() : pool(scheduler::PoolOptions{1, 4, 5ms, 30s}), sched(loop, pool, metrics, sink) {}
  ~Harness() { pool.stop(); }

  std::shared_ptr<LaterFunction> add(int concurrency, int queue, std::chrono::milliseconds timeout,
                                     int attempts = 1) {
    config::FunctionManifest m;
    m.name = "env";
    m.concurrency = concurrency;
    m.queue = queue;
    m.timeout = timeout;
    m.retry.attempts = attempts;
    m.retry.backoff = 5ms;
    m.retry.jitter = 0;
    auto function = std::make_shared<LaterFunction>("env");
    sched.upsert(m, function);
    return function;
  }

  Admission dispatch(const std::string& id, bool synchronous = false) {
    core::Event event;
    event.id = id;
    event.data = id;
    event.synchronous = synchronous;
    event.completion = [this](core::Event& done, core::Outcome& outcome) {
      answers[done.id] = outcome.ok() ? std::string(outcome.response.body) : outcome.error_type;
      attempts[done.id] = outcome.attempts;
    };
    return sched.dispatch("env", std::move(event));
  }

  core::Loop loop;
  core::MetricsRegistry metrics;
  NullSink sink;
  scheduler::WorkerPool pool;
  scheduler::Scheduler sched;
  std::map<std::string, std::string> answers;
  std::map<std::string, int> attempts;
};

}  // namespace

TEST_CASE("invocations that finish later hold no thread: 300 at once on one worker") {
  Harness h;
  auto function = h.add(300, 0, 10s);
  for (int i = 0; i < 300; ++i) {
    REQUIRE(h.dispatch("e" + std::to_string(i)) == Admission::kStarted);
  }
  CHECK(function->calls.size() == 300);
  CHECK(h.sched.busy_threads() == 0);
  CHECK(h.sched.stats("env").in_flight == 300);
  CHECK(h.sched.capacity("env") == 0);
  CHECK(h.dispatch("over") == Admission::kThrottled);
  // Each has its own request id.
  CHECK(function->calls.begin()->second.request_id != function->calls.rbegin()->second.request_id);

  for (int i = 299; i >= 0; --i) {
    REQUIRE(function->finish("e" + std::to_string(i)));
  }
  REQUIRE(h.answers.size() == 300);
  CHECK(h.answers["e7"] == "done e7");
  CHECK(h.sched.stats("env").in_flight == 0);
  CHECK(h.sched.outstanding() == 0);
  CHECK(function->invoked == 0);
}

TEST_CASE("at its deadline an invocation is stopped and its slot is free at once") {
  Harness h;
  auto function = h.add(1, 10, 100ms);
  REQUIRE(h.dispatch("hangs", /*synchronous=*/true) == Admission::kStarted);
  REQUIRE(h.dispatch("next", /*synchronous=*/true) == Admission::kQueued);
  REQUIRE(run_until(
      h.loop, [&] { return function->running("next"); }, 5s));
  // The slot went to the next event when the first was stopped, not when it returned.
  CHECK(function->cancelled == std::vector<std::string>{"hangs"});
  CHECK(h.answers["hangs"] == "Sandbox.Timedout");
  CHECK(h.sched.stats("env").timeouts == 1);
  CHECK(h.sched.stats("env").in_flight == 1);
  REQUIRE(function->finish("next"));
  CHECK(h.answers["next"] == "done next");
  CHECK(h.sched.stats("env").in_flight == 0);
}

TEST_CASE("a stopped asynchronous invocation is retried, counting its attempts") {
  Harness h;
  auto function = h.add(1, 10, 100ms, /*attempts=*/2);
  REQUIRE(h.dispatch("slow") == Admission::kStarted);
  REQUIRE(run_until(
      h.loop, [&] { return function->cancelled.size() == 1; }, 5s));
  CHECK(h.answers.empty());
  REQUIRE(run_until(
      h.loop, [&] { return function->running("slow"); }, 5s));
  REQUIRE(function->finish("slow"));
  CHECK(h.answers["slow"] == "done slow");
  CHECK(h.attempts["slow"] == 2);
}

TEST_CASE("abandon stops invocations that finish later and answers them rejected") {
  Harness h;
  auto function = h.add(2, 10, 10s);
  REQUIRE(h.dispatch("a") == Admission::kStarted);
  REQUIRE(h.dispatch("b") == Admission::kStarted);
  REQUIRE(h.dispatch("c") == Admission::kQueued);
  h.sched.abandon();
  CHECK(function->calls.empty());
  CHECK(function->cancelled.size() == 2);
  CHECK(h.answers == std::map<std::string, std::string>{
                         {"a", "ShuttingDown"}, {"b", "ShuttingDown"}, {"c", "ShuttingDown"}});
  CHECK(h.sched.stats("env").in_flight == 0);
  CHECK(h.sched.outstanding() == 0);
}

TEST_CASE("a new version does not end the invocations started on the old one") {
  Harness h;
  auto old_version = h.add(2, 10, 10s);
  REQUIRE(h.dispatch("first") == Admission::kStarted);
  auto new_version = h.add(2, 10, 10s);
  REQUIRE(h.dispatch("second") == Admission::kStarted);
  CHECK(old_version->running("first"));
  CHECK(new_version->running("second"));
  REQUIRE(old_version->finish("first"));
  REQUIRE(new_version->finish("second"));
  CHECK(h.answers ==
        std::map<std::string, std::string>{{"first", "done first"}, {"second", "done second"}});
}

TEST_CASE("a callback out of turn is dropped; one from inside start() is answered after it") {
  Harness h;
  auto function = h.add(1, 10, 100ms);
  REQUIRE(h.dispatch("hangs", /*synchronous=*/true) == Admission::kStarted);
  REQUIRE(run_until(
      h.loop, [&] { return function->stale.size() == 1; }, 5s));
  CHECK(h.answers["hangs"] == "Sandbox.Timedout");
  // The slot went on to another event; the cancelled invocation's callback must not touch it.
  REQUIRE(h.dispatch("next", /*synchronous=*/true) == Admission::kStarted);
  function->stale.front()(core::Outcome::success(core::Response{200, {}, "too late"}));
  CHECK(h.answers["hangs"] == "Sandbox.Timedout");
  CHECK(h.answers.count("next") == 0);
  REQUIRE(function->finish("next"));
  CHECK(h.answers["next"] == "done next");

  function->answer_at_once = true;
  REQUIRE(h.dispatch("quick", /*synchronous=*/true) == Admission::kStarted);
  REQUIRE(run_until(
      h.loop, [&] { return h.answers.count("quick") == 1; }, 5s));
  CHECK(h.answers["quick"] == "at once quick");
  CHECK(h.sched.stats("env").in_flight == 0);
}
