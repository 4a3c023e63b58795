#pragma once

// The client side of AWS Lambda's Runtime API, as the program inside an execution environment
// speaks it to the daemon (AWS_LAMBDA_RUNTIME_API="127.0.0.1:PORT"): one persistent keep-alive
// HTTP/1.1 connection over TCP, blocking I/O, one request at a time.
//
//   GET  /2018-06-01/runtime/invocation/next            the next invocation (a long poll)
//   POST /2018-06-01/runtime/invocation/{id}/response   its answer
//   POST /2018-06-01/runtime/invocation/{id}/error      its failure
//   POST /2018-06-01/runtime/init/error                 the function could not start
//
// Every call returns an error when the daemon closed the connection, answered with a status
// other than 2xx, or sent something that is not HTTP; the program then exits. A connection the
// daemon closed while it was idle is opened again once before the request is sent.
// Thread rules: one thread at a time.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace switchyard::environments {

// One invocation handed out by `next`.
struct Invocation {
  std::string request_id;                // Lambda-Runtime-Aws-Request-Id.
  std::optional<std::int64_t> deadline;  // Lambda-Runtime-Deadline-Ms: Unix epoch milliseconds.
  std::string trace_id;                  // Lambda-Runtime-Trace-Id; empty when not given.
  std::string content_type;              // Of the body.
  std::string body;
};

class RuntimeClient {
 public:
  RuntimeClient();
  ~RuntimeClient();
  RuntimeClient(const RuntimeClient&) = delete;
  RuntimeClient& operator=(const RuntimeClient&) = delete;

  // Connects to `address`, "IPv4:PORT", "[IPv6]:PORT" or "localhost:PORT" (no name lookup:
  // the daemon always gives a loopback address).
  core::Status connect(std::string_view address);
  // Uses `fd`, a connected stream socket (a Unix socket the daemon handed down), instead; it
  // is not opened again once closed.
  core::Status adopt(int fd);

  // Waits, without a time limit, for the next invocation and fills in `out` (its storage is
  // reused). A response without a request id is an error.
  core::Status next(Invocation& out);
  // Answers an invocation. With `then_next`, the request for the next invocation goes out in
  // the same write (HTTP pipelining) and `then_next` is filled in as next() would: one wake-up
  // of each side per invocation instead of two.
  core::Status respond(std::string_view request_id, std::string_view body,
                       std::string_view content_type, Invocation* then_next = nullptr);
  core::Status fail(std::string_view request_id, std::string_view error_type,
                    std::string_view message, Invocation* then_next = nullptr);
  core::Status init_error(std::string_view error_type, std::string_view message);

 private:
  // The parsing state of one response (http-parser), defined in the .cc file.
  struct ResponseReader;

  // Sends one request (a POST carries `body` with its `content_type`; `extra_header` is whole
  // header lines) and reads the response into reader_; fails on a status other than 2xx.
  // With `then_next`, a pipelined GET next follows, whose invocation fills it in.
  core::Status exchange(std::string_view method, std::string_view path,
                        std::string_view content_type, std::string_view extra_header,
                        std::string_view body, Invocation* then_next = nullptr);
  void append_request(std::string_view method, std::string_view path, std::string_view content_type,
                      std::string_view extra_header, std::size_t body_size, std::string& out) const;
  // The last response's status is 2xx; else an error naming the request.
  core::Status check_status(std::string_view method, std::string_view path) const;
  // Reads the last response as a next invocation.
  core::Status take_invocation(Invocation& out);
  core::Status open();
  void close();
  // Whether the daemon closed the (idle) connection or sent something unasked.
  bool peer_gone() const;
  core::Status send_all(std::string_view head, std::string_view body, std::string_view tail = {});
  core::Status read_response();
  core::Status post_error(std::string_view path, std::string_view error_type,
                          std::string_view message, Invocation* then_next = nullptr);

  int fd_ = -1;
  sockaddr_storage address_{};
  socklen_t address_length_ = 0;
  std::string host_;       // The Host header.
  std::string head_;       // The request line and headers being sent, reused.
  std::string next_head_;  // A pipelined GET next, reused.
  std::string path_;       // A request's path, reused.
  std::string unread_;     // Bytes read past a response: the start of the next one.
  std::string error_body_;
  std::unique_ptr<ResponseReader> reader_;
};

}  // namespace switchyard::environments
