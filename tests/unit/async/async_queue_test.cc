// The durable queue of asynchronous invocations on a real loop and a real queue file, with a
// dispatcher the test answers: what is answered 202 runs, failures are retried and then given up,
// limits refuse, and whatever is left in the file runs after a restart, attempts counted.

#include "async/async_queue.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"
#include "support/process.h"
#include "support/run_until.h"

using namespace std::chrono_literals;
using switchyard::async::Acceptance;
using switchyard::async::AcceptResult;
using switchyard::async::AsyncQueue;
using switchyard::async::QueueStore;
using switchyard::testing::run_until;
using switchyard::testing::TempDir;
namespace config = switchyard::config;
namespace core = switchyard::core;
namespace scheduler = switchyard::scheduler;

namespace {

// Takes what it is offered while `room` allows, and lets the test answer each attempt.
class TestDispatcher final : public scheduler::Dispatcher {
 public:
  std::size_t room = 100;
  bool rejects = false;
  std::vector<core::Event> running;
  std::map<std::size_t, std::function<void()>> watches;
  std::size_t dispatched = 0;

  scheduler::Admission dispatch(std::string_view, core::Event&& event) override {
    if (rejects) {
      return scheduler::Admission::kRejected;
    }
    if (running.size() >= room) {
      return scheduler::Admission::kThrottled;
    }
    REQUIRE(event.synchronous);
    ++dispatched;
    running.push_back(std::move(event));
    return scheduler::Admission::kStarted;
  }
  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&&,
                                      scheduler::BatchEncoder) override {
    FAIL("the async queue never dispatches batches");
    return scheduler::Admission::kRejected;
  }
  std::size_t capacity(std::string_view) const override { return room - running.size(); }
  std::chrono::seconds retry_after(std::string_view) const override { return 1s; }
  std::size_t watch_capacity(std::string_view, std::function<void()> on_capacity) override {
    watches.emplace(watches.size() + 1, std::move(on_capacity));
    return watches.size();
  }
  void unwatch_capacity(std::size_t id) override { watches.erase(id); }

  // Answers the oldest running attempt; then tells the watchers, as the scheduler does.
  void answer(core::Outcome outcome) {
    REQUIRE(!running.empty());
    core::Event event = std::move(running.front());
    running.erase(running.begin());
    core::Completion completion = std::move(event.completion);
    completion(event, outcome);
    auto copy = watches;
    for (auto& [id, watch] : copy) {
      watch();
    }
  }
};

class RecordingSink final : public scheduler::DeadLetterSink {
 public:
  struct Letter {
    std::string function;
    std::string event_id;
    std::string data;
    int attempts = 0;
    std::string error_type;
    std::string destination;  // "kind:target".
    std::string record;       // The invocation record; empty for a dead letter.
  };
  std::vector<Letter> letters;
  bool fails = false;
  bool fails_records = false;  // Only the invocation records fail.

  void send(const scheduler::DeadLetter& letter, std::function<void(core::Status)> done) override {
    if (fails || (fails_records && letter.record != nullptr)) {
      done(core::Error(core::ErrorCode::kUnavailable, "the destination is down"));
      return;
    }
    letters.push_back(Letter{letter.function, letter.event.id, letter.event.data,
                             letter.outcome.attempts, letter.outcome.error_type,
                             letter.destination.kind + ":" + letter.destination.target,
                             letter.record != nullptr ? *letter.record : std::string()});
    done(core::Status());
  }
};

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  REQUIRE_MESSAGE(!document.HasParseError(), json);
  return document;
}

core::Outcome failed() {
  return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "it failed");
}

config::FunctionManifest function(const std::string& name, int attempts = 1) {
  config::FunctionManifest manifest;
  manifest.name = name;
  manifest.retry.attempts = attempts;
  manifest.retry.backoff = config::Duration(5);
  manifest.retry.max_backoff = config::Duration(20);
  manifest.retry.jitter = 0;
  return manifest;
}

