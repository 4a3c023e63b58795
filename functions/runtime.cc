#include "functions/runtime.h"

#include <algorithm>

namespace switchyard::functions {

core::Status RuntimeRegistry::add(RuntimeKind runtime) {
  if (find(runtime.manifest.key) != nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       "runtime \"" + runtime.manifest.key + "\" is registered twice");
  }
  if (auto added = manifest_kinds_.add(runtime.manifest); !added.ok()) {
    return added;
  }
  runtimes_.push_back(std::move(runtime));
  return {};
}

const RuntimeKind* RuntimeRegistry::find(std::string_view key) const {
  auto it = std::find_if(runtimes_.begin(), runtimes_.end(),
                         [key](const RuntimeKind& runtime) { return runtime.manifest.key == key; });
  return it == runtimes_.end() ? nullptr : &*it;
}

core::Result<FunctionPtr> load(const RuntimeRegistry& runtimes,
                               const config::FunctionManifest& manifest,
                               const LoadOptions& options) {
  const RuntimeKind* runtime = runtimes.find(manifest.runtime);
  if (runtime == nullptr) {
    return core::Error(core::ErrorCode::kLoad, "function '" + manifest.name + "': runtime \"" +
                                                   manifest.runtime +
                                                   "\" is not built into this switchyard");
  }
  return runtime->load(manifest, options);
}

}  // namespace switchyard::functions
