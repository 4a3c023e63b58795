#include "config/loader.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "config/admin.h"
#include "config/reader.h"
#include "config/units.h"

namespace switchyard::config {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxWorkers = 1024;
constexpr Duration kMaxTimeout = std::chrono::hours(1);

// What the manifest checks need to know about the daemon config besides its values.
struct DaemonFacts {
  // The sections of switchyard.yaml that had errors: a manifest's Kafka trigger is then not
  // blamed for missing brokers that were in fact written, only wrongly.
  std::set<std::string, std::less<>> invalid_sections;
  // The manifests directory as written (joined to the config file's folder), for file names in
  // messages, and whether it can be read.
  fs::path manifests_dir;
  bool manifests_valid = false;
};

std::string host_name() {
  char buffer[HOST_NAME_MAX + 1] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') {
    return "switchyard";
  }
  return buffer;
}

bool is_instance_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

template <typename Listener>
void parse_listener(FileReader& file, const YAML::Node& node, const char* name, Listener& out) {
  MapReader listener(file, node, name, name);
  listener.allow_keys({"address", "port", "enabled"});
  listener.read_string("address", out.address, false);
  listener.read_int("port", 0, 65535, out.port);
  listener.read_bool("enabled", out.enabled);
}

void parse_kafka(FileReader& file, const YAML::Node& node, KafkaConfig& out) {
  MapReader kafka(file, node, "kafka", "kafka");
  kafka.allow_keys({"brokers", "properties"});
  kafka.read_string("brokers", out.brokers, false);
  kafka.read_string_map("properties", out.properties);
  if (kafka.valid() && !kafka.has("brokers") && kafka.has("properties")) {
    file.fail(node, "kafka.properties are given but kafka.brokers is missing");
  }
}

void parse_redis(FileReader& file, const YAML::Node& node, RedisConfig& out) {
  MapReader redis(file, node, "redis", "redis");
  redis.allow_keys({"url", "connect_timeout", "command_timeout"});
  if (redis.read_string("url", out.url, false) && !out.url.starts_with("redis://") &&
      !out.url.starts_with("unix://")) {
    file.fail(redis.get("url"), "redis.url \"" + out.url +
                                    "\" must start with redis:// or unix:// (e.g. "
                                    "redis://localhost:6379/0)");
  }
  redis.read_duration("connect_timeout", Duration(1), kMaxTimeout, out.connect_timeout);
  redis.read_duration("command_timeout", Duration(1), kMaxTimeout, out.command_timeout);
}

void parse_logging(FileReader& file, const YAML::Node& node, LoggingConfig& out) {
  MapReader logging(file, node, "logging", "logging");
  logging.allow_keys({"level", "format"});
  logging.read_choice("level", {"trace", "debug", "info", "warn", "error", "critical", "off"},
                      out.level);
  logging.read_choice("format", {"auto", "text", "json"}, out.format);
}

void parse_limits(FileReader& file, const YAML::Node& node, LimitsConfig& out) {
  MapReader limits(file, node, "limits", "limits");
  limits.allow_keys({"max_body", "max_header", "max_target", "max_connections", "header_timeout",
                     "idle_timeout", "shutdown_timeout", "max_async_queue_file",
                     "async_queue_reserve"});
  limits.read_size("max_body", 1, 4ull << 30, out.max_body_bytes);
  limits.read_size("max_header", 1ull << 10, 16ull << 20, out.max_header_bytes);
  limits.read_size("max_target", 256, 16ull << 20, out.max_target_bytes);
  limits.read_int("max_connections", 1, 1000000, out.max_connections);
  limits.read_duration("header_timeout", Duration(1), kMaxTimeout, out.header_timeout);
  limits.read_duration("idle_timeout", Duration(1), kMaxTimeout, out.idle_timeout);
  limits.read_duration("shutdown_timeout", Duration(1), kMaxTimeout, out.shutdown_timeout);
  limits.read_size("max_async_queue_file", 64ull << 10, 1ull << 50, out.max_async_queue_file);
  limits.read_size("async_queue_reserve", 0, 1ull << 40, out.async_queue_reserve);
}

