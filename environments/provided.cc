#include "environments/provided.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "config/reader.h"
#include "environments/plan.h"

namespace switchyard::environments {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const config::RuntimeSettings> parse_provided(config::MapReader& root,
                                                              const config::ManifestScope& scope) {
  auto out = std::make_shared<ProvidedSettings>();
  config::FileReader& file = root.file_reader();
  std::string text;
  if (root.require("bootstrap") && root.read_string("bootstrap", text, false)) {
    out->bootstrap = scope.resolve(text);
    std::error_code error;
    fs::file_status status = fs::status(out->bootstrap, error);
    if (!fs::exists(status)) {
      file.fail(root.get("bootstrap"), "bootstrap \"" + text + "\" does not exist (resolved to " +
                                           out->bootstrap.string() + ")");
    } else if (!fs::is_regular_file(status)) {
      file.fail(root.get("bootstrap"), "bootstrap \"" + text + "\" is not a regular file");
    } else if (::access(out->bootstrap.c_str(), X_OK) != 0) {
      file.fail(root.get("bootstrap"), "bootstrap \"" + text + "\" is not executable (chmod +x " +
                                           out->bootstrap.string() + ")");
    }
    out->task_root = out->bootstrap.parent_path();
  }
  std::string code;
  if (root.read_string("code", code, false)) {
    out->task_root = scope.resolve(code);
    std::error_code error;
    if (!fs::is_directory(out->task_root, error)) {
      file.fail(root.get("code"), "code \"" + code + "\" is not a directory (resolved to " +
                                      out->task_root.string() + ")");
    }
  }
  root.read_string("handler", out->handler, true);
  functions::parse_environment_settings(root, out->environment);
  return out;
}

}  // namespace

void register_provided_runtime(functions::RuntimeRegistry& registry) {
  functions::RuntimeKind runtime;
  runtime.manifest.key = "provided";
  runtime.manifest.keys = {"bootstrap", "code", "handler"};
  for (const std::string& key : functions::environment_keys()) {
    runtime.manifest.keys.push_back(key);
  }
  runtime.manifest.lambda_events = true;
  runtime.manifest.parse = parse_provided;
  runtime.load = [](const config::FunctionManifest& manifest,
                    const functions::LoadOptions& options) -> core::Result<functions::FunctionPtr> {
    const auto* settings = dynamic_cast<const ProvidedSettings*>(manifest.code.get());
    if (settings == nullptr) {
      return core::Error(core::ErrorCode::kInternal,
                         "function '" + manifest.name + "': not a provided runtime's manifest");
    }
    EnvironmentPlan plan =
        make_plan(manifest, options, settings->environment, settings->task_root, settings->handler,
                  {"--exec", settings->bootstrap.string()}, std::make_shared<LambdaCodec>());
    return load_environment_function(manifest, options, std::move(plan));
  };
  auto status = registry.add(std::move(runtime));
  (void)status;  // Registered once, at start: a duplicate is a programming error.
}

}  // namespace switchyard::environments
