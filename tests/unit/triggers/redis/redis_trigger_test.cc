// The Redis trigger on a real loop and a real redis-server, with a dispatcher the test controls:
// what is acknowledged for each outcome, throttling, capacity, and stop().

#include "triggers/redis/redis_trigger.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "integration/redis_server.h"
#include "scheduler/batch_item_failures.h"
#include "support/run_until.h"
#include "triggers/redis/mapping.h"
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
  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&& items,
                                      scheduler::BatchEncoder encode) override {
    ++offers;
    if (next_admission != scheduler::Admission::kStarted) {
      return next_admission;  // The items are left as they were.
    }
    batches.push_back(Batch{std::move(items), std::move(encode)});
    return scheduler::Admission::kStarted;
  }
  std::size_t capacity(std::string_view) const override {
    std::size_t taken = held.size() + batches.size();
    return free > taken ? free - taken : 0;
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
    while (!batches.empty()) {
      Batch batch = std::move(batches.front());
      batches.pop_front();
      for (core::Event& item : batch.items) {
        auto outcome =
            core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown", "given up");
        item.completion(item, outcome);
      }
    }
  }

  // Answers the oldest batch as the scheduler would a function's `response` to it, once its
  // retries are spent: the items `response` names in batchItemFailures get `failure`, the
  // others succeed. Returns the report.
  scheduler::BatchItemFailures complete_batch(
      std::string_view response, const std::function<core::Outcome(const core::Event&)>& failure) {
    Batch batch = std::move(batches.front());
    batches.pop_front();
    scheduler::BatchItemFailures report =
        scheduler::read_batch_item_failures(response, batch.items);
    for (std::size_t i = 0; i < batch.items.size(); ++i) {
      core::Outcome outcome = !report.failed.empty() && report.failed[i]
                                  ? failure(batch.items[i])
                                  : core::Outcome::success({});
      batch.items[i].completion(batch.items[i], outcome);
    }
    if (watcher) {
      watcher();
    }
    return report;
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
  struct Batch {
    std::vector<core::Event> items;
    scheduler::BatchEncoder encode;
  };
  std::deque<Batch> batches;
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
    spec = std::make_shared<triggers::redis::RedisTriggerSettings>();
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

  long long length(const std::string& list) {
    auto reply = client.command({"LLEN", list});
    REQUIRE(reply.ok());
    return reply->integer;
  }

  std::shared_ptr<triggers::redis::RedisTriggerSettings> spec;
  testing::RedisServer redis;
  BlockingClient client = redis.client();
  config::Snapshot snapshot;
  core::Loop loop;
  core::MetricsRegistry metrics;
  scheduler::DeadLetterRouter dead_letters;
  TestDispatcher dispatcher;
  triggers::TriggerContext context{loop,         dispatcher, metrics, snapshot.daemon,
                                   dead_letters, nullptr};
};

core::Outcome failed(bool dead_lettered) {
  auto outcome = core::Outcome::failure(core::OutcomeKind::kFunctionError, "E", "m");
  outcome.attempts = 3;
  outcome.dead_lettered = dead_lettered;
  return outcome;
}

// The messageIds of a batch's Records, as a Lambda SQS handler reads them from its event.
std::vector<std::string> message_ids(const TestDispatcher::Batch& batch) {
  core::Event event = batch.encode(batch.items);
  rapidjson::Document json;
  json.Parse(event.data.c_str(), event.data.size());
  REQUIRE_FALSE(json.HasParseError());
  std::vector<std::string> ids;
  for (const auto& record : json["Records"].GetArray()) {
    ids.emplace_back(record["messageId"].GetString());
  }
  return ids;
}

