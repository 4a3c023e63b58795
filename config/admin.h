#pragma once

// The `admin:` section of switchyard.yaml: the listener, and who may use its Lambda API.
//
//   admin:
//     address: 0.0.0.0                 # not loopback: needs `keys` (or `insecure: true`)
//     port: 9090
//     keys:                            # Signature Version 4 access keys, as the AWS tools use
//       - access_key_id: ops
//         secret_env: SWITCHYARD_OPS_SECRET       # the secret from an environment variable
//       - access_key_id: ci
//         secret_file: /etc/switchyard/ci.secret  # or from a file (trailing newline dropped)
//         functions: [hello, thumb]               # what it may invoke (default: every function)
//     insecure: false                  # true: serve a non-loopback address without keys
//
// A secret is never written in the YAML itself. Pure parsing: any thread.

#include <filesystem>
#include <string_view>

#include "config/config.h"
#include "config/reader.h"

namespace switchyard::config {

// Whether `address` is a loopback address (127.0.0.0/8, ::1) or "localhost".
bool is_loopback(std::string_view address);

// Reads the admin section into `out`; relative secret files are resolved against `config_dir`.
void parse_admin(FileReader& file, const YAML::Node& node, const std::filesystem::path& config_dir,
                 AdminListenerConfig& out);

}  // namespace switchyard::config
