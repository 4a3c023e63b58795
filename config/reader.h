#pragma once

// Typed reads out of yaml-cpp nodes, for config/ and for the manifest parsers of the kinds
// (config/kinds.h). Every problem is recorded as a ConfigError at the node's position and the
// read carries on, so one pass over a file reports all of its problems. Not thread-safe; one
// reader per file being parsed.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/env.h"
#include "config/kinds.h"
#include "config/loader.h"

namespace switchyard::config {

// The longest delay a setting may name (a retry backoff, a batch window, a jitter).
inline constexpr Duration kMaxDelay = std::chrono::hours(24);

// A list of keys or choices, written in place ({"a", "b"}) or built (a registry's keys). It views
// them: the list must outlive the call it is passed to.
class Keys {
 public:
  Keys(std::initializer_list<std::string_view> keys) : keys_(keys.begin(), keys.size()) {}
  Keys(const std::vector<std::string_view>& keys) : keys_(keys) {}

  auto begin() const { return keys_.begin(); }
  auto end() const { return keys_.end(); }
  std::size_t size() const { return keys_.size(); }

 private:
  std::span<const std::string_view> keys_;
};

// "a mapping", "a list", "null" or the scalar in quotes: what a message says it got.
std::string describe(const YAML::Node& node);

// The candidate closest to word by edit distance, if it is within 2 edits.
std::optional<std::string_view> nearest(std::string_view word, Keys candidates);

// "a, b or c".
std::string join_choices(Keys choices);

// Records errors for one file.
class FileReader {
 public:
  FileReader(std::string file, const EnvLookup& env, std::vector<ConfigError>& errors)
      : file_(std::move(file)), env_(env), errors_(errors) {}

  // The environment ${VAR} expansion reads.
  const EnvLookup& env() const { return env_; }

  const std::string& file() const { return file_; }
  std::size_t error_count() const { return errors_.size(); }

  SourceLocation location(const YAML::Mark& mark) const;
  SourceLocation location(const YAML::Node& node) const { return location(node.Mark()); }

  void fail(const SourceLocation& location, std::string message);
  void fail(const YAML::Node& node, std::string message) {
    fail(location(node), std::move(message));
  }

  // The node's scalar text after ${VAR} expansion. Reports "<name> must be <expected> (got a
  // mapping)" when the node is not a scalar, and expansion errors.
  std::optional<std::string> scalar(const YAML::Node& node, std::string_view name,
                                    std::string_view expected);

 private:
  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError>& errors_;
};

// Reads the keys of one YAML mapping. If the node is not a mapping, the constructor reports it
// and every read does nothing, so callers need no special case.
class MapReader {
 public:
  // prefix names values in messages ("retry" gives "retry.attempts"); context names the mapping
  // in unknown-key and missing-key messages ("function manifest", "kafka trigger").
  MapReader(FileReader& file, const YAML::Node& node, std::string prefix, std::string context);

  bool valid() const { return valid_; }
  const YAML::Node& node() const { return node_; }
  const std::string& prefix() const { return prefix_; }
  FileReader& file_reader() { return file_; }

  // Reports keys not in allowed (suggesting the nearest), duplicate keys and non-string keys.
  void allow_keys(Keys allowed);
  // Whether key is present. A mapping that does not exist at all is not reported as missing.
  bool has(std::string_view key) const;
  // Reports `missing required key "key" in <context>` at the mapping when key is absent.
  bool require(std::string_view key);
  // The value node for key; undefined when absent.
  YAML::Node get(std::string_view key) const;
  // prefix.key, for messages.
  std::string name(std::string_view key) const;

  // Each read looks up key; when absent it leaves out untouched and returns false. Otherwise it
  // converts the value (after ${VAR} expansion), reports any problem, and returns true only if
  // out was set.
  bool read_string(std::string_view key, std::string& out, bool allow_empty = true);
  bool read_int(std::string_view key, std::int64_t min, std::int64_t max, int& out);
  bool read_bool(std::string_view key, bool& out);
  bool read_double(std::string_view key, double min, double max, double& out);
  bool read_duration(std::string_view key, Duration min, Duration max, Duration& out);
  bool read_size(std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
  bool read_choice(std::string_view key, Keys choices, std::string& out);
  bool read_string_map(std::string_view key, std::map<std::string, std::string>& out);
  // A trigger's `payload:`: `native` (kNativePayload; stored as "", and "" is accepted too) or
  // one of `shapes`. When absent, `out` becomes `lambda_shape` if scope.lambda_events and is
  // left untouched otherwise. A bad value is reported with the choices, native first.
  void read_payload(const ManifestScope& scope, Keys shapes, std::string_view lambda_shape,
                    std::string& out);

 private:
  FileReader& file_;
  YAML::Node node_;
  std::string prefix_;
  std::string context_;
  bool valid_ = false;
};

namespace detail {

// Facts about a manifest the loader needs for checks across files.
struct ManifestMarks {
  SourceLocation name;
  SourceLocation dead_letter;
  SourceLocation on_success;  // async.on_success, when given.
  SourceLocation on_failure;  // async.on_failure, when given.
  SourceLocation shared;      // async.queue.redis_stream, when given.
};

// Parses one manifest's YAML into out, reporting into errors. Defined in manifest.cc.
void parse_manifest_text(std::string_view yaml, const std::filesystem::path& manifest_path,
                         const Kinds& kinds, const EnvLookup& env, FunctionManifest& out,
                         ManifestMarks& marks, std::vector<ConfigError>& errors);

// Loads YAML text as a single document; reports syntax errors and returns nullopt.
std::optional<YAML::Node> load_document(std::string_view yaml, FileReader& file,
                                        std::string_view what);

}  // namespace detail
}  // namespace switchyard::config
