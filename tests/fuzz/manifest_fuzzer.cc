// libFuzzer target over the manifest loader: any bytes in a manifest file give errors with
// positions or a manifest, never a crash or a hang.

#include <cstdint>
#include <string_view>

#include "config/loader.h"
#include "daemon/kinds.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  switchyard::config::FunctionManifest manifest;
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto errors = switchyard::config::parse_manifest(
      yaml, "/fuzz/functions.d/f.yaml", switchyard::daemon::builtin_kinds().manifest, manifest,
      [](const char* name) -> const char* {
        // A fixed environment, so that runs are reproducible.
        return std::string_view(name) == "HOME" ? "/root" : nullptr;
      });
  for (const auto& error : errors) {
    (void)error.to_string();
  }
  return 0;
}
