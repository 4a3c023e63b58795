#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::core {

// RFC 3339 date-time ("2026-11-23T13:45:00.123Z", "...+01:00"); nullopt when malformed or out
// of range (the clock reaches the years 1677 to 2262). Fractions finer than the clock's precision
// are truncated. Used for CloudEvents
// `time` and for the CLI's --from.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// RFC 3339 in UTC with milliseconds: "2026-11-23T13:45:00.123Z".
std::string format_rfc3339(std::chrono::system_clock::time_point time);

}  // namespace switchyard::core
