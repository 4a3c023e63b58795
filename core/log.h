#pragma once

// Logging on spdlog: human-readable text on a terminal, one JSON object per line otherwise
// (journald and log shippers read those). Configure once at start and again on reload; after
// that use spdlog's free functions (spdlog::info(...)) from any thread.

#include <string>
#include <string_view>

#include "core/error.h"

namespace switchyard::core {

enum class LogFormat { kAuto, kText, kJson };

struct LogOptions {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off.
  LogFormat format = LogFormat::kAuto;
};

// Installs the default logger (stderr). kAuto picks text when stderr is a terminal.
Status configure_logging(const LogOptions& options);

// Parses "text" | "json" | "auto".
Result<LogFormat> parse_log_format(std::string_view text);

// Appends `value` to `out` as the inside of a JSON string (quotes not included).
void append_json_escaped(std::string& out, std::string_view value);

}  // namespace switchyard::core
