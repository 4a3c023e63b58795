#pragma once

// Runtimes: how a function runs. A manifest's `runtime:` names one (`native` by default: a
// shared library in the daemon's process); each runtime registers its manifest keys and its
// loader in one place of its own code (register_native_runtime), and the daemon wires the
// built-in ones (daemon/kinds.cc). load() picks the manifest's runtime, so the daemon and its
// commands never name one.
//
// Thread rules: registered once at start-up, then only read; load() may run on any thread, and
// loads may run concurrently.

#include <functional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/kinds.h"
#include "core/error.h"
#include "functions/loader.h"

namespace switchyard::functions {

// Loads one version of a function from its manifest (whose `code` its runtime parsed). Every
// failure is a kLoad error naming the function.
using RuntimeLoader = std::function<core::Result<FunctionPtr>(
    const config::FunctionManifest& manifest, const LoadOptions& options)>;

struct RuntimeKind {
  config::RuntimeKind manifest;  // Its `runtime:` value, its manifest keys and their parser.
  RuntimeLoader load;
};

// The runtimes this build knows. Registering one also registers its manifest side in the
// config::Kinds it was made with.
class RuntimeRegistry {
 public:
  explicit RuntimeRegistry(config::Kinds& manifest_kinds) : manifest_kinds_(manifest_kinds) {}

  // Refuses a runtime registered twice.
  core::Status add(RuntimeKind runtime);
  const RuntimeKind* find(std::string_view key) const;

 private:
  config::Kinds& manifest_kinds_;
  std::vector<RuntimeKind> runtimes_;
};

// Loads a function with the runtime its manifest names.
core::Result<FunctionPtr> load(const RuntimeRegistry& runtimes,
                               const config::FunctionManifest& manifest,
                               const LoadOptions& options = {});

}  // namespace switchyard::functions
