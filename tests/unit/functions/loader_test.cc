// Tests of the function loader and the function ABI, through real shared objects: the examples
// and the fixtures in fixtures/.

#include "functions/loader.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "functions/native.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using switchyard::core::Event;
using switchyard::core::Outcome;
using switchyard::core::OutcomeKind;
using switchyard::functions::CallableFunction;
using switchyard::functions::FunctionPtr;
using switchyard::functions::InvocationContext;
using switchyard::functions::LibraryFunction;
using switchyard::functions::LoadOptions;

namespace {

// A fresh directory for private copies and test files, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("switchyard-functions-test-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  LoadOptions options() const {
    LoadOptions options;
    options.scratch_dir = path_;
    return options;
  }
  bool empty() const { return fs::is_empty(path_); }

 private:
  fs::path path_;
};

switchyard::config::FunctionManifest manifest(const std::string& name, const fs::path& library) {
  switchyard::config::FunctionManifest result;
  result.name = name;
  auto code = std::make_shared<switchyard::functions::NativeSettings>();
  code->library = library;
  result.code = std::move(code);
  result.config_json = "{}";
  return result;
}

std::shared_ptr<LibraryFunction> load_ok(const switchyard::config::FunctionManifest& m,
                                         const ScratchDir& scratch) {
  auto loaded = LibraryFunction::load(m, scratch.options());
  if (!loaded.ok()) {
    FAIL("load failed: " << loaded.error().message());
  }
  return std::move(loaded).value();
}

std::string load_error(const switchyard::config::FunctionManifest& m, const ScratchDir& scratch) {
  auto loaded = LibraryFunction::load(m, scratch.options());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code() == switchyard::core::ErrorCode::kLoad);
  return loaded.error().message();
}

Event event_with(std::string data) {
  Event event;
  event.id = "event-1";
  event.source = "test";
  event.type = "switchyard.test";
  event.data = std::move(data);
  return event;
}

Outcome invoke(LibraryFunction& function, std::string data) {
  InvocationContext ctx;
  ctx.request_id = "req-1";
  ctx.function_name = function.name();
  return function.invoke(event_with(std::move(data)), ctx);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a missing library is a load error naming the function and the path") {
  ScratchDir scratch;
  std::string message = load_error(manifest("ghost", scratch.path() / "libghost.so"), scratch);
  CHECK(contains(message, "function 'ghost'"));
  CHECK(contains(message, (scratch.path() / "libghost.so").string()));
  CHECK(contains(message, "does not exist"));
}

