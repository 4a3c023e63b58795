#pragma once

// The HTTP/1.1 server: accepts connections on one libuv loop, parses requests with http-parser,
// hands each complete Request to a RequestHandler together with a ResponseSlot, and writes the
// responses back strictly in request order (pipelining), with keep-alive, chunked request
// bodies, Expect: 100-continue, size limits, header/idle timeouts and backpressure.
//
// Thread rules: everything here, ResponseSlot included, is loop-thread only. A handler that
// answers from a worker thread hands its result back to the loop first (the scheduler's
// completion queue) and calls respond() there.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "http/message.h"

namespace switchyard::http {

struct ServerOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal.
  int port = 0;                       // 0 picks a free port; read it back with Server::port().
  // The request-target; a longer one is answered 414 (RFC 9112 §3) and the connection closed.
  std::size_t max_target_bytes = 8 * 1024;
  // Request line plus headers; more is answered 431 and the connection closed.
  std::size_t max_header_bytes = 64 * 1024;
  // A body over this (by Content-Length up front, or while de-chunking) is answered 413.
  std::size_t max_body_bytes = 6 * 1024 * 1024;
  // Time to receive a complete header block once a request has begun: 408 and close.
  std::chrono::milliseconds header_timeout{10000};
  // A keep-alive connection with nothing to do is closed silently after this long. A body that
  // stalls this long is answered 408.
  std::chrono::milliseconds idle_timeout{60000};
  // Connections accepted past this are closed at once; the open ones are not affected.
  int max_connections = 10000;
  // Requests parsed ahead of their responses on one connection; beyond it reading pauses until
  // responses are written, which bounds the memory one connection can hold.
  std::size_t max_pipelined = 64;
  // The label for metrics and logs: "http", "admin".
  std::string name = "http";
  // Decides, before anything is read from it, whether an accepted connection (its socket) may
  // stay; a refused one is closed at once and counted as rejected. Empty: every one stays.
  std::function<bool(int fd)> admit;
  // Told of each request answered 413 for its body, with its method and target, before the
  // answer (the Runtime API fails the invocation whose response was too large). Optional.
  std::function<void(std::string_view method, std::string_view target)> body_too_large;
};

class Server;
class ServerConnection;

// The pending response of one request. The handler may answer at once or later; respond() is
// called once. Answering after the client went away (or the server closed the connection) is a
// no-op that frees everything. A slot destroyed without an answer answers 500, so that a lost
// slot never stalls the requests pipelined behind it. Move-only; loop thread only.
class ResponseSlot {
 public:
  ResponseSlot() = default;
  ~ResponseSlot();
  ResponseSlot(ResponseSlot&& other) noexcept;
  ResponseSlot& operator=(ResponseSlot&& other) noexcept;
  ResponseSlot(const ResponseSlot&) = delete;
  ResponseSlot& operator=(const ResponseSlot&) = delete;

  // Queues the response; it is written once every response before it is written. A second
  // call is ignored.
  void respond(Response&& response);
  // Whether respond() may still be called (it has not been, and the slot was not moved from).
  bool pending() const { return connection_ != nullptr; }
  // Whether the client is still connected, so that an answer would reach it.
  bool connected() const;

 private:
  friend class ServerConnection;
  ResponseSlot(std::shared_ptr<ServerConnection> connection, std::uint64_t sequence)
      : connection_(std::move(connection)), sequence_(sequence) {}

  std::shared_ptr<ServerConnection> connection_;
  std::uint64_t sequence_ = 0;
};

// Called on the loop thread once per complete request.
using RequestHandler = std::function<void(Request&& request, ResponseSlot slot)>;

class Server {
 public:
  Server(core::Loop& loop, ServerOptions options, RequestHandler handler,
         core::MetricsRegistry& metrics);
  // Closes the listener and every connection at once.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (backlog 1024). Fails with a clear message on a bad address or a port in
  // use. Call once.
  core::Status listen();
  // Serves `fd`, a connected Unix stream socket (one end of a socketpair), as a connection
  // accepted without a listener (ServerOptions::admit is not asked: whoever holds the other
  // end was given it). Takes `fd` in every case; false when it cannot be served.
  bool adopt(int fd);
  // The bound port, after listen(); 0 before.
  int port() const { return port_; }
  // Closes the listener and the idle connections; busy ones finish the requests they have
  // begun (their last response says Connection: close) and then close.
  void stop_accepting();
  // Open connections, including those finishing a close.
  std::size_t connections() const { return connections_.size(); }
  // Closes the listener and every connection at once; pending slots become no-ops.
  void close_all();

  const ServerOptions& options() const { return options_; }

 private:
  friend class ServerConnection;

  void on_connection(int status);
  void remove(ServerConnection& connection);
  core::Counter& responses_counter(int status);
  // The "Date: ...\r\n" header line, formatted at most once per second.
  const std::string& date_line();

  core::Loop& loop_;
  ServerOptions options_;
  RequestHandler handler_;
  core::MetricsRegistry& metrics_;
  std::unique_ptr<core::Handle<uv_tcp_t>> listener_;
  int port_ = 0;
  bool draining_ = false;
  std::vector<std::shared_ptr<ServerConnection>> connections_;
  // One read buffer for all connections: libuv reads one stream at a time and the parser copies
  // what it keeps, so nothing outlives a read callback in it.
  std::unique_ptr<char[]> read_buffer_;

  core::Gauge& open_gauge_;
  core::Counter& accepted_;
  core::Counter& rejected_;
  core::Counter& bad_malformed_;
  core::Counter& bad_target_too_long_;
  core::Counter& bad_header_too_large_;
  core::Counter& bad_body_too_large_;
  core::Counter& bad_header_timeout_;
  core::Counter& bad_body_timeout_;
  core::Counter& bad_unsupported_version_;
  core::Counter& bad_expectation_;
  // Counters of switchyard_http_responses_total by status code 100-599, looked up lazily.
  std::array<core::Counter*, 500> responses_by_code_{};
  std::vector<std::pair<int, core::Counter*>> responses_other_;

  std::time_t date_second_ = -1;
  std::string date_line_;
};

}  // namespace switchyard::http
