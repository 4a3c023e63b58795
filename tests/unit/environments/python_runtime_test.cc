// The `python3` runtime's manifest as a user writes it: the checks `switchyard validate` makes
// (interpreter, handler, its module in the code or a layer, code and layers as folders or .zips)
// and what a reload watches.

#include "environments/python_runtime.h"

#include <doctest/doctest.h>
#include <zip.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/loader.h"
#include "support/process.h"

using namespace switchyard;
using environments::PythonSettings;
using switchyard::testing::TempDir;

namespace {

namespace fs = std::filesystem;

struct Manifests {
  TempDir dir;
  config::Kinds kinds;
  functions::RuntimeRegistry runtimes{kinds};

  Manifests() {
    environments::register_python_runtime(runtimes);
    fs::create_directories(dir.path() + "/functions.d");
  }
  std::string manifest_path() const { return dir.path() + "/functions.d/fn.yaml"; }
  std::vector<std::string> parse(const std::string& yaml, config::FunctionManifest& out) {
    std::vector<std::string> text;
    for (const auto& error : config::parse_manifest(yaml, manifest_path(), kinds, out)) {
      text.push_back(error.to_string());
    }
    return text;
  }
  const PythonSettings* settings(const config::FunctionManifest& manifest) {
    return dynamic_cast<const PythonSettings*>(manifest.code.get());
  }
};

void make_zip(const std::string& path, const std::vector<std::string>& names) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  REQUIRE(archive != nullptr);
  for (const std::string& name : names) {
    zip_source_t* source = zip_source_buffer(archive, "pass\n", 5, 0);
    REQUIRE(zip_file_add(archive, name.c_str(), source, 0) >= 0);
  }
  REQUIRE(zip_close(archive) == 0);
}

}  // namespace

TEST_CASE("python3: the handler's module in the code folder; the defaults") {
  Manifests m;
  m.dir.write("functions.d/greet/app.py", "def lambda_handler(event, context):\n    return 1\n");
  config::FunctionManifest manifest;
  auto errors = m.parse(
      "name: fn\nruntime: python3\nhandler: app.lambda_handler\ncode: ./greet\nmemory: 256MiB\n",
      manifest);
  REQUIRE(errors.empty());
  const PythonSettings* settings = m.settings(manifest);
  REQUIRE(settings != nullptr);
  CHECK(settings->interpreter == "/usr/bin/python3");
  CHECK(settings->handler == "app.lambda_handler");
  CHECK(settings->code == fs::path(m.dir.path() + "/functions.d/greet"));
  CHECK(settings->layers.empty());
  CHECK(settings->environment.memory_mib() == 256);
  CHECK(settings->code_files() ==
        std::vector<fs::path>{fs::path(m.dir.path() + "/functions.d/greet/app.py")});
  CHECK(settings->describe() == m.dir.path() + "/functions.d/greet (app.lambda_handler)");
}

TEST_CASE("python3: a module path, a package, a layer, a .zip") {
  Manifests m;
  config::FunctionManifest manifest;
  SUBCASE("pkg/mod.handler, code defaulting to the manifest's folder") {
    m.dir.write("functions.d/pkg/mod.py", "");
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: pkg/mod.handler\n", manifest).empty());
    CHECK(m.settings(manifest)->code == fs::path(m.dir.path() + "/functions.d"));
  }
  SUBCASE("a package's __init__") {
    m.dir.write("functions.d/code/svc/__init__.py", "");
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: svc.handler\ncode: code\n", manifest)
              .empty());
  }
  SUBCASE("in a layer's site-packages") {
    m.dir.write("layers/common/python/lib/python3.11/site-packages/shared/handlers.py", "");
    fs::create_directories(m.dir.path() + "/functions.d/code");
    auto errors = m.parse(
        "name: fn\nruntime: python3\nhandler: shared.handlers.run\ncode: code\n"
        "layers: [../layers/common]\n",
        manifest);
    CHECK(errors.empty());
    CHECK(m.settings(manifest)->layers ==
          std::vector<fs::path>{fs::path(m.dir.path() + "/layers/common")});
  }
  SUBCASE("a sourceless .pyc, and an extension module, as Python's finders take them") {
    m.dir.write("functions.d/code/compiled.pyc", "");
    m.dir.write("functions.d/code/pkg/fast.cpython-311-x86_64-linux-gnu.so", "");
    m.dir.write("functions.d/code/plain.so", "");
    for (std::string handler : {"compiled.handler", "pkg.fast.handler", "plain.handler"}) {
      config::FunctionManifest parsed;
      auto errors =
          m.parse("name: fn\nruntime: python3\nhandler: " + handler + "\ncode: code\n", parsed);
      CHECK_MESSAGE(errors.empty(), handler << ": " << (errors.empty() ? "" : errors[0]));
    }
    // Neither a prefix of another module's name nor a file in a deeper folder is the module.
    m.dir.write("functions.d/code/compiled_old.py", "");
    m.dir.write("functions.d/code/deep/pkg.so/x.py", "");
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: compiled_old2.handler\ncode: code\n",
                  manifest)
              .size() == 1);
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: deep.handler\ncode: code\n", manifest)
              .size() == 1);
  }
  SUBCASE("a .so in a zipped layer, a package's __init__.pyc in the code's .zip") {
    make_zip(m.dir.path() + "/functions.d/fn.zip", {"svc/__init__.pyc"});
    make_zip(m.dir.path() + "/layer.zip",
             {"python/lib/python3.11/site-packages/ext.abi3.so", "python/other.py"});
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: svc.run\ncode: fn.zip\n"
                  "layers: [../layer.zip]\n",
                  manifest)
              .empty());
    CHECK(m.parse("name: fn\nruntime: python3\nhandler: ext.run\ncode: fn.zip\n"
                  "layers: [../layer.zip]\n",
                  manifest)
              .empty());
  }
  SUBCASE("code as the .zip made for Lambda, and a zipped layer") {
    make_zip(m.dir.path() + "/functions.d/fn.zip", {"app.py", "requirements.txt"});
    make_zip(m.dir.path() + "/layer.zip", {"python/helpers.py"});
    auto errors = m.parse(
        "name: fn\nruntime: python3\nhandler: helpers.run\ncode: fn.zip\nlayers: [../layer.zip]\n",
        manifest);
    CHECK(errors.empty());
    // A reload watches the packages themselves.
    CHECK(m.settings(manifest)->code_files() ==
          std::vector<fs::path>{fs::path(m.dir.path() + "/functions.d/fn.zip"),
                                fs::path(m.dir.path() + "/layer.zip")});
  }
}

