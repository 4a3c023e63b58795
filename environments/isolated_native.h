#pragma once

// `isolation: process` for native functions: the same shared library, loaded by
// switchyard-environment (environments/native) in execution environments, so that a crash, a
// hang or a memory hog in C or C++ costs one invocation and one environment, never the daemon.
// The event and the response travel whole, in the native envelope.
//
// Thread rules: as functions::RuntimeLoader.

#include "config/config.h"
#include "core/error.h"
#include "functions/loader.h"

namespace switchyard::environments {

// The native runtime's loader for manifests with `isolation: process`
// (functions::register_native_runtime's `isolated`).
core::Result<functions::FunctionPtr> load_isolated_native(const config::FunctionManifest& manifest,
                                                          const functions::LoadOptions& options);

}  // namespace switchyard::environments
