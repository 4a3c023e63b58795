// The scheduler and pending contents: built once on the worker that runs the event, never
// mixed between events, built for retries and dead letters, released when never built.

#include "pending_harness.h"
#include "scheduler/scheduler.h"
#include "scheduler_harness.h"

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
