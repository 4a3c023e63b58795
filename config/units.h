#pragma once

// Durations and sizes written the way people write them in config files ("250ms", "6MiB").
// Pure functions; safe to call from any thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace switchyard::config {

inline constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(24 * 365 * 100);

// Parses "250ms", "5s", "2m", "1h", "1.5s", compounds such as "1m30s", or a bare "0".
// The resolution is one millisecond: "us" and "ns" are rejected rather than silently rounded,
// and so is a fraction that does not come out as whole milliseconds ("1.5ms").
// At most kMaxDuration, so that a clock's now() plus any configured duration stays far inside
// the range of a nanosecond time_point (about 292 years either side of 1970).
core::Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// Parses a byte count: "512", "512B", powers of 1024 ("64KiB", "6MiB", "1GiB", "1TiB") or
// powers of 1000 ("10KB", "10MB", "1GB", "1TB"). Fractions are allowed if the result is a
// whole number of bytes ("1.5KiB").
core::Result<std::uint64_t> parse_size(std::string_view text);

// The inverse of parse_duration, for messages: "0", "250ms", "5s", "15m", "1h".
std::string format_duration(std::chrono::milliseconds duration);

// The inverse of parse_size, for messages: "512", "64KiB", "6MiB".
std::string format_size(std::uint64_t bytes);

}  // namespace switchyard::config
