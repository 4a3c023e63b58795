// The Runtime API's protocol: error reports as runtimes send them, the request id in a
// target, and routing through a real server on a real loop to a handler that records calls
// (the seam an Environment fills), with AWS's answers for misuse.

#include "environments/runtime_api.h"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/codec.h"
#include "support/http_client.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using environments::kMaxResponseBytes;
using environments::parse_runtime_error;
using environments::response_request_id;
using environments::RuntimeApi;
using environments::RuntimeError;
using switchyard::testing::HttpConnection;
using switchyard::testing::HttpReply;
using switchyard::testing::run_until;

namespace {

constexpr const char* kNext = "/2018-06-01/runtime/invocation/next";
constexpr const char* kInitError = "/2018-06-01/runtime/init/error";

std::string invocation(const std::string& id, const std::string& what) {
  return "/2018-06-01/runtime/invocation/" + id + "/" + what;
}

// Records every call; answers at once unless told to keep `next` waiting.
struct RecordingHandler final : environments::RuntimeApiHandler {
  struct Call {
    std::string kind;  // next, response, error, init_error, too_large
    std::string id;
    std::string body;
    std::string content_type;
    RuntimeError error;
  };
  std::vector<Call> calls;
  bool hold_next = false;
  std::vector<http::ResponseSlot> held;

  void on_next(http::ResponseSlot slot) override {
    calls.push_back({"next", "", "", "", {}});
    if (hold_next) {
      held.push_back(std::move(slot));
      return;
    }
    http::Response response;
    response.status = 200;
    response.headers.push_back({"Lambda-Runtime-Aws-Request-Id", "req-1"});
    response.body = "the event";
    slot.respond(std::move(response));
  }
  void on_response(std::string_view request_id, std::string&& body, std::string_view content_type,
                   http::ResponseSlot slot) override {
    calls.push_back({"response", std::string(request_id), body, std::string(content_type), {}});
    RuntimeApi::accepted(slot);
  }
  void on_error(std::string_view request_id, RuntimeError&& error,
                http::ResponseSlot slot) override {
    calls.push_back({"error", std::string(request_id), "", "", error});
    RuntimeApi::accepted(slot);
  }
  void on_init_error(RuntimeError&& error, http::ResponseSlot slot) override {
    calls.push_back({"init_error", "", "", "", error});
    RuntimeApi::accepted(slot);
  }
  void on_response_too_large(std::string_view request_id) override {
    calls.push_back({"too_large", std::string(request_id), "", "", {}});
  }
};

// A RuntimeApi listening on a real loop.
struct Api {
  core::Loop loop;
  core::MetricsRegistry metrics;
  RecordingHandler handler;
  int admitted = 0;
  bool refuse = false;
  std::unique_ptr<RuntimeApi> api;
  int port = 0;

  Api() {
    api = std::make_unique<RuntimeApi>(loop, metrics, handler, [this](int fd) {
      CHECK(fd >= 0);
      ++admitted;
      return !refuse;
    });
    REQUIRE(api->listen().ok());
    const std::string address = api->address();
    REQUIRE(address.rfind("127.0.0.1:", 0) == 0);
    port = std::stoi(address.substr(10));
    REQUIRE(port > 0);
  }
  ~Api() { api.reset(); }

  // Runs `client` (blocking socket calls) on a thread while the loop serves it.
  void with_client(const std::function<void()>& client) {
    std::atomic<bool> done{false};
    std::thread thread([&] {
      client();
      done = true;
    });
    CHECK(run_until(
        loop, [&] { return done.load(); }, 20s));
    thread.join();
  }
  HttpReply request(const std::string& method, const std::string& path,
                    const std::string& body = {}, const std::string& headers = {}) {
    HttpReply reply;
    with_client(
        [&] { reply = switchyard::testing::http_request(port, method, path, body, headers); });
    return reply;
  }
};

}  // namespace

TEST_CASE("parse_runtime_error reads errorType and errorMessage from a JSON body") {
  auto error = parse_runtime_error(R"({"errorMessage":"it broke","errorType":"Custom.Broke",)"
                                   R"("stackTrace":["a","b"]})",
                                   {});
  CHECK(error.type == "Custom.Broke");
  CHECK(error.message == "it broke");
}

TEST_CASE("parse_runtime_error takes the type from the header when the body has none") {
  http::Headers headers{{"lambda-runtime-function-error-type", "Header.Type"}};
  auto from_header = parse_runtime_error(R"({"errorMessage":"m"})", headers);
  CHECK(from_header.type == "Header.Type");
  CHECK(from_header.message == "m");
  // The body's own type wins over the header.
  auto from_body = parse_runtime_error(R"({"errorType":"Body.Type"})", headers);
  CHECK(from_body.type == "Body.Type");
  // A type that is not a string is no type.
  auto not_string = parse_runtime_error(R"({"errorType":42,"errorMessage":"m"})", {});
  CHECK(not_string.type == "Unhandled");
}

