// EnvironmentFunction driven directly on a real loop: its environments are real child
// processes (switchyard-environment running a bash + curl custom runtime this test writes),
// speaking the Runtime API to the function's own servers.

#include "environments/environment_function.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "environments/codec.h"
#include "environments/plan.h"
#include "support/proc.h"
#include "support/process.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using environments::EnvironmentFunction;
using environments::EnvironmentPlan;
using switchyard::testing::run_until;
using switchyard::testing::TempDir;

namespace {

constexpr const char* kProgram = SWITCHYARD_ENVIRONMENT_PROGRAM;
constexpr const char* kName = "fn";

// A custom runtime: answers each event by what it says. `hang` waits in a child of its own
// (whose pid it writes to hang.pid), `hold` until the test creates the file `release`,
// `headers` answers with the invocation's deadline, ARN and trace headers, `log` writes
// more than a tail keeps, `marker` one line on stderr.
constexpr const char* kBootstrap = R"(#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
if [ -n "${INIT_FAIL:-}" ]; then
  curl -sS -o /dev/null "$API/init/error" \
    -d "{\"errorMessage\":\"$INIT_FAIL\",\"errorType\":\"Custom.InitFailed\"}"
  exit 1
fi
HEADERS="$LAMBDA_TASK_ROOT/headers.$$"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi "Lambda-Runtime-Aws-Request-Id:" "$HEADERS" | cut -d: -f2- | tr -d '\r ')
  BODY="{\"pid\":$$,\"id\":\"$REQUEST_ID\"}"
  case "$EVENT" in
    headers)
      BODY=$(grep -Fi -e Deadline-Ms -e Function-Arn -e Trace-Id "$HEADERS" | tr -d '\r' | sort | tr '\n' '|') ;;
    hang)
      sleep 60 &
      echo "$!" > "$LAMBDA_TASK_ROOT/hang.pid"
      wait ;;
    hold)
      while [ ! -e "$LAMBDA_TASK_ROOT/release" ]; do sleep 0.02; done ;;
    log)
      for i in $(seq 1 100); do
        echo "noise line $i of the second invocation, long enough to fill the tail quickly"
      done
      echo "last line of the log" ;;
    marker) echo "marker of the first invocation" >&2 ;;
  esac
  curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" -d "$BODY"
done
)";

// The state letter of /proc/<pid>/stat; 0 when the process is gone (reaped).
char process_state(pid_t pid) {
  return switchyard::testing::proc_stat(pid).state;
}

bool dead(pid_t pid) {
  char state = process_state(pid);
  return state == 0 || state == 'Z';
}

// The pid a response of kBootstrap names.
pid_t pid_in(const core::Outcome& outcome) {
  const std::string& body = outcome.response.body;
  auto at = body.find("\"pid\":");
  REQUIRE(at != std::string::npos);
  return std::stoi(body.substr(at + 6));
}

struct Result {
  bool done = false;
  int calls = 0;
  core::Outcome outcome;
};

struct Harness {
  TempDir dir;
  core::Loop loop;
  core::MetricsRegistry metrics;
  std::shared_ptr<EnvironmentFunction> function;
  int requests = 0;

