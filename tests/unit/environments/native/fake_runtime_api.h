#pragma once

// A stand-in for the daemon's Runtime API in tests: a blocking HTTP/1.1 server on 127.0.0.1
// (port 0) that a test drives one step at a time: accept a connection, read a request, write
// raw response bytes, close. It serves one connection at a time. Every wait has a deadline.
// Thread rules: one thread at a time (the test's, or a server thread it starts).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::testing {

struct RuntimeApiRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first value of header `name` (any case), or "" when there is none.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

class FakeRuntimeApi {
 public:
  FakeRuntimeApi();
  ~FakeRuntimeApi();
  FakeRuntimeApi(const FakeRuntimeApi&) = delete;
  FakeRuntimeApi& operator=(const FakeRuntimeApi&) = delete;

  int port() const { return port_; }
  // What AWS_LAMBDA_RUNTIME_API is set to: "127.0.0.1:PORT".
  std::string address() const;

  // Waits for a connection and makes it the current one (closing the one before). False when
  // none came in time.
  bool accept(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads one request from the current connection; nullopt when the client closed it, sent
  // something that is not a request, or nothing came in time.
  std::optional<RuntimeApiRequest> read_request(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Writes raw bytes to the current connection.
  void write(std::string_view bytes);
  // A complete response with a Content-Length; `headers` are whole lines without their CRLF.
  void respond(int status, std::string_view body, const std::vector<std::string>& headers = {});
  void close_connection();
  // Whether the client closed the current connection (end of stream) within `timeout`.
  bool client_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  // Reads more of the current connection into buffer_; false at its end, on an error or timeout.
  bool read_more(std::chrono::steady_clock::time_point deadline);

  int listener_ = -1;
  int connection_ = -1;
  int port_ = 0;
  std::string buffer_;  // Bytes read from the current connection and not yet consumed.
};

}  // namespace switchyard::testing
