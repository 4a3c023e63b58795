// RFC 9112's rules on the running daemon, with raw bytes over real sockets: what the server must
// refuse (a bare CR, obs-fold after an empty value, an invalid Host, a long request-target,
// malformed chunked framing, conflicting lengths) and what it must do with the rest (trailer
// fields dropped, HTTP/1.0 keep-alive, 505, the close after a refusal). The event listener and
// the admin listener share the server, and both are checked.
//
// The daemon runs tests/integration/http_config (8KiB header block, 2KiB request-target).

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>

#include "support/daemon.h"
#include "support/http_client.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kConfig =
    std::string(SWITCHYARD_SOURCE_DIR) + "/tests/integration/http_config/switchyard.yaml";

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

std::string chunked_post(const std::string& path, const std::string& chunks) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunks;
}

// Sends `bytes` and then a valid request on one connection: the answer is `status` with
// Connection: close and a JSON body, and the request behind it is never answered.
void expect_refused_and_closed(int port, const std::string& bytes, int status) {
  INFO("request: " << bytes.substr(0, 120));
  HttpConnection connection(port);
  REQUIRE(connection.connected());
  REQUIRE(connection.send_raw(bytes + get("/healthz")));
  auto reply = connection.read_reply(5s);
  CHECK(reply.status == status);
  CHECK(reply.header("connection") == "close");
  CHECK(reply.header("content-type") == "application/json");
  auto after = connection.read_reply(2s);
  CHECK(after.status == 0);
  CHECK(connection.closed_by_peer(3s));
}

double bad_requests(int admin_port, const std::string& server, const std::string& reason) {
  auto metrics = http_request(admin_port, "GET", "/metrics", {}, {}, 2s);
  return metric(metrics.body, "switchyard_http_bad_requests_total{server=\"" + server +
                                  "\",reason=\"" + reason + "\"}");
}

}  // namespace

