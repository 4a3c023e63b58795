// .zip code packages: what a package made for Lambda unpacks to, once per version, and the
// packages that are refused whole (names escaping the folder, symbolic links, too big).

#include "environments/code_package.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"

using namespace switchyard;
using switchyard::testing::TempDir;

namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string name;
  std::string content;
  mode_t mode = S_IFREG | 0644;
};

// Writes a zip with libzip, as `zip -r` would (Unix modes in the external attributes).
std::string make_zip(const std::string& path, const std::vector<Entry>& entries) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  REQUIRE(archive != nullptr);
  for (const Entry& entry : entries) {
    zip_int64_t index = 0;
    if (!entry.name.empty() && entry.name.back() == '/') {
      index = zip_dir_add(archive, entry.name.c_str(), ZIP_FL_ENC_UTF_8);
    } else {
      zip_source_t* source =
          zip_source_buffer(archive, entry.content.data(), entry.content.size(), 0);
      REQUIRE(source != nullptr);
      index = zip_file_add(archive, entry.name.c_str(), source, ZIP_FL_ENC_UTF_8);
    }
    REQUIRE(index >= 0);
    REQUIRE(zip_file_set_external_attributes(archive, static_cast<zip_uint64_t>(index), 0,
                                             ZIP_OPSYS_UNIX,
                                             static_cast<zip_uint32_t>(entry.mode) << 16) == 0);
  }
  REQUIRE(zip_close(archive) == 0);
  return path;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a package unpacks once per version, with its files' executable bits") {
  TempDir dir;
  std::string zip =
      make_zip(dir.path() + "/fn.zip", {{"app.py", "def handler(e, c):\n    return 1\n"},
                                        {"pkg/", ""},
                                        {"pkg/__init__.py", ""},
                                        {"bin/tool", "#!/bin/sh\n", S_IFREG | 0755}});
  CHECK(environments::is_package(zip));
  CHECK_FALSE(environments::is_package(dir.path()));

  auto names = environments::package_files(zip);
  REQUIRE(names.ok());
  CHECK(names.value() == std::vector<std::string>{"app.py", "pkg/__init__.py", "bin/tool"});

  const fs::path into = dir.path() + "/state/code";
  auto folder = environments::unpack_package(zip, into, "fn");
  REQUIRE(folder.ok());
  CHECK(folder.value().parent_path() == into);
  CHECK(folder.value().filename().string().rfind("fn-", 0) == 0);
  CHECK(read(folder.value() / "app.py") == "def handler(e, c):\n    return 1\n");
  CHECK(fs::is_regular_file(folder.value() / "pkg/__init__.py"));
  CHECK(::access((folder.value() / "bin/tool").c_str(), X_OK) == 0);
  CHECK(::access((folder.value() / "app.py").c_str(), X_OK) != 0);

  // The same version again: the folder as it is (a file added there stays).
  dir.write("state/code/" + folder.value().filename().string() + "/marker", "x");
  auto again = environments::unpack_package(zip, into, "fn");
  REQUIRE(again.ok());
  CHECK(again.value() == folder.value());
  CHECK(fs::exists(again.value() / "marker"));

  // A changed package is a new version, in a folder of its own.
  make_zip(zip, {{"app.py", "def handler(e, c):\n    return 2\n"}});
  auto changed = environments::unpack_package(zip, into, "fn");
  REQUIRE(changed.ok());
  CHECK(changed.value() != folder.value());
  CHECK(read(changed.value() / "app.py") == "def handler(e, c):\n    return 2\n");
  // Nothing half-written is left beside the versions.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(into)) {
    CHECK(entry.path().filename().string()[0] != '.');
    ++entries;
  }
  CHECK(entries == 2);
}

TEST_CASE("a package whose entries would escape its folder, or that is too big, is refused") {
  TempDir dir;
  const fs::path into = dir.path() + "/code";
  SUBCASE("a .. in a name") {
    std::string zip =
        make_zip(dir.path() + "/evil.zip", {{"app.py", "x"}, {"pkg/../../escaped.py", "x"}});
    auto folder = environments::unpack_package(zip, into, "evil");
    REQUIRE_FALSE(folder.ok());
    CHECK(folder.error().message().find("\"pkg/../../escaped.py\" would be written outside") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir.path() + "/escaped.py"));
  }
  SUBCASE("an absolute name") {
    std::string zip = make_zip(dir.path() + "/evil.zip", {{"/tmp/escaped.py", "x"}});
    auto folder = environments::unpack_package(zip, into, "evil");
    REQUIRE_FALSE(folder.ok());
    CHECK(folder.error().message().find("would be written outside") != std::string::npos);
  }
  SUBCASE("a symbolic link") {
    std::string zip = make_zip(dir.path() + "/evil.zip", {{"link", "/etc/passwd", S_IFLNK | 0777}});
    auto folder = environments::unpack_package(zip, into, "evil");
    REQUIRE_FALSE(folder.ok());
    CHECK(folder.error().message().find("\"link\" is a symbolic link") != std::string::npos);
  }
  SUBCASE("more than the limit, unpacked") {
    std::string zip = make_zip(dir.path() + "/big.zip", {{"big.bin", std::string(300000, 'a')}});
    environments::PackageLimits limits;
    limits.max_unpacked_bytes = 100000;
    auto folder = environments::unpack_package(zip, into, "big", limits);
    REQUIRE_FALSE(folder.ok());
    CHECK(folder.error().message().find("unpacks to more than 100000 bytes") != std::string::npos);
  }
  SUBCASE("too many entries") {
    std::string zip = make_zip(dir.path() + "/many.zip", {{"a", ""}, {"b", ""}, {"c", ""}});
    environments::PackageLimits limits;
    limits.max_entries = 2;
    auto folder = environments::unpack_package(zip, into, "many", limits);
    REQUIRE_FALSE(folder.ok());
    CHECK(folder.error().message().find("more than 2 entries") != std::string::npos);
  }
  // Whatever was refused left nothing behind.
  std::error_code error;
  CHECK((!fs::exists(into) || fs::is_empty(into, error)));
}

TEST_CASE("a file that is not a zip is reported as such") {
  TempDir dir;
  std::string path = dir.write("broken.zip", "not a zip at all");
  auto names = environments::package_files(path);
  REQUIRE_FALSE(names.ok());
  CHECK(names.error().message().find("cannot read the package " + path + ": ") == 0);
  auto folder = environments::unpack_package(path, dir.path() + "/code", "broken");
  CHECK_FALSE(folder.ok());
}