void parse_daemon(FileReader& file, const YAML::Node& document, const fs::path& config_path,
                  DaemonConfig& out, DaemonFacts& facts) {
  fs::path config_dir = config_path.parent_path();
  out.config_path = config_path;
  out.instance = host_name();
  out.state_dir = "/var/lib/switchyard";
  MapReader root(file, document, "", "switchyard.yaml");
  if (!root.valid()) {
    return;
  }
  root.allow_keys({"instance", "region", "account_id", "workers", "manifests", "state_dir", "http",
                   "admin", "kafka", "redis", "logging", "limits"});

  if (root.read_string("instance", out.instance, false) &&
      !std::all_of(out.instance.begin(), out.instance.end(), is_instance_char)) {
    file.fail(root.get("instance"),
              "instance \"" + out.instance + "\" must be letters, digits, '_', '.' or '-'");
  }
  if (root.read_string("region", out.region, false) &&
      !std::all_of(out.region.begin(), out.region.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    file.fail(root.get("region"), "region \"" + out.region +
                                      "\" must be lower-case letters, digits and '-' " +
                                      "(as us-east-1)");
  }
  if (root.read_string("account_id", out.account_id, false) &&
      (out.account_id.size() != 12 || !std::all_of(out.account_id.begin(), out.account_id.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; }))) {
    file.fail(root.get("account_id"),
              "account_id \"" + out.account_id + "\" must be 12 digits (as 123456789012)");
  }
  root.read_int("workers", 0, kMaxWorkers, out.workers);
  if (out.workers == 0) {
    // hardware_concurrency() may return 0 when it cannot tell; one worker still works.
    out.workers = static_cast<int>(
        std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(kMaxWorkers)));
  }
  std::string state_dir;
  if (root.read_string("state_dir", state_dir, false)) {
    out.state_dir = state_dir;
  }
  out.state_dir = resolve_path(config_dir, out.state_dir);

  // Each section's errors are noted, for the manifests' checks against it.
  auto section = [&](const char* name, auto parse) {
    if (YAML::Node node = root.get(name); node.IsDefined()) {
      std::size_t before = file.error_count();
      parse(node);
      if (file.error_count() != before) {
        facts.invalid_sections.emplace(name);
      }
    }
  };
  section("http", [&](const YAML::Node& node) { parse_listener(file, node, "http", out.http); });
  section("admin", [&](const YAML::Node& node) { parse_admin(file, node, config_dir, out.admin); });
  section("kafka", [&](const YAML::Node& node) { parse_kafka(file, node, out.kafka); });
  section("redis", [&](const YAML::Node& node) { parse_redis(file, node, out.redis); });
  if (YAML::Node node = root.get("logging"); node.IsDefined()) {
    parse_logging(file, node, out.logging);
  }
  if (YAML::Node node = root.get("limits"); node.IsDefined()) {
    parse_limits(file, node, out.limits);
  }

  std::string manifests = "functions.d";
  if (root.has("manifests") && !root.read_string("manifests", manifests, false)) {
    return;
  }
  facts.manifests_dir = config_dir / manifests;
  out.manifests_dir = resolve_path(config_dir, manifests);
  // A missing directory is blamed on the key when it was written, else on the file.
  SourceLocation where =
      root.has("manifests") ? file.location(root.get("manifests")) : file.location(document);
  std::error_code error;
  fs::file_status status = fs::status(out.manifests_dir, error);
  if (!fs::exists(status)) {
    file.fail(where, "manifests directory \"" + manifests + "\" does not exist (resolved to " +
                         out.manifests_dir.string() + ")");
  } else if (!fs::is_directory(status)) {
    file.fail(where, "manifests \"" + manifests + "\" is not a directory (resolved to " +
                         out.manifests_dir.string() + ")");
  } else {
    facts.manifests_valid = true;
  }
}

// Errors within one file are reported in the order they appear in it.
void sort_from(std::vector<ConfigError>& errors, std::size_t begin) {
  std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(begin), errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::pair(a.location.line, a.location.column) <
                            std::pair(b.location.line, b.location.column);
                   });
}

std::optional<std::string> read_file(const fs::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  return text.str();
}