TEST_CASE("a file that is not a shared object is a load error with dlerror's reason") {
  ScratchDir scratch;
  fs::path text = scratch.path() / "notes.so";
  // Long enough to hold an ELF header, so that dlopen reads it and rejects it.
  std::ofstream(text) << std::string(40, '#') << " this is not an ELF file "
                      << std::string(40, '#');
  std::string message = load_error(manifest("notes", text), scratch);
  INFO(message);
  CHECK(contains(message, "function 'notes'"));
  CHECK(contains(message, "is not a loadable shared object"));
  // dlerror's own words, about the user's file rather than the private copy.
  CHECK(contains(message, text.string() + ": invalid ELF header"));
  CHECK_FALSE(contains(message, "switchyard-notes-"));
  // The private copy is removed even when dlopen fails.
  CHECK(fs::is_regular_file(text));
  CHECK(std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a library without switchyard_handle is a load error with a hint") {
  ScratchDir scratch;
  std::string message =
      load_error(manifest("no_handler", SWITCHYARD_LIB_FIXTURE_NO_HANDLER), scratch);
  CHECK(contains(message, "function 'no_handler'"));
  CHECK(contains(message, SWITCHYARD_LIB_FIXTURE_NO_HANDLER));
  CHECK(contains(message,
                 "does not export switchyard_handle; did you forget SWITCHYARD_HANDLER(...)?"));
}

TEST_CASE("a library without switchyard_abi_version is a load error") {
  ScratchDir scratch;
  std::string message = load_error(manifest("no_abi", SWITCHYARD_LIB_FIXTURE_NO_ABI), scratch);
  CHECK(contains(message, "function 'no_abi'"));
  CHECK(contains(message, "does not export switchyard_abi_version"));
}

TEST_CASE("an ABI version mismatch is a load error that says what to do") {
  ScratchDir scratch;
  std::string message =
      load_error(manifest("wrong_abi", SWITCHYARD_LIB_FIXTURE_WRONG_ABI), scratch);
  CHECK(contains(message, "function 'wrong_abi'"));
  CHECK(contains(message,
                 "built for ABI version 7, this switchyard supports 1; rebuild it "
                 "against this switchyard's headers"));
}

TEST_CASE("an init that reports an error fails the load with its type and message") {
  ScratchDir scratch;
  std::string message =
      load_error(manifest("init_error", SWITCHYARD_LIB_FIXTURE_INIT_ERROR), scratch);
  CHECK(contains(message, "function 'init_error'"));
  CHECK(contains(message, "switchyard_init"));
  CHECK(contains(message, "ConfigError: BUCKET is not set"));
}

TEST_CASE("an exception escaping a raw C ABI init fails the load instead of terminating") {
  ScratchDir scratch;
  std::string message =
      load_error(manifest("init_throws", SWITCHYARD_LIB_FIXTURE_INIT_THROWS), scratch);
  CHECK(contains(message, "function 'init_throws'"));
  CHECK(contains(message, "threw std::runtime_error: init exploded"));
}

TEST_CASE("the C++ layer maps exceptions thrown by an init hook to a load error") {
  ScratchDir scratch;
  auto m = manifest("probe_cxx", SWITCHYARD_LIB_FIXTURE_PROBE_CXX);
  m.env["MODE"] = "throw";
  CHECK(contains(load_error(m, scratch), "std::logic_error: init was told to throw"));
  m.env["MODE"] = "error";
  CHECK(contains(load_error(m, scratch), "ConfigError: init was told to fail"));
}

TEST_CASE("init receives the manifest's env (sorted by key) and config") {
  ScratchDir scratch;
  auto m = manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE);
  m.env["QUALITY"] = "85";
  m.env["BUCKET"] = "images";
  m.config_json = R"({"sizes":[64,128]})";
  auto function = load_ok(m, scratch);
  Outcome outcome = invoke(*function, "init");
  REQUIRE(outcome.ok());
  CHECK(outcome.response.body ==
        R"(name=probe env=BUCKET:images;QUALITY:85; config={"sizes":[64,128]})");

  SUBCASE("an absent config is handed over as an empty object") {
    m.config_json.clear();
    m.env.clear();
    auto bare = load_ok(m, scratch);
    CHECK(invoke(*bare, "init").response.body == "name=probe env= config={}");
  }
}

TEST_CASE("the private copy is removed once the library is loaded") {
  ScratchDir scratch;
  auto function = load_ok(manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE), scratch);
  CHECK(scratch.empty());
  CHECK(function->name() == "probe");
  CHECK(function->library() == fs::path(SWITCHYARD_LIB_FIXTURE_PROBE));
}

TEST_CASE("two loads of the same library are independent instances") {
  ScratchDir scratch;
  auto m = manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE);
  auto first = load_ok(m, scratch);
  auto second = load_ok(m, scratch);
  CHECK(invoke(*first, "count").response.body == "1");
  CHECK(invoke(*first, "count").response.body == "2");
  // The second load has its own statics: it has not seen the first one's calls.
  CHECK(invoke(*second, "count").response.body == "1");

  // Closing the first leaves the second working, and a third load starts afresh.
  first.reset();
  CHECK(invoke(*second, "count").response.body == "2");
  auto third = load_ok(m, scratch);
  CHECK(invoke(*third, "count").response.body == "1");
}

