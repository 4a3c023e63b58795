#include "daemon/code_digest.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "support/process.h"

namespace fs = std::filesystem;
using namespace switchyard::daemon;
using switchyard::testing::TempDir;

namespace {

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

}  // namespace

TEST_CASE("one file: its SHA-256 in base64 and its size, as Lambda gives a package's") {
  TempDir dir;
  fs::path file = fs::path(dir.path()) / "libfn.so";
  write(file, "hello\n");
  auto digest = digest_code({file});
  REQUIRE(digest);
  // printf 'hello\n' | sha256sum | xxd -r -p | base64
  CHECK(digest->sha256_base64 == "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=");
  CHECK(digest->size == 6);
  CHECK(digest->last_modified.time_since_epoch().count() > 0);
  CHECK(code_size({file}) == 6);
}

TEST_CASE("a folder: the same files give the same digest wherever they are; any change differs") {
  TempDir dir;
  fs::path a = fs::path(dir.path()) / "a";
  fs::path b = fs::path(dir.path()) / "b";
  for (const fs::path& root : {a, b}) {
    write(root / "app.py", "def handler(e, c): return 1\n");
    write(root / "lib" / "util.py", "X = 1\n");
  }
  auto first = digest_code({a / "lib" / "util.py", a / "app.py"});
  auto second = digest_code({b / "app.py", b / "lib" / "util.py"});
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->sha256_base64 == second->sha256_base64);
  CHECK(first->size == 28 + 6);

  // A renamed file changes the digest even with the same bytes.
  fs::rename(b / "lib" / "util.py", b / "lib" / "other.py");
  auto renamed = digest_code({b / "app.py", b / "lib" / "other.py"});
  REQUIRE(renamed);
  CHECK(renamed->sha256_base64 != first->sha256_base64);

  CHECK(!digest_code({a / "missing.py"}));
}

TEST_CASE("the cache recomputes when a file changes, and only then") {
  TempDir dir;
  fs::path file = fs::path(dir.path()) / "libfn.so";
  write(file, "one");
  CodeDigests cache;
  auto first = cache.get("fn", {file});
  REQUIRE(first);
  auto again = cache.get("fn", {file});
  REQUIRE(again);
  CHECK(again->sha256_base64 == first->sha256_base64);
  write(file, "three");
  auto changed = cache.get("fn", {file});
  REQUIRE(changed);
  CHECK(changed->sha256_base64 != first->sha256_base64);
  CHECK(changed->size == 5);
}
