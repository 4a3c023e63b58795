#pragma once

// What every runtime that runs in execution environments shares when it loads a function: the
// program that starts an environment, and the environment variables Lambda sets for a runtime
// (AWS_LAMBDA_FUNCTION_NAME, _HANDLER, LAMBDA_TASK_ROOT, AWS_REGION, TZ, ...) plus the
// manifest's `env`. Nothing else of the daemon's environment reaches an environment.
//
// Thread rules: pure functions; any thread.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "environments/codec.h"
#include "environments/environment_function.h"
#include "functions/environment_settings.h"
#include "functions/loader.h"

namespace switchyard::environments {

// switchyard-environment: LoadOptions::environment_program, or the one next to the running
// executable.
std::filesystem::path environment_program(const functions::LoadOptions& options);

// The plan for `manifest`'s environments: the environment program runs `arguments` (after its
// own launch options) in `task_root`, with `handler` as _HANDLER. `runtime_variables` are the
// runtime's own (AWS_EXECUTION_ENV, ...): they override Lambda's, and the manifest's `env`
// overrides them.
EnvironmentPlan make_plan(const config::FunctionManifest& manifest,
                          const functions::LoadOptions& options,
                          const functions::EnvironmentSettings& settings,
                          const std::filesystem::path& task_root, const std::string& handler,
                          std::vector<std::string> arguments, std::shared_ptr<const Codec> codec,
                          const std::map<std::string, std::string>& runtime_variables = {});

// Loads a function whose plan is `plan`: a kLoad error when the daemon gave no loop (a
// command that cannot run environments).
core::Result<functions::FunctionPtr> load_environment_function(
    const config::FunctionManifest& manifest, const functions::LoadOptions& options,
    EnvironmentPlan plan);

}  // namespace switchyard::environments