  explicit Harness(functions::EnvironmentSettings settings,
                   std::map<std::string, std::string> env = {}) {
    std::string bootstrap = dir.write("bootstrap", kBootstrap);
    std::filesystem::permissions(bootstrap, std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    config::FunctionManifest manifest;
    manifest.name = kName;
    manifest.env = std::move(env);
    functions::LoadOptions options;
    options.environment_program = kProgram;
    EnvironmentPlan plan = environments::make_plan(manifest, options, settings, dir.path(),
                                                   "function.handler", {"--exec", bootstrap},
                                                   std::make_shared<environments::LambdaCodec>());
    plan.stop_grace = 1000ms;
    function = EnvironmentFunction::make(loop, metrics, std::move(plan));
  }
  ~Harness() { function.reset(); }

  std::uint64_t cold_starts() {
    return metrics
        .counter("switchyard_environment_starts_total",
                 "Execution environments started (cold starts).", {{"function", kName}})
        .value();
  }
  std::uint64_t stops(const std::string& reason) {
    return metrics
        .counter("switchyard_environment_stops_total", "Execution environments stopped, by reason.",
                 {{"function", kName}, {"reason", reason}})
        .value();
  }
  core::Status prepare() {
    std::optional<core::Status> status;
    function->prepare([&](core::Status ready) { status = ready; });
    if (!run_until(
            loop, [&] { return status.has_value(); }, 20s)) {
      return core::Error(core::ErrorCode::kInternal, "prepare() never answered");
    }
    return *status;
  }
  // Starts an invocation of `data`; `result` holds its outcome once finished.
  std::uint64_t start(
      const std::string& data, const std::shared_ptr<Result>& result,
      std::string_view trace_parent = {},
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
      std::vector<std::chrono::steady_clock::time_point>* moves = nullptr) {
    core::Event event;
    event.id = "event-" + std::to_string(++requests);
    event.data = data;
    const std::string request_id = "req-" + std::to_string(requests);
    functions::InvocationContext ctx;
    ctx.request_id = request_id;
    ctx.function_name = kName;
    ctx.trace_parent = trace_parent;
    ctx.deadline = deadline;
    if (moves != nullptr) {
      ctx.move_deadline = [moves](std::chrono::steady_clock::time_point moved) {
        moves->push_back(moved);
      };
    }
    return function->start(event, ctx, [result](core::Outcome outcome) {
      result->done = true;
      ++result->calls;
      result->outcome = std::move(outcome);
    });
  }
  // Runs one invocation of `data` to its end.
  std::shared_ptr<Result> invoke(const std::string& data) {
    auto result = std::make_shared<Result>();
    start(data, result);
    CHECK_FALSE(result->done);  // Never from inside start().
    CHECK(run_until(
        loop, [&] { return result->done; }, 20s));
    return result;
  }
  bool finished(const std::shared_ptr<Result>& result) {
    return run_until(
        loop, [&] { return result->done; }, 20s);
  }
  // Runs the loop for `span`, for what must not happen meanwhile.
  void keep_running(std::chrono::milliseconds span) {
    run_until(
        loop, [] { return false; }, span);
  }
};

functions::EnvironmentSettings settings_with(int min_environments) {
  functions::EnvironmentSettings settings;
  settings.min_environments = min_environments;
  return settings;
}

}  // namespace

TEST_CASE("prepare() readies min_environments environments") {
  Harness harness(settings_with(2));
  REQUIRE(harness.prepare().ok());
  auto counts = harness.function->counts();
  CHECK(counts.idle == 2);
  CHECK(counts.starting == 0);
  CHECK(counts.busy == 0);
  CHECK(harness.cold_starts() == 2);
  auto pids = harness.function->pids();
  REQUIRE(pids.size() == 2);
  CHECK(pids[0] != pids[1]);
  for (pid_t pid : pids) {
    CHECK(process_state(pid) != 0);
  }
}

TEST_CASE("prepare() with min_environments 0 still readies one environment") {
  Harness harness(settings_with(0));
  REQUIRE(harness.prepare().ok());
  CHECK(harness.function->counts().idle == 1);
  CHECK(harness.cold_starts() == 1);
}

TEST_CASE("start() finishes with the runtime's response") {
  Harness harness(settings_with(1));
  REQUIRE(harness.prepare().ok());
  auto result = harness.invoke("hello");
  REQUIRE(result->done);
  CHECK(result->outcome.ok());
  CHECK(result->outcome.response.body.find("\"id\":\"req-1\"") != std::string::npos);
  CHECK(pid_in(result->outcome) == harness.function->pids().at(0));
  // The warm environment takes the next one: no second cold start.
  auto again = harness.invoke("hello");
  CHECK(again->outcome.ok());
  CHECK(pid_in(again->outcome) == pid_in(result->outcome));
  CHECK(harness.cold_starts() == 1);
  CHECK(result->calls == 1);
}

