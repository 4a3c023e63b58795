#include "environments/isolated_native.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "environments/plan.h"
#include "functions/native.h"

namespace switchyard::environments {

core::Result<functions::FunctionPtr> load_isolated_native(const config::FunctionManifest& manifest,
                                                          const functions::LoadOptions& options) {
  const auto* settings = dynamic_cast<const functions::NativeSettings*>(manifest.code.get());
  if (settings == nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       "function '" + manifest.name + "': not a native runtime's manifest");
  }
  std::vector<std::string> arguments = {"--library",     settings->library.string(),
                                        "--name",        manifest.name,
                                        "--config-json", manifest.config_json};
  for (const auto& [name, value] : manifest.env) {
    arguments.push_back("--env");
    arguments.push_back(name + "=" + value);
  }
  EnvironmentPlan plan =
      make_plan(manifest, options, settings->environment, settings->library.parent_path(), "",
                std::move(arguments), std::make_shared<NativeCodec>());
  plan.socket_pair = true;
  return load_environment_function(manifest, options, std::move(plan));
}

}  // namespace switchyard::environments