core::Event event(const std::string& data) {
  core::Event event;
  event.id = "ev-" + data;
  event.source = "switchyard/http";
  event.type = "com.example.async";
  event.datacontenttype = "application/json";
  event.data = data;
  return event;
}

struct Harness {
  explicit Harness(std::vector<config::FunctionManifest> functions,
                   QueueStore::Options options = {})
      : functions(std::move(functions)), options(options) {
    reopen();
  }

  // Opens the queue on the file (again), configures it and recovers what the file holds.
  std::size_t reopen() {
    queue.reset();
    auto opened =
        AsyncQueue::open(loop, dispatcher, sink, metrics, dir.path() + "/queue.db", options);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message()));
    queue = std::move(opened).value();
    queue->configure(functions);
    auto recovered = queue->recover();
    REQUIRE(recovered.ok());
    return recovered.value();
  }

  // Offers an invocation and runs the loop until it is answered.
  AcceptResult invoke(const std::string& name, const std::string& id, const std::string& data) {
    std::optional<AcceptResult> result;
    queue->invoke(name, id, event(data), [&](const AcceptResult& r) { result = r; });
    REQUIRE(run_until(loop, [&] { return result.has_value(); }));
    return *result;
  }

  std::uint64_t in_file(const std::string& name) { return queue->stats(name).queued; }

  TempDir dir;
  std::vector<config::FunctionManifest> functions;
  QueueStore::Options options;
  core::Loop loop;
  core::MetricsRegistry metrics;
  TestDispatcher dispatcher;
  RecordingSink sink;
  std::unique_ptr<AsyncQueue> queue;
};

}  // namespace

TEST_CASE("async queue: accepted after the write, run once, gone from the file on success") {
  Harness h({function("hello")});
  AcceptResult result = h.invoke("hello", "req-1", "{\"n\":1}");
  CHECK(result.kind == Acceptance::kAccepted);
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  const core::Event& running = h.dispatcher.running.front();
  CHECK(running.id == "ev-{\"n\":1}");
  CHECK(running.data == "{\"n\":1}");
  CHECK(running.type == "com.example.async");
  CHECK(h.queue->stats("hello").running == 1);
  CHECK(h.in_file("hello") == 1);

  h.dispatcher.answer(core::Outcome::success({}));
  CHECK(h.in_file("hello") == 0);
  CHECK(h.dispatcher.dispatched == 1);
  CHECK(h.sink.letters.empty());
  // Nothing is left for a restart.
  CHECK(h.reopen() == 0);
}

TEST_CASE("async queue: an unknown function or a stopped queue is refused, never written") {
  Harness h({function("hello")});
  CHECK(h.invoke("nope", "req-1", "x").kind == Acceptance::kRejected);
  h.queue->stop();
  AcceptResult result = h.invoke("hello", "req-2", "x");
  CHECK(result.kind == Acceptance::kRejected);
  CHECK(result.message == "switchyard is shutting down");
  CHECK(h.in_file("hello") == 0);
}

TEST_CASE("async queue: a failure is retried after the backoff, then given up to the dead letter") {
  Harness h({function("hello", 3)});
  REQUIRE(h.invoke("hello", "req-1", "payload").accepted());
  for (int attempt = 1; attempt <= 3; ++attempt) {
    INFO("attempt " << attempt);
    REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
    h.dispatcher.answer(failed());
    if (attempt < 3) {
      CHECK(h.queue->stats("hello").retrying == 1);
      CHECK(h.in_file("hello") == 1);
    }
  }
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.sink.letters[0].function == "hello");
  CHECK(h.sink.letters[0].data == "payload");
  CHECK(h.sink.letters[0].attempts == 3);
  CHECK(h.sink.letters[0].error_type == "Boom");
  CHECK(h.dispatcher.dispatched == 3);
  CHECK(h.in_file("hello") == 0);
  CHECK(h.reopen() == 0);
}