TEST_CASE("the runtime is told the invocation's deadline, ARN and trace") {
  Harness harness(settings_with(1));
  REQUIRE(harness.prepare().ok());
  auto result = std::make_shared<Result>();
  const auto wall_before = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  harness.start("headers", result, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                std::chrono::steady_clock::now() + 5s);
  const auto wall_after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  REQUIRE(harness.finished(result));
  REQUIRE(result->outcome.ok());
  const std::string& body = result->outcome.response.body;
  CHECK(body.find("Lambda-Runtime-Invoked-Function-Arn: "
                  "arn:aws:lambda:us-east-1:000000000000:function:fn|") != std::string::npos);
  CHECK(body.find("Lambda-Runtime-Trace-Id: "
                  "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1|") !=
        std::string::npos);
  const std::string deadline_header = "Lambda-Runtime-Deadline-Ms: ";
  auto at = body.find(deadline_header);
  REQUIRE(at != std::string::npos);
  const long long deadline = std::stoll(body.substr(at + deadline_header.size()));
  CHECK(deadline >= (wall_before + 5s).count() - 5);
  CHECK(deadline <= (wall_after + 5s).count() + 5);
}

TEST_CASE("an invocation that waits for a cold environment has its deadline moved by the wait") {
  Harness harness(settings_with(1));
  // No environment yet: the invocation waits for one to start.
  auto result = std::make_shared<Result>();
  std::vector<std::chrono::steady_clock::time_point> moves;
  // The wall clock first: a pause between the two readings makes `expected` below early, never
  // late, and the runtime's deadline can only come out later than it.
  const auto wall_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      (std::chrono::system_clock::now() + 5s).time_since_epoch());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  harness.start("headers", result, {}, deadline, &moves);
  // At most until the init must be done, while it waits...
  REQUIRE(moves.size() == 1);
  CHECK(moves[0] == deadline + functions::EnvironmentSettings().init_timeout);
  REQUIRE(harness.finished(result));
  REQUIRE(result->outcome.ok());
  // ...then by the wait itself, once the environment took it; the runtime was told as much.
  REQUIRE(moves.size() == 2);
  const auto waited = moves[1] - deadline;
  CHECK(waited > 0ms);
  CHECK(waited < 10s);
  const std::string& body = result->outcome.response.body;
  const std::string deadline_header = "Lambda-Runtime-Deadline-Ms: ";
  auto at = body.find(deadline_header);
  REQUIRE(at != std::string::npos);
  const long long told = std::stoll(body.substr(at + deadline_header.size()));
  const long long expected =
      (wall_deadline + std::chrono::duration_cast<std::chrono::milliseconds>(waited)).count();
  CHECK(told >= expected - 2);
  CHECK(told <= expected + 100);

  // A warm environment (its runtime back in `next`) takes the next at once: its deadline stays.
  REQUIRE(run_until(
      harness.loop, [&] { return harness.function->counts().idle == 1; }, 10s));
  auto warm = std::make_shared<Result>();
  moves.clear();
  harness.start("headers", warm, {}, std::chrono::steady_clock::now() + 5s, &moves);
  REQUIRE(harness.finished(warm));
  CHECK(moves.empty());
}

TEST_CASE("a start with no environment idle starts another (a cold start)") {
  Harness harness(settings_with(1));
  REQUIRE(harness.prepare().ok());
  auto first = std::make_shared<Result>();
  auto second = std::make_shared<Result>();
  // The first holds its environment until the second has its own.
  harness.start("hold", first);
  harness.start("two", second);
  CHECK(harness.function->counts().starting == 1);
  REQUIRE(harness.finished(second));
  CHECK_FALSE(first->done);
  harness.dir.write("release", "");
  REQUIRE(harness.finished(first));
  REQUIRE(harness.finished(second));
  CHECK(first->outcome.ok());
  CHECK(second->outcome.ok());
  CHECK(pid_in(first->outcome) != pid_in(second->outcome));
  CHECK(harness.cold_starts() == 2);
}

