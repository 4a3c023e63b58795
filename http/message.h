#pragma once

// An HTTP/1.x request as the server hands it over, and the response it writes back. Plain data:
// parsing and writing live in server.h; routing in router.h; the event mappings in payload.h.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::http {

struct Header {
  std::string name;   // As the client wrote it (case preserved).
  std::string value;  // Leading and trailing whitespace removed.
};
using Headers = std::vector<Header>;

// Case-insensitive lookup of the first header named `name`; nullptr when absent.
const std::string* find_header(const Headers& headers, std::string_view name);

struct Request {
  std::string method;  // Upper-case token as received: GET, POST, ...
  std::string target;  // The raw request-target: /users/42?x=1
  std::string path;    // The target's path, still percent-encoded: /users/42
  std::string query;   // The raw query string without '?': x=1 ("" when none)
  int version_major = 1;
  int version_minor = 1;
  Headers headers;             // In order received; repeated names kept.
  std::string body;            // Complete, de-chunked.
  std::string remote_address;  // The peer's IP address: "127.0.0.1", "::1".
  std::uint16_t remote_port = 0;
  bool keep_alive = true;  // What the request asked for (HTTP/1.0 vs 1.1 and Connection).
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Length, Date and Connection are added by the server.
  std::string body;
};

// The standard reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

}  // namespace switchyard::http
