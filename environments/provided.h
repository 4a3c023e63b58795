#pragma once

// The `provided` runtime: a Lambda custom runtime. `bootstrap` is an executable speaking the
// Lambda Runtime API (a shell script with curl, aws-lambda-cpp, aws-lambda-go, the Rust
// lambda_runtime, a runtime interface client), run in execution environments.
//
//   runtime: provided
//   bootstrap: ./bootstrap   # relative to the manifest's folder; must be executable
//   code: ./hello            # the task root (LAMBDA_TASK_ROOT, the working directory);
//                            #   default: the bootstrap's folder
//   handler: function.handler  # passed as _HANDLER
//   memory / init_timeout / min_environments / idle_timeout / max_invocations
//                            # functions/environment_settings.h

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "functions/environment_settings.h"
#include "functions/runtime.h"

namespace switchyard::environments {

struct ProvidedSettings final : config::SettingsOf<ProvidedSettings, config::RuntimeSettings> {
  std::filesystem::path bootstrap;  // Absolute.
  std::filesystem::path task_root;  // Absolute.
  std::string handler;
  functions::EnvironmentSettings environment;

  std::vector<std::filesystem::path> code_files() const override { return {bootstrap}; }
  std::string describe() const override { return bootstrap.string(); }
  config::RuntimeSummary summary() const override { return {handler, environment.memory_bytes}; }
  bool operator==(const ProvidedSettings&) const = default;
};

// Registers the "provided" runtime.
void register_provided_runtime(functions::RuntimeRegistry& registry);

}  // namespace switchyard::environments
