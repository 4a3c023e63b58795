#pragma once

// The manifest keys of a function that runs in execution environments (child processes
// speaking the Lambda Runtime API): every runtime but in-process native code reads them.
//
//   memory: 256MiB          # per environment (context memory_limit_in_mb)
//   init_timeout: 10s       # the init phase's limit
//   min_environments: 0     # kept warm from start-up
//   idle_timeout: 10m       # an idle environment above min_environments stops after this
//   max_invocations: 0      # an environment is replaced after this many (0: never)
//
// Pure data and its parser: any thread.

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace switchyard::config {
class MapReader;
}

namespace switchyard::functions {

struct EnvironmentSettings {
  std::uint64_t memory_bytes = 128ULL * 1024 * 1024;  // Lambda's default.
  config::Duration init_timeout{10000};
  int min_environments = 0;
  config::Duration idle_timeout{600000};
  int max_invocations = 0;

  // The memory in whole MiB, as AWS_LAMBDA_FUNCTION_MEMORY_SIZE gives it.
  std::uint64_t memory_mib() const { return memory_bytes / (1024 * 1024); }
  bool operator==(const EnvironmentSettings&) const = default;
};

// The keys above, for a runtime's RuntimeKind::keys.
const std::vector<std::string>& environment_keys();

// Reads the keys above from a manifest's root mapping (those absent keep their defaults).
void parse_environment_settings(config::MapReader& root, EnvironmentSettings& out);

}  // namespace switchyard::functions
