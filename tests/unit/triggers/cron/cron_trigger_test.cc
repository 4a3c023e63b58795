#include "triggers/cron/cron_trigger.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/time.h"
#include "scheduler/scheduler.h"
#include "support/process.h"
#include "support/run_until.h"
#include "triggers/cron/schedule.h"
#include "triggers/cron/settings.h"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::run_until;
using Clock = std::chrono::system_clock;

namespace {

class NullSink final : public scheduler::DeadLetterSink {
 public:
  void send(const scheduler::DeadLetter&, std::function<void(core::Status)> done) override {
    done(core::Status());
  }
};

// What a function saw of one event, copied on its worker thread.
struct Seen {
  std::string id;
  std::string source;
  std::string type;
  std::string subject;
  std::string datacontenttype;
  Clock::time_point time;
  core::Attributes attributes;
  std::string data;
};

std::string attribute(const Seen& seen, std::string_view key) {
  const core::Attribute* found = core::find_attribute(seen.attributes, key);
  return found != nullptr ? found->value : std::string("<missing>");
}

std::int64_t unix_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// A clock the test moves by hand: alarms fire only inside advance(), so the policies are
// checked without waiting for real time.
class ManualClock final : public triggers::cron::CronClock {
 public:
  explicit ManualClock(Clock::time_point start) : now_(start) {}

  Clock::time_point now() const override { return now_; }

  std::unique_ptr<Alarm> alarm(core::Loop&, std::function<void()> callback) override {
    return std::make_unique<ManualAlarm>(*this, std::move(callback));
  }

  // Moves the time forward by `step` and fires every alarm due by then.
  void advance(Clock::duration step) {
    now_ += step;
    for (bool fired = true; fired;) {
      fired = false;
      for (ManualAlarm* alarm : alarms_) {
        if (alarm->armed && alarm->when <= now_) {
          alarm->armed = false;
          alarm->callback();  // May re-arm it, or others.
          fired = true;
          break;
        }
      }
    }
  }

 private:
  struct ManualAlarm final : Alarm {
    ManualAlarm(ManualClock& clock, std::function<void()> callback)
        : clock(clock), callback(std::move(callback)) {
      clock.alarms_.push_back(this);
    }
    ~ManualAlarm() override { std::erase(clock.alarms_, this); }
    void set(Clock::time_point at) override {
      when = at;
      armed = true;
    }
    void cancel() override { armed = false; }

    ManualClock& clock;
    std::function<void()> callback;
    Clock::time_point when{};
    bool armed = false;
  };

  Clock::time_point now_;
  std::vector<ManualAlarm*> alarms_;
};

// A real loop, worker pool and scheduler, and the cron triggers of a snapshot built on them.
struct Harness {
  Harness()
      : pool(scheduler::PoolOptions{4, 64, 5ms, 30s}),
        sched(loop, pool, metrics, sink, "test"),
        context{loop, sched, metrics, snapshot.daemon, router} {}
  ~Harness() {
    release = 1 << 20;
    pool.stop();
  }

  // Adds function `name` with one cron trigger. `serve` = false leaves it out of the scheduler.
  triggers::cron::CronTriggerSettings& add(const std::string& name, const std::string& schedule,
                                           int concurrency = 4, int queue = 10, bool serve = true) {
    config::FunctionManifest m;
    m.name = name;
    m.concurrency = concurrency;
    m.queue = queue;
    m.timeout = 10s;
    config::TriggerSpec trigger;
    auto spec = std::make_shared<triggers::cron::CronTriggerSettings>();
    spec->schedule = schedule;
    trigger.kind = "cron";
    trigger.settings = spec;
    trigger.location = {"functions.d/" + name + ".yaml", 7, 5};
    m.triggers.push_back(trigger);
    snapshot.functions.push_back(m);
    if (serve) {
      sched.upsert(
          m, std::make_shared<functions::CallableFunction>(
                 name, [this](const core::Event& event, const auto&) { return invoke(event); }));
    }
    // Tests change the settings after adding, before building the trigger.
    return *spec;
  }

  core::Result<std::vector<triggers::TriggerPtr>> build() {
    config::Kinds kinds;
    triggers::TriggerRegistry registry(kinds);
    triggers::cron::register_cron_trigger(registry);
    const triggers::TriggerKind* kind = registry.find("cron");
    REQUIRE(kind != nullptr);
    return kind->factory(snapshot, context);
  }

