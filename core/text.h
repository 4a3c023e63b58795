#pragma once

// Small text helpers shared by the parsers (cron expressions, librdkafka's property table).
// Pure functions; safe from any thread.

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

}  // namespace switchyard::core