TEST_CASE("python3: what validate reports, where the manifest says it") {
  Manifests m;
  config::FunctionManifest manifest;
  const std::string file = m.manifest_path();
  m.dir.write("functions.d/app.py", "");
  SUBCASE("a handler that is not module.function") {
    auto errors = m.parse("name: fn\nruntime: python3\nhandler: lambda_handler\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == file +
                           ":3:10: handler \"lambda_handler\" is not module.function (as "
                           "app.lambda_handler)");
  }
  SUBCASE("a module that is not there") {
    auto errors = m.parse("name: fn\nruntime: python3\nhandler: greet.lambda_handler\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] ==
          file + ":3:10: handler \"greet.lambda_handler\": no module greet (greet.py " +
              "or greet/__init__.py, or its .pyc or .so) in " + m.dir.path() + "/functions.d");
  }
  SUBCASE("a module missing from a .zip") {
    make_zip(m.dir.path() + "/functions.d/fn.zip", {"other.py"});
    auto errors =
        m.parse("name: fn\nruntime: python3\nhandler: app.handler\ncode: fn.zip\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("no module app (app.py or app/__init__.py, or its .pyc or .so) in " +
                         m.dir.path() + "/functions.d/fn.zip") != std::string::npos);
  }
  SUBCASE("an interpreter that is not there") {
    auto errors =
        m.parse("name: fn\nruntime: python3\nhandler: app.handler\npython: /srv/venv/bin/python\n",
                manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == file +
                           ":4:9: python \"/srv/venv/bin/python\" does not exist (resolved to "
                           "/srv/venv/bin/python)");
  }
  SUBCASE("code that is neither a folder nor a .zip") {
    auto errors =
        m.parse("name: fn\nruntime: python3\nhandler: app.handler\ncode: app.py\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find(":4:7: code \"app.py\" is not a folder or a .zip") != std::string::npos);
  }
  SUBCASE("a .zip that is not one") {
    m.dir.write("functions.d/fn.zip", "garbage");
    auto errors =
        m.parse("name: fn\nruntime: python3\nhandler: app.handler\ncode: fn.zip\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("code \"fn.zip\": cannot read the package ") != std::string::npos);
  }
  SUBCASE("layers that are not a list") {
    auto errors =
        m.parse("name: fn\nruntime: python3\nhandler: app.handler\nlayers: ./common\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("layers must be a list of folders or .zips") != std::string::npos);
  }
  SUBCASE("no handler") {
    auto errors = m.parse("name: fn\nruntime: python3\n", manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("missing required key \"handler\"") != std::string::npos);
  }
}

TEST_CASE("python3: a reload sees a file added to the code folder") {
  Manifests m;
  m.dir.write("functions.d/app.py", "");
  config::FunctionManifest manifest;
  REQUIRE(m.parse("name: fn\nruntime: python3\nhandler: app.handler\n", manifest).empty());
  auto before = m.settings(manifest)->code_files();
  m.dir.write("functions.d/helpers.py", "");
  m.dir.write("functions.d/__pycache__/app.cpython-311.pyc", "");
  auto after = m.settings(manifest)->code_files();
  CHECK(after.size() == before.size() + 1);
}

TEST_CASE("python3: the runtime client is found next to the executable unless named") {
  functions::LoadOptions options;
  options.python_runtime = "/opt/switchyard/python";
  CHECK(environments::python_runtime(options) == "/opt/switchyard/python");
  options.python_runtime.clear();
  CHECK(environments::python_runtime(options).filename() == "python");
}