  // Builds and starts every trigger of the snapshot on a manual clock set to `at`.
  ManualClock& start_manual(Clock::time_point at) {
    clock = std::make_shared<ManualClock>(at);
    auto built = triggers::cron::build_cron_triggers(snapshot, context, clock);
    REQUIRE(built.ok());
    triggers = std::move(built).value();
    for (auto& trigger : triggers) {
      REQUIRE(trigger->start().ok());
    }
    return *clock;
  }

  // Builds and starts every trigger of the snapshot.
  void start() {
    auto built = build();
    REQUIRE(built.ok());
    triggers = std::move(built).value();
    for (auto& trigger : triggers) {
      REQUIRE(trigger->start().ok());
    }
  }

  // Stops every trigger and waits for their `done`.
  bool stop(std::chrono::milliseconds timeout = 5s) {
    for (auto& trigger : triggers) {
      trigger->stop([this] { ++stopped; });
    }
    return run_until(
        loop, [&] { return stopped == static_cast<int>(triggers.size()); }, timeout);
  }

  core::Outcome invoke(const core::Event& event) {
    int index;
    {
      std::lock_guard lock(mutex);
      seen.push_back({event.id, event.source, event.type, event.subject, event.datacontenttype,
                      event.time, event.attributes, event.data});
      index = static_cast<int>(seen.size());
    }
    // The highest index so far: invocations running side by side finish this line in any
    // order, and a plain store could leave a lower index last.
    int seen_before = started.load();
    while (seen_before < index && !started.compare_exchange_weak(seen_before, index)) {
    }
    // Invocation i (1-based) returns once `release` reaches i, or after `sleep`.
    auto until = std::chrono::steady_clock::now() + sleep;
    while (release.load() < index && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    return core::Outcome::success(core::Response{});
  }

  std::vector<Seen> snapshot_seen() {
    std::lock_guard lock(mutex);
    return seen;
  }

  std::uint64_t fires(const std::string& function) {
    return metrics.counter("switchyard_cron_fires_total", "", {{"function", function}}).value();
  }
  std::uint64_t skips(const std::string& function, const std::string& reason) {
    return metrics
        .counter("switchyard_cron_skips_total", "", {{"function", function}, {"reason", reason}})
        .value();
  }

  core::Loop loop;
  core::MetricsRegistry metrics;
  NullSink sink;
  scheduler::WorkerPool pool;
  scheduler::Scheduler sched;
  config::Snapshot snapshot;
  scheduler::DeadLetterRouter router;
  triggers::TriggerContext context;
  std::shared_ptr<ManualClock> clock;
  std::vector<triggers::TriggerPtr> triggers;
  int stopped = 0;

  std::mutex mutex;
  std::vector<Seen> seen;
  std::atomic<int> started{0};
  std::atomic<int> release{1 << 20};  // By default nothing blocks.
  std::chrono::milliseconds sleep{10s};
};

}  // namespace

TEST_CASE("@every 1s fires on a steady schedule with stable ids and cron attributes") {
  Harness h;
  auto& spec = h.add("tick", "@every 1s");
  spec.timezone = "Europe/Berlin";
  spec.payload = "hello";
  Clock::time_point begin = Clock::now();
  h.start();
  REQUIRE(run_until(
      h.loop, [&] { return h.started >= 2; }, 4s));
  REQUIRE(h.stop());

  auto seen = h.snapshot_seen();
  REQUIRE(seen.size() >= 2);
  CHECK(seen[0].time - begin >= 1s);
  // Scheduled one interval after the start (the start itself may be late on a loaded machine).
  CHECK(seen[0].time - begin < 1s + 500ms);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const Seen& event = seen[i];
    CHECK(event.id == "tick-" + std::to_string(unix_ms(event.time)));
    CHECK(event.source == "switchyard/cron");
    CHECK(event.type == "switchyard.cron.tick");
    CHECK(event.subject == "@every 1s");
    CHECK(event.data == "hello");
    CHECK(event.datacontenttype.empty());
    CHECK(attribute(event, "cron.schedule") == "@every 1s");
    std::string scheduled = triggers::cron::format_iso8601(event.time, "Europe/Berlin");
    CHECK(attribute(event, "cron.scheduled_time") == scheduled);
    // Fired within a second of its scheduled time (the format drops fractions).
    std::string fired = attribute(event, "cron.fire_time");
    CHECK((fired == scheduled ||
           fired == triggers::cron::format_iso8601(event.time + 1s, "Europe/Berlin")));
    if (i > 0) {
      // Computed from the previous scheduled time, never from "now": no drift.
      CHECK(event.time - seen[i - 1].time == 1s);
    }
  }
  CHECK(h.fires("tick") == seen.size());
  auto& lateness =
      h.metrics.histogram("switchyard_cron_lateness_seconds", "", {{"function", "tick"}});
  CHECK(lateness.count() == seen.size());
  CHECK(lateness.sum() / static_cast<double>(lateness.count()) < 0.5);
}