// An SQS handler's partial batch response failing `ids`.
std::string failures(const std::vector<std::string>& ids) {
  std::string body = R"({"batchItemFailures":[)";
  for (const std::string& id : ids) {
    body += (body.back() == '[' ? "" : ",") + std::string(R"({"itemIdentifier":")") + id + "\"}";
  }
  return body + "]}";
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

TEST_CASE(
    "lambda-sqs, stream: records failed by messageId stay pending or are dead-lettered, "
    "the others are acknowledged") {
  Fixture f;
  f.spec->payload = "lambda-sqs";
  f.spec->batch = 4;
  std::vector<std::string> added;
  for (int i = 0; i < 4; ++i) {
    auto id = f.client.command({"XADD", "s", "*", "data", std::to_string(i)});
    REQUIRE(id.ok());
    added.push_back(id->str);
  }
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.batches.size() == 1; }, 5s));
  CHECK(f.dispatcher.held.empty());
  REQUIRE(f.dispatcher.batches[0].items.size() == 4);
  std::vector<std::string> ids = message_ids(f.dispatcher.batches[0]);
  CHECK(ids == added);
  CHECK(f.pending() == 4);

  // 1 failed for good and stays pending for another delivery; 3 failed and was dead-lettered.
  auto report = f.dispatcher.complete_batch(
      failures({ids[1], ids[3]}), [&](const core::Event& e) { return failed(e.id == ids[3]); });
  CHECK_FALSE(report.whole_batch_error.has_value());
  CHECK(report.failed == std::vector<bool>{false, true, false, true});
  REQUIRE(run_until(
      f.loop, [&] { return f.pending() == 1; }, 5s));
  auto rows = f.client.command({"XPENDING", "s", "switchyard", "-", "+", "10"});
  REQUIRE(rows.ok());
  REQUIRE(rows->elements.size() == 1);
  CHECK(rows->elements[0].elements[0].str == ids[1]);

  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
}

TEST_CASE("lambda-sqs: one entry is still a batch of Records (batch: 1)") {
  Fixture f;
  f.spec->payload = "lambda-sqs";
  REQUIRE(f.client.command({"XADD", "s", "*", "data", "only"}).ok());
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.batches.size() == 1; }, 5s));
  CHECK(f.dispatcher.held.empty());
  REQUIRE(f.dispatcher.batches[0].items.size() == 1);
  std::vector<std::string> ids = message_ids(f.dispatcher.batches[0]);
  REQUIRE(ids.size() == 1);
  f.dispatcher.complete_batch("{\"batchItemFailures\":[]}",
                              [](const core::Event&) { return failed(false); });
  REQUIRE(run_until(
      f.loop, [&] { return f.pending() == 0; }, 5s));
  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
}

TEST_CASE(
    "lambda-sqs, list: a record failed by messageId goes back to the list and comes again, "
    "the others are removed") {
  Fixture f;
  f.spec->stream.clear();
  f.spec->list = "l";
  f.spec->payload = "lambda-sqs";
  f.spec->batch = 3;
  REQUIRE(f.client.command({"LPUSH", "l", "a", "b", "c"}).ok());  // Taken from the right: a first.
  const std::string processing = "l:processing:unit-f";
  auto trigger = f.build();
  REQUIRE(trigger->start().ok());
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.batches.size() == 1; }, 5s));
  REQUIRE(f.dispatcher.batches[0].items.size() == 3);
  std::vector<std::string> ids = message_ids(f.dispatcher.batches[0]);
  CHECK(ids == std::vector<std::string>{triggers::redis::list_element_id("a"),
                                        triggers::redis::list_element_id("b"),
                                        triggers::redis::list_element_id("c")});
  CHECK(f.length(processing) == 3);

  f.dispatcher.complete_batch(failures({ids[1]}), [](const core::Event&) { return failed(false); });
  // b is given back, read again and offered alone; a and c are gone.
  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.batches.size() == 1; }, 5s));
  REQUIRE(f.dispatcher.batches[0].items.size() == 1);
  CHECK(f.dispatcher.batches[0].items[0].data == "b");
  CHECK(message_ids(f.dispatcher.batches[0]) == std::vector<std::string>{ids[1]});
  REQUIRE(run_until(
      f.loop, [&] { return f.length(processing) == 1; }, 5s));
  f.dispatcher.complete_batch("{}", [](const core::Event&) { return failed(false); });
  REQUIRE(run_until(
      f.loop, [&] { return f.length(processing) == 0 && f.length("l") == 0; }, 5s));

  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  REQUIRE(run_until(
      f.loop, [&] { return stopped; }, 5s));
}
