#pragma once

// The CLI's commands other than `run`, as functions that write to the given streams and return
// the process exit code, so that tests can call them as the binary does.

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

namespace switchyard::daemon {

// Prints every error of the config and its manifests (exit 1), or a one-line summary (exit 0).
int validate_command(const std::filesystem::path& config_file, std::ostream& out,
                     std::ostream& err);

struct InvokeOptions {
  std::filesystem::path config_file;
  std::string function;
  std::optional<std::string> data;       // --data
  std::optional<std::string> data_file;  // --data-file ("-" for stdin)
};

// Loads one function, runs one event through init, the handler and shutdown, prints the
// response body to `out`. Exit codes: 0 ok; 1 the function failed or timed out (the error as
// JSON on `err`); 2 it could not be run (config, load or input error).
int invoke_command(const InvokeOptions& options, std::ostream& out, std::ostream& err);

struct CronNextOptions {
  std::string expression;
  std::string timezone = "UTC";
  std::optional<std::string> from;  // RFC 3339 / ISO 8601 with an offset; default: now.
  int count = 5;
};

// Prints the next `count` fire times of a cron expression, one ISO 8601 time with its offset per
// line (exit 0), or the parse error (exit 1), so that users can check a schedule before deploying.
int cron_next_command(const CronNextOptions& options, std::ostream& out, std::ostream& err);

}  // namespace switchyard::daemon
