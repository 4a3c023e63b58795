// Tests of switchyard-environment run as a real child process. This test plays the daemon: it
// serves the Runtime API (FakeRuntimeApi) on 127.0.0.1 and hands the program envelopes for the
// example functions.

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/sanitizers.h"
#include "environments/native/envelope.h"
#include "fake_runtime_api.h"
#include "support/process.h"

using namespace std::chrono_literals;
using switchyard::core::Event;
using switchyard::environments::decode_response;
using switchyard::environments::encode_event;
using switchyard::environments::kEventContentType;
using switchyard::environments::kResponseContentType;
using switchyard::testing::Child;
using switchyard::testing::FakeRuntimeApi;
using switchyard::testing::ProcessResult;
using switchyard::testing::run_process;
using switchyard::testing::TempDir;

namespace {

constexpr const char* kProgram = SWITCHYARD_ENVIRONMENT_PROGRAM;
constexpr const char* kNextPath = "/2018-06-01/runtime/invocation/next";

std::map<std::string, std::string> runtime_api(const FakeRuntimeApi& api) {
  return {{"AWS_LAMBDA_RUNTIME_API", api.address()}};
}

std::vector<std::string> library_argv(const std::string& library, const std::string& name) {
  return {kProgram, "--parent-pid",  std::to_string(::getpid()), "--library", library,    "--name",
          name,     "--config-json", R"({"greeting":"hi"})",     "--env",     "MODE=test"};
}

// Answers a `next` with `envelope` as invocation `id`, due `within` from now.
void hand_out(FakeRuntimeApi& api, const std::string& id, const std::string& envelope,
              std::chrono::milliseconds within = 60s) {
  auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch() + within);
  api.respond(200, envelope,
              {"Lambda-Runtime-Aws-Request-Id: " + id,
               "Lambda-Runtime-Deadline-Ms: " + std::to_string(deadline.count()),
               "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793",
               "Content-Type: " + std::string(kEventContentType)});
}

void expect_next(FakeRuntimeApi& api) {
  auto next = api.read_request();
  REQUIRE(next.has_value());
  CHECK(next->method == "GET");
  CHECK(next->path == kNextPath);
}

Event text_event(std::string data) {
  Event event;
  event.id = "event-1";
  event.source = "test";
  event.type = "switchyard.test";
  event.data = std::move(data);
  return event;
}

std::string member(const rapidjson::Value& object, const char* name) {
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsString());
  return {object[name].GetString(), object[name].GetStringLength()};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a native function answers invocations; the program exits when the daemon closes") {
  FakeRuntimeApi api;
  Child child(library_argv(SWITCHYARD_LIB_ECHO, "echo-fn"), runtime_api(api));
  REQUIRE(api.accept());

  for (int round = 0; round < 2; ++round) {
    expect_next(api);
    Event event = text_event("hello " + std::to_string(round));
    event.subject = "sub";
    event.time = std::chrono::system_clock::time_point(1714564800123456789ns);
    event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    event.attributes = {{"http.header.accept", "text/html"},
                        {"http.method", "POST"},
                        {"http.header.accept", "application/json"}};
    std::string id = "req-" + std::to_string(round);
    hand_out(api, id, encode_event(event));

    auto posted = api.read_request();
    REQUIRE(posted.has_value());
    CHECK(posted->method == "POST");
    CHECK(posted->path == "/2018-06-01/runtime/invocation/" + id + "/response");
    CHECK(posted->header("Content-Type") == kResponseContentType);
    auto response = decode_response(posted->body);
    REQUIRE_MESSAGE(response.ok(), response.error().message());
    CHECK(response->status == 200);
    REQUIRE(response->headers.size() == 1);
    CHECK(response->headers[0].key == "content-type");
    CHECK(response->headers[0].value == "application/json");

    rapidjson::Document echoed;
    echoed.Parse(response->body.c_str(), response->body.size());
    REQUIRE_MESSAGE(!echoed.HasParseError(), response->body);
    CHECK(member(echoed, "id") == "event-1");
    CHECK(member(echoed, "subject") == "sub");
    CHECK(member(echoed, "data") == event.data);
    CHECK(member(echoed, "time") == "2024-05-01T12:00:00.123Z");
    CHECK(member(echoed["attributes"], "http.header.accept") == "text/html, application/json");
    CHECK(member(echoed["context"], "function_name") == "echo-fn");
    CHECK(member(echoed["context"], "request_id") == id);
    CHECK(member(echoed["context"], "trace_parent") == event.traceparent);
    api.respond(202, R"({"status":"OK"})");
  }

  expect_next(api);
  api.close_connection();
  ProcessResult result = child.wait(10s);
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(contains(result.err, "closed the connection"), result.err);
}

