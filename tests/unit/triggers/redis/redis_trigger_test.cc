// The Redis trigger on a real loop and a real redis-server, with a dispatcher the test controls:
// what is acknowledged for each outcome, throttling, capacity, and stop().

#include "triggers/redis/redis_trigger.h"

#include <doctest/doctest.h>

#include <deque>
#include <optional>

#include "integration/redis_server.h"
#include "support/run_until.h"
#include "triggers/redis/settings.h"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::run_until;
using switchyard::triggers::redis::BlockingClient;
using switchyard::triggers::redis::Reply;

namespace {

// Admits what the test says, holds the events, and lets the test complete them.
class TestDispatcher final : public scheduler::Dispatcher {
 public:
  scheduler::Admission dispatch(std::string_view, core::Event&& event) override {
    ++offers;
    if (next_admission != scheduler::Admission::kStarted) {
      return next_admission;  // The event is left as it was.
    }
    held.push_back(std::move(event));
    return scheduler::Admission::kStarted;
  }
  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&&,
                                      scheduler::BatchEncoder) override {
    return scheduler::Admission::kRejected;
  }
  std::size_t capacity(std::string_view) const override {
    return free > held.size() ? free - held.size() : 0;
  }
  std::chrono::seconds retry_after(std::string_view) const override { return 1s; }
  std::size_t watch_capacity(std::string_view, std::function<void()> on_capacity) override {
    watcher = std::move(on_capacity);
    return 1;
  }
  void unwatch_capacity(std::size_t) override { watcher = nullptr; }

  // As the scheduler does, every admitted event is answered once: those a test left are answered
  // rejected as it ends, after their trigger is gone.
  ~TestDispatcher() override { abandon(); }

  // Answers every held event rejected, as a daemon that gave up on them: nothing is acknowledged.
  void abandon() {
    while (!held.empty()) {
      core::Event event = std::move(held.front());
      held.pop_front();
      auto outcome =
          core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown", "given up");
      event.completion(event, outcome);
    }
  }

  // Completes the oldest held event with `outcome`.
  void complete(core::Outcome outcome) {
    core::Event event = std::move(held.front());
    held.pop_front();
    event.completion(event, outcome);
    if (watcher) {
      watcher();
    }
  }

  std::size_t free = 2;
  scheduler::Admission next_admission = scheduler::Admission::kStarted;
  std::deque<core::Event> held;
  std::function<void()> watcher;
  int offers = 0;
};

struct Fixture {
  Fixture() {
    snapshot.daemon.instance = "unit";
    snapshot.daemon.redis.url = redis.url();
    snapshot.daemon.redis.connect_timeout = 500ms;
    snapshot.daemon.redis.command_timeout = 2000ms;
    config::FunctionManifest manifest;
    manifest.name = "f";
    auto spec = std::make_shared<triggers::redis::RedisTriggerSettings>();
    spec->stream = "s";
    spec->block = 100ms;
    config::TriggerSpec trigger;
    trigger.kind = "redis";
    trigger.settings = spec;
    manifest.triggers.push_back(trigger);
    snapshot.functions.push_back(manifest);
  }

  std::unique_ptr<triggers::Trigger> build() {
    config::Kinds kinds;
    triggers::TriggerRegistry registry(kinds);
    triggers::redis::register_redis_trigger(registry);
    auto built = registry.find("redis")->factory(snapshot, context);
    REQUIRE(built.ok());
    REQUIRE(built->size() == 1);
    return std::move(built->front());
  }

  long long pending() {
    auto reply = client.command({"XPENDING", "s", "switchyard"});
    REQUIRE(reply.ok());
    return reply->elements.empty() ? -1 : reply->elements[0].integer;
  }

  testing::RedisServer redis;
  BlockingClient client = redis.client();
  config::Snapshot snapshot;
  core::Loop loop;
  core::MetricsRegistry metrics;
  scheduler::DeadLetterRouter dead_letters;
  TestDispatcher dispatcher;
  triggers::TriggerContext context{loop, dispatcher, metrics, snapshot.daemon, dead_letters};
};

core::Outcome failed(bool dead_lettered) {
  auto outcome = core::Outcome::failure(core::OutcomeKind::kFunctionError, "E", "m");
  outcome.attempts = 3;
  outcome.dead_lettered = dead_lettered;
  return outcome;
}

}  // namespace

TEST_CASE("only success and written dead letters are acknowledged") {
  Fixture f;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(f.client.command({"XADD", "s", "*", "data", std::to_string(i)}).ok());
  }
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  // Capacity 2: two entries are taken, the rest waits in Redis.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
  CHECK_FALSE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() > 2; }, 300ms));
  CHECK(f.pending() == 2);
  CHECK(f.dispatcher.held[0].data == "0");

  f.dispatcher.complete(core::Outcome::success({}));  // 0: acknowledged.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
  f.dispatcher.complete(failed(true));  // 1: dead-lettered, acknowledged.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
  f.dispatcher.complete(failed(false));  // 2: the sink failed: stays pending.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
  f.dispatcher.complete(core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                               "draining"));  // 3: stays pending.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 1 && f.pending() == 3; }, 5s));
  // Pending: 2, 3 and 4 (held).
  auto rows = f.client.command({"XPENDING", "s", "switchyard", "-", "+", "10"});
  REQUIRE(rows.ok());
  REQUIRE(rows->elements.size() == 3);

  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  CHECK_FALSE(run_until(
      f.loop, [&] { return stopped; }, 200ms));  // 4 is still running.
  f.dispatcher.complete(core::Outcome::success({}));
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
  CHECK(f.pending() == 2);  // 4's XACK was written before done.
  trigger.reset();
}

TEST_CASE("a throttled entry is kept and offered again when capacity comes back") {
  Fixture f;
  REQUIRE(f.client.command({"XADD", "s", "*", "data", "only"}).ok());
  f.dispatcher.next_admission = scheduler::Admission::kThrottled;
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.offers >= 1; }, 5s));
  CHECK(f.dispatcher.held.empty());
  CHECK(f.pending() == 1);
  f.dispatcher.next_admission = scheduler::Admission::kStarted;
  REQUIRE(f.dispatcher.watcher);
  f.dispatcher.watcher();
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 1; }, 5s));
  CHECK(f.dispatcher.held[0].data == "only");
  f.dispatcher.complete(core::Outcome::success({}));
  REQUIRE(run_until(
      f.loop, [&] { return f.pending() == 0; }, 5s));
  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
}

TEST_CASE("a restarted consumer replays its own pending entries first") {
  Fixture f;
  REQUIRE(f.client.command({"XADD", "s", "*", "data", "a"}).ok());
  REQUIRE(f.client.command({"XADD", "s", "*", "data", "b"}).ok());
  {
    auto trigger = f.build();
    REQUIRE(trigger->start().ok());
    REQUIRE(run_until(
        f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
    // Destroyed without answering, then its events given up: like a crash, nothing is
    // acknowledged.
    trigger.reset();
    f.dispatcher.abandon();
  }
  CHECK(f.pending() == 2);
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.held.size() == 2; }, 5s));
  CHECK(f.dispatcher.held[0].data == "a");
  CHECK(f.dispatcher.held[1].data == "b");
  f.dispatcher.complete(core::Outcome::success({}));
  f.dispatcher.complete(core::Outcome::success({}));
  REQUIRE(run_until(
      f.loop, [&] { return f.pending() == 0; }, 5s));
  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
}
