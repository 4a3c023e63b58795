// The scheduler: concurrency, queues and runs, throttling, timeouts, retries, reloads, drain
// and abandon.

#include "scheduler/scheduler.h"

#include "scheduler_harness.h"

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
