#pragma once

// What the Lambda API reports of a function's code: CodeSha256, CodeSize and LastModified.
// A function whose code is one file (a native library, a .zip package, a bootstrap) has that
// file's digest, as Lambda gives the digest of the deployed .zip; code in a folder has a digest
// of its files (each one's path relative to the folder, a NUL, its size and its bytes, in path
// order), which is stable across hosts holding the same files.
//
// Thread rules: digest_code() and code_size() may run on any thread; a CodeDigests cache is used
// from one thread (the admin listener's loop).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace switchyard::daemon {

struct CodeDigest {
  std::string sha256_base64;  // CodeSha256: the SHA-256, base64 (as Lambda writes it).
  std::uint64_t size = 0;     // CodeSize, in bytes.
  std::chrono::system_clock::time_point last_modified;  // The newest file's modification.
};

// Reads every file in `files` (as RuntimeSettings::code_files lists them) once.
core::Result<CodeDigest> digest_code(const std::vector<std::filesystem::path>& files);

// The total size of `files`, from their metadata only (nothing read).
std::uint64_t code_size(const std::vector<std::filesystem::path>& files);

// Digests computed once per version of a function's code: kept while the files' sizes and
// modification times stay as they were.
class CodeDigests {
 public:
  core::Result<CodeDigest> get(const std::string& function,
                               const std::vector<std::filesystem::path>& files);

 private:
  struct Entry {
    std::vector<std::pair<std::uint64_t, std::int64_t>> stamps;  // Size, mtime (ns) per file.
    CodeDigest digest;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace switchyard::daemon
