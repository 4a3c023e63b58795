#include "environments/code_package.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace switchyard::environments {
namespace {

namespace fs = std::filesystem;

using ZipHolder = std::unique_ptr<zip_t, decltype(&zip_discard)>;
using ZipFileHolder = std::unique_ptr<zip_file_t, decltype(&zip_fclose)>;

core::Result<ZipHolder> open_zip(const fs::path& zip, core::ErrorCode code) {
  int error_code = 0;
  zip_t* archive = zip_open(zip.c_str(), ZIP_RDONLY, &error_code);
  if (archive == nullptr) {
    zip_error_t error;
    zip_error_init_with_code(&error, error_code);
    std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    return core::Error(code, "cannot read the package " + zip.string() + ": " + message);
  }
  return ZipHolder(archive, &zip_discard);
}

// An entry's name is a relative path inside the package: not absolute, no `..`.
bool safe_name(std::string_view name) {
  if (name.empty() || name.front() == '/') {
    return false;
  }
  while (!name.empty()) {
    auto slash = name.find('/');
    std::string_view part = name.substr(0, slash);
    if (part == "..") {
      return false;
    }
    name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
  }
  return true;
}

// The entry's Unix mode, or 0 when the package was not made on Unix.
mode_t unix_mode(zip_t* archive, zip_uint64_t index) {
  zip_uint8_t system = 0;
  zip_uint32_t attributes = 0;
  if (zip_file_get_external_attributes(archive, index, 0, &system, &attributes) != 0 ||
      system != ZIP_OPSYS_UNIX) {
    return 0;
  }
  return static_cast<mode_t>(attributes >> 16);
}

// Removes a partly written folder.
struct FolderGuard {
  fs::path path;
  ~FolderGuard() {
    if (!path.empty()) {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  }
};

core::Status write_entry(zip_t* archive, zip_uint64_t index, const fs::path& target, mode_t mode,
                         std::uint64_t& written, const PackageLimits& limits,
                         const std::string& what) {
  ZipFileHolder file(zip_fopen_index(archive, index, 0), &zip_fclose);
  if (!file) {
    return core::Error(core::ErrorCode::kLoad, what + ": cannot read " +
                                                   target.filename().string() + ": " +
                                                   zip_error_strerror(zip_get_error(archive)));
  }
  // Executable for its owner when it was; never more than the owner's bits for others.
  mode_t permissions = (mode & S_IXUSR) != 0 ? 0755 : 0644;
  int fd =
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, permissions);
  if (fd < 0) {
    return core::Error::from_errno(errno, what + ": cannot write " + target.string());
  }
  char buffer[64 * 1024];
  core::Status status = core::Status::ok_status();
  for (;;) {
    zip_int64_t n = zip_fread(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      status =
          core::Error(core::ErrorCode::kLoad, what + ": " + target.filename().string() +
                                                  " is damaged: " + zip_file_strerror(file.get()));
      break;
    }
    if (n == 0) {
      break;
    }
    // The sizes the package states are not trusted: what it unpacks to is counted.
    written += static_cast<std::uint64_t>(n);
    if (written > limits.max_unpacked_bytes) {
      status = core::Error(
          core::ErrorCode::kLoad,
          fmt::format("{}: it unpacks to more than {} bytes", what, limits.max_unpacked_bytes));
      break;
    }
    const char* at = buffer;
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      ssize_t put = ::write(fd, at, left);
      if (put < 0 && errno == EINTR) {
        continue;
      }
      if (put < 0) {
        status = core::Error::from_errno(errno, what + ": cannot write " + target.string());
        break;
      }
      at += put;
      left -= static_cast<std::size_t>(put);
    }
    if (!status.ok()) {
      break;
    }
  }
  ::close(fd);
  return status;
}

}  // namespace

bool is_package(const fs::path& path) {
  return path.extension() == ".zip";
}

core::Result<std::vector<std::string>> package_files(const fs::path& zip) {
  auto archive = open_zip(zip, core::ErrorCode::kInvalidArgument);
  if (!archive.ok()) {
    return archive.error();
  }
  std::vector<std::string> names;
  zip_int64_t count = zip_get_num_entries(archive.value().get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive.value().get(), static_cast<zip_uint64_t>(i), 0);
    if (name != nullptr && *name != '\0' && name[std::strlen(name) - 1] != '/') {
      names.emplace_back(name);
    }
  }
  return names;
}