TEST_CASE("the function sees the request id, function name, trace parent, deadline, cancellation") {
  ScratchDir scratch;
  auto function = load_ok(manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE), scratch);
  std::atomic<bool> cancelled{false};
  InvocationContext ctx;
  ctx.request_id = "req-42";
  ctx.function_name = "probe";
  ctx.trace_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  ctx.deadline = std::chrono::steady_clock::now() + 5s;
  ctx.cancelled = &cancelled;

  Outcome outcome = function->invoke(event_with("context"), ctx);
  REQUIRE(outcome.ok());
  std::string body = outcome.response.body;
  CHECK(contains(body, "request_id=req-42 "));
  CHECK(contains(body, "function=probe "));
  CHECK(contains(body, "trace=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 "));
  CHECK(contains(body, "cancelled=0 "));
  CHECK(contains(body, "has_deadline=1"));
  long long remaining = std::stoll(body.substr(body.find("remaining=") + 10));
  CHECK(remaining > 4000);
  CHECK(remaining <= 5000);
  // The wall-clock deadline: five seconds from now, read from the clocks at the call...
  long long deadline_in = std::stoll(body.substr(body.find("deadline_in=") + 12));
  CHECK(deadline_in > 4000);
  CHECK(deadline_in <= 5001);
  // ...or from the offset between them the caller read (the scheduler, once per run).
  InvocationContext offset_ctx = ctx;
  offset_ctx.wall_offset = switchyard::functions::wall_offset(std::chrono::steady_clock::now());
  std::string offset_body = function->invoke(event_with("context"), offset_ctx).response.body;
  deadline_in = std::stoll(offset_body.substr(offset_body.find("deadline_in=") + 12));
  CHECK(deadline_in > 4000);
  CHECK(deadline_in <= 5001);

  cancelled = true;
  ctx.deadline = std::chrono::steady_clock::now() - 1s;
  body = function->invoke(event_with("context"), ctx).response.body;
  CHECK(contains(body, "cancelled=1 "));
  CHECK(std::stoll(body.substr(body.find("remaining=") + 10)) < 0);

  SUBCASE("without a deadline") {
    InvocationContext open;
    open.request_id = "req-43";
    body = function->invoke(event_with("context"), open).response.body;
    CHECK(contains(body, "has_deadline=0"));
    // The function's name is filled in when the scheduler leaves it empty.
    CHECK(contains(body, "function=probe "));
  }
}

TEST_CASE("a C function's status, headers, appended body and source attributes") {
  ScratchDir scratch;
  auto function = load_ok(manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE), scratch);
  Event event = event_with("headers");
  event.attributes.push_back({"http.method", "PATCH"});
  InvocationContext ctx;
  Outcome outcome = function->invoke(event, ctx);
  REQUIRE(outcome.ok());
  CHECK(outcome.response.status == 201);
  CHECK(outcome.response.body == "first second");
  REQUIRE(outcome.response.headers.size() == 2);
  CHECK(outcome.response.headers[0].key == "x-method");
  CHECK(outcome.response.headers[0].value == "PATCH");
  CHECK(outcome.response.headers[1].key == "x-count");
}

TEST_CASE("a function given a view of an event sees what it sees in the event") {
  ScratchDir scratch;
  auto function = load_ok(manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE), scratch);
  const std::array<switchyard::core::AttributeView, 2> attributes{
      switchyard::core::AttributeView{"http.path", "/x"},
      switchyard::core::AttributeView{"http.method", "PATCH"}};
  switchyard::core::EventView view;
  view.id = "viewed-1";
  view.data = "headers";
  view.attributes = attributes;
  InvocationContext ctx;
  Outcome outcome = function->invoke(view, ctx);
  REQUIRE(outcome.ok());
  CHECK(outcome.response.status == 201);
  REQUIRE(outcome.response.headers.size() == 2);
  CHECK(outcome.response.headers[0].value == "PATCH");  // Read from the view's attributes.
  // A function without a view of its own (an in-process one) gets the view copied into an event.
  CallableFunction callable("callable", [](const Event& event, const InvocationContext&) {
    return Outcome::success(switchyard::core::Response{
        200, {}, event.id + " " + event.data + " " + event.attributes.at(1).value});
  });
  switchyard::functions::Function& base = callable;
  CHECK(base.invoke(view, ctx).response.body == "viewed-1 headers PATCH");
}

