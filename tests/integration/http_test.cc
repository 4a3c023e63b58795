// The HTTP trigger of the running daemon, over real sockets: how requests reach functions and
// how outcomes become status codes, the limits of the server (raw bytes for the malformed and
// oversized cases), pipelining and keep-alive, the CloudEvents and API Gateway v2 mappings,
// throttling under real concurrency, clients that leave early, and draining on SIGTERM.
//
// The daemon runs tests/integration/http_config: small limits (64KiB body, 8KiB header, 2KiB
// request-target, 500ms header timeout, 2s idle timeout) and the example functions hello, echo
// (inline, any method, plus an apigw-v2 route), sleep (2 slots, 2 queue places) and fail (1s
// timeout, no retry). RFC 9112's finer rules have their own file, http_strictness_test.cc.

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon.h"
#include "support/http_client.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kConfig =
    std::string(SWITCHYARD_SOURCE_DIR) + "/tests/integration/http_config/switchyard.yaml";

using Clock = std::chrono::steady_clock;

std::string get(const std::string& path, const std::string& extra_headers = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A JSON document parsed from `text`; an empty object when it is not JSON (the caller's checks
// on its members then fail).
rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError()) {
    FAIL_CHECK("not JSON: " << text);
    document.SetObject();
  }
  return document;
}

// The string member `name` of `object`, or "<missing>".
std::string member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) {
    return "<not an object>";
  }
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) {
    return "<missing>";
  }
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

struct FunctionStats {
  int in_flight = -1;
  int queued = -1;
};

// The scheduler's view of one function, from the admin listener's /functions.
FunctionStats stats_of(int admin_port, const std::string& function) {
  auto reply = http_request(admin_port, "GET", "/functions", {}, {}, 2s);
  rapidjson::Document document;
  document.Parse(reply.body.c_str(), reply.body.size());
  if (document.HasParseError() || !document.IsArray()) {
    return {};
  }
  for (const auto& entry : document.GetArray()) {
    if (member(entry, "name") == function) {
      return {entry["in_flight"].GetInt(), static_cast<int>(entry["queued"].GetUint64())};
    }
  }
  return {};
}

bool all_digits(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Sends `bytes` and, in the same write, a valid request behind them on a fresh connection.
// The server must answer `status` with Connection: close, and then close the connection
// without answering the valid request.
void expect_refused_and_closed(int port, const std::string& bytes, int status) {
  INFO("request: " << bytes.substr(0, 120));
  HttpConnection connection(port);
  REQUIRE(connection.connected());
  REQUIRE(connection.send_raw(bytes + get("/hello")));
  auto reply = connection.read_reply(5s);
  CHECK(reply.status == status);
  CHECK(reply.header("connection") == "close");
  CHECK(reply.header("content-type") == "application/json");
  auto after = connection.read_reply(3s);
  CHECK(after.status == 0);
  CHECK(after.raw.empty());
  CHECK(connection.closed_by_peer(3s));
}

}  // namespace

