#pragma once

// A throwaway directory holding switchyard.yaml, functions.d/ and fake function libraries, so
// the loader is tested against real files. Removed when the fixture goes out of scope.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/loader.h"
#include "daemon/kinds.h"
#include "functions/native.h"
#include "triggers/cron/settings.h"
#include "triggers/http/settings.h"
#include "triggers/kafka/settings.h"
#include "triggers/redis/settings.h"

// Lets failed CHECKs on error lists show the lists rather than "{?}".
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string text = "{";
    for (const std::string& line : lines) {
      text += "\n  " + line;
    }
    text += "\n}";
    return String(text.c_str());
  }
};
}  // namespace doctest

namespace switchyard::config {

// The kinds the daemon parses manifests with.
inline const Kinds& kinds() {
  return daemon::builtin_kinds().manifest;
}

// A trigger's settings as its kind's type; fails the test when the trigger is of another kind.
template <typename T>
const T& settings(const TriggerSpec& trigger) {
  const T* typed = trigger.as<T>();
  REQUIRE(typed != nullptr);
  return *typed;
}

}  // namespace switchyard::config

namespace switchyard::config::testing {

// The hint the loader adds to YAML flow errors, written out here so that a test fails if the
// loader's wording changes.
inline const std::string kFlowHint =
    " (inside { } or [ ], quote values that contain braces, brackets or commas, e.g. { path: "
    "\"/users/{id}\" })";

class ConfigFixture {
 public:
  ConfigFixture() {
    std::string pattern = "/tmp/switchyard-config-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    // Canonical, so expected paths match what the loader resolves even if /tmp is a symlink.
    dir_ = std::filesystem::canonical(pattern);
  }
  ~ConfigFixture() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ConfigFixture(const ConfigFixture&) = delete;
  ConfigFixture& operator=(const ConfigFixture&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& relative) const { return (dir_ / relative).string(); }

  // Writes a file below the fixture directory, creating its folders.
  void write(const std::string& relative, const std::string& text) const {
    std::filesystem::path file = dir_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << text;
    REQUIRE(out.good());
  }

  // switchyard.yaml plus an empty functions.d/ and one fake library, the usual starting point.
  void write_defaults(const std::string& daemon_yaml = "") const {
    write("switchyard.yaml", daemon_yaml);
    std::filesystem::create_directories(dir_ / "functions.d");
    write("functions.d/lib/libthumb.so", "not really a library");
  }

  EnvLookup env() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }

  LoadResult load() const { return config::load(dir_ / "switchyard.yaml", kinds(), env()); }

  // Every error of a load, formatted as the daemon prints it.
  std::vector<std::string> load_errors() const {
    LoadResult result = load();
    CHECK_FALSE(result.ok());
    CHECK_FALSE(result.snapshot.has_value());
    std::vector<std::string> out;
    for (const ConfigError& error : result.errors) {
      out.push_back(error.to_string());
    }
    return out;
  }

  std::map<std::string, std::string> vars;

 private:
  std::filesystem::path dir_;
};

}  // namespace switchyard::config::testing
