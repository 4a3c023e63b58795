#include "triggers/http/framing.h"

#include <strings.h>

#include <vector>

namespace switchyard::triggers::http {
namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

std::optional<FramingError> check_framing(const Headers& headers, int major, int minor) {
  std::size_t hosts = 0;
  std::size_t codings = 0;
  std::string_view last_coding;
  for (const Header& header : headers) {
    if (header.name.find_first_of(" \t") != std::string::npos) {
      return FramingError{400, "whitespace between a header field name and its colon"};
    }
    if (equals_ignore_case(header.name, "Host")) {
      ++hosts;
    } else if (equals_ignore_case(header.name, "Transfer-Encoding")) {
      std::string_view list(header.value);
      while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view coding = trim(list.substr(0, comma));
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
  if (codings == 0) {
    return std::nullopt;
  }
  // §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing. §6.3: a final coding other than
  // chunked leaves the body without a length. §6.1: a coding before chunked (gzip, deflate...)
  // would have to be decoded, which this server does not do: 501, as the RFC asks.
  if (minor == 0) {
    return FramingError{400, "Transfer-Encoding in an HTTP/1.0 request"};
  }
  if (!equals_ignore_case(last_coding, "chunked")) {
    return FramingError{400, "the final transfer coding is not chunked"};
  }
  if (codings > 1) {
    return FramingError{501, "transfer codings other than chunked are not implemented"};
  }
  return std::nullopt;
}

}  // namespace switchyard::triggers::http