TEST_CASE("header-section rules on the event and the admin listener") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  for (int port : {daemon.http_port(), daemon.admin_port()}) {
    CAPTURE(port);
    // §2.2: a bare CR in the request line, a field value, between fields, ending the section.
    expect_refused_and_closed(port, "GET /a\rb HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rb\r\n\r\n",
                              400);
    expect_refused_and_closed(
        port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A:\rX-B: b\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\rX-B: b\r\n\r\n",
                              400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r", 400);
    // §5.2: obs-fold after an empty field value.
    expect_refused_and_closed(
        port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A:\r\n b\r\n\r\n", 400);
    // §3.2: an invalid Host value; none; two.
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: a/b:80\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: [::1\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\n\r\n", 400);
    expect_refused_and_closed(port, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    // §3: a request-target over limits.max_target is 414 (not 431: the header block is within
    // limits.max_header).
    expect_refused_and_closed(port, get("/healthz?" + std::string(3000, 'q')), 414);
    // §2.3: a major version other than 1.
    expect_refused_and_closed(port, "GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505);
    expect_refused_and_closed(port, "GET /healthz HTTP/0.9\r\nHost: 127.0.0.1\r\n\r\n", 505);
    // Valid Host forms, an empty one included (§3.2), still pass.
    for (const char* host : {"127.0.0.1:1", "[::1]:80", "example.com", "localhost:", ""}) {
      CAPTURE(host);
      HttpConnection connection(port);
      REQUIRE(
          connection.send_raw(std::string("GET /healthz HTTP/1.1\r\nHost: ") + host + "\r\n\r\n"));
      // The event listener has no /healthz route: 404 there, 200 on the admin listener.
      int status = connection.read_reply(5s).status;
      CHECK((status == 200 || status == 404));
    }
  }
  CHECK(bad_requests(daemon.admin_port(), "http", "target_too_long") == 1);
  CHECK(bad_requests(daemon.admin_port(), "admin", "target_too_long") == 1);
  CHECK(bad_requests(daemon.admin_port(), "http", "malformed") == 11);
  CHECK(bad_requests(daemon.admin_port(), "admin", "malformed") == 11);
  CHECK(daemon.stop(10s).exit_code == 0);
}

TEST_CASE("message body rules: chunked framing, lengths, trailers, HTTP/1.0, 100-continue") {
  RunningDaemon daemon(kBin, kConfig);
  REQUIRE(daemon.ready());
  int port = daemon.http_port();
  // §7.1: chunk-size not hex, overflowing 64 bits, a malformed extension, no CRLF after the
  // data, a bare CR after the size.
  expect_refused_and_closed(port, chunked_post("/echo/x", "5g\r\nhello\r\n0\r\n\r\n"), 400);
  expect_refused_and_closed(port, chunked_post("/echo/x", "10000000000000000\r\nhello\r\n"), 400);
  expect_refused_and_closed(port, chunked_post("/echo/x", "5;a b\r\nhello\r\n0\r\n\r\n"), 400);
  expect_refused_and_closed(port, chunked_post("/echo/x", "5\r\nhelloXX0\r\n\r\n"), 400);
  expect_refused_and_closed(port, chunked_post("/echo/x", "5\rhello\r\n0\r\n\r\n"), 400);
  // §6.3: Content-Length with Transfer-Encoding; two differing Content-Length values.
  expect_refused_and_closed(port,
                            "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                            400);
  expect_refused_and_closed(port,
                            "POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                            "Content-Length: 6\r\n\r\nhello!",
                            400);
  // The malformed chunked request was never run: the next one on a new connection is.
  {
    // §7.1.2: trailer fields are dropped; the function sees only the header section.
    HttpConnection connection(port);
    REQUIRE(connection.send_raw(
        "POST /apigw/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "X-Head: h\r\n\r\n5;ext=\"v\"\r\nhello\r\n0\r\nX-Trailer: t\r\nX-Head: changed\r\n\r\n" +
        get("/healthz")));
    auto reply = connection.read_reply(5s);
    REQUIRE(reply.status == 200);
    rapidjson::Document echoed;
    echoed.Parse(reply.body.c_str(), reply.body.size());
    REQUIRE(echoed.IsObject());
    REQUIRE(echoed.HasMember("data"));
    rapidjson::Document event;
    event.Parse(echoed["data"].GetString(), echoed["data"].GetStringLength());
    REQUIRE(event.IsObject());
    CHECK(std::string(event["body"].GetString()) == "hello");
    REQUIRE(event["headers"].IsObject());
    CHECK(std::string(event["headers"]["x-head"].GetString()) == "h");
    CHECK_FALSE(event["headers"].HasMember("x-trailer"));
    // The request behind it on the same connection is answered: the body ended where it should.
    CHECK(connection.read_reply(5s).status == 404);  // /healthz is the admin listener's.
  }
  {
    // §9.3: HTTP/1.0 keeps the connection only when asked; §10.1.1 of RFC 9110: no 100
    // Continue for HTTP/1.0.
    HttpConnection connection(port);
    REQUIRE(
        connection.send_raw("POST /echo/x HTTP/1.0\r\nConnection: keep-alive\r\n"
                            "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"));
    auto kept = connection.read_reply(5s);
    CHECK(kept.status == 200);
    CHECK(kept.raw.find("100 Continue") == std::string::npos);
    CHECK(kept.header("connection") == "keep-alive");
    REQUIRE(connection.send_raw("GET /healthz HTTP/1.0\r\n\r\n"));
    auto closing = connection.read_reply(5s);
    CHECK(closing.header("connection") == "close");
    CHECK(connection.closed_by_peer(3s));
  }
  {
    // HTTP/1.1 with Expect: 100-continue and a chunked body: 100 first, then the answer.
    HttpConnection connection(port);
    REQUIRE(
        connection.send_raw("POST /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"));
    auto interim = connection.read_reply(5s);
    CHECK(interim.status == 100);
    REQUIRE(connection.send_raw("2\r\nhi\r\n0\r\n\r\n"));
    CHECK(connection.read_reply(5s).status == 200);
  }
  // The admin listener decodes chunked bodies with the same rules.
  expect_refused_and_closed(daemon.admin_port(), chunked_post("/healthz", "5\r\nhelloXX0\r\n\r\n"),
                            400);
  CHECK(daemon.stop(10s).exit_code == 0);
}