// Checks one manifest against the daemon config: what its triggers and dead-letter destination
// need (brokers, a Redis URL, the HTTP listener), as each kind says.
void check_against_daemon(const FunctionManifest& function, const detail::ManifestMarks& marks,
                          const DaemonConfig& daemon, const DaemonFacts& facts, const Kinds& kinds,
                          std::vector<ConfigError>& errors) {
  std::string config_name = daemon.config_path.filename().string();
  auto fail = [&](const SourceLocation& location, const std::string& problem) {
    if (!problem.empty()) {
      errors.push_back(ConfigError{location, problem + " in " + config_name});
    }
  };
  for (const TriggerSpec& trigger : function.triggers) {
    const TriggerKind* kind = kinds.trigger(trigger.kind);
    if (kind != nullptr && kind->check && trigger.settings != nullptr &&
        !facts.invalid_sections.contains(kind->daemon_section)) {
      fail(trigger.location, kind->check(*trigger.settings, daemon));
    }
  }
  auto check_destination = [&](const DeadLetterSpec& destination, const SourceLocation& mark,
                               std::string_view where) {
    if (!destination.configured() || destination.kind == kFunctionDestination) {
      return;
    }
    const DeadLetterKind* kind = kinds.dead_letter(destination.kind);
    if (kind != nullptr && kind->check && !facts.invalid_sections.contains(kind->daemon_section)) {
      fail(mark, kind->check(daemon, std::string(where) + "." + destination.kind));
    }
  };
  check_destination(function.dead_letter, marks.dead_letter, "dead_letter");
  check_destination(function.async.on_success, marks.on_success, "async.on_success");
  check_destination(function.async.on_failure, marks.on_failure, "async.on_failure");
  check_destination(function.async.shared, marks.shared, "async.queue");
}

void load_manifests(const DaemonConfig& daemon, const DaemonFacts& facts, const Kinds& kinds,
                    const EnvLookup& env, std::vector<FunctionManifest>& functions,
                    std::vector<ConfigError>& errors) {
  const std::size_t first_manifest_error = errors.size();
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(daemon.manifests_dir, error), end; !error && it != end;
       it.increment(error)) {
    std::string name = it->path().filename().string();
    std::string extension = it->path().extension().string();
    // Dot files are editor and tool leftovers, not manifests.
    if (name.starts_with('.') || (extension != ".yaml" && extension != ".yml")) {
      continue;
    }
    std::error_code type_error;
    if (it->is_regular_file(type_error)) {
      names.push_back(std::move(name));
    }
  }
  if (error) {
    errors.push_back(ConfigError{SourceLocation{facts.manifests_dir.string(), 0, 0},
                                 "cannot read manifests directory: " + error.message()});
    return;
  }
  std::sort(names.begin(), names.end());

  std::map<std::string, SourceLocation> first_defined;
  // Asynchronous destinations that name a function, checked once every manifest is read.
  struct FunctionDestination {
    std::string from;
    std::string to;
    SourceLocation mark;
  };
  std::vector<FunctionDestination> function_destinations;
  // "<kind> <target>" of each shared asynchronous queue -> the function it queues for.
  std::map<std::string, std::string> shared_queues;
  for (const std::string& name : names) {
    fs::path path = facts.manifests_dir / name;
    std::size_t first_error = errors.size();
    std::string read_error;
    std::optional<std::string> text = read_file(path, read_error);
    if (!text) {
      errors.push_back(
          ConfigError{SourceLocation{path.string(), 0, 0}, "cannot read manifest: " + read_error});
      continue;
    }
    FunctionManifest function;
    detail::ManifestMarks marks;
    detail::parse_manifest_text(*text, path, kinds, env, function, marks, errors);
    if (!function.name.empty() && marks.name.line > 0) {
      auto [previous, inserted] = first_defined.emplace(function.name, marks.name);
      if (!inserted) {
        const SourceLocation& first = previous->second;
        errors.push_back(ConfigError{marks.name, "duplicate function name \"" + function.name +
                                                     "\" (first defined at " + first.file + ":" +
                                                     std::to_string(first.line) + ":" +
                                                     std::to_string(first.column) + ")"});
      }
    }
    check_against_daemon(function, marks, daemon, facts, kinds, errors);
    if (function.async.shared.configured()) {
      // Each function's readers take every entry of its stream as its own invocations.
      const DeadLetterSpec& shared = function.async.shared;
      auto [other, inserted] =
          shared_queues.emplace(shared.kind + " " + shared.target, function.name);
      if (!inserted) {
        errors.push_back(ConfigError{
            marks.shared, "async.queue." + shared.kind + " \"" + shared.target +
                              "\" is already the asynchronous queue of function " + other->second +
                              " (each function needs a queue of its own)"});
      }
    }
    for (auto [destination, mark] : {std::pair{&function.async.on_success, &marks.on_success},
                                     std::pair{&function.async.on_failure, &marks.on_failure}}) {
      if (destination->kind == kFunctionDestination) {
        function_destinations.push_back(
            FunctionDestination{function.name, destination->target, *mark});
      }
    }
    sort_from(errors, first_error);
    functions.push_back(std::move(function));
  }
  // Each names a function, and no chain of them comes back to where it started: each record
  // would make another for ever.
  std::map<std::string, std::vector<std::string>> next;
  for (const FunctionDestination& edge : function_destinations) {
    next[edge.from].push_back(edge.to);
  }
  for (const FunctionDestination& edge : function_destinations) {
    if (!first_defined.contains(edge.to)) {
      errors.push_back(ConfigError{edge.mark, "no function named \"" + edge.to +
                                                  "\" (destinations name a function of this "
                                                  "daemon)"});
      continue;
    }
    // Depth first from the destination, looking for the function itself.
    std::vector<std::vector<std::string>> paths{{edge.from, edge.to}};
    std::set<std::string> visited;
    std::optional<std::vector<std::string>> loop;
    while (!paths.empty() && !loop) {
      std::vector<std::string> path = std::move(paths.back());
      paths.pop_back();
      if (path.back() == edge.from) {
        loop = std::move(path);
        break;
      }
      if (!visited.insert(path.back()).second) {
        continue;
      }
      for (const std::string& to : next[path.back()]) {
        std::vector<std::string> longer = path;
        longer.push_back(to);
        paths.push_back(std::move(longer));
      }
    }
    if (loop) {
      std::string chain;
      for (const std::string& name : *loop) {
        chain += (chain.empty() ? "" : " -> ") + name;
      }
      errors.push_back(
          ConfigError{edge.mark, "asynchronous destinations form a loop (" + chain +
                                     "): each invocation record would make another without end"});
    }
  }
  // Each among its file's errors (files are read in name order).
  std::stable_sort(
      errors.begin() + static_cast<std::ptrdiff_t>(first_manifest_error), errors.end(),
      [](const ConfigError& a, const ConfigError& b) { return a.location.file < b.location.file; });
}

