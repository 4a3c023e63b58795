// The function SDK as a user outside this repository gets it: `cmake --install` into a private
// prefix, an out-of-tree project built with find_package(switchyard) and switchyard_add_function,
// and the installed binary invoking the library it produced.

#include <dlfcn.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::map<std::string, std::string> kEnv = {{"DESTDIR", ""}};

// Runs a build step and fails the test with its output when it does not succeed.
void run_step(const std::vector<std::string>& argv) {
  auto result = run_process(argv, kEnv, {}, 120s);
  INFO(argv[0] << " " << argv[1] << " ...\nstdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
}

const char* kProject = R"(cmake_minimum_required(VERSION 3.25)
project(thumb CXX)
find_package(switchyard 0.1 REQUIRED)
switchyard_add_function(thumb thumb.cc)
)";

// thumb_width has external linkage, but only the ABI symbols may be visible outside the library.
const char* kSource = R"(#include <string>
#include <switchyard/function.hpp>

int thumb_width() { return 128; }

namespace {

switchyard::Response thumb(const switchyard::Event& event, switchyard::Context&) {
  return switchyard::Response("thumbnail of " + std::string(event.data()) + " at " +
                              std::to_string(thumb_width()) + "px");
}

}  // namespace

SWITCHYARD_HANDLER(thumb);
)";

}  // namespace

TEST_CASE(
    "an out-of-tree function builds against the installed SDK and runs under the installed "
    "binary") {
  TempDir dir;
  const std::string prefix = dir.path() + "/prefix";
  run_step({SWITCHYARD_CMAKE_COMMAND, "--install", SWITCHYARD_BINARY_DIR, "--prefix", prefix});

  // Nothing of a private prefix install goes outside it: the config and unit follow the prefix.
  CHECK(std::filesystem::is_regular_file(prefix + "/bin/switchyard"));
  CHECK(std::filesystem::is_regular_file(prefix + "/include/switchyard/function.h"));
  CHECK(std::filesystem::is_regular_file(prefix + "/include/switchyard/function.hpp"));
  CHECK(std::filesystem::is_regular_file(prefix + "/etc/switchyard/switchyard.yaml"));
  CHECK(std::filesystem::is_directory(prefix + "/etc/switchyard/functions.d"));
  CHECK(std::filesystem::is_regular_file(prefix + "/lib/systemd/system/switchyard.service"));

  // The installed default config is valid as shipped.
  auto validated = run_process({prefix + "/bin/switchyard", "validate", "--config",
                                prefix + "/etc/switchyard/switchyard.yaml"});
  CHECK_MESSAGE(validated.exit_code == 0, validated.err);

  dir.write("src/CMakeLists.txt", kProject);
  dir.write("src/thumb.cc", kSource);
  run_step({SWITCHYARD_CMAKE_COMMAND, "-S", dir.path() + "/src", "-B", dir.path() + "/build", "-G",
            SWITCHYARD_CMAKE_GENERATOR, "-DCMAKE_CXX_COMPILER=" SWITCHYARD_CXX_COMPILER,
            "-DCMAKE_PREFIX_PATH=" + prefix});
  run_step({SWITCHYARD_CMAKE_COMMAND, "--build", dir.path() + "/build"});
  const std::string library = dir.path() + "/build/libthumb.so";
  REQUIRE(std::filesystem::is_regular_file(library));

  // Hidden visibility: the ABI entry points are exported, the function's own symbols are not.
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  CHECK(dlsym(handle, "switchyard_handle") != nullptr);
  CHECK(dlsym(handle, "switchyard_abi_version") != nullptr);
  CHECK(dlsym(handle, "_Z11thumb_widthv") == nullptr);
  dlclose(handle);

  auto config = dir.write("etc/switchyard.yaml",
                          "manifests: functions.d\n"
                          "state_dir: " +
                              dir.path() +
                              "/state\n"
                              "http: { address: 127.0.0.1, port: 0 }\n"
                              "admin: { address: 127.0.0.1, port: 0 }\n");
  dir.write("etc/functions.d/thumb.yaml", "name: thumb\nlibrary: " + library + "\n");
  auto result = run_process(
      {prefix + "/bin/switchyard", "invoke", "thumb", "--config", config, "-d", "cat.jpg"});
  INFO("stderr: " << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "thumbnail of cat.jpg at 128px");

  // The installed binary finds the installed python3 runtime client.
  CHECK(std::filesystem::is_regular_file(prefix + "/share/switchyard/python/bootstrap.py"));
  dir.write("etc/functions.d/greet.py",
            "def handler(event, context):\n    return {'hello': event['name']}\n");
  dir.write("etc/functions.d/greet.yaml",
            "name: greet\nruntime: python3\nhandler: greet.handler\n");
  auto greeted = run_process({prefix + "/bin/switchyard", "invoke", "greet", "--config", config,
                              "-d", R"({"name":"Ada"})"});
  INFO("stderr: " << greeted.err);
  CHECK(greeted.exit_code == 0);
  CHECK(greeted.out == R"({"hello": "Ada"})");
}
