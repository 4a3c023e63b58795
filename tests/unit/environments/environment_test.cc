// One Environment driven directly on a real loop: its runtime is a bash + curl script in a real
// child process, its owner records what it is told. The state machine's transitions, AWS's
// answers to a runtime's misuse, and each way an environment stops.

#include "environments/environment.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/proc.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using environments::Answer;
using environments::Assignment;
using environments::Environment;
using environments::EnvironmentState;
using environments::OutputStream;
using environments::RuntimeError;
using environments::SpawnOptions;
using environments::StopReason;
using switchyard::testing::run_until;

namespace {

constexpr const char* kPrelude = R"(set -u
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
H=$(mktemp)
trap 'rm -f "$H"' EXIT
next() {
  EVENT=$(curl -sS -D "$H" "$API/invocation/next")
  ID=$(grep -Fi "Lambda-Runtime-Aws-Request-Id:" "$H" | cut -d: -f2- | tr -d '\r ')
  ARN=$(grep -Fi "Lambda-Runtime-Invoked-Function-Arn:" "$H" | cut -d: -f2- | tr -d '\r ')
}
post() {  # post PATH BODY: prints the status code
  curl -sS -o /dev/null -w '%{http_code}' "$API/$1" -d "$2"
}
)";

struct Stopped {
  StopReason reason = StopReason::kShutdown;
  std::optional<std::string> assignment;  // Its request id, when one was reported.
  RuntimeError failure;
};

struct RecordingOwner final : environments::EnvironmentOwner {
  int idle = 0;
  std::vector<std::pair<std::string, Answer>> answers;
  std::optional<Stopped> stopped;
  std::vector<std::string> lines;

  void environment_idle(Environment&) override { ++idle; }
  void environment_answered(Environment&, const Assignment& assignment, Answer&& answer) override {
    answers.emplace_back(assignment.request_id, std::move(answer));
  }
  void environment_stopped(Environment&, StopReason reason, const Assignment* assignment,
                           RuntimeError&& failure) override {
    Stopped record;
    record.reason = reason;
    if (assignment != nullptr) {
      record.assignment = assignment->request_id;
    }
    record.failure = std::move(failure);
    stopped = std::move(record);
  }
  void environment_output(Environment&, OutputStream, std::string_view line) override {
    lines.emplace_back(line);
  }
  bool said(const std::string& text) const {
    return std::find(lines.begin(), lines.end(), text) != lines.end();
  }
};

char process_state(pid_t pid) {
  return switchyard::testing::proc_stat(pid).state;
}

struct Harness {
  core::Loop loop;
  core::MetricsRegistry metrics;
  RecordingOwner owner;
  std::unique_ptr<Environment> environment;

  explicit Harness(const std::string& script, std::chrono::milliseconds init_timeout = 10s) {
    environment = std::make_unique<Environment>(loop, metrics, owner, 1);
    SpawnOptions spawn;
    spawn.program = "/bin/bash";
    spawn.arguments = {"-c", std::string(kPrelude) + script};
    spawn.environment = {"PATH=/usr/bin:/bin"};
    REQUIRE(environment->start(spawn, init_timeout).ok());
  }
  ~Harness() { environment.reset(); }

  bool wait(const std::function<bool()>& done) { return run_until(loop, done, 20s); }
  bool wait_idle(int times) {
    return wait([&] { return owner.idle >= times; });
  }
  bool wait_stopped() {
    return wait([&] { return owner.stopped.has_value(); });
  }
  static Assignment assignment(const std::string& id, const std::string& payload) {
    Assignment assignment;
    assignment.number = 7;
    assignment.request_id = id;
    assignment.payload = payload;
    assignment.content_type = "application/json";
    assignment.deadline_ms = 4102444800000;
    assignment.function_arn = "arn:aws:lambda:eu-west-3:000000000000:function:fn";
    assignment.trace_id = "Root=1-00000000-000000000000000000000000;Parent=0;Sampled=0";
    return assignment;
  }
};

}  // namespace