LoadResult load_text(std::string_view yaml, const fs::path& config_path, const Kinds& kinds,
                     const EnvLookup& env) {
  LoadResult result;
  Snapshot snapshot;
  FileReader file(config_path.string(), env, result.errors);
  std::optional<YAML::Node> document = detail::load_document(yaml, file, "switchyard.yaml");
  if (!document) {
    return result;
  }
  DaemonFacts facts;
  parse_daemon(file, *document, config_path, snapshot.daemon, facts);
  sort_from(result.errors, 0);
  if (facts.manifests_valid) {
    load_manifests(snapshot.daemon, facts, kinds, env, snapshot.functions, result.errors);
  }
  if (result.errors.empty()) {
    result.snapshot = std::move(snapshot);
  }
  return result;
}

}  // namespace

std::string ConfigError::to_string() const {
  if (location.line <= 0) {
    return location.file + ": " + message;
  }
  return location.file + ":" + std::to_string(location.line) + ":" +
         std::to_string(location.column) + ": " + message;
}

LoadResult load(const fs::path& config_file, const Kinds& kinds, const EnvLookup& env) {
  std::string read_error;
  std::optional<std::string> text = read_file(config_file, read_error);
  if (!text) {
    LoadResult result;
    result.errors.push_back(ConfigError{SourceLocation{config_file.string(), 0, 0},
                                        "cannot read config file: " + read_error});
    return result;
  }
  return load_text(*text, config_file, kinds, env);
}

LoadResult load_from_string(std::string_view yaml, const fs::path& pretend_path, const Kinds& kinds,
                            const EnvLookup& env) {
  return load_text(yaml, pretend_path, kinds, env);
}

std::vector<ConfigError> parse_manifest(std::string_view yaml, const fs::path& manifest_path,
                                        const Kinds& kinds, FunctionManifest& out,
                                        const EnvLookup& env) {
  std::vector<ConfigError> errors;
  detail::ManifestMarks marks;
  detail::parse_manifest_text(yaml, manifest_path, kinds, env, out, marks, errors);
  sort_from(errors, 0);
  return errors;
}

}  // namespace switchyard::config
