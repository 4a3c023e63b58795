#pragma once

// A function's code deployed as the .zip made for AWS Lambda (`zip -r`, `sam build`): its file
// names (to check that a handler is there) and its unpacking, once per version, into the state
// directory, where its environments run it.
//
// A package is untrusted input: an entry that would land outside its folder (an absolute name,
// a `..`), a symbolic link, or more than the limits refuse the whole package, and nothing of it
// is left behind.
//
// Thread rules: functions of the file system alone; any thread. Concurrent unpacks of one
// package are safe: each writes a private folder and the first to finish is kept.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"

namespace switchyard::environments {

struct PackageLimits {
  std::uint64_t max_unpacked_bytes = 250ULL * 1024 * 1024;  // Lambda's limit, unzipped.
  std::uint64_t max_entries = 65535;
};

// Whether `path` names a .zip package (by its name) rather than a folder.
bool is_package(const std::filesystem::path& path);

// The names of the files (not folders) in `zip`, as stored ("app.py", "pkg/mod.py"); a kConfig
// error says why it cannot be read.
core::Result<std::vector<std::string>> package_files(const std::filesystem::path& zip);

// The folder `zip` unpacks to under `into`: "<into>/<name>-<16 hex digits>", the digits a hash of
// its entries' names, sizes and CRCs, so that a changed package is a new folder.
core::Result<std::filesystem::path> package_folder(const std::filesystem::path& zip,
                                                   const std::filesystem::path& into,
                                                   const std::string& name);

// Unpacks `zip` into package_folder() unless it is there already, and returns that folder.
// Files keep their owner's permission bits (a `bootstrap` stays executable). kLoad errors.
core::Result<std::filesystem::path> unpack_package(const std::filesystem::path& zip,
                                                   const std::filesystem::path& into,
                                                   const std::string& name,
                                                   const PackageLimits& limits = {});

}  // namespace switchyard::environments
