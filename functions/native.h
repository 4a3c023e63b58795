#pragma once

// The `native` runtime (the default): the function is a shared library speaking the C ABI of
// <switchyard/function.h>, loaded into the daemon's process (functions/loader.h). The fastest
// path, for code the operator trusts.
//
//   runtime: native             # may be left out
//   library: lib/libthumb.so    # relative to the manifest's folder
//   isolation: process          # optional: the same library in execution environments (child
//                               #   processes: crash, timeout and memory isolation), with the
//                               #   keys of functions/environment_settings.h

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "functions/environment_settings.h"
#include "functions/runtime.h"

namespace switchyard::functions {

enum class Isolation { kNone, kProcess };

struct NativeSettings final : config::SettingsOf<NativeSettings, config::RuntimeSettings> {
  std::filesystem::path library;  // Absolute: resolved against the manifest's folder.
  Isolation isolation = Isolation::kNone;
  EnvironmentSettings environment;  // isolation: process.

  std::vector<std::filesystem::path> code_files() const override { return {library}; }
  config::RuntimeSummary summary() const override {
    return {"", isolation == Isolation::kProcess ? environment.memory_bytes : 0};
  }
  std::string describe() const override {
    return library.string() + (isolation == Isolation::kProcess ? " (isolation: process)" : "");
  }
  bool operator==(const NativeSettings&) const = default;
};

// The library a native function's manifest names; empty for another runtime. Inline, so that the
// loader does not link the manifest parser (and yaml-cpp) into a program that only loads
// libraries (switchyard-environment).
inline std::filesystem::path native_library(const config::FunctionManifest& manifest) {
  const auto* native = dynamic_cast<const NativeSettings*>(manifest.code.get());
  return native == nullptr ? std::filesystem::path() : native->library;
}

// Registers the "native" runtime. `isolated` loads a function with `isolation: process` (it
// runs in execution environments, which functions/ does not know: environments/ gives it);
// without it such a manifest is refused at load.
void register_native_runtime(RuntimeRegistry& registry, RuntimeLoader isolated = nullptr);

}  // namespace switchyard::functions