core::Result<fs::path> package_folder(const fs::path& zip, const fs::path& into,
                                      const std::string& name) {
  auto archive = open_zip(zip, core::ErrorCode::kLoad);
  if (!archive.ok()) {
    return archive.error();
  }
  // FNV-1a over each entry's name, size and CRC: what changes when the package's contents do.
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    }
  };
  zip_int64_t count = zip_get_num_entries(archive.value().get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    if (zip_stat_index(archive.value().get(), static_cast<zip_uint64_t>(i), 0, &st) != 0) {
      continue;
    }
    if ((st.valid & ZIP_STAT_NAME) != 0) {
      mix(st.name, std::strlen(st.name) + 1);
    }
    mix(&st.size, sizeof(st.size));
    mix(&st.crc, sizeof(st.crc));
  }
  return into / fmt::format("{}-{:016x}", name, hash);
}

core::Result<fs::path> unpack_package(const fs::path& zip, const fs::path& into,
                                      const std::string& name, const PackageLimits& limits) {
  const std::string what = "cannot unpack " + zip.string();
  auto folder = package_folder(zip, into, name);
  if (!folder.ok()) {
    return folder.error();
  }
  std::error_code error;
  if (fs::is_directory(folder.value(), error)) {
    return folder;  // This version is unpacked already.
  }
  fs::create_directories(into, error);
  if (error) {
    return core::Error(core::ErrorCode::kLoad,
                       what + ": cannot create " + into.string() + ": " + error.message());
  }
  auto archive = open_zip(zip, core::ErrorCode::kLoad);
  if (!archive.ok()) {
    return archive.error();
  }
  zip_t* raw = archive.value().get();
  zip_int64_t count = zip_get_num_entries(raw, 0);
  if (count < 0 || static_cast<std::uint64_t>(count) > limits.max_entries) {
    return core::Error(core::ErrorCode::kLoad,
                       fmt::format("{}: it holds more than {} entries", what, limits.max_entries));
  }

  // A hidden staging folder beside the versions; mkdtemp replaces the six X's.
  std::string pattern = (into / ("." + name + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return core::Error::from_errno(errno, what + ": cannot create a folder in " + into.string());
  }
  FolderGuard partial{pattern};
  const fs::path staging(pattern);
  std::uint64_t written = 0;
  for (zip_int64_t i = 0; i < count; ++i) {
    auto index = static_cast<zip_uint64_t>(i);
    const char* entry = zip_get_name(raw, index, 0);
    if (entry == nullptr || !safe_name(entry)) {
      return core::Error(core::ErrorCode::kLoad, what + ": the entry \"" +
                                                     std::string(entry == nullptr ? "" : entry) +
                                                     "\" would be written outside its folder");
    }
    std::string_view entry_name(entry);
    mode_t mode = unix_mode(raw, index);
    if (S_ISLNK(mode)) {
      return core::Error(core::ErrorCode::kLoad, what + ": the entry \"" + std::string(entry_name) +
                                                     "\" is a symbolic link, which is not "
                                                     "unpacked");
    }
    fs::path target = staging / entry_name;
    if (entry_name.back() == '/') {
      fs::create_directories(target, error);
      if (error) {
        return core::Error(core::ErrorCode::kLoad,
                           what + ": cannot create " + target.string() + ": " + error.message());
      }
      continue;
    }
    fs::create_directories(target.parent_path(), error);
    if (error) {
      return core::Error(
          core::ErrorCode::kLoad,
          what + ": cannot create " + target.parent_path().string() + ": " + error.message());
    }
    if (auto status = write_entry(raw, index, target, mode, written, limits, what); !status.ok()) {
      return status.error();
    }
  }
  // Another load of the same version may have finished first: keep that one.
  if (::rename(staging.c_str(), folder.value().c_str()) != 0) {
    if ((errno == EEXIST || errno == ENOTEMPTY) && fs::is_directory(folder.value(), error)) {
      return folder;
    }
    return core::Error::from_errno(errno, what + ": cannot rename " + staging.string());
  }
  partial.path.clear();
  return folder;
}

}  // namespace switchyard::environments