// 2026-11-23T10:00:00.500Z: half a second before a per-second tick.
Clock::time_point half_past() {
  return *core::parse_rfc3339("2026-11-23T10:00:00.500Z");
}

TEST_CASE("overlap: skip drops ticks while the previous one runs") {
  Harness h;
  h.release = 0;
  h.add("slow", "* * * * * *").overlap = "skip";
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);  // 10:00:01 fires.
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 1; }, 5s));
  clock.advance(1s);  // 10:00:02 and 10:00:03 find it running.
  clock.advance(1s);
  CHECK(h.skips("slow", "overlap") == 2);
  CHECK(h.fires("slow") == 1);
  h.release = 1;
  // Once it completed, the next tick runs again.
  REQUIRE(run_until(
      h.loop, [&] { return h.sched.stats("slow").in_flight == 0; }, 5s));
  h.release = 1 << 20;
  clock.advance(1s);
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 2; }, 5s));
  auto seen = h.snapshot_seen();
  CHECK(seen[0].id == "slow-" + std::to_string(unix_ms(half_past() + 500ms)));
  CHECK(seen[1].id == "slow-" + std::to_string(unix_ms(half_past() + 3500ms)));
  REQUIRE(h.stop());
}

TEST_CASE("overlap: allow runs ticks side by side") {
  Harness h;
  h.release = 0;
  h.add("parallel", "* * * * * *");
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);
  clock.advance(1s);
  clock.advance(1s);
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 3; }, 5s));
  CHECK(h.skips("parallel", "overlap") == 0);
  h.release = 1 << 20;
  REQUIRE(h.stop());
}

TEST_CASE("overlap: queue keeps at most one tick and runs it when the previous completes") {
  Harness h;
  h.release = 0;
  h.add("q", "* * * * * *").overlap = "queue";
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);  // t1 runs.
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 1; }, 5s));
  clock.advance(1s);  // t2 waits.
  clock.advance(1s);  // t3 is skipped: one waits at most.
  CHECK(h.skips("q", "overlap") == 1);
  CHECK(h.started == 1);
  h.release = 1;
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 2; }, 5s));
  auto seen = h.snapshot_seen();
  // The waiting tick runs with its own scheduled time.
  CHECK(seen[1].time - seen[0].time == 1s);
  CHECK(seen[1].id == "q-" + std::to_string(unix_ms(seen[0].time + 1s)));
  h.release = 1 << 20;
  REQUIRE(h.stop());
  seen = h.snapshot_seen();
  REQUIRE(seen.size() == 2);
  std::string skipped = "q-" + std::to_string(unix_ms(seen[0].time + 2s));
  CHECK(std::none_of(seen.begin(), seen.end(), [&](const Seen& s) { return s.id == skipped; }));
}

