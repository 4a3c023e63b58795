#include "functions/native.h"

#include <memory>
#include <system_error>

#include "config/reader.h"

namespace switchyard::functions {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const config::RuntimeSettings> parse_native(config::MapReader& root,
                                                            const config::ManifestScope& scope) {
  auto out = std::make_shared<NativeSettings>();
  config::FileReader& file = root.file_reader();
  std::string text;
  if (!root.require("library") || !root.read_string("library", text, false)) {
    return out;
  }
  fs::path library(text);
  fs::path joined = library.is_absolute() ? library : scope.manifest_path.parent_path() / library;
  std::error_code error;
  fs::path absolute = fs::absolute(joined, error);
  if (error) {
    absolute = joined;
  }
  fs::path resolved = fs::weakly_canonical(absolute, error);
  if (error) {
    resolved = absolute.lexically_normal();
  }
  out->library = resolved;
  std::string isolation;
  if (root.read_choice("isolation", {"none", "process"}, isolation)) {
    out->isolation = isolation == "process" ? Isolation::kProcess : Isolation::kNone;
  }
  if (out->isolation == Isolation::kProcess) {
    parse_environment_settings(root, out->environment);
  } else {
    for (const std::string& key : environment_keys()) {
      if (root.has(key)) {
        file.fail(root.get(key), key +
                                     " applies to functions in execution environments: add "
                                     "`isolation: process`");
      }
    }
  }
  fs::file_status status = fs::status(resolved, error);
  if (!fs::exists(status)) {
    file.fail(root.get("library"),
              "library \"" + text + "\" does not exist (resolved to " + resolved.string() + ")");
  } else if (!fs::is_regular_file(status)) {
    file.fail(root.get("library"), "library \"" + text + "\" is not a regular file (resolved to " +
                                       resolved.string() + ")");
  }
  return out;
}

}  // namespace

void register_native_runtime(RuntimeRegistry& registry, RuntimeLoader isolated) {
  RuntimeKind runtime;
  runtime.manifest.key = "native";
  runtime.manifest.keys = {"library", "isolation"};
  for (const std::string& key : environment_keys()) {
    runtime.manifest.keys.push_back(key);
  }
  runtime.manifest.parse = parse_native;
  runtime.load = [isolated = std::move(isolated)](
                     const config::FunctionManifest& manifest,
                     const LoadOptions& options) -> core::Result<FunctionPtr> {
    const auto* settings = dynamic_cast<const NativeSettings*>(manifest.code.get());
    if (settings != nullptr && settings->isolation == Isolation::kProcess) {
      if (!isolated) {
        return core::Error(core::ErrorCode::kLoad,
                           "function '" + manifest.name +
                               "': isolation: process is not built into this switchyard");
      }
      return isolated(manifest, options);
    }
    auto loaded = LibraryFunction::load(manifest, options);
    if (!loaded.ok()) {
      return loaded.error();
    }
    return FunctionPtr(std::move(loaded).value());
  };
  auto status = registry.add(std::move(runtime));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::functions