TEST_CASE("async queue: async.max_attempts overrides retry.attempts") {
  config::FunctionManifest manifest = function("hello", 5);
  manifest.async.max_attempts = 1;
  Harness h({manifest});
  REQUIRE(h.invoke("hello", "req-1", "payload").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  h.dispatcher.answer(failed());
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.sink.letters[0].attempts == 1);
  CHECK(h.dispatcher.dispatched == 1);
}

TEST_CASE("async queue: an invocation older than async.max_event_age is given up, not run") {
  config::FunctionManifest manifest = function("hello", 10);
  manifest.async.max_event_age = config::Duration(50);
  Harness h({manifest});
  REQUIRE(h.invoke("hello", "req-1", "old").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  // Its first attempt fails after its age has run out: no retry.
  REQUIRE(run_until(
      h.loop, [&] { return h.queue->stats("hello").oldest_age_ms > 60; }, 2s));
  h.dispatcher.answer(failed());
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.dispatcher.dispatched == 1);
  CHECK(h.metrics.render().find("switchyard_async_expired_total{function=\"hello\"} 1") !=
        std::string::npos);
}

TEST_CASE("async queue: async.queue bounds the invocations queued; past it 429, not dropped") {
  config::FunctionManifest manifest = function("hello");
  manifest.async.queue_events = 2;
  Harness h({manifest});
  h.dispatcher.room = 0;  // Nothing runs: they stay queued.
  CHECK(h.invoke("hello", "req-1", "a").accepted());
  CHECK(h.invoke("hello", "req-2", "b").accepted());
  AcceptResult full = h.invoke("hello", "req-3", "c");
  CHECK(full.kind == Acceptance::kFull);
  CHECK(full.message.find("async.queue") != std::string::npos);
  CHECK(h.in_file("hello") == 2);
  CHECK(h.queue->stats("hello").waiting == 2);

  // Capacity frees: they run in the order they were accepted.
  h.dispatcher.room = 10;
  for (auto& [id, watch] : std::map(h.dispatcher.watches)) {
    watch();
  }
  REQUIRE(h.dispatcher.running.size() == 2);
  CHECK(h.dispatcher.running[0].data == "a");
  CHECK(h.dispatcher.running[1].data == "b");
  h.dispatcher.answer(core::Outcome::success({}));
  CHECK(h.invoke("hello", "req-4", "d").accepted());
}

TEST_CASE("async queue: a write that fails is refused with 503's kind, and nothing runs") {
  // A file capped below what the table needs: the first transaction fails as on a full disk.
  QueueStore::Options options;
  options.max_file_bytes = 64 * 1024;
  Harness h({function("hello")}, options);
  std::string big(128 * 1024, 'x');
  AcceptResult result = h.invoke("hello", "req-1", big);
  CHECK(result.kind == Acceptance::kFailed);
  CHECK(!result.message.empty());
  CHECK(h.dispatcher.dispatched == 0);
  CHECK(h.in_file("hello") == 0);
  // The queue stays usable for what fits.
  CHECK(h.invoke("hello", "req-2", "small").accepted());
}

TEST_CASE("async queue: what a stop leaves runs after a restart, attempts counted") {
  Harness h({function("hello", 3)});
  REQUIRE(h.invoke("hello", "req-1", "first").accepted());
  REQUIRE(h.invoke("hello", "req-2", "second").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 2; }));
  // The first fails once (an attempt made, a retry pending); the second is still running when
  // the daemon goes.
  h.dispatcher.room = 0;
  h.dispatcher.answer(failed());
  h.queue->stop();
  h.queue->close();
  h.dispatcher.running.clear();
  h.dispatcher.room = 100;
  h.dispatcher.dispatched = 0;

  CHECK(h.reopen() == 2);
  CHECK(h.queue->stats("hello").recovered == 2);
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 2; }));
  // The first has two attempts left: it fails both and is given up after three in all.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(run_until(h.loop, [&] { return !h.dispatcher.running.empty(); }));
    core::Event& next = h.dispatcher.running.front();
    h.dispatcher.answer(next.data == "second" ? core::Outcome::success({}) : failed());
  }
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.sink.letters[0].data == "first");
  CHECK(h.sink.letters[0].attempts == 3);
  CHECK(h.in_file("hello") == 0);
}