TEST_CASE("misfire after a stall: skip drops the missed ticks, run_once runs the latest") {
  SUBCASE("skip") {
    Harness h;
    h.add("stalled", "* * * * * *");
    ManualClock& clock = h.start_manual(half_past());
    // The machine sleeps through 10:00:01 ... 10:00:05 and wakes at 10:00:05.200.
    clock.advance(4700ms);
    CHECK(h.skips("stalled", "misfire") == 5);
    CHECK(h.fires("stalled") == 0);
    // The schedule resumes at the next tick.
    clock.advance(800ms);
    REQUIRE(run_until(
        h.loop, [&] { return h.started == 1; }, 5s));
    CHECK(h.snapshot_seen()[0].id == "stalled-" + std::to_string(unix_ms(half_past() + 5500ms)));
    REQUIRE(h.stop());
  }
  SUBCASE("run_once") {
    Harness h;
    h.add("catchup", "* * * * * *").misfire = "run_once";
    ManualClock& clock = h.start_manual(half_past());
    clock.advance(4700ms);
    REQUIRE(run_until(
        h.loop, [&] { return h.started == 1; }, 5s));
    CHECK(h.skips("catchup", "misfire") == 4);
    auto seen = h.snapshot_seen();
    CHECK(seen[0].id == "catchup-" + std::to_string(unix_ms(half_past() + 4500ms)));
    CHECK(attribute(seen[0], "cron.scheduled_time") == "2026-11-23T10:00:05+00:00");
    CHECK(h.fires("catchup") == 1);
    REQUIRE(h.stop());
  }
  SUBCASE("one tick late is not a misfire") {
    Harness h;
    h.add("late", "* * * * * *");
    ManualClock& clock = h.start_manual(half_past());
    clock.advance(1400ms);  // 10:00:01 fires 0.9 s late; 10:00:02 is not due yet.
    REQUIRE(run_until(
        h.loop, [&] { return h.started == 1; }, 5s));
    CHECK(h.skips("late", "misfire") == 0);
    REQUIRE(h.stop());
  }
}

TEST_CASE("payload: eventbridge sends an EventBridge Scheduled Event") {
  Harness h;
  h.snapshot.daemon.region = "eu-north-1";
  h.add("report", "@every 1s").payload = "eventbridge";
  h.start();
  REQUIRE(run_until(
      h.loop, [&] { return h.started >= 1; }, 3s));
  REQUIRE(h.stop());
  auto seen = h.snapshot_seen();
  REQUIRE(!seen.empty());
  CHECK(seen[0].datacontenttype == "application/json");
  rapidjson::Document doc;
  doc.Parse(seen[0].data.data(), seen[0].data.size());
  REQUIRE(!doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(std::string(doc["version"].GetString()) == "0");
  CHECK(std::string(doc["id"].GetString()).size() == 36);
  CHECK(std::string(doc["detail-type"].GetString()) == "Scheduled Event");
  CHECK(std::string(doc["source"].GetString()) == "aws.events");
  CHECK(std::string(doc["account"].GetString()) == "000000000000");
  CHECK(std::string(doc["region"].GetString()) == "eu-north-1");          // The daemon's `region`.
  std::string utc = triggers::cron::format_iso8601(seen[0].time, "UTC");  // ...+00:00
  REQUIRE(utc.size() == 25);
  CHECK(std::string(doc["time"].GetString()) == utc.substr(0, 19) + "Z");
  REQUIRE(doc["resources"].IsArray());
  REQUIRE(doc["resources"].Size() == 1);
  CHECK(std::string(doc["resources"][0].GetString()) == "switchyard:cron/report");
  REQUIRE(doc["detail"].IsObject());
  CHECK(doc["detail"].MemberCount() == 0);
}

TEST_CASE("a throttled tick is counted as a skip") {
  Harness h;
  h.release = 0;
  h.add("busy", "* * * * * *", /*concurrency=*/1, /*queue=*/0);
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 1; }, 5s));
  clock.advance(1s);
  CHECK(h.skips("busy", "throttled") == 1);
  CHECK(h.fires("busy") == 1);
  h.release = 1 << 20;
  REQUIRE(h.stop());
}

TEST_CASE("a tick for a function that is not serving is counted as rejected") {
  Harness h;
  h.add("gone", "* * * * * *", 1, 1, /*serve=*/false);
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);
  CHECK(h.skips("gone", "rejected") == 1);
  CHECK(h.fires("gone") == 0);
  // Nothing in flight: stop() is done at once.
  h.triggers[0]->stop([&] { ++h.stopped; });
  CHECK(h.stopped == 1);
}

TEST_CASE("stop() cancels the timer and waits for the running tick") {
  Harness h;
  h.release = 0;
  h.add("long", "* * * * * *");
  ManualClock& clock = h.start_manual(half_past());
  clock.advance(500ms);
  REQUIRE(run_until(
      h.loop, [&] { return h.started == 1; }, 5s));
  h.triggers[0]->stop([&] { ++h.stopped; });
  // Past the next ticks: nothing new runs, and stop still waits for the running one.
  clock.advance(2s);
  run_until(
      h.loop, [] { return false; }, 50ms);  // Completions could arrive here.
  CHECK(h.stopped == 0);
  CHECK(h.started == 1);
  CHECK(h.fires("long") == 1);
  h.release = 1;
  REQUIRE(run_until(
      h.loop, [&] { return h.stopped > 0; }, 5s));
  CHECK(h.stopped == 1);
  CHECK(h.started == 1);
}