TEST_CASE("cancel() of a running invocation kills its environment and never finishes it") {
  Harness harness(settings_with(1));
  REQUIRE(harness.prepare().ok());
  const pid_t pid = harness.function->pids().at(0);
  auto result = std::make_shared<Result>();
  const std::string pid_file = harness.dir.path() + "/hang.pid";
  std::uint64_t number = harness.start("hang", result);
  REQUIRE(run_until(
      harness.loop, [&] { return std::filesystem::exists(pid_file); }, 20s));
  pid_t sleeper = 0;
  REQUIRE(run_until(harness.loop, [&] {
    std::ifstream file(pid_file);
    return static_cast<bool>(file >> sleeper) && sleeper > 0;
  }));
  CHECK(harness.function->counts().busy == 1);

  harness.function->cancel(number);
  // Killed and reaped: not even a zombie is left; what it started in its group goes too.
  CHECK(run_until(
      harness.loop, [&] { return process_state(pid) == 0; }, 10s));
  CHECK(run_until(
      harness.loop, [&] { return dead(sleeper); }, 10s));
  CHECK(run_until(
      harness.loop, [&] { return harness.function->pids().empty(); }, 10s));
  harness.keep_running(300ms);
  CHECK_FALSE(result->done);
  CHECK(harness.stops("timeout") == 1);
  // The function still works, from a fresh environment.
  auto after = harness.invoke("hello");
  CHECK(after->outcome.ok());
  CHECK(pid_in(after->outcome) != pid);
}

TEST_CASE("cancel() of a waiting invocation drops it unfinished") {
  Harness harness(settings_with(0));
  auto result = std::make_shared<Result>();
  std::uint64_t number = harness.start("hello", result);
  CHECK(harness.function->counts().waiting == 1);
  CHECK(harness.function->counts().starting == 1);
  harness.function->cancel(number);
  CHECK(harness.function->counts().waiting == 0);
  // The environment it started comes up and waits, with nothing to do.
  CHECK(run_until(
      harness.loop, [&] { return harness.function->counts().idle == 1; }, 20s));
  harness.keep_running(300ms);
  CHECK_FALSE(result->done);
  CHECK(harness.function->counts().busy == 0);
}

TEST_CASE("idle_timeout stops idle environments above min_environments, keeps the rest") {
  auto settings = settings_with(1);
  settings.idle_timeout = 300ms;
  Harness harness(settings);
  REQUIRE(harness.prepare().ok());
  auto first = std::make_shared<Result>();
  auto second = std::make_shared<Result>();
  harness.start("hold", first);
  harness.start("two", second);
  REQUIRE(harness.finished(second));
  harness.dir.write("release", "");
  REQUIRE(harness.finished(first));
  std::set<pid_t> used = {pid_in(first->outcome), pid_in(second->outcome)};
  REQUIRE(used.size() == 2);

  CHECK(run_until(
      harness.loop,
      [&] {
        return harness.function->pids().size() == 1 && harness.function->counts().stopping == 0;
      },
      10s));
  CHECK(harness.stops("idle") == 1);
  const auto kept = harness.function->pids();
  REQUIRE(kept.size() == 1);
  for (pid_t pid : used) {
    if (pid != kept[0]) {
      CHECK(run_until(
          harness.loop, [&] { return process_state(pid) == 0; }, 10s));
    }
  }
  // min_environments stays, however long it idles.
  harness.keep_running(1500ms);
  CHECK(harness.function->pids() == kept);
  CHECK(harness.function->counts().idle == 1);
  CHECK(harness.stops("idle") == 1);
}

