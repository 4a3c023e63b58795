#include "http/framing.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "core/text.h"

namespace switchyard::http {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// unreserved / sub-delims of RFC 3986 §2.
bool is_unreserved_or_sub_delim(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) {
    return true;
  }
  return std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

// reg-name = *( unreserved / pct-encoded / sub-delims ), which an IPv4 address also matches.
bool is_reg_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || !is_hex_digit(name[i + 1]) || !is_hex_digit(name[i + 2])) {
        return false;
      }
      i += 2;
    } else if (!is_unreserved_or_sub_delim(name[i])) {
      return false;
    }
  }
  return true;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]", without its brackets.
bool is_ip_literal(std::string_view inside) {
  if (!inside.empty() && (inside[0] == 'v' || inside[0] == 'V')) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    std::size_t dot = inside.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == inside.size()) {
      return false;
    }
    for (std::size_t i = 1; i < dot; ++i) {
      if (!is_hex_digit(inside[i])) {
        return false;
      }
    }
    for (char c : inside.substr(dot + 1)) {
      if (c != ':' && !is_unreserved_or_sub_delim(c)) {
        return false;
      }
    }
    return true;
  }
  in6_addr address{};
  return inside.size() < INET6_ADDRSTRLEN &&
         inet_pton(AF_INET6, std::string(inside).c_str(), &address) == 1;
}

}  // namespace

bool is_valid_host(std::string_view host) {
  // Host = uri-host [ ":" port ] (RFC 9110 §7.2), port = *DIGIT; empty is allowed, for a
  // target without an authority.
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host[0] == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    if (!is_ip_literal(host.substr(1, close - 1))) {
      return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return false;
      }
      port = rest.substr(1);
    }
    name = {};
  } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  for (char c : port) {
    if (!is_digit(c)) {
      return false;
    }
  }
  return is_reg_name(name);
}

std::optional<FramingError> check_framing(const Headers& headers, int major, int minor) {
  std::size_t hosts = 0;
  const std::string* host = nullptr;
  std::size_t codings = 0;
  std::string_view last_coding;
  for (const Header& header : headers) {
    if (header.name.find_first_of(" \t") != std::string::npos) {
      return FramingError{400, "whitespace between a header field name and its colon"};
    }
    if (core::equals_ignore_case(header.name, "Host")) {
      ++hosts;
      host = &header.value;
    } else if (core::equals_ignore_case(header.name, "Transfer-Encoding")) {
      std::string_view list(header.value);
      while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view coding = core::trim_ows(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (!coding.empty()) {
          ++codings;
          last_coding = coding;
        }
      }
    }
  }
  if (hosts > 1) {
    return FramingError{400, "more than one Host header"};
  }
  if (hosts == 0 && major == 1 && minor >= 1) {
    return FramingError{400, "missing Host header"};
  }
  if (host != nullptr && !is_valid_host(*host)) {
    return FramingError{400, "invalid Host header"};
  }
  if (codings == 0) {
    return std::nullopt;
  }
  // §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing. §6.3: a final coding other than
  // chunked leaves the body without a length. §6.1: a coding before chunked (gzip, deflate...)
  // would have to be decoded, which this server does not do: 501, as the RFC asks.
  if (minor == 0) {
    return FramingError{400, "Transfer-Encoding in an HTTP/1.0 request"};
  }
  if (!core::equals_ignore_case(last_coding, "chunked")) {
    return FramingError{400, "the final transfer coding is not chunked"};
  }
  if (codings > 1) {
    return FramingError{501, "transfer codings other than chunked are not implemented"};
  }
  return std::nullopt;
}

}  // namespace switchyard::http
