#pragma once

// A deliberately plain blocking HTTP/1.1 client for tests: it writes the bytes it is given and
// reads what the server sends back, so that tests can send malformed requests too.

#include <chrono>
#include <map>
#include <string>

namespace switchyard::testing {

struct HttpReply {
  int status = 0;                                   // 0 when no complete response arrived.
  std::multimap<std::string, std::string> headers;  // Names lower-cased.
  std::string body;
  std::string raw;  // Everything read.
  std::string header(const std::string& name) const;
};

// A connection to 127.0.0.1:port.
class HttpConnection {
 public:
  explicit HttpConnection(int port);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send_raw(const std::string& bytes);
  // Shuts down the sending side (`shutdown(SHUT_WR)`): the server sees the end of the request
  // stream while the connection stays open for its answers.
  void finish_sending();
  // Reads one complete response (Content-Length framed), or until the deadline / EOF.
  HttpReply read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Whether the server closed the connection (EOF) within the timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection: "METHOD path" with optional body and extra header lines
// ("Name: value\r\n" each).
HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body = {}, const std::string& extra_headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The value of the metric line of a /metrics text that starts with `series` (name and labels),
// or -1.
double metric(const std::string& metrics, const std::string& series);

// Parses "<prefix>HOST:PORT" out of a log, e.g. prefix "admin listening on "; 0 if absent.
int port_from_log(const std::string& log, const std::string& prefix);

}  // namespace switchyard::testing