TEST_CASE("starting, idle, busy, returning, idle again; misuse answered as AWS does") {
  Harness harness(R"sh(
next
echo "event $EVENT id $ID arn $ARN"
echo "codes $(post invocation/other/response x) $(post invocation/$ID/response answer) \
$(post invocation/$ID/response again) $(post init/error '{}')"
next
echo "never here"
)sh");
  Environment& environment = *harness.environment;
  CHECK(environment.state() == EnvironmentState::kStarting);
  CHECK(environment.runtime_api_address().rfind("127.0.0.1:", 0) == 0);
  CHECK_FALSE(environment.invoke(Harness::assignment("early", "x")));
  REQUIRE(harness.wait_idle(1));
  CHECK(environment.state() == EnvironmentState::kIdle);
  CHECK(environment.init_duration() > std::chrono::steady_clock::duration::zero());

  REQUIRE(environment.invoke(Harness::assignment("r1", "payload")));
  CHECK(environment.state() == EnvironmentState::kBusy);
  CHECK(environment.invocations() == 1);
  CHECK_FALSE(environment.invoke(Harness::assignment("r2", "x")));  // One at a time.

  REQUIRE(harness.wait([&] { return !harness.owner.answers.empty(); }));
  CHECK(environment.state() == EnvironmentState::kReturning);
  CHECK(harness.owner.answers[0].first == "r1");
  CHECK(harness.owner.answers[0].second.ok);
  CHECK(harness.owner.answers[0].second.body == "answer");

  REQUIRE(harness.wait_idle(2));
  CHECK(environment.state() == EnvironmentState::kIdle);
  CHECK(harness.owner.said(
      "event payload id r1 arn arn:aws:lambda:eu-west-3:000000000000:function:fn"));
  // An unknown id is 400; a second answer, and an init error after init, are 403.
  CHECK(harness.owner.said("codes 400 202 403 403"));
  CHECK(harness.owner.answers.size() == 1);

  const pid_t pid = environment.pid();
  environment.stop(StopReason::kIdle, 5000ms);
  CHECK(environment.state() == EnvironmentState::kStopping);
  REQUIRE(harness.wait_stopped());
  CHECK(environment.state() == EnvironmentState::kStopped);
  CHECK(harness.owner.stopped->reason == StopReason::kIdle);
  CHECK_FALSE(harness.owner.stopped->assignment.has_value());
  CHECK(process_state(pid) == 0);
  CHECK_FALSE(harness.owner.said("never here"));
}

TEST_CASE("a next before the answer gets the invocation in progress again, as AWS's does") {
  Harness harness(R"sh(
next
FIRST="$ID $EVENT"
DEADLINE=$(grep -Fi "Lambda-Runtime-Deadline-Ms:" "$H" | cut -d: -f2- | tr -d '\r ')
next
AGAIN_DEADLINE=$(grep -Fi "Lambda-Runtime-Deadline-Ms:" "$H" | cut -d: -f2- | tr -d '\r ')
echo "first $FIRST again $ID $EVENT same deadline $([ "$DEADLINE" = "$AGAIN_DEADLINE" ] && echo yes)"
echo "code $(post invocation/$ID/response answer)"
next
)sh");
  Environment& environment = *harness.environment;
  REQUIRE(harness.wait_idle(1));
  REQUIRE(environment.invoke(Harness::assignment("r1", "payload")));
  REQUIRE(harness.wait([&] { return !harness.owner.answers.empty(); }));
  CHECK(harness.owner.answers.size() == 1);
  CHECK(harness.owner.answers[0].first == "r1");
  CHECK(harness.owner.answers[0].second.body == "answer");
  REQUIRE(harness.wait_idle(2));
  CHECK(harness.owner.said("first r1 payload again r1 payload same deadline yes"));
  CHECK(harness.owner.said("code 202"));
  CHECK(environment.invocations() == 1);
}

TEST_CASE("a runtime that exits while busy stops it as a crash, with its invocation") {
  Harness harness("next; echo got $ID; exit 3");
  REQUIRE(harness.wait_idle(1));
  REQUIRE(harness.environment->invoke(Harness::assignment("r1", "x")));
  REQUIRE(harness.wait_stopped());
  const Stopped& stopped = *harness.owner.stopped;
  CHECK(stopped.reason == StopReason::kCrash);
  REQUIRE(stopped.assignment.has_value());
  CHECK(*stopped.assignment == "r1");
  CHECK(stopped.failure.type == "Runtime.ExitError");
  CHECK(stopped.failure.message == "RequestId: r1 Error: Runtime exited with error: exit status 3");
}