TEST_CASE("parse_runtime_error takes a body that is not JSON as the message") {
  auto plain = parse_runtime_error("segfault in handler", {});
  CHECK(plain.type == "Unhandled");
  CHECK(plain.message == "segfault in handler");
  auto array = parse_runtime_error("[1,2]", {{"Lambda-Runtime-Function-Error-Type", "T"}});
  CHECK(array.type == "T");
  CHECK(array.message == "[1,2]");
}

TEST_CASE("parse_runtime_error defaults the type to Unhandled") {
  auto empty = parse_runtime_error("", {});
  CHECK(empty.type == "Unhandled");
  CHECK(empty.message.empty());
  auto no_type = parse_runtime_error(R"({"errorMessage":"only a message"})", {});
  CHECK(no_type.type == "Unhandled");
  CHECK(no_type.message == "only a message");
}

TEST_CASE("parse_runtime_error never passes on invalid UTF-8") {
  SUBCASE("a body that is not JSON") {
    auto error = parse_runtime_error("bad \xff\xfe bytes", {});
    CHECK(core::is_valid_utf8(error.message));
    CHECK(error.message.find("bad ") == 0);
    CHECK(error.message.find(" bytes") != std::string::npos);
  }
  SUBCASE("inside the JSON strings") {
    auto error = parse_runtime_error("{\"errorMessage\":\"bad \xff\",\"errorType\":\"T\xc0\"}", {});
    CHECK(core::is_valid_utf8(error.message));
    CHECK(core::is_valid_utf8(error.type));
    CHECK(error.message.find("bad ") == 0);
  }
  SUBCASE("in the header") {
    auto error = parse_runtime_error("", {{"Lambda-Runtime-Function-Error-Type", "T\xff"}});
    CHECK(core::is_valid_utf8(error.type));
  }
}

TEST_CASE("response_request_id finds the id of a /response target only") {
  CHECK(response_request_id(invocation("abc-123", "response")) == "abc-123");
  CHECK(response_request_id(invocation("abc-123", "response") + "?x=1") == "abc-123");
  CHECK(response_request_id(invocation("abc-123", "error")) == "");
  CHECK(response_request_id(invocation("", "response")) == "");
  CHECK(response_request_id(invocation("a/b", "response")) == "");
  CHECK(response_request_id(kNext) == "");
  CHECK(response_request_id("/response") == "");
  CHECK(response_request_id("") == "");
}

TEST_CASE("the Runtime API routes each request to its handler with the invocation's id") {
  Api api;

  auto next = api.request("GET", kNext);
  CHECK(next.status == 200);
  CHECK(next.body == "the event");
  CHECK(next.header("lambda-runtime-aws-request-id") == "req-1");

  auto response = api.request("POST", invocation("req-1", "response"), R"({"answer":42})",
                              "Content-Type: application/json\r\n");
  CHECK(response.status == 202);
  CHECK(response.body == "{\"status\":\"OK\"}\n");

  auto error = api.request("POST", invocation("req-2", "error"),
                           R"({"errorMessage":"asked to fail","errorType":"Custom.Failure"})");
  CHECK(error.status == 202);

  auto init = api.request("POST", kInitError, R"({"errorMessage":"no config"})",
                          "Lambda-Runtime-Function-Error-Type: Custom.InitFailed\r\n");
  CHECK(init.status == 202);

  REQUIRE(api.handler.calls.size() == 4);
  CHECK(api.handler.calls[0].kind == "next");
  CHECK(api.handler.calls[1].kind == "response");
  CHECK(api.handler.calls[1].id == "req-1");
  CHECK(api.handler.calls[1].body == R"({"answer":42})");
  CHECK(api.handler.calls[1].content_type == "application/json");
  CHECK(api.handler.calls[2].kind == "error");
  CHECK(api.handler.calls[2].id == "req-2");
  CHECK(api.handler.calls[2].error.type == "Custom.Failure");
  CHECK(api.handler.calls[2].error.message == "asked to fail");
  CHECK(api.handler.calls[3].kind == "init_error");
  CHECK(api.handler.calls[3].error.type == "Custom.InitFailed");
  CHECK(api.handler.calls[3].error.message == "no config");
  CHECK(api.admitted == 4);
}

