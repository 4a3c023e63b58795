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

// The library a native function's manifest names; empty for another runtime.
std::filesystem::path native_library(const config::FunctionManifest& manifest);

// Registers the "native" runtime.
void register_native_runtime(RuntimeRegistry& registry);

}  // namespace switchyard::functions