// Hands out one invocation of `data` and returns the body of the function's response.
std::string invoke(FakeRuntimeApi& api, const std::string& id, const std::string& data,
                   std::chrono::milliseconds within = 60s) {
  expect_next(api);
  hand_out(api, id, encode_event(text_event(data)), within);
  auto posted = api.read_request();
  REQUIRE(posted.has_value());
  REQUIRE(posted->path == "/2018-06-01/runtime/invocation/" + id + "/response");
  api.respond(202, "");
  auto response = decode_response(posted->body);
  REQUIRE_MESSAGE(response.ok(), response.error().message());
  return response->body;
}

TEST_CASE("the function's init gets --name, --env and --config-json; its logs go to stderr") {
  FakeRuntimeApi api;
  std::vector<std::string> argv = library_argv(SWITCHYARD_LIB_PROBE, "probe-fn");
  argv.insert(argv.end(), {"--env", "A=1=2", "--env", "EMPTY="});
  Child child(argv, runtime_api(api));
  REQUIRE(api.accept());
  CHECK(invoke(api, "req-1", "init") ==
        R"(name=probe-fn env=A:1=2;EMPTY:;MODE:test; config={"greeting":"hi"})");
  CHECK(child.wait_for_err("probe initialised"));
  invoke(api, "req-2", "log");
  CHECK(child.wait_for_err("a line from probe"));
  CHECK(child.out().empty());
}

TEST_CASE("the function is told the deadline the daemon gave") {
  FakeRuntimeApi api;
  Child child(library_argv(SWITCHYARD_LIB_FAIL, "fail"), runtime_api(api));
  REQUIRE(api.accept());
  // `hang` sleeps ten times the time it has left and says how long: at most 1000 ms with a
  // deadline 100 ms away, a minute without one. The margin below is for a loaded machine.
  std::string body = invoke(api, "req-1", "hang", 100ms);
  CAPTURE(body);
  REQUIRE(body.rfind("hung for ", 0) == 0);
  int hung = std::atoi(body.c_str() + 9);
  CHECK(hung > 200);
  CHECK(hung <= 1000);
}

TEST_CASE("a function's failures and undecodable events are posted as invocation errors") {
  FakeRuntimeApi api;
  Child child(library_argv(SWITCHYARD_LIB_FAIL, "fail"), runtime_api(api));
  REQUIRE(api.accept());

  struct Case {
    std::string envelope;
    std::string error_type;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {encode_event(text_event("error")), "DeliberateError", "you asked for an error"},
      {encode_event(text_event("throw")), "std::runtime_error", "deliberate"},
      {R"({"data": 5})", "Runtime.InvalidEvent", "\"data\" must be a string"},
  };
  int round = 0;
  for (const Case& expected : cases) {
    CAPTURE(expected.error_type);
    std::string id = "req-" + std::to_string(round++);
    expect_next(api);
    hand_out(api, id, expected.envelope);
    auto posted = api.read_request();
    REQUIRE(posted.has_value());
    CHECK(posted->path == "/2018-06-01/runtime/invocation/" + id + "/error");
    CHECK(posted->header("Lambda-Runtime-Function-Error-Type") == expected.error_type);
    rapidjson::Document error;
    error.Parse(posted->body.c_str(), posted->body.size());
    REQUIRE_MESSAGE(!error.HasParseError(), posted->body);
    CHECK(member(error, "errorType") == expected.error_type);
    CHECK_MESSAGE(contains(member(error, "errorMessage"), expected.message_part), posted->body);
    api.respond(202, "");
  }

  // An unexpected answer to a POST ends the program.
  expect_next(api);
  hand_out(api, "req-last", encode_event(text_event("fine")));
  auto posted = api.read_request();
  REQUIRE(posted.has_value());
  CHECK(posted->path == "/2018-06-01/runtime/invocation/req-last/response");
  api.respond(410, "gone");
  ProcessResult result = child.wait(10s);
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(contains(result.err, "status 410"), result.err);
}

