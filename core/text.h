#pragma once

// Small text helpers shared by the parsers (cron expressions, librdkafka's property table, HTTP
// header values, SigV4).
// Pure functions; safe from any thread.

#include <strings.h>

#include <cctype>
#include <string_view>

namespace switchyard::core {

// `text` without leading and trailing white space (std::isspace: space, tab, CR, LF, VT, FF).
inline std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// The value of hexadecimal digit `c` (either case), or -1 when it is not one.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// `text` without leading and trailing HTTP optional white space (RFC 9110's OWS: space and tab
// only), around header values and the items of their lists.
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// Whether `a` and `b` are the same ASCII text but for case (header names, tokens such as
// "chunked" or "close").
inline bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace switchyard::core
