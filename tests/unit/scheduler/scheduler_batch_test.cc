// The scheduler's batches: one slot per batch, batchItemFailures, timed-out batches, and the
// dead-letter router.

#include "scheduler/scheduler.h"
#include "scheduler_harness.h"

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