TEST_CASE("an exit before the first next is an init failure") {
  Harness harness("echo going >&2; exit 4");
  REQUIRE(harness.wait_stopped());
  CHECK(harness.owner.stopped->reason == StopReason::kInitFailure);
  CHECK(harness.owner.stopped->failure.type == "Runtime.ExitError");
  CHECK(harness.owner.stopped->failure.message == "Runtime exited with error: exit status 4");
  CHECK(harness.owner.idle == 0);
}

TEST_CASE("init/error stops it with the runtime's error") {
  Harness harness(R"sh(
post init/error '{"errorMessage":"no config","errorType":"Custom.InitFailed"}' >/dev/null
sleep 60
)sh");
  REQUIRE(harness.wait_stopped());
  CHECK(harness.owner.stopped->reason == StopReason::kInitFailure);
  CHECK(harness.owner.stopped->failure.type == "Custom.InitFailed");
  CHECK(harness.owner.stopped->failure.message == "no config");
}

TEST_CASE("init_timeout stops a runtime that never asks for an invocation") {
  Harness harness("exec sleep 30", 300ms);
  const pid_t pid = harness.environment->pid();
  REQUIRE(harness.wait_stopped());
  CHECK(harness.owner.stopped->reason == StopReason::kInitFailure);
  CHECK(harness.owner.stopped->failure.type == "Runtime.InitError");
  CHECK(harness.owner.stopped->failure.message == "Init timed out after 0.30 seconds");
  CHECK(process_state(pid) == 0);
}

TEST_CASE("kill() gives up the invocation in flight") {
  Harness harness("next; echo got $ID; sleep 60");
  REQUIRE(harness.wait_idle(1));
  REQUIRE(harness.environment->invoke(Harness::assignment("r1", "x")));
  REQUIRE(harness.wait([&] { return harness.owner.said("got r1"); }));
  harness.environment->kill(StopReason::kTimeout);
  REQUIRE(harness.wait_stopped());
  CHECK(harness.owner.stopped->reason == StopReason::kTimeout);
  CHECK_FALSE(harness.owner.stopped->assignment.has_value());
  CHECK(harness.owner.answers.empty());
}

TEST_CASE("stop() kills a runtime that ignores SIGTERM after the grace period") {
  // Its pending `next` is dropped with the stop; it stays, deaf to SIGTERM.
  Harness harness("trap '' TERM; next; exec sleep 30");
  REQUIRE(harness.wait_idle(1));
  harness.environment->stop(StopReason::kIdle, 300ms);
  REQUIRE(harness.wait_stopped());
  CHECK(harness.owner.stopped->reason == StopReason::kIdle);
  CHECK(harness.owner.stopped->failure.message == "Runtime exited with error: signal: killed");
}

TEST_CASE("a response over the limit answers the invocation with ResponseSizeTooLarge") {
  Harness harness(R"sh(
next
BIG=$(mktemp)
head -c 6291557 /dev/zero | tr '\0' a > "$BIG"
echo "too large $(curl -sS -o /dev/null -w '%{http_code}' "$API/invocation/$ID/response" \
  --data-binary @"$BIG")"
rm -f "$BIG"
next
)sh");
  REQUIRE(harness.wait_idle(1));
  REQUIRE(harness.environment->invoke(Harness::assignment("big", "x")));
  REQUIRE(harness.wait([&] { return !harness.owner.answers.empty(); }));
  CHECK(harness.owner.answers[0].first == "big");
  CHECK_FALSE(harness.owner.answers[0].second.ok);
  CHECK(harness.owner.answers[0].second.error.type == "Function.ResponseSizeTooLarge");
  REQUIRE(harness.wait_idle(2));
  CHECK(harness.owner.said("too large 413"));
}

TEST_CASE("a process outside the environment cannot use its Runtime API") {
  Harness harness("next; echo got $ID; next");
  REQUIRE(harness.wait_idle(1));
  const std::string& address = harness.environment->runtime_api_address();
  const int port = std::stoi(address.substr(address.find(':') + 1));
  std::atomic<bool> done{false};
  bool closed = false;
  std::thread intruder([&] {
    switchyard::testing::HttpConnection connection(port);
    connection.send_raw(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    closed = connection.closed_by_peer(10s);
    done = true;
  });
  CHECK(harness.wait([&] { return done.load(); }));
  intruder.join();
  CHECK(closed);
  CHECK_FALSE(harness.owner.stopped.has_value());
  // Its own runtime is still served.
  REQUIRE(harness.environment->invoke(Harness::assignment("r1", "x")));
  CHECK(harness.wait([&] { return harness.owner.said("got r1"); }));
}
