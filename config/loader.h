#pragma once

// Reads switchyard.yaml and every function manifest into one validated Snapshot. The whole
// configuration is checked once, here; every problem found is reported with the file, line and
// column of the YAML node at fault, and all of them are reported together so `switchyard
// validate` can print the full list in one go. Nothing at runtime reads YAML.
//
// Functions here are pure apart from reading files and the environment; call them from any
// thread.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/env.h"
#include "config/kinds.h"

namespace switchyard::config {

// One problem in one file, at the node that causes it.
struct ConfigError {
  SourceLocation location;  // line and column are 0 when the error concerns the whole file.
  std::string message;

  // "file:line:column: message", or "file: message" without a position.
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Snapshot> snapshot;  // Set only when errors is empty.
  std::vector<ConfigError> errors;   // Grouped by file (daemon config first), in file order.

  bool ok() const { return snapshot.has_value() && errors.empty(); }
};

// Loads the daemon config and every *.yaml / *.yml manifest in its manifests directory. `kinds`
// parses the manifests' triggers, dead-letter destinations and runtimes.
LoadResult load(const std::filesystem::path& config_file, const Kinds& kinds,
                const EnvLookup& env = {});

// Like load(), but the daemon config's text is given. The manifests directory is still read from
// disk, relative to pretend_path's folder, and errors name pretend_path.
LoadResult load_from_string(std::string_view yaml, const std::filesystem::path& pretend_path,
                            const Kinds& kinds, const EnvLookup& env = {});

// Parses one manifest on its own, for tests and tools. Checks that need the daemon config
// (Kafka and Redis configured, names unique across manifests) are not made. out is filled as
// far as possible even when errors are returned.
std::vector<ConfigError> parse_manifest(std::string_view yaml,
                                        const std::filesystem::path& manifest_path,
                                        const Kinds& kinds, FunctionManifest& out,
                                        const EnvLookup& env = {});

}  // namespace switchyard::config