TEST_CASE("a C function's errors") {
  ScratchDir scratch;
  auto function = load_ok(manifest("probe", SWITCHYARD_LIB_FIXTURE_PROBE), scratch);

  SUBCASE("non-zero without a message is a generic FunctionError") {
    Outcome outcome = invoke(*function, "fail");
    CHECK(outcome.kind == OutcomeKind::kFunctionError);
    CHECK(outcome.error_type == "FunctionError");
    CHECK(contains(outcome.error_message, "function 'probe' failed"));
    CHECK(contains(outcome.error_message, "returned 3"));
  }
  SUBCASE("set_error fails the invocation even when the handler returns 0") {
    Outcome outcome = invoke(*function, "set-error");
    CHECK(outcome.kind == OutcomeKind::kFunctionError);
    CHECK(outcome.error_type == "SoftError");
    CHECK(outcome.error_message == "reported but returned 0");
  }
  SUBCASE("logging from the function is not an error") {
    CHECK(invoke(*function, "log").ok());
  }
}

TEST_CASE("exceptions escaping a raw C ABI handler become error outcomes") {
  ScratchDir scratch;
  auto function =
      load_ok(manifest("handler_throws", SWITCHYARD_LIB_FIXTURE_HANDLER_THROWS), scratch);
  Outcome outcome = invoke(*function, "std");
  CHECK(outcome.kind == OutcomeKind::kFunctionError);
  CHECK(outcome.error_type == "std::out_of_range");
  CHECK(outcome.error_message == "raw out of range");

  outcome = invoke(*function, "int");
  CHECK(outcome.kind == OutcomeKind::kFunctionError);
  CHECK(outcome.error_type == "UnknownException");
  CHECK(contains(outcome.error_message, "int"));
}

TEST_CASE("the C++ layer: responses, exceptions, context, config and shutdown") {
  ScratchDir scratch;
  auto m = manifest("probe_cxx", SWITCHYARD_LIB_FIXTURE_PROBE_CXX);
  fs::path marker = scratch.path() / "shutdown-marker";
  m.env["SHUTDOWN_MARKER"] = marker.string();
  m.config_json = R"({"greeting":"hi"})";
  auto function = load_ok(m, scratch);

  Outcome outcome = invoke(*function, "anything");
  REQUIRE(outcome.ok());
  CHECK(outcome.response.status == 202);
  CHECK(outcome.response.body == R"({"ok":true})");
  REQUIRE(outcome.response.headers.size() == 2);
  CHECK(outcome.response.headers[0].key == "content-type");
  CHECK(outcome.response.headers[0].value == "application/json");
  CHECK(outcome.response.headers[1].value == "cxx");

  CHECK(invoke(*function, "config").response.body == R"({"greeting":"hi"})");

  outcome = invoke(*function, "throw-error");
  CHECK(outcome.error_type == "ValidationError");
  CHECK(outcome.error_message == "field x is missing");

  outcome = invoke(*function, "throw-logic");
  CHECK(outcome.error_type == "std::invalid_argument");
  CHECK(outcome.error_message == "bad argument");

  outcome = invoke(*function, "throw-int");
  CHECK(outcome.kind == OutcomeKind::kFunctionError);
  CHECK(outcome.error_type == "UnknownException");
  CHECK(contains(outcome.error_message, "int"));

  std::atomic<bool> cancelled{true};
  InvocationContext ctx;
  ctx.request_id = "req-cxx";
  ctx.function_name = "probe_cxx";
  ctx.trace_parent = "tp";
  ctx.deadline = std::chrono::steady_clock::now() + 2s;
  ctx.cancelled = &cancelled;
  Event event = event_with("context");
  event.attributes.push_back({"http.method", "DELETE"});
  std::string body = function->invoke(event, ctx).response.body;
  CHECK(body.starts_with("req-cxx|probe_cxx|tp|"));
  CHECK(body.ends_with("|cancelled|DELETE"));

  CHECK_FALSE(fs::exists(marker));
  function.reset();
  std::ifstream written(marker);
  std::string content;
  written >> content;
  CHECK(content == "shutdown");
}

