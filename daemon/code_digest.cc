#include "daemon/code_digest.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/codec.h"

namespace switchyard::daemon {

namespace fs = std::filesystem;

namespace {

using Stamp = std::pair<std::uint64_t, std::int64_t>;

Stamp stamp_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return {0, -1};
  }
  return {static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// The folder the files share (their relative paths are hashed, so that the same code in another
// place has the same digest).
fs::path common_folder(const std::vector<fs::path>& files) {
  fs::path common = files.front().parent_path();
  for (const fs::path& file : files) {
    while (!common.empty() && common != common.root_path() &&
           file.lexically_relative(common).native().starts_with("..")) {
      common = common.parent_path();
    }
  }
  return common;
}

struct DigestContext {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free};
};

}  // namespace

core::Result<CodeDigest> digest_code(const std::vector<fs::path>& files) {
  CodeDigest digest;
  DigestContext hash;
  if (hash.context == nullptr ||
      EVP_DigestInit_ex(hash.context.get(), EVP_sha256(), nullptr) != 1) {
    return core::Error{core::ErrorCode::kInternal, "SHA-256 is not available"};
  }
  std::vector<fs::path> sorted = files;
  std::sort(sorted.begin(), sorted.end());
  const bool one_file = sorted.size() == 1;
  const fs::path folder = sorted.empty() ? fs::path() : common_folder(sorted);
  std::vector<char> buffer(1 << 16);
  std::int64_t newest = 0;
  for (const fs::path& file : sorted) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return core::Error{core::ErrorCode::kIo,
                         "cannot read " + file.string() + ": " + std::strerror(errno)};
    }
    auto [size, mtime] = stamp_of(file);
    newest = std::max(newest, mtime);
    if (!one_file) {
      std::string header = file.lexically_relative(folder).string();
      header.push_back('\0');
      header += std::to_string(size);
      header.push_back('\0');
      EVP_DigestUpdate(hash.context.get(), header.data(), header.size());
    }
    std::uint64_t read = 0;
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      std::streamsize got = in.gcount();
      if (got > 0) {
        EVP_DigestUpdate(hash.context.get(), buffer.data(), static_cast<std::size_t>(got));
        read += static_cast<std::uint64_t>(got);
      }
    }
    if (in.bad()) {
      return core::Error{core::ErrorCode::kIo, "cannot read " + file.string()};
    }
    digest.size += read;
  }
  unsigned char sha[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(hash.context.get(), sha, &length);
  digest.sha256_base64 =
      core::base64_encode(std::string_view(reinterpret_cast<const char*>(sha), length));
  digest.last_modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(newest)));
  return digest;
}

std::uint64_t code_size(const std::vector<fs::path>& files) {
  std::uint64_t total = 0;
  for (const fs::path& file : files) {
    total += stamp_of(file).first;
  }
  return total;
}

core::Result<CodeDigest> CodeDigests::get(const std::string& function,
                                          const std::vector<fs::path>& files) {
  std::vector<Stamp> stamps;
  stamps.reserve(files.size());
  for (const fs::path& file : files) {
    stamps.push_back(stamp_of(file));
  }
  auto found = entries_.find(function);
  if (found != entries_.end() && found->second.stamps == stamps) {
    return found->second.digest;
  }
  core::Result<CodeDigest> digest = digest_code(files);
  if (digest) {
    entries_[function] = Entry{std::move(stamps), *digest};
  }
  return digest;
}

}  // namespace switchyard::daemon
