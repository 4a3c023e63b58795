// libFuzzer target over the HTTP request path: the bytes a client sends go through a real
// server (http-parser, limits, pipelining, chunked bodies, Expect) on a loopback socket, and the
// server must answer or close without crashing, leaking or hanging.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/loop.h"
#include "core/metrics.h"
#include "triggers/http/server.h"

using namespace switchyard;

namespace {

struct Harness {
  core::Loop loop;
  core::MetricsRegistry metrics;
  std::unique_ptr<triggers::http::Server> server;
  int port = 0;
};

Harness* harness = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();
  triggers::http::ServerOptions options;
  options.max_header_bytes = 4096;
  options.max_body_bytes = 16384;
  options.header_timeout = std::chrono::milliseconds(200);
  options.idle_timeout = std::chrono::milliseconds(200);
  harness->server = std::make_unique<triggers::http::Server>(
      harness->loop, options,
      [](triggers::http::Request&& request, triggers::http::ResponseSlot slot) {
        triggers::http::Response response;
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
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(harness->port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Closing with a reset leaves no TIME_WAIT behind on either side: hundreds of thousands of
  // runs would otherwise exhaust the ephemeral ports.
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  int attempts = 0;
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // A full accept backlog clears once the loop runs; anything else is the harness failing.
    if (++attempts > 1000 || (errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR)) {
      std::perror("fuzzer: connect");
      std::abort();
    }
    harness->loop.run_nowait();
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::size_t sent = 0;
  bool eof = false;
  bool shut = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[65536];
  while (!eof) {
    if (sent < size) {
      ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN) {
        sent = size;  // The server closed on us: fine.
      }
    } else if (!shut) {
      shutdown(fd, SHUT_WR);
      shut = true;
    }
    harness->loop.run_nowait();
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      eof = true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      // A server that neither answers nor closes within 5 s is a hang.
      std::abort();
    }
  }
  close(fd);
  // Let the server finish closing its side.
  for (int i = 0; i < 4; ++i) {
    harness->loop.run_nowait();
  }
  return 0;
}