TEST_CASE("example hello greets the name in its JSON data") {
  ScratchDir scratch;
  auto hello = load_ok(manifest("hello", SWITCHYARD_LIB_HELLO), scratch);
  CHECK(invoke(*hello, R"({"name":"Ada"})").response.body == "Hello, Ada!");
  CHECK(invoke(*hello, R"({"name":42})").response.body == "Hello, world!");
  CHECK(invoke(*hello, "not json").response.body == "Hello, world!");
  CHECK(invoke(*hello, "").response.body == "Hello, world!");
}

TEST_CASE("example hello can be invoked from many threads at once") {
  ScratchDir scratch;
  auto hello = load_ok(manifest("hello", SWITCHYARD_LIB_HELLO), scratch);
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string name = "n" + std::to_string(t) + "-" + std::to_string(i);
        if (invoke(*hello, R"({"name":")" + name + R"("})").response.body ==
            "Hello, " + name + "!") {
          ++correct;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  CHECK(correct == 8 * 200);
}

TEST_CASE("example echo answers the event as valid JSON") {
  ScratchDir scratch;
  auto echo = load_ok(manifest("echo", SWITCHYARD_LIB_ECHO), scratch);
  Event event = event_with(std::string("quote\" backslash\\ newline\n nul\0 bad\xff end", 40));
  event.subject = "sub";
  event.datacontenttype = "text/plain";
  event.time = std::chrono::system_clock::time_point(1714564800123ms);
  event.attributes = {{"http.method", "POST"},
                      {"http.header.accept", "text/html"},
                      {"http.path", "/echo/a/b"},
                      {"http.header.accept", "application/json"}};
  InvocationContext ctx;
  Outcome outcome = echo->invoke(event, ctx);
  REQUIRE(outcome.ok());
  REQUIRE(outcome.response.headers.size() == 1);
  CHECK(outcome.response.headers[0].value == "application/json");

  rapidjson::Document json;
  json.Parse(outcome.response.body.c_str(), outcome.response.body.size());
  REQUIRE_MESSAGE(!json.HasParseError(), outcome.response.body);
  CHECK(std::string(json["id"].GetString()) == "event-1");
  CHECK(std::string(json["source"].GetString()) == "test");
  CHECK(std::string(json["type"].GetString()) == "switchyard.test");
  CHECK(std::string(json["subject"].GetString()) == "sub");
  CHECK(std::string(json["datacontenttype"].GetString()) == "text/plain");
  CHECK(std::string(json["time"].GetString()) == "2024-05-01T12:00:00.123Z");
  std::string data(json["data"].GetString(), json["data"].GetStringLength());
  CHECK(data == std::string("quote\" backslash\\ newline\n nul\0 bad\xef\xbf\xbd end", 42));
  const auto& attributes = json["attributes"];
  CHECK(attributes.MemberCount() == 3);
  CHECK(std::string(attributes["http.method"].GetString()) == "POST");
  CHECK(std::string(attributes["http.header.accept"].GetString()) == "text/html, application/json");

  SUBCASE("an event without a time has a null time") {
    Outcome bare = echo->invoke(event_with(""), ctx);
    rapidjson::Document bare_json;
    bare_json.Parse(bare.response.body.c_str());
    REQUIRE_FALSE(bare_json.HasParseError());
    CHECK(bare_json["time"].IsNull());
    CHECK(bare_json["attributes"].ObjectEmpty());
  }
}

TEST_CASE("example sleep sleeps for the milliseconds in its data") {
  ScratchDir scratch;
  auto sleep = load_ok(manifest("sleep", SWITCHYARD_LIB_SLEEP), scratch);
  auto start = std::chrono::steady_clock::now();
  CHECK(invoke(*sleep, "30").response.body == "slept 30 ms");
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
  CHECK(invoke(*sleep, R"({"ms": 5})").response.body == "slept 5 ms");
  Outcome bad = invoke(*sleep, "soon");
  CHECK(bad.kind == OutcomeKind::kFunctionError);
  CHECK(bad.error_type == "InvalidInput");
  CHECK(invoke(*sleep, "-5").error_type == "InvalidInput");
}

TEST_CASE("example sleep ignores cancellation") {
  ScratchDir scratch;
  auto sleep = load_ok(manifest("sleep", SWITCHYARD_LIB_SLEEP), scratch);
  std::atomic<bool> cancelled{true};
  InvocationContext ctx;
  ctx.cancelled = &cancelled;
  auto start = std::chrono::steady_clock::now();
  CHECK(sleep->invoke(event_with("40"), ctx).response.body == "slept 40 ms");
  CHECK(std::chrono::steady_clock::now() - start >= 40ms);
}

TEST_CASE("example fail fails on request") {
  ScratchDir scratch;
  auto fail = load_ok(manifest("fail", SWITCHYARD_LIB_FAIL), scratch);
  CHECK(invoke(*fail, "fine").response.body == "ok");

  Outcome error = invoke(*fail, "error\n");
  CHECK(error.kind == OutcomeKind::kFunctionError);
  CHECK(error.error_type == "DeliberateError");

  Outcome thrown = invoke(*fail, "throw");
  CHECK(thrown.kind == OutcomeKind::kFunctionError);
  CHECK(thrown.error_type == "std::runtime_error");
  CHECK(thrown.error_message == "deliberate");

  // hang overruns its deadline tenfold: 20 ms left means about 200 ms of hanging.
  InvocationContext ctx;
  ctx.deadline = std::chrono::steady_clock::now() + 20ms;
  auto start = std::chrono::steady_clock::now();
  Outcome hung = fail->invoke(event_with("hang"), ctx);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(hung.ok());
  CHECK(took >= 150ms);
  CHECK(took < 5s);
}

TEST_CASE("the example manifests point at the built examples") {
  for (const char* name : {"hello", "echo", "sleep", "fail"}) {
    fs::path path = fs::path(SWITCHYARD_SOURCE_DIR) / "examples" / "functions.d" /
                    (std::string(name) + ".yaml");
    std::ifstream file(path);
    REQUIRE_MESSAGE(file, path.string());
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(contains(text, "name: " + std::string(name) + "\n"));
    CHECK(contains(text, "/lib" + std::string(name) + ".so"));
  }
}

TEST_CASE("a CallableFunction returns its callable's outcome and maps its exceptions") {
  FunctionPtr echo_id = std::make_shared<CallableFunction>(
      "echo_id", [](const Event& event, const InvocationContext& ctx) {
        switchyard::core::Response response;
        response.body = event.id + "/" + std::string(ctx.request_id);
        return Outcome::success(std::move(response));
      });
  InvocationContext ctx;
  ctx.request_id = "r";
  CHECK(echo_id->name() == "echo_id");
  CHECK(echo_id->invoke(event_with(""), ctx).response.body == "event-1/r");

  FunctionPtr thrower = std::make_shared<CallableFunction>(
      "thrower", [](const Event&, const InvocationContext&) -> Outcome {
        throw std::length_error("too long");
      });
  Outcome outcome = thrower->invoke(event_with(""), ctx);
  CHECK(outcome.kind == OutcomeKind::kFunctionError);
  CHECK(outcome.error_type == "std::length_error");
  CHECK(outcome.error_message == "too long");
}

TEST_CASE("InvocationContext reports cancellation and the time left") {
  InvocationContext ctx;
  CHECK_FALSE(ctx.is_cancelled());
  CHECK(ctx.remaining() == std::chrono::milliseconds::max());
  std::atomic<bool> cancelled{false};
  ctx.cancelled = &cancelled;
  CHECK_FALSE(ctx.is_cancelled());
  cancelled = true;
  CHECK(ctx.is_cancelled());
  ctx.deadline = std::chrono::steady_clock::now() + 1s;
  CHECK(ctx.remaining() > 900ms);
  CHECK(ctx.remaining() <= 1s);
}