TEST_CASE("async queue: an attempt the scheduler hands back unrun stays queued for later") {
  Harness h({function("hello")});
  REQUIRE(h.invoke("hello", "req-1", "kept").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  h.dispatcher.answer(
      core::Outcome::failure(core::OutcomeKind::kRejected, "Rejected", "shutting down"));
  CHECK(h.in_file("hello") == 1);
  CHECK(h.sink.letters.empty());
  CHECK(h.queue->stats("hello").waiting == 1);
  // It runs again once the function is configured again (a reload), with no attempt counted.
  h.queue->configure(h.functions);
  REQUIRE(h.dispatcher.running.size() == 1);
  h.dispatcher.answer(core::Outcome::success({}));
  CHECK(h.in_file("hello") == 0);
}

TEST_CASE("async queue: a dead letter that cannot be written keeps the invocation queued") {
  Harness h({function("hello")});
  h.sink.fails = true;
  REQUIRE(h.invoke("hello", "req-1", "kept").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  h.dispatcher.answer(failed());
  CHECK(h.in_file("hello") == 1);
  // Tried again after the longest backoff: it goes once the destination is back.
  h.sink.fails = false;
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.dispatcher.dispatched == 1);
  CHECK(h.in_file("hello") == 0);
}

TEST_CASE("async queue: a function that is gone keeps its invocations until it comes back") {
  Harness h({function("hello")});
  h.dispatcher.room = 0;
  REQUIRE(h.invoke("hello", "req-1", "kept").accepted());
  h.queue->configure({});
  CHECK(h.invoke("hello", "req-2", "refused").kind == Acceptance::kRejected);
  h.queue->close();
  // It is recovered although nobody runs it.
  h.functions.clear();
  CHECK(h.reopen() == 1);
  CHECK(h.in_file("hello") == 1);
  h.dispatcher.room = 10;
  h.functions = {function("hello")};
  h.queue->configure(h.functions);
  REQUIRE(h.dispatcher.running.size() == 1);
  CHECK(h.dispatcher.running[0].data == "kept");
}

TEST_CASE("async queue: on_success gets Lambda's invocation record as an invocation of its own") {
  config::FunctionManifest hello = function("hello");
  hello.async.on_success = config::DeadLetterSpec{"function", "audit"};
  Harness h({hello, function("audit")});
  REQUIRE(h.invoke("hello", "req-1", "{\"n\":1}").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  core::Response response;
  response.body = "{\"ok\":true}";
  h.dispatcher.answer(core::Outcome::success(response));
  // The record is written to audit's queue before hello's invocation leaves the file.
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  CHECK(h.in_file("hello") == 0);
  CHECK(h.in_file("audit") == 1);
  const core::Event& record = h.dispatcher.running.front();
  CHECK(record.datacontenttype == "application/json");
  CHECK(record.source == "switchyard/async/hello");
  rapidjson::Document document = parse(record.data);
  CHECK(std::string(document["version"].GetString()) == "1.0");
  const auto& context = document["requestContext"];
  CHECK(std::string(context["requestId"].GetString()) == "req-1");
  CHECK(std::string(context["functionArn"].GetString()) ==
        "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST");
  CHECK(std::string(context["condition"].GetString()) == "Success");
  CHECK(context["approximateInvokeCount"].GetInt() == 1);
  CHECK(document["requestPayload"]["n"].GetInt() == 1);
  CHECK(document["responseContext"]["statusCode"].GetInt() == 200);
  CHECK(!document["responseContext"].HasMember("functionError"));
  CHECK(document["responsePayload"]["ok"].GetBool());
  CHECK(h.sink.letters.empty());
}

TEST_CASE("async queue: on_failure and the dead letter both get written, each once") {
  config::FunctionManifest hello = function("hello", 2);
  hello.dead_letter = config::DeadLetterSpec{"redis_list", "dead"};
  hello.async.on_failure = config::DeadLetterSpec{"kafka_topic", "failures"};
  Harness h({hello});
  h.sink.fails_records = true;
  REQUIRE(h.invoke("hello", "req-1", "not json").accepted());
  for (int attempt = 0; attempt < 2; ++attempt) {
    REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
    h.dispatcher.answer(failed());
  }
  // The dead letter is written; the record is not, so the invocation stays in the file.
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 1; }));
  CHECK(h.sink.letters[0].destination == "redis_list:dead");
  CHECK(h.sink.letters[0].record.empty());
  CHECK(h.in_file("hello") == 1);
  CHECK(h.metrics.render().find(R"(switchyard_async_destination_records_total{function="hello",)"
                                R"(destination="on_failure",result="failed"} 1)") !=
        std::string::npos);
  // Written again after retry.max_backoff, without running the function again, and without a
  // second dead letter.
  h.sink.fails_records = false;
  REQUIRE(run_until(h.loop, [&] { return h.sink.letters.size() == 2; }));
  CHECK(h.dispatcher.dispatched == 2);
  CHECK(h.in_file("hello") == 0);
  const auto& letter = h.sink.letters[1];
  CHECK(letter.destination == "kafka_topic:failures");
  rapidjson::Document document = parse(letter.record);
  CHECK(std::string(document["requestContext"]["condition"].GetString()) == "RetriesExhausted");
  CHECK(document["requestContext"]["approximateInvokeCount"].GetInt() == 2);
  CHECK(std::string(document["requestPayload"].GetString()) == "not json");
  CHECK(std::string(document["responseContext"]["functionError"].GetString()) == "Unhandled");
  CHECK(std::string(document["responsePayload"]["errorType"].GetString()) == "Boom");
  CHECK(std::string(document["responsePayload"]["errorMessage"].GetString()) == "it failed");
  CHECK(h.reopen() == 0);
}