TEST_CASE("function outcomes map to 200, 202, 404, 405 and 502, on kept-alive connections") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  REQUIRE(daemon.http_port() > 0);
  REQUIRE(daemon.admin_port() > 0);
  int port = daemon.http_port();
  int admin = daemon.admin_port();

  // 202: the event is accepted, answered at once, and still runs.
  auto accepted = http_request(port, "POST", "/hello", R"({"name":"Async"})",
                               "X-Amz-Invocation-Type: Event\r\n");
  CHECK(accepted.status == 202);
  CHECK_FALSE(accepted.header("x-amzn-requestid").empty());
  CHECK(accepted.body == R"({"requestId":")" + accepted.header("x-amzn-requestid") + R"("})");
  CHECK(eventually(
      [&] {
        return http_request(admin, "GET", "/metrics")
                   .body.find(R"(switchyard_events_total{function="hello",outcome="ok"} 1)") !=
               std::string::npos;
      },
      5s));

  // 200, twice on one connection.
  HttpConnection connection(port);
  REQUIRE(connection.connected());
  REQUIRE(connection.send_raw(post("/hello", R"({"name":"Ada"})")));
  auto first = connection.read_reply();
  CHECK(first.status == 200);
  CHECK(first.body == "Hello, Ada!");
  CHECK(first.header("connection").empty());
  REQUIRE(connection.send_raw(get("/hello")));
  auto second = connection.read_reply();
  CHECK(second.status == 200);
  CHECK(second.body == "Hello, world!");
  CHECK_FALSE(connection.closed_by_peer(100ms));

  // 404 and 405 (with Allow) come from the router and keep the connection.
  REQUIRE(connection.send_raw(get("/nope")));
  auto missing = connection.read_reply();
  CHECK(missing.status == 404);
  CHECK(missing.header("content-type") == "application/json");
  REQUIRE(connection.send_raw("DELETE /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto not_allowed = connection.read_reply();
  CHECK(not_allowed.status == 405);
  std::string allow = not_allowed.header("allow");
  CHECK(allow.find("GET") != std::string::npos);
  CHECK(allow.find("POST") != std::string::npos);
  CHECK(allow.find("DELETE") == std::string::npos);
  auto apigw_get = http_request(port, "GET", "/apigw/1");
  CHECK(apigw_get.status == 405);
  CHECK(apigw_get.header("allow") == "POST");

  // 502: a function error and an exception, as {"errorType","errorMessage"}.
  REQUIRE(connection.send_raw(post("/fail", "error")));
  auto error = connection.read_reply();
  CHECK(error.status == 502);
  CHECK(error.header("content-type") == "application/json");
  CHECK(error.body == R"({"errorType":"DeliberateError","errorMessage":"you asked for an error"})");
  REQUIRE(connection.send_raw(post("/fail", "throw")));
  auto thrown = connection.read_reply();
  CHECK(thrown.status == 502);
  auto thrown_json = parse_json(thrown.body);
  CHECK(member(thrown_json, "errorType") == "std::runtime_error");
  CHECK(member(thrown_json, "errorMessage") == "deliberate");
  // The connection survived every answer above.
  REQUIRE(connection.send_raw(post("/fail", "fine")));
  auto fine = connection.read_reply();
  CHECK(fine.status == 200);
  CHECK(fine.body == "ok");

  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("a function that overruns its timeout is answered 504") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  auto start = Clock::now();
  auto timed_out = http_request(port, "POST", "/fail", "hang", {}, 5s);
  auto took = Clock::now() - start;
  CHECK(timed_out.status == 504);
  CHECK(member(parse_json(timed_out.body), "errorType") == "Timeout");
  CHECK(took >= 900ms);
  CHECK(took < 3s);
  // The hung invocation keeps a worker (fail ignores cancellation); the other one still serves.
  auto after = http_request(port, "POST", "/fail", "fine");
  CHECK(after.status == 200);
  // No graceful stop: the hung thread would hold the drain for most of shutdown_timeout. The
  // daemon is killed when `daemon` goes out of scope.
}

TEST_CASE("malformed requests are answered 400 or 505 and the connection is closed") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();

  expect_refused_and_closed(port, "NOT A REQUEST\r\n\r\n", 400);
  expect_refused_and_closed(port, "GET /hello HTTP/1.x\r\nHost: 127.0.0.1\r\n\r\n", 400);
  expect_refused_and_closed(port,
                            "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                            400);
  // Both framings at once is the request-smuggling shape: refused, never guessed.
  expect_refused_and_closed(port,
                            "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                            400);
  expect_refused_and_closed(port, "GET /hello HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505);

  // A well-formed chunked body still works.
  HttpConnection chunked(port);
  REQUIRE(
      chunked.send_raw("POST /echo/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto reply = chunked.read_reply();
  CHECK(reply.status == 200);
  CHECK(member(parse_json(reply.body), "data") == "hello world");
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("RFC 9112's rules hold on the event and the admin listener") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  for (int port : {daemon.http_port(), daemon.admin_port()}) {
    CAPTURE(port);
    // §5.1: whitespace between a field name and its colon.
    expect_refused_and_closed(port, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A : a\r\n\r\n",
                              400);
    // §5.2: obs-fold, refused rather than unfolded.
    expect_refused_and_closed(
        port, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n", 400);
    // §6.1: a transfer coding that is not implemented; §6.3: a final coding not chunked.
    expect_refused_and_closed(port,
                              "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                              501);
    expect_refused_and_closed(port,
                              "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Transfer-Encoding: chunked, gzip\r\n\r\nhello",
                              400);
    // §3.2: exactly one Host.
    expect_refused_and_closed(port, "GET /hello HTTP/1.1\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);

    // §9.6: a client that shuts down its sending side after a complete request still gets
    // the answer before the connection closes (`printf ... | nc -N`).
    HttpConnection half_closed(port);
    REQUIRE(half_closed.send_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    half_closed.finish_sending();
    auto reply = half_closed.read_reply(5s);
    CHECK(reply.status != 0);
    CHECK(half_closed.closed_by_peer(5s));
  }
  // The function behind the event listener answers a half-closed request too.
  HttpConnection half_closed(daemon.http_port());
  REQUIRE(half_closed.send_raw(post("/sleep", "100")));
  half_closed.finish_sending();
  auto slept = half_closed.read_reply(5s);
  CHECK(slept.status == 200);
  CHECK(slept.body == "slept 100 ms");
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("size and time limits: 413, 431 and 408") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();

  // The body limit is 64KiB, inclusive.
  std::string at_limit(64 * 1024, 'a');
  auto accepted = http_request(port, "POST", "/echo/max", at_limit);
  CHECK(accepted.status == 200);
  CHECK(member(parse_json(accepted.body), "data") == at_limit);

  // 413 by Content-Length, before the body is sent.
  expect_refused_and_closed(
      port, "POST /echo/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65537\r\n\r\n", 413);
  // 413 by a single announced chunk over the limit (0x10001 bytes).
  expect_refused_and_closed(port,
                            "POST /echo/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n10001\r\n",
                            413);
  // 413 by small chunks that add up to more than the limit.
  std::string chunks;
  std::string chunk(4096, 'b');
  for (int i = 0; i < 17; ++i) {
    chunks += "1000\r\n" + chunk + "\r\n";
  }
  expect_refused_and_closed(port,
                            "POST /echo/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n" +
                                chunks + "0\r\n\r\n",
                            413);

  // The header limit is 8KiB: a 7000-byte header passes, a 9000-byte one is refused.
  auto big_header =
      http_request(port, "GET", "/hello", {}, "X-Big: " + std::string(7000, 'h') + "\r\n");
  CHECK(big_header.status == 200);
  expect_refused_and_closed(port, get("/hello", "X-Too-Big: " + std::string(9000, 'h') + "\r\n"),
                            431);

  // 408: half a header line, then silence past header_timeout (500ms).
  HttpConnection slow(port);
  REQUIRE(slow.connected());
  auto start = Clock::now();
  REQUIRE(slow.send_raw("GET /hello HTTP/1.1\r\nHost: 127.0"));
  auto timed_out = slow.read_reply(5s);
  auto took = Clock::now() - start;
  CHECK(timed_out.status == 408);
  CHECK(timed_out.header("connection") == "close");
  CHECK(took >= 450ms);
  CHECK(took < 2s);
  CHECK(slow.closed_by_peer(3s));
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("pipelined requests are answered in order, the slow one first") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();

  HttpConnection connection(port);
  REQUIRE(connection.connected());
  REQUIRE(connection.send_raw(get("/echo/first?n=1") + get("/echo/second/part") +
                              post("/echo/third", "3")));
  std::vector<std::string> paths = {"/echo/first", "/echo/second/part", "/echo/third"};
  std::vector<std::string> params = {"first", "second/part", "third"};
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto reply = connection.read_reply();
    REQUIRE(reply.status == 200);
    auto event = parse_json(reply.body);
    CHECK(member(event, "source") == "switchyard/http");
    CHECK(member(event, "type") == "switchyard.http.request");
    REQUIRE(event.HasMember("attributes"));
    CHECK(member(event["attributes"], "http.path") == paths[i]);
    CHECK(member(event["attributes"], "http.param.rest") == params[i]);
  }

  // A slow request at the head holds back the fast answers behind it.
  REQUIRE(connection.send_raw(post("/sleep", "300") + get("/echo/after") + get("/hello")));
  auto slept = connection.read_reply();
  CHECK(slept.status == 200);
  CHECK(slept.body == "slept 300 ms");
  auto echoed = connection.read_reply();
  CHECK(echoed.status == 200);
  CHECK(member(parse_json(echoed.body)["attributes"], "http.path") == "/echo/after");
  auto hello = connection.read_reply();
  CHECK(hello.status == 200);
  CHECK(hello.body == "Hello, world!");
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("API Gateway v2 payload: the function sees the AWS event, JSON output becomes 200") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();

  auto reply = http_request(port, "POST", "/apigw/42?x=1&y=two", "hi apigw",
                            "X-Custom-Header: Yes\r\nContent-Type: text/plain\r\n");
  REQUIRE(reply.status == 200);
  CHECK(reply.header("content-type") == "application/json");
  // echo answers with the event it got; its data is the API Gateway event.
  auto echoed = parse_json(reply.body);
  CHECK(member(echoed, "datacontenttype") == "application/json");
  auto event = parse_json(member(echoed, "data"));
  CHECK(member(event, "version") == "2.0");
  CHECK(member(event, "routeKey") == "POST /apigw/{id}");
  CHECK(member(event, "rawPath") == "/apigw/42");
  CHECK(member(event, "rawQueryString") == "x=1&y=two");
  CHECK(member(event, "body") == "hi apigw");
  REQUIRE(event.HasMember("isBase64Encoded"));
  CHECK(event["isBase64Encoded"].IsFalse());
  REQUIRE(event.HasMember("pathParameters"));
  CHECK(member(event["pathParameters"], "id") == "42");
  REQUIRE(event.HasMember("queryStringParameters"));
  CHECK(member(event["queryStringParameters"], "y") == "two");
  REQUIRE(event.HasMember("headers"));
  CHECK(member(event["headers"], "x-custom-header") == "Yes");
  CHECK(member(event["headers"], "content-type") == "text/plain");
  CHECK_FALSE(event["headers"].HasMember("X-Custom-Header"));
  REQUIRE(event.HasMember("requestContext"));
  REQUIRE(event["requestContext"].HasMember("http"));
  CHECK(member(event["requestContext"]["http"], "method") == "POST");
  CHECK(member(event["requestContext"]["http"], "path") == "/apigw/42");

  // Bytes that are not UTF-8 travel base64-encoded.
  auto binary = http_request(port, "POST", "/apigw/7", std::string("\xff\xfe\x00\x01", 4));
  REQUIRE(binary.status == 200);
  auto binary_event = parse_json(member(parse_json(binary.body), "data"));
  REQUIRE(binary_event.HasMember("isBase64Encoded"));
  CHECK(binary_event["isBase64Encoded"].IsTrue());
  CHECK(member(binary_event, "body") == "//4AAQ==");
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("CloudEvents over HTTP: binary and structured modes, and 400 for invalid ones") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  HttpConnection connection(port);
  REQUIRE(connection.connected());

  REQUIRE(connection.send_raw(post("/echo/ce", "hello ce",
                                   "ce-specversion: 1.0\r\nce-id: evt-1\r\n"
                                   "ce-source: /tests/http\r\nce-type: com.example.binary\r\n"
                                   "ce-subject: thing%201\r\nce-myext: v1\r\n"
                                   "Content-Type: text/plain\r\n")));
  auto binary = connection.read_reply();
  REQUIRE(binary.status == 200);
  auto binary_event = parse_json(binary.body);
  CHECK(member(binary_event, "id") == "evt-1");
  CHECK(member(binary_event, "source") == "/tests/http");
  CHECK(member(binary_event, "type") == "com.example.binary");
  CHECK(member(binary_event, "subject") == "thing 1");
  CHECK(member(binary_event, "data") == "hello ce");
  CHECK(member(binary_event, "datacontenttype") == "text/plain");
  REQUIRE(binary_event.HasMember("attributes"));
  CHECK(member(binary_event["attributes"], "ce.myext") == "v1");
  CHECK(member(binary_event["attributes"], "http.method") == "POST");

  std::string structured_body =
      R"({"specversion":"1.0","id":"evt-2","source":"/tests/structured",)"
      R"("type":"com.example.structured","subject":"s2","myext":"v2","data":{"n":1}})";
  REQUIRE(connection.send_raw(
      post("/echo/ce", structured_body, "Content-Type: application/cloudevents+json\r\n")));
  auto structured = connection.read_reply();
  REQUIRE(structured.status == 200);
  auto structured_event = parse_json(structured.body);
  CHECK(member(structured_event, "id") == "evt-2");
  CHECK(member(structured_event, "source") == "/tests/structured");
  CHECK(member(structured_event, "type") == "com.example.structured");
  CHECK(member(structured_event, "subject") == "s2");
  CHECK(member(structured_event, "data") == R"({"n":1})");
  CHECK(member(structured_event, "datacontenttype") == "application/json");
  REQUIRE(structured_event.HasMember("attributes"));
  CHECK(member(structured_event["attributes"], "ce.myext") == "v2");

  // Invalid CloudEvents are the client's fault: 400, and the connection stays usable.
  REQUIRE(connection.send_raw(post("/echo/ce", "x",
                                   "ce-specversion: 0.3\r\nce-id: e\r\nce-source: /s\r\n"
                                   "ce-type: t\r\n")));
  auto old_version = connection.read_reply();
  CHECK(old_version.status == 400);
  CHECK(member(parse_json(old_version.body), "message").find("specversion") != std::string::npos);
  REQUIRE(connection.send_raw(post("/echo/ce", "x",
                                   "ce-specversion: 1.0\r\nce-source: /s\r\n"
                                   "ce-type: t\r\n")));
  auto no_id = connection.read_reply();
  CHECK(no_id.status == 400);
  CHECK(member(parse_json(no_id.body), "message").find("ce-id") != std::string::npos);
  REQUIRE(connection.send_raw(
      post("/echo/ce", "{not json", "Content-Type: application/cloudevents+json\r\n")));
  auto bad_structured = connection.read_reply();
  CHECK(bad_structured.status == 400);
  REQUIRE(connection.send_raw(get("/echo/still-open")));
  CHECK(connection.read_reply().status == 200);
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("a full function answers 429 with Retry-After under real concurrency") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  int admin = daemon.admin_port();

  // sleep has 2 slots and 2 queue places: four 1.5s calls fill both.
  std::vector<HttpReply> replies(4);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    clients.emplace_back(
        [&, i] { replies[i] = http_request(port, "POST", "/sleep", "1500", {}, 10s); });
  }
  bool full = eventually(
      [&] {
        auto stats = stats_of(admin, "sleep");
        return stats.in_flight == 2 && stats.queued == 2;
      },
      5s);
  CHECK(full);
  if (full) {
    auto refused = http_request(port, "POST", "/sleep", "1500", {}, 5s);
    CHECK(refused.status == 429);
    CHECK(all_digits(refused.header("retry-after")));
    CHECK(refused.header("content-type") == "application/json");
  }
  for (auto& client : clients) {
    client.join();
  }
  for (const auto& reply : replies) {
    CHECK(reply.status == 200);
    CHECK(reply.body == "slept 1500 ms");
  }
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("a client that disconnects mid-invocation frees the function's slot") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  int admin = daemon.admin_port();
  {
    HttpConnection leaving(port);
    REQUIRE(leaving.connected());
    REQUIRE(leaving.send_raw(post("/sleep", "800")));
  }
  REQUIRE(eventually([&] { return stats_of(admin, "sleep").in_flight == 1; }, 5s));
  CHECK(eventually([&] { return stats_of(admin, "sleep").in_flight == 0; }, 5s));
  auto next = http_request(port, "POST", "/sleep", "10");
  CHECK(next.status == 200);
  CHECK(next.body == "slept 10 ms");
  CHECK(daemon.process().err().find("dropped its response slot") == std::string::npos);
  // Nothing is left in flight: the drain ends at once, far inside shutdown_timeout (10s).
  auto start = Clock::now();
  auto stopped = daemon.stop(8s);
  CHECK(stopped.exit_code == 0);
  CHECK(Clock::now() - start < 3s);
}

TEST_CASE("draining: in-flight requests finish, new ones get 503 or a refused connection") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  int admin = daemon.admin_port();

  // An idle kept-alive connection.
  HttpConnection idle(port);
  REQUIRE(idle.send_raw(get("/hello")));
  REQUIRE(idle.read_reply().status == 200);

  // A connection with a slow invocation and, behind it, a request whose body is half sent.
  HttpConnection busy(port);
  REQUIRE(
      busy.send_raw(post("/sleep", "1500") +
                    "POST /echo/late HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab"));
  REQUIRE(eventually([&] { return stats_of(admin, "sleep").in_flight == 1; }, 5s));

  daemon.process().signal(SIGTERM);
  REQUIRE(daemon.process().wait_for_err("draining"));
  // The listener closes: new connections are refused.
  CHECK(eventually([&] { return !HttpConnection(port).connected(); }, 5s));
  // The idle connection is closed without an answer (well before its 2s idle timeout).
  CHECK(idle.closed_by_peer(1s));

  // The request begun before the drain completes and is refused 503, after the in-flight one.
  REQUIRE(busy.send_raw("cd"));
  auto slept = busy.read_reply(5s);
  CHECK(slept.status == 200);
  CHECK(slept.body == "slept 1500 ms");
  auto late = busy.read_reply(5s);
  CHECK(late.status == 503);
  CHECK(late.header("connection") == "close");
  CHECK(member(parse_json(late.body), "message") == "switchyard is shutting down");
  CHECK(busy.closed_by_peer(3s));

  auto result = daemon.process().wait(10s);
  CHECK(result.exit_code == 0);
}

TEST_CASE("the traceparent header reaches the function's context") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto reply =
      http_request(daemon.http_port(), "POST", "/echo/t", "x", "traceparent: " + trace + "\r\n");
  REQUIRE(reply.status == 200);
  CHECK(reply.body.find("\"trace_parent\":\"" + trace + "\"") != std::string::npos);
  CHECK(reply.body.find("\"function_name\":\"echo\"") != std::string::npos);
  auto metrics = http_request(daemon.admin_port(), "GET", "/metrics");
  CHECK(metrics.body.find(
            R"(switchyard_trigger_events_total{trigger="http",function="echo",outcome="ok"} 1)") !=
        std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}
