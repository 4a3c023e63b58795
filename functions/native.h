#pragma once

// The `native` runtime (the default): the function is a shared library speaking the C ABI of
// <switchyard/function.h>, loaded into the daemon's process (functions/loader.h). The fastest
// path, for code the operator trusts.
//
//   runtime: native             # may be left out
//   library: lib/libthumb.so    # relative to the manifest's folder

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "functions/runtime.h"

namespace switchyard::functions {

struct NativeSettings final : config::SettingsOf<NativeSettings, config::RuntimeSettings> {
  std::filesystem::path library;  // Absolute: resolved against the manifest's folder.

  std::vector<std::filesystem::path> code_files() const override { return {library}; }
  std::string describe() const override { return library.string(); }
  bool operator==(const NativeSettings&) const = default;
};

// The library a native function's manifest names; empty for another runtime. Inline, so that the
// loader does not link the manifest parser (and yaml-cpp) into a program that only loads
// libraries (switchyard-environment).
inline std::filesystem::path native_library(const config::FunctionManifest& manifest) {
  const auto* native = dynamic_cast<const NativeSettings*>(manifest.code.get());
  return native == nullptr ? std::filesystem::path() : native->library;
}

// Registers the "native" runtime.
void register_native_runtime(RuntimeRegistry& registry);

}  // namespace switchyard::functions
