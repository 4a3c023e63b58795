// The kinds are open: a trigger kind and a runtime that only tests know (tests/kinds/) are each
// added with one registration line, then parsed from a manifest, built, loaded and run through
// the scheduler as the daemon does it.

#include "daemon/kinds.h"

#include <doctest/doctest.h>

#include "config/loader.h"
#include "scheduler/dead_letter.h"
#include "scheduler/scheduler.h"
#include "scheduler/worker_pool.h"
#include "support/run_until.h"
#include "tests/kinds/echo/echo_runtime.h"
#include "tests/kinds/tick/tick_trigger.h"
#include "unit/config/config_fixture.h"

using namespace switchyard;
using namespace std::chrono_literals;
using config::testing::ConfigFixture;

namespace {

// The built-in kinds plus the two test kinds: one line each.
struct TestKinds : daemon::Kinds {
  TestKinds() {
    daemon::register_builtin_kinds(*this);
    testing::tick::register_tick_trigger(triggers);
    testing::echo::register_echo_runtime(runtimes);
  }
};

std::vector<std::string> messages(const config::LoadResult& result) {
  std::vector<std::string> out;
  for (const auto& error : result.errors) {
    out.push_back(error.message);
  }
  return out;
}

}  // namespace

TEST_CASE("a test-only trigger kind and runtime run an event from manifest to answer") {
  TestKinds kinds;
  ConfigFixture f;
  f.write_defaults("workers: 2\nhttp: { port: 0 }\nadmin: { enabled: false }\n");
  f.write("functions.d/echo.yaml",
          "name: echo\n"
          "runtime: echo\n"
          "prefix: \"> \"\n"
          "concurrency: 2\n"
          "triggers:\n"
          "  - tick: { count: 3, data: hello }\n");
  config::LoadResult result = config::load(f.dir() / "switchyard.yaml", kinds.manifest);
  REQUIRE(messages(result) == std::vector<std::string>{});
  const config::FunctionManifest& manifest = result.snapshot->functions.at(0);
  CHECK(manifest.runtime == "echo");
  CHECK(manifest.code->describe() == "echo with prefix \"> \"");
  REQUIRE(manifest.triggers.size() == 1);
  CHECK(manifest.triggers[0].kind == "tick");

  core::Loop loop;
  core::MetricsRegistry metrics;
  scheduler::DeadLetterRouter dead_letters;
  scheduler::WorkerPool pool(scheduler::PoolOptions{2, 64, 5ms, 30s});
  scheduler::Scheduler sched(loop, pool, metrics, dead_letters, "test");
  auto function = functions::load(kinds.runtimes, manifest);
  REQUIRE(function.ok());
  sched.upsert(manifest, std::move(function).value());

  triggers::TriggerContext context{loop,         sched,  metrics, result.snapshot->daemon,
                                   dead_letters, nullptr};
  const triggers::TriggerKind* tick = kinds.triggers.find("tick");
  REQUIRE(tick != nullptr);
  auto built = tick->factory(*result.snapshot, context);
  REQUIRE(built.ok());
  REQUIRE(built.value().size() == 1);
  auto& trigger = built.value().front();
  REQUIRE(trigger->start().ok());

  auto& answers = testing::tick::answers();
  answers.clear();
  REQUIRE(testing::run_until(loop, [&] { return answers.size() == 3; }));
  CHECK(answers == std::vector<std::string>{"> hello", "> hello", "> hello"});
  bool stopped = false;
  trigger->stop([&] { stopped = true; });
  CHECK(stopped);
  pool.stop();
}

TEST_CASE("a manifest is checked against the kinds registered, with their keys") {
  TestKinds kinds;
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/a.yaml",
          "name: a\n"
          "runtime: echo\n"
          "library: lib/libthumb.so\n"
          "triggers:\n"
          "  - tock: { count: 1 }\n"
          "  - tick: { count: 0 }\n");
  CHECK(messages(config::load(f.dir() / "switchyard.yaml", kinds.manifest)) ==
        std::vector<std::string>{
            "unknown key \"library\" in function manifest (expected name, runtime, prefix, "
            "concurrency, queue, timeout, execution, env, config, retry, dead_letter, async or "
            "triggers)",
            "unknown trigger kind \"tock\" (expected http, kafka, redis, cron or tick; did you "
            "mean \"tick\"?)",
            "triggers[1].tick.count must be at least 1 (got 0)"});

  // The built-in kinds alone know neither.
  CHECK(messages(config::load(f.dir() / "switchyard.yaml", daemon::builtin_kinds().manifest)) ==
        std::vector<std::string>{
            "runtime must be one of native, provided or python3 (got \"echo\")",
            "unknown trigger kind \"tock\" (expected http, kafka, redis or cron)",
            "unknown trigger kind \"tick\" (expected http, kafka, redis or cron)"});
}

TEST_CASE("a kind registered twice is refused") {
  TestKinds kinds;
  triggers::TriggerKind again;
  again.manifest.key = "tick";
  CHECK_FALSE(kinds.triggers.add(std::move(again)).ok());
  functions::RuntimeKind native;
  native.manifest.key = "native";
  CHECK_FALSE(kinds.runtimes.add(std::move(native)).ok());
}
