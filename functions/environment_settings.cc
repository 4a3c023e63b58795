#include "functions/environment_settings.h"

#include "config/reader.h"

namespace switchyard::functions {

const std::vector<std::string>& environment_keys() {
  static const std::vector<std::string> keys = {"memory", "init_timeout", "min_environments",
                                                "idle_timeout", "max_invocations"};
  return keys;
}

void parse_environment_settings(config::MapReader& root, EnvironmentSettings& out) {
  // Lambda's range: 128 MB to 10,240 MB; less than 16 MiB cannot start most runtimes.
  root.read_size("memory", 16ULL * 1024 * 1024, 10240ULL * 1024 * 1024, out.memory_bytes);
  root.read_duration("init_timeout", config::Duration(1), config::kMaxDelay, out.init_timeout);
  root.read_int("min_environments", 0, 1000, out.min_environments);
  root.read_duration("idle_timeout", config::Duration(1), config::kMaxDelay, out.idle_timeout);
  root.read_int("max_invocations", 0, 1000000000, out.max_invocations);
}

}  // namespace switchyard::functions
