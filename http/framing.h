#pragma once

// What RFC 9112 requires of a request's header block that http-parser lets through: exactly one
// Host in HTTP/1.1, with a valid uri-host[:port] value (§3.2), no whitespace between a field name
// and its colon (§5.1, also what a line starting with whitespace after the start line becomes,
// §2.2), and transfer codings the server can frame (§6.1, §6.3). The server answers what this finds
// and closes the connection.
//
// Thread rules: a pure function; any thread.

#include <optional>
#include <string_view>

#include "http/message.h"

namespace switchyard::http {

struct FramingError {
  int status;                // 400, or 501 for a transfer coding not implemented.
  std::string_view message;  // A literal: it outlives the request.
};

// Whether `host` is a valid Host value: uri-host [":" port], or empty (RFC 9110 §7.2).
bool is_valid_host(std::string_view host);

// The first rule `headers` of an HTTP/`major`.`minor` request break, or nothing.
std::optional<FramingError> check_framing(const Headers& headers, int major, int minor);

}  // namespace switchyard::http