TEST_CASE("max_invocations replaces an environment after that many invocations") {
  auto settings = settings_with(1);
  settings.max_invocations = 2;
  Harness harness(settings);
  REQUIRE(harness.prepare().ok());
  auto one = harness.invoke("a");
  auto two = harness.invoke("b");
  auto three = harness.invoke("c");
  REQUIRE(one->outcome.ok());
  REQUIRE(two->outcome.ok());
  REQUIRE(three->outcome.ok());
  CHECK(pid_in(one->outcome) == pid_in(two->outcome));
  CHECK(pid_in(three->outcome) != pid_in(two->outcome));
  CHECK(harness.cold_starts() == 2);
  const pid_t recycled = pid_in(one->outcome);
  CHECK(run_until(
      harness.loop, [&] { return process_state(recycled) == 0; }, 10s));
  CHECK(harness.stops("recycled") == 1);
}

TEST_CASE("an init failure fails the waiting invocations; starts in the backoff fail at once") {
  Harness harness(settings_with(0), {{"INIT_FAIL", "no config here"}});
  auto first = std::make_shared<Result>();
  auto second = std::make_shared<Result>();
  harness.start("one", first);
  harness.start("two", second);
  REQUIRE(harness.finished(first));
  REQUIRE(harness.finished(second));
  for (const auto& result : {first, second}) {
    CHECK_FALSE(result->outcome.ok());
    CHECK(result->outcome.error_type == "Custom.InitFailed");
    CHECK(result->outcome.error_message == "no config here");
  }
  const std::uint64_t spawned = harness.cold_starts();
  CHECK(spawned >= 1);

  auto third = std::make_shared<Result>();
  harness.start("three", third);
  CHECK_FALSE(third->done);  // Not from inside start().
  REQUIRE(harness.finished(third));
  CHECK(third->outcome.error_type == "Custom.InitFailed");
  CHECK(third->outcome.error_message == "no config here");
  CHECK(harness.cold_starts() == spawned);
  CHECK(harness.function->counts().waiting == 0);
}

TEST_CASE("prepare() fails with the runtime's init error") {
  Harness harness(settings_with(1), {{"INIT_FAIL", "no config here"}});
  auto status = harness.prepare();
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message().find("init failed: Custom.InitFailed: no config here") !=
        std::string::npos);
}

TEST_CASE("the log tail holds the invocation's own output, at most 4 KiB") {
  Harness harness(settings_with(1));
  REQUIRE(harness.prepare().ok());
  auto first = harness.invoke("marker");
  REQUIRE(first->outcome.ok());
  CHECK(first->outcome.log_tail.find("marker of the first invocation\n") != std::string::npos);

  auto second = harness.invoke("log");
  REQUIRE(second->outcome.ok());
  const std::string& tail = second->outcome.log_tail;
  CHECK(tail.size() <= 4096);
  CHECK(tail.size() > 3000);  // The output was over 8 KiB: the tail is full.
  CHECK(tail.find("marker of the first invocation") == std::string::npos);
  CHECK(tail.find("noise line 100 of the second invocation") != std::string::npos);
  CHECK(tail.find("noise line 1 of") == std::string::npos);
  CHECK(tail.size() >= std::string("last line of the log\n").size());
  CHECK(tail.substr(tail.size() - 21) == "last line of the log\n");
}

TEST_CASE("the destructor kills and reaps every environment") {
  Harness harness(settings_with(2));
  REQUIRE(harness.prepare().ok());
  auto result = std::make_shared<Result>();
  harness.start("hang", result);
  auto pids = harness.function->pids();
  REQUIRE(pids.size() == 2);
  harness.function.reset();
  for (pid_t pid : pids) {
    CHECK(process_state(pid) == 0);
  }
  harness.keep_running(100ms);
  CHECK_FALSE(result->done);
}