TEST_CASE("a schedule that does not parse is an error pointing at the trigger") {
  Harness h;
  h.add("tick", "61 * * * *");
  auto built = h.build();
  REQUIRE(!built.ok());
  auto parsed = triggers::cron::Schedule::parse("61 * * * *");
  REQUIRE(!parsed.ok());
  CHECK(built.error().message() ==
        "functions.d/tick.yaml:7:5: function tick: schedule \"61 * * * *\": " +
            parsed.error().message());
  CHECK(built.error().message().find("minute") != std::string::npos);
}

TEST_CASE("an unknown time zone and a lock on a Redis URL that does not parse are refused") {
  Harness h;
  h.snapshot.daemon.redis.url = "redis://host:notaport/0";
  h.add("zoned", "0 * * * *").timezone = "Mars/Olympus";
  h.add("locked", "0 * * * *").lock = "redis";
  auto built = h.build();
  REQUIRE(!built.ok());
  const std::string& message = built.error().message();
  CHECK(message.find("functions.d/zoned.yaml:7:5: function zoned: schedule \"0 * * * *\": ") == 0);
  CHECK(message.find("; functions.d/locked.yaml:7:5: function locked: lock: redis: ") !=
        std::string::npos);
}

TEST_CASE("jitter is a stable per-function offset below the jitter") {
  using triggers::cron::jitter_offset;
  CHECK(jitter_offset("a", 0ms) == 0ms);
  for (const char* name : {"a", "thumbnail", "nightly-report", "x"}) {
    auto offset = jitter_offset(name, 30s);
    CHECK(offset >= 0ms);
    CHECK(offset < 30s);
    CHECK(jitter_offset(name, 30s) == offset);
  }
  CHECK(jitter_offset("thumbnail", 30s) != jitter_offset("nightly-report", 30s));
}

TEST_CASE("the cron kind registers its manifest key, and only once") {
  config::Kinds kinds;
  triggers::TriggerRegistry registry(kinds);
  triggers::cron::register_cron_trigger(registry);
  CHECK(registry.find("cron") != nullptr);
  CHECK(kinds.trigger("cron") != nullptr);
  triggers::TriggerKind again;
  again.manifest.key = "cron";
  CHECK_FALSE(registry.add(std::move(again)).ok());
}

namespace {

Clock::time_point at(const char* rfc3339) {
  return *core::parse_rfc3339(rfc3339);
}

triggers::cron::Schedule parse(const char* expression) {
  auto schedule = triggers::cron::Schedule::parse(expression, "UTC");
  REQUIRE(schedule.ok());
  return std::move(schedule).value();
}

}  // namespace

TEST_CASE("overdue_ticks counts the missed ticks and finds the latest exactly") {
  using triggers::cron::overdue_ticks;
  auto hourly = parse("0 * * * *");
  // Down from 10:00 (its tick due) to 13:30: 10:00, 11:00, 12:00, 13:00 were missed.
  auto missed = overdue_ticks(hourly, at("2026-11-23T10:00:00Z"), at("2026-11-23T13:30:00Z"), 0ms);
  CHECK(missed.count == 4);
  CHECK_FALSE(missed.more);
  CHECK(missed.latest == at("2026-11-23T13:00:00Z"));
  // A jitter delays when a tick is due: 13:00 + 40 min is not due at 13:30 yet.
  missed = overdue_ticks(hourly, at("2026-11-23T10:00:00Z"), at("2026-11-23T13:30:00Z"), 40min);
  CHECK(missed.count == 3);
  CHECK(missed.latest == at("2026-11-23T12:00:00Z"));
  // Nothing due.
  missed = overdue_ticks(hourly, at("2026-11-23T14:00:00Z"), at("2026-11-23T13:30:00Z"), 0ms);
  CHECK(missed.count == 0);

  // Per second for two days: counting stops at the limit, the latest is still exact.
  auto every_second = parse("* * * * * *");
  missed =
      overdue_ticks(every_second, at("2026-11-21T00:00:00Z"), at("2026-11-23T08:15:42.300Z"), 0ms);
  CHECK(missed.count == triggers::cron::kMissedCountLimit);
  CHECK(missed.more);
  CHECK(missed.latest == at("2026-11-23T08:15:42Z"));
  // Sparse ticks after a dense stretch: only 03:00-03:59:59 every second, checked at 05:00.
  auto three_am = parse("* * 3 * * *");
  missed = overdue_ticks(three_am, at("2026-11-20T00:00:00Z"), at("2026-11-23T05:00:00Z"), 0ms);
  CHECK(missed.more);
  CHECK(missed.latest == at("2026-11-23T03:59:59Z"));

  // @every counts real time from its phase.
  auto every = parse("@every 90s");
  missed = overdue_ticks(every, at("2026-11-23T10:00:00Z"), at("2026-11-23T10:05:00Z"), 0ms);
  CHECK(missed.count == 4);  // 10:00:00, 10:01:30, 10:03:00, 10:04:30.
  CHECK(missed.latest == at("2026-11-23T10:04:30Z"));
}