TEST_CASE("a library that cannot be loaded posts an init error and exits 1") {
  FakeRuntimeApi api;
  TempDir dir;
  std::string library = dir.write("libbroken.so", "not a shared object");
  Child child(library_argv(library, "broken"), runtime_api(api));
  REQUIRE(api.accept());
  auto posted = api.read_request();
  REQUIRE(posted.has_value());
  CHECK(posted->method == "POST");
  CHECK(posted->path == "/2018-06-01/runtime/init/error");
  CHECK(posted->header("Lambda-Runtime-Function-Error-Type") == "Runtime.InitError");
  rapidjson::Document error;
  error.Parse(posted->body.c_str(), posted->body.size());
  REQUIRE_MESSAGE(!error.HasParseError(), posted->body);
  CHECK(member(error, "errorType") == "Runtime.InitError");
  CHECK_MESSAGE(contains(member(error, "errorMessage"), "libbroken.so"), posted->body);
  api.respond(202, R"({"status":"OK"})");
  ProcessResult result = child.wait(10s);
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "libbroken.so"));
}

TEST_CASE("without AWS_LAMBDA_RUNTIME_API a library cannot run") {
  ProcessResult result = run_process({kProgram, "--library", SWITCHYARD_LIB_ECHO, "--name", "echo"},
                                     {{"AWS_LAMBDA_RUNTIME_API", ""}});
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "AWS_LAMBDA_RUNTIME_API is not set"));
}

TEST_CASE("--exec runs the program with the environment it was given") {
  ProcessResult result =
      run_process({kProgram, "--parent-pid", std::to_string(::getpid()), "--exec", "/bin/sh", "-c",
                   "echo ok; echo \"$AWS_LAMBDA_RUNTIME_API\" \"$0\" \"$1\"", "zero", "--one"},
                  {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"}});
  CHECK(result.exit_code == 0);
  CHECK(result.out == "ok\n127.0.0.1:9001 zero --one\n");
  CHECK(result.err.empty());
}

TEST_CASE("--exec of a missing program exits 127, of one that cannot run 126") {
  ProcessResult missing = run_process({kProgram, "--exec", "/nonexistent/program", "arg"});
  CHECK(missing.exit_code == 127);
  CHECK(missing.err == "cannot run /nonexistent/program: No such file or directory\n");

  TempDir dir;
  std::string script = dir.write("script.sh", "#!/bin/sh\necho should not run\n");
  ::chmod(script.c_str(), 0644);
  ProcessResult denied = run_process({kProgram, "--exec", script});
  CHECK(denied.exit_code == 126);
  CHECK(denied.err == "cannot run " + script + ": Permission denied\n");
  CHECK(denied.out.empty());
}

TEST_CASE("a --parent-pid that is not the parent's exits 125 at once") {
  ProcessResult result =
      run_process({kProgram, "--parent-pid", "1", "--exec", "/bin/sh", "-c", "echo ran"});
  CHECK(result.exit_code == 125);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
}

TEST_CASE("the environment is killed when its parent dies") {
  // A shell stands in for the daemon: it starts the environment, prints its pid and exits.
  ProcessResult result = run_process(
      {"/bin/sh", "-c",
       std::string(kProgram) + " --parent-pid $$ --exec /bin/sleep 30 & echo $!; sleep 0.3"});
  REQUIRE(result.exit_code == 0);
  int pid = std::atoi(result.out.c_str());
  REQUIRE(pid > 0);
  CHECK(switchyard::testing::eventually([&] { return ::kill(pid, 0) != 0; }, 5s));
}

TEST_CASE("--memory-bytes limits the data memory of the environment and its program") {
  if (switchyard::core::kShadowMemorySanitizer) {
    MESSAGE("a sanitizer build applies no data limit (core/sanitizers.h)");
    return;
  }
  ProcessResult result = run_process(
      {kProgram, "--memory-bytes", "100000000", "--exec", "/bin/sh", "-c", "ulimit -d"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == "97656\n");  // In KiB.
}

TEST_CASE("a bad command line exits 2 with the usage") {
  std::vector<std::vector<std::string>> bad = {
      {kProgram},
      {kProgram, "--exec"},
      {kProgram, "--library", "lib.so"},
      {kProgram, "--library", "lib.so", "--name", "f", "--exec", "/bin/true"},
      {kProgram, "--library", "lib.so", "--name", "f", "--env", "NOVALUE"},
      {kProgram, "--parent-pid", "abc", "--exec", "/bin/true"},
      {kProgram, "--memory-bytes", "-1", "--exec", "/bin/true"},
      {kProgram, "--name", "f", "--exec", "/bin/true"},
      {kProgram, "--verbose", "yes", "--exec", "/bin/true"},
  };
  for (const auto& argv : bad) {
    ProcessResult result = run_process(argv);
    CAPTURE(argv.size());
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err, "usage: switchyard-environment"));
  }
}
