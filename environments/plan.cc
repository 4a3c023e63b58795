#include "environments/plan.h"

#include <unistd.h>

#include <map>
#include <utility>

#include "core/ids.h"

namespace switchyard::environments {

namespace fs = std::filesystem;

fs::path environment_program(const functions::LoadOptions& options) {
  if (!options.environment_program.empty()) {
    return options.environment_program;
  }
  std::error_code error;
  fs::path self = fs::read_symlink("/proc/self/exe", error);
  return self.parent_path() / "switchyard-environment";
}

EnvironmentPlan make_plan(const config::FunctionManifest& manifest,
                          const functions::LoadOptions& options,
                          const functions::EnvironmentSettings& settings, const fs::path& task_root,
                          const std::string& handler, std::vector<std::string> arguments,
                          std::shared_ptr<const Codec> codec,
                          const std::map<std::string, std::string>& runtime_variables) {
  EnvironmentPlan plan;
  plan.function_name = manifest.name;
  plan.function_arn = core::function_arn(options.region, options.account_id, manifest.name);
  plan.settings = settings;
  plan.codec = std::move(codec);
  plan.zygote = options.zygote;
  plan.spawn.program = environment_program(options);
  plan.spawn.working_directory = task_root;
  plan.spawn.arguments = {"--parent-pid", std::to_string(::getpid()), "--memory-bytes",
                          std::to_string(settings.memory_bytes)};
  for (std::string& argument : arguments) {
    plan.spawn.arguments.push_back(std::move(argument));
  }
  // Lambda's variables first; the manifest's `env` may override any of them.
  std::map<std::string, std::string> variables = {
      {"AWS_LAMBDA_FUNCTION_NAME", manifest.name},
      {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(settings.memory_mib())},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
      {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + manifest.name},
      {"AWS_REGION", options.region},
      {"AWS_DEFAULT_REGION", options.region},
      {"_HANDLER", handler},
      {"LAMBDA_TASK_ROOT", task_root.string()},
      {"LAMBDA_RUNTIME_DIR", task_root.string()},
      {"TZ", ":UTC"},
      {"LANG", "en_US.UTF-8"},
      {"PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"},
  };
  for (const auto& [name, value] : runtime_variables) {
    variables[name] = value;
  }
  for (const auto& [name, value] : manifest.env) {
    variables[name] = value;
  }
  for (const auto& [name, value] : variables) {
    plan.spawn.environment.push_back(name + "=" + value);
  }
  return plan;
}

core::Result<functions::FunctionPtr> load_environment_function(
    const config::FunctionManifest& manifest, const functions::LoadOptions& options,
    EnvironmentPlan plan) {
  if (options.loop == nullptr || options.metrics == nullptr) {
    return core::Error(core::ErrorCode::kLoad,
                       "function '" + manifest.name + "': runtime \"" + manifest.runtime +
                           "\" runs in execution environments, which this command cannot start");
  }
  std::error_code error;
  if (!fs::exists(plan.spawn.program, error)) {
    return core::Error(core::ErrorCode::kLoad,
                       "function '" + manifest.name + "': the environment program " +
                           plan.spawn.program.string() + " is missing (it is installed with " +
                           "switchyard, next to the switchyard executable)");
  }
  return functions::FunctionPtr(
      EnvironmentFunction::make(*options.loop, *options.metrics, std::move(plan)));
}

}  // namespace switchyard::environments
