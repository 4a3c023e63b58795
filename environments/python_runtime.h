#pragma once

// The `python3` runtime: AWS Lambda Python handlers, unchanged, in execution environments.
// switchyard's own runtime client (environments/python/, standard library only) imports the
// handler and speaks the Runtime API on the environment's inherited socket.
//
//   runtime: python3
//   handler: app.lambda_handler   # module.function; the module may be a path: pkg/mod.handler
//   code: ./greet                 # a folder, or the .zip made for Lambda; relative to the
//                                 #   manifest's folder; default: the manifest's folder
//   layers: [./layers/common]     # folders or .zips; each one's python/ and
//                                 #   python/lib/python3.X/site-packages go on sys.path
//   python: /srv/venvs/greet/bin/python   # default /usr/bin/python3 (Debian's)
//   bootstrap: switchyard         # the runtime client: switchyard's (the default), or AWS's
//                                 #   awslambdaric installed for `python`
//                                 #   (python -m awslambdaric HANDLER, Runtime API over loopback)
//   memory / init_timeout / min_environments / idle_timeout / max_invocations
//                                 # functions/environment_settings.h
//
// The manifest is checked as a user would want it checked (`switchyard validate`): the
// interpreter is an executable file (whether it runs is seen at the first start), the handler is
// module.function, and its module is in the code or a layer. A .zip is unpacked into the state
// directory when the function loads.

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "functions/environment_settings.h"
#include "functions/loader.h"
#include "functions/runtime.h"

namespace switchyard::environments {

// Which runtime client runs the handler.
enum class PythonBootstrap { kSwitchyard, kAwslambdaric };

struct PythonSettings final : config::SettingsOf<PythonSettings, config::RuntimeSettings> {
  std::filesystem::path interpreter;  // Absolute.
  PythonBootstrap bootstrap = PythonBootstrap::kSwitchyard;
  std::string handler;
  std::filesystem::path code;                 // Absolute: a folder or a .zip.
  std::vector<std::filesystem::path> layers;  // Absolute: folders or .zips.
  functions::EnvironmentSettings environment;

  // The package files, or every file of the code and layer folders (but __pycache__), so
  // that a reload sees any change as a new version.
  std::vector<std::filesystem::path> code_files() const override;
  std::string describe() const override;
  config::RuntimeSummary summary() const override { return {handler, environment.memory_bytes}; }
  bool operator==(const PythonSettings&) const = default;
};

// The runtime client's folder: LoadOptions::python_runtime, else the one installed with the
// running executable (<bin>/../share/switchyard/python, or <build>/share/switchyard/python in
// a build tree).
std::filesystem::path python_runtime(const functions::LoadOptions& options);

// Registers the "python3" runtime.
void register_python_runtime(functions::RuntimeRegistry& registry);

}  // namespace switchyard::environments
