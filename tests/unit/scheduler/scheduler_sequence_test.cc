// The scheduler's runs offered at once: sequences (in order on one slot, the rest given back
// after a failure, a timeout or the run's budget) and groups of independent events.

#include "pending_harness.h"
#include "scheduler/scheduler.h"
#include "scheduler_harness.h"

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
