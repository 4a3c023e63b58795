// The `provided` runtime: its manifest keys as a user writes them (paths against the
// manifest's folder, the checks on the bootstrap), and what it loads.

#include "environments/provided.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "support/process.h"

using namespace switchyard;
using environments::ProvidedSettings;
using switchyard::testing::TempDir;

namespace {

namespace fs = std::filesystem;

// A folder with functions.d/fn.yaml and an executable bootstrap next to it.
struct Manifests {
  TempDir dir;
  config::Kinds kinds;
  functions::RuntimeRegistry runtimes{kinds};
  std::string bootstrap;

  Manifests() {
    environments::register_provided_runtime(runtimes);
    fs::create_directories(dir.path() + "/functions.d");
    bootstrap = dir.write("functions.d/bootstrap", "#!/bin/sh\n");
    fs::permissions(bootstrap, fs::perms::owner_exec, fs::perm_options::add);
  }
  std::string manifest_path() const { return dir.path() + "/functions.d/fn.yaml"; }
  std::vector<std::string> parse(const std::string& yaml, config::FunctionManifest& out) {
    std::vector<std::string> text;
    for (const auto& error : config::parse_manifest(yaml, manifest_path(), kinds, out)) {
      text.push_back(error.to_string());
    }
    return text;
  }
};

}  // namespace

TEST_CASE("provided: bootstrap against the manifest's folder, the task root its folder") {
  Manifests manifests;
  config::FunctionManifest manifest;
  auto errors = manifests.parse(
      "name: fn\nruntime: provided\nbootstrap: ./bootstrap\nhandler: index.handler\n"
      "min_environments: 2\nmax_invocations: 5\n",
      manifest);
  REQUIRE(errors.empty());
  const auto* settings = dynamic_cast<const ProvidedSettings*>(manifest.code.get());
  REQUIRE(settings != nullptr);
  CHECK(settings->bootstrap == fs::path(manifests.bootstrap).lexically_normal());
  CHECK(settings->task_root == fs::path(manifests.dir.path() + "/functions.d").lexically_normal());
  CHECK(settings->handler == "index.handler");
  CHECK(settings->environment.min_environments == 2);
  CHECK(settings->environment.max_invocations == 5);
  CHECK(settings->code_files() == std::vector<fs::path>{settings->bootstrap});
}

TEST_CASE("provided: code names the task root") {
  Manifests manifests;
  fs::create_directories(manifests.dir.path() + "/app");
  config::FunctionManifest manifest;
  auto errors = manifests.parse("name: fn\nruntime: provided\nbootstrap: bootstrap\ncode: ../app\n",
                                manifest);
  REQUIRE(errors.empty());
  const auto* settings = dynamic_cast<const ProvidedSettings*>(manifest.code.get());
  REQUIRE(settings != nullptr);
  CHECK(settings->task_root == fs::path(manifests.dir.path() + "/app").lexically_normal());
}

TEST_CASE("provided: a bootstrap that cannot run, and code that is no folder, are refused") {
  Manifests manifests;
  config::FunctionManifest manifest;
  const std::string at = manifests.manifest_path() + ":3:12: ";
  SUBCASE("missing") {
    auto errors = manifests.parse("name: fn\nruntime: provided\nbootstrap: ./nowhere\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == at + "bootstrap \"./nowhere\" does not exist (resolved to " +
                           manifests.dir.path() + "/functions.d/nowhere)");
  }
  SUBCASE("not executable") {
    manifests.dir.write("functions.d/plain", "#!/bin/sh\n");
    auto errors = manifests.parse("name: fn\nruntime: provided\nbootstrap: ./plain\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("bootstrap \"./plain\" is not executable (chmod +x ") !=
          std::string::npos);
  }
  SUBCASE("a folder") {
    fs::create_directories(manifests.dir.path() + "/functions.d/folder");
    auto errors = manifests.parse("name: fn\nruntime: provided\nbootstrap: ./folder\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == at + "bootstrap \"./folder\" is not a regular file");
  }
  SUBCASE("code that is not a folder") {
    auto errors = manifests.parse(
        "name: fn\nruntime: provided\nbootstrap: ./bootstrap\ncode: ./bootstrap\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("code \"./bootstrap\" is not a directory") != std::string::npos);
  }
  SUBCASE("no bootstrap") {
    auto errors = manifests.parse("name: fn\nruntime: provided\n", manifest);
    CHECK(errors.size() == 1);
  }
}

TEST_CASE("provided: loads a function that runs in environments, given a loop") {
  Manifests manifests;
  config::FunctionManifest manifest;
  REQUIRE(
      manifests.parse("name: fn\nruntime: provided\nbootstrap: ./bootstrap\n", manifest).empty());
  functions::LoadOptions options;
  options.environment_program = manifests.bootstrap;  // Any file that exists.
  auto without_loop = functions::load(manifests.runtimes, manifest, options);
  REQUIRE_FALSE(without_loop.ok());
  CHECK(without_loop.error().message().find("runs in execution environments") != std::string::npos);

  core::Loop loop;
  core::MetricsRegistry metrics;
  options.loop = &loop;
  options.metrics = &metrics;
  auto loaded = functions::load(manifests.runtimes, manifest, options);
  REQUIRE(loaded.ok());
  CHECK(loaded.value()->name() == "fn");
  CHECK(loaded.value()->finishes_later());
}