TEST_CASE("async queue: an on_success function that cannot take the record keeps the invocation") {
  config::FunctionManifest hello = function("hello");
  hello.async.on_success = config::DeadLetterSpec{"function", "audit"};
  config::FunctionManifest audit = function("audit");
  audit.async.queue_events = 1;
  Harness h({hello, audit});
  h.dispatcher.room = 1;
  // audit's queue is full: the record cannot be written yet.
  REQUIRE(h.invoke("audit", "req-a", "first").accepted());
  REQUIRE(h.invoke("hello", "req-1", "{}").accepted());
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  h.dispatcher.answer(core::Outcome::success({}));  // audit's own invocation.
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  CHECK(h.dispatcher.running.front().data == "{}");
  // Fill audit's queue again before hello succeeds.
  h.dispatcher.room = 1;
  REQUIRE(h.invoke("audit", "req-b", "second").accepted());
  h.dispatcher.answer(core::Outcome::success({}));  // hello succeeds; audit is full.
  CHECK(h.in_file("hello") == 1);
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  CHECK(h.dispatcher.running.front().data == "second");
  h.dispatcher.answer(core::Outcome::success({}));
  // Room again: the record goes in on the next try, and hello's invocation leaves the file.
  REQUIRE(run_until(h.loop, [&] { return h.in_file("hello") == 0; }));
  REQUIRE(run_until(h.loop, [&] { return h.dispatcher.running.size() == 1; }));
  CHECK(parse(h.dispatcher.running.front().data)["requestContext"]["condition"].GetString() ==
        std::string("Success"));
  CHECK(h.dispatcher.dispatched == 4);
}