TEST_CASE("`next` is a long poll: the handler answers it when it has an invocation") {
  Api api;
  api.handler.hold_next = true;
  HttpReply reply;
  std::atomic<bool> done{false};
  std::thread client([&] {
    reply = switchyard::testing::http_request(api.port, "GET", kNext);
    done = true;
  });
  if (!run_until(api.loop, [&] { return api.handler.held.size() == 1; })) {
    client.join();
    FAIL("the handler never saw `next`");
  }
  CHECK_FALSE(done.load());
  http::Response response;
  response.status = 200;
  response.body = "later";
  api.handler.held[0].respond(std::move(response));
  CHECK(run_until(api.loop, [&] { return done.load(); }));
  client.join();
  CHECK(reply.status == 200);
  CHECK(reply.body == "later");
}

TEST_CASE("unknown paths are 404 and wrong methods 405, without calling the handler") {
  Api api;
  struct Case {
    const char* method;
    std::string path;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/", 404},
      {"GET", "/2018-06-01/runtime/invocation/", 404},
      {"POST", invocation("req-1", "other"), 404},
      {"POST", invocation("a/b", "response"), 404},
      {"POST", invocation("", "response"), 404},
      {"GET", "/2018-06-01/runtime/invocation/next/extra", 404},
      {"POST", kNext, 405},
      {"DELETE", kNext, 405},
      {"GET", invocation("req-1", "response"), 405},
      {"PUT", invocation("req-1", "error"), 405},
      {"GET", kInitError, 405},
  };
  for (const Case& each : cases) {
    CAPTURE(each.method);
    CAPTURE(each.path);
    auto reply = api.request(each.method, each.path, "");
    CHECK(reply.status == each.status);
    CHECK(reply.header("content-type") == "application/json");
    CHECK(reply.body.find(each.status == 404
                              ? R"("errorType":"NotFound")"
                              : R"("errorType":"MethodNotAllowed")") != std::string::npos);
  }
  CHECK(api.handler.calls.empty());
}

TEST_CASE("a response over kMaxResponseBytes is 413 and reported for its request id") {
  Api api;
  HttpReply reply;
  api.with_client([&] {
    HttpConnection connection(api.port);
    // The Content-Length alone tells: the body need not be sent.
    connection.send_raw("POST " + invocation("big-1", "response") +
                        " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        std::to_string(kMaxResponseBytes + 1) + "\r\n\r\n");
    reply = connection.read_reply(10s);
  });
  CHECK(reply.status == 413);
  REQUIRE(api.handler.calls.size() == 1);
  CHECK(api.handler.calls[0].kind == "too_large");
  CHECK(api.handler.calls[0].id == "big-1");

  // Too large for an error report is no response of the function's: not reported.
  api.with_client([&] {
    HttpConnection connection(api.port);
    connection.send_raw("POST " + invocation("big-2", "error") +
                        " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        std::to_string(kMaxResponseBytes + 1) + "\r\n\r\n");
    reply = connection.read_reply(10s);
  });
  CHECK(reply.status == 413);
  CHECK(api.handler.calls.size() == 1);
}

TEST_CASE("a response of exactly kMaxResponseBytes is accepted") {
  Api api;
  const std::string body(kMaxResponseBytes, 'a');
  auto reply = api.request("POST", invocation("big-ok", "response"), body);
  CHECK(reply.status == 202);
  REQUIRE(api.handler.calls.size() == 1);
  CHECK(api.handler.calls[0].kind == "response");
  CHECK(api.handler.calls[0].body.size() == kMaxResponseBytes);
}

TEST_CASE("a connection the admit hook refuses is closed unanswered") {
  Api api;
  api.refuse = true;
  bool closed = false;
  std::string raw;
  api.with_client([&] {
    HttpConnection connection(api.port);
    connection.send_raw(std::string("GET ") + kNext + " HTTP/1.1\r\nHost: x\r\n\r\n");
    closed = connection.closed_by_peer(10s);
  });
  CHECK(closed);
  CHECK(api.admitted == 1);
  CHECK(api.handler.calls.empty());
  // Admitted again, the same API serves.
  api.refuse = false;
  CHECK(api.request("GET", kNext).status == 200);
}

TEST_CASE("close() ends a pending `next`; answering its slot afterwards is a no-op") {
  Api api;
  api.handler.hold_next = true;
  bool closed = false;
  std::atomic<bool> done{false};
  std::thread client([&] {
    HttpConnection connection(api.port);
    connection.send_raw(std::string("GET ") + kNext + " HTTP/1.1\r\nHost: x\r\n\r\n");
    closed = connection.closed_by_peer(10s);
    done = true;
  });
  if (!run_until(api.loop, [&] { return api.handler.held.size() == 1; })) {
    client.join();
    FAIL("the handler never saw `next`");
  }
  api.api->close();
  CHECK(run_until(api.loop, [&] { return done.load(); }));
  client.join();
  CHECK(closed);
  CHECK_FALSE(api.handler.held[0].connected());
  http::Response response;
  response.body = "too late";
  api.handler.held[0].respond(std::move(response));
  api.loop.run_nowait();
}
