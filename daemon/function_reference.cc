#include "daemon/function_reference.h"

#include "core/codec.h"

namespace switchyard::daemon {

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto equals = pair.find('=');
    std::string key;
    if (!core::percent_decode(pair.substr(0, equals), key, true) || key != name) {
      continue;
    }
    std::string value;
    if (equals != std::string_view::npos &&
        !core::percent_decode(pair.substr(equals + 1), value, true)) {
      continue;
    }
    return value;
  }
  return std::nullopt;
}

FunctionReference parse_function_reference(std::string_view encoded, std::string_view query) {
  std::string decoded;
  if (!core::percent_decode(encoded, decoded)) {
    decoded = std::string(encoded);
  }
  std::string_view segment(decoded);
  auto marker = segment.find("function:");
  if (marker != std::string_view::npos) {
    segment.remove_prefix(marker + 9);
  }
  FunctionReference reference;
  auto colon = segment.find(':');
  reference.name = std::string(segment.substr(0, colon));
  if (colon != std::string_view::npos) {
    reference.qualifier = std::string(segment.substr(colon + 1));
  }
  if (std::optional<std::string> qualifier = query_parameter(query, "Qualifier")) {
    reference.qualifier = std::move(*qualifier);
  }
  return reference;
}

}  // namespace switchyard::daemon