TEST_CASE("misfire across a restart: skip counts the missed ticks, run_once runs the latest") {
  switchyard::testing::TempDir state;
  auto write_state = [&](const std::string& key, Clock::time_point last) {
    state.write("cron-state.json", "{\"" + key + "\": " + std::to_string(unix_ms(last)) + "}");
  };
  Clock::time_point an_hour_ago = Clock::now() - 1h;

  SUBCASE("skip") {
    write_state("hourly-skip 0 * * * * * UTC", an_hour_ago - 5h);
    Harness h;
    h.snapshot.daemon.state_dir = state.path();
    h.add("hourly-skip", "0 * * * * *");  // Every minute, at second 0.
    h.start();
    // About 6 hours of per-minute ticks were missed: all skipped, none run.
    std::uint64_t skipped = h.skips("hourly-skip", "misfire");
    CHECK(skipped >= 6 * 60 - 1);
    CHECK(skipped <= 6 * 60 + 1);
    CHECK(h.started == 0);
    REQUIRE(h.stop());
  }
  SUBCASE("run_once") {
    write_state("catch-up 0 * * * * * UTC", an_hour_ago);
    Harness h;
    h.snapshot.daemon.state_dir = state.path();
    h.add("catch-up", "0 * * * * *").misfire = "run_once";
    Clock::time_point begin = Clock::now();
    h.start();
    REQUIRE(run_until(
        h.loop, [&] { return h.started >= 1; }, 2s));
    auto seen = h.snapshot_seen();
    REQUIRE(seen.size() == 1);
    // The latest missed tick, with its own scheduled time, run at once.
    Clock::time_point expected = std::chrono::floor<std::chrono::minutes>(begin);
    if (std::chrono::floor<std::chrono::minutes>(Clock::now()) != expected &&
        seen[0].time == expected + 1min) {
      expected += 1min;  // The start crossed a minute boundary.
    }
    CHECK(seen[0].time == expected);
    CHECK(seen[0].id == "catch-up-" + std::to_string(unix_ms(expected)));
    std::uint64_t skipped = h.skips("catch-up", "misfire");
    CHECK(skipped >= 59);
    CHECK(skipped <= 61);
    REQUIRE(h.stop());
  }
  // The stop wrote what was handled: the next start finds nothing missed.
  std::ifstream in(state.path() + "/cron-state.json");
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  REQUIRE(doc.IsObject());
  REQUIRE(doc.MemberCount() == 1);
  Clock::time_point recorded(std::chrono::milliseconds(doc.MemberBegin()->value.GetInt64()));
  CHECK(recorded > an_hour_ago);
  CHECK(recorded <= Clock::now());
}

TEST_CASE("a corrupt state file is reported and ignored, not fatal") {
  switchyard::testing::TempDir state;
  state.write("cron-state.json", "{not json");
  Harness h;
  h.snapshot.daemon.state_dir = state.path();
  h.add("tolerant", "0 * * * * *").misfire = "run_once";
  h.start();
  CHECK(h.skips("tolerant", "misfire") == 0);
  CHECK(h.started == 0);
  REQUIRE(h.stop());
}
