// libFuzzer target over the HTTP request path: the bytes a client sends go through a real
// server (http-parser, limits, pipelining, chunked bodies, Expect) on a loopback socket, and the
// server must answer or close without crashing, leaking or hanging.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "connection_driver.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "http/server.h"

using namespace switchyard;

namespace {

struct Harness {
  core::Loop loop;
  core::MetricsRegistry metrics;
  std::unique_ptr<http::Server> server;
  int port = 0;
};

Harness* harness = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();
  http::ServerOptions options;
  options.max_header_bytes = 4096;
  options.max_target_bytes = 1024;
  options.max_body_bytes = 16384;
  options.header_timeout = std::chrono::milliseconds(200);
  options.idle_timeout = std::chrono::milliseconds(200);
  harness->server = std::make_unique<http::Server>(
      harness->loop, options,
      [](http::Request&& request, http::ResponseSlot slot) {
        http::Response response;
        // Echo what was parsed, so that the write path sees arbitrary content too.
        response.body =
            request.method + " " + request.path + "?" + request.query + "\n" + request.body;
        response.headers.push_back({"X-Header-Count", std::to_string(request.headers.size())});
        slot.respond(std::move(response));
      },
      harness->metrics);
  if (!harness->server->listen().ok()) {
    std::abort();
  }
  harness->port = harness->server->port();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::drive_connection(harness->loop, harness->port, data, size);
  return 0;
}
