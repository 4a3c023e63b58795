#pragma once

// The daemon config (switchyard.yaml) and function manifests as validated plain structs.
// Parsed once at load (config/loader.h); nothing at runtime reads YAML.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace switchyard::config {

using Duration = std::chrono::milliseconds;

// Where a value came from, for error messages at runtime ("functions.d/thumb.yaml:7:14").
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based.
  int column = 0;  // 1-based.
};

// ---- Triggers -------------------------------------------------------------------------------

struct HttpTriggerSpec {
  std::string path;                  // Template: /users/{id}, /files/{path+}.
  std::vector<std::string> methods;  // Upper-case; empty means any method.
  std::string payload;               // "" (native) or "apigw-v2".

  bool operator==(const HttpTriggerSpec&) const = default;
};

struct KafkaTriggerSpec {
  std::string topic;
  std::string group_id;             // Default: "switchyard.<function>".
  std::string ordering = "partition";  // partition | key | none.
  int batch = 1;
  Duration batch_window{0};
  std::string payload;              // "" (native) or "lambda-kafka".
  std::string start = "earliest";   // earliest | latest: where a new group starts.

  bool operator==(const KafkaTriggerSpec&) const = default;
};

struct RedisTriggerSpec {
  std::string stream;               // Exactly one of stream and list is set.
  std::string list;
  std::string group = "switchyard"; // Streams: the consumer group.
  std::string consumer;             // Default: derived from the instance name.
  int batch = 1;
  Duration batch_window{0};
  Duration block{2000};             // XREADGROUP BLOCK / BLMOVE timeout.
  Duration claim_after{60000};      // Streams: XAUTOCLAIM entries idle longer than this.

  bool operator==(const RedisTriggerSpec&) const = default;
};

struct CronTriggerSpec {
  std::string schedule;             // Checked by the cron trigger's own parser.
  std::string timezone = "UTC";
  std::string overlap = "allow";    // allow | skip | queue.
  std::string misfire = "skip";     // skip | run_once.
  Duration jitter{0};
  std::string lock;                 // "" or "redis".
  std::string payload;              // Free text passed as data, or "eventbridge".

  bool operator==(const CronTriggerSpec&) const = default;
};

struct TriggerSpec {
  std::variant<HttpTriggerSpec, KafkaTriggerSpec, RedisTriggerSpec, CronTriggerSpec> spec;
  SourceLocation location;  // Of the trigger's node in the manifest.
};

// ---- Functions ------------------------------------------------------------------------------

struct RetryPolicy {
  int attempts = 1;            // Total invocations, including the first. 1 = no retry.
  Duration backoff{100};       // Delay before the first retry; doubles each time.
  Duration max_backoff{10000}; // Cap on the delay.
  double jitter = 0.2;         // Fraction of the delay randomised (0 = none, 1 = full).
};

struct DeadLetterSpec {
  std::string kafka_topic;     // At most one of these is set; none = log and count only.
  std::string redis_stream;
  std::string redis_list;
  bool configured() const {
    return !kafka_topic.empty() || !redis_stream.empty() || !redis_list.empty();
  }

  bool operator==(const DeadLetterSpec&) const = default;
};

enum class Execution { kPool, kInline };

struct FunctionManifest {
  std::string name;                    // [A-Za-z0-9_.-]+, unique across manifests.
  std::filesystem::path library;       // Absolute: resolved against the manifest's folder.
  std::filesystem::path manifest_path;
  int concurrency = 1;
  int queue = 100;                     // Max events waiting (0 = none wait).
  Duration timeout{3000};
  Execution execution = Execution::kPool;
  std::map<std::string, std::string> env;
  std::string config_json;             // The manifest's free-form `config:` map, as JSON ("{}").
  RetryPolicy retry;
  DeadLetterSpec dead_letter;
  std::vector<TriggerSpec> triggers;
  SourceLocation location;             // Of the manifest's root node.
};

// ---- Daemon ---------------------------------------------------------------------------------

struct HttpListenerConfig {
  std::string address = "0.0.0.0";
  int port = 8080;                     // 0 = pick a free port (tests).
  bool enabled = true;

  bool operator==(const HttpListenerConfig&) const = default;
};

struct AdminListenerConfig {
  std::string address = "127.0.0.1";
  int port = 9090;
  bool enabled = true;

  bool operator==(const AdminListenerConfig&) const = default;
};

struct KafkaConfig {
  std::string brokers;                           // "host:port,host:port"; empty = no Kafka.
  std::map<std::string, std::string> properties; // librdkafka properties, passed through.

  bool operator==(const KafkaConfig&) const = default;
};

struct RedisConfig {
  std::string url;                     // redis://[user:password@]host:port/db or unix:///path.
  Duration connect_timeout{2000};
  Duration command_timeout{5000};

  bool operator==(const RedisConfig&) const = default;
};

struct LoggingConfig {
  std::string level = "info";          // trace | debug | info | warn | error | critical | off.
  std::string format = "auto";         // auto (text on a terminal, JSON otherwise) | text | json.

  bool operator==(const LoggingConfig&) const = default;
};

struct LimitsConfig {
  std::uint64_t max_body_bytes = 6ull * 1024 * 1024;
  std::uint64_t max_header_bytes = 64ull * 1024;
  int max_connections = 10000;
  Duration header_timeout{10000};
  Duration idle_timeout{60000};
  Duration shutdown_timeout{30000};

  bool operator==(const LimitsConfig&) const = default;
};

struct DaemonConfig {
  std::filesystem::path config_path;
  std::string instance;                // Stable name of this daemon instance (default: hostname).
  int workers = 0;                     // 0 = number of CPUs.
  std::filesystem::path manifests_dir; // Absolute: resolved against the config file's folder.
  std::filesystem::path state_dir;     // Absolute; default: /var/lib/switchyard.
  HttpListenerConfig http;
  AdminListenerConfig admin;
  KafkaConfig kafka;
  RedisConfig redis;
  LoggingConfig logging;
  LimitsConfig limits;
};

// Everything a daemon runs: its config and every function manifest, validated together.
struct Snapshot {
  DaemonConfig daemon;
  std::vector<FunctionManifest> functions;
};

}  // namespace switchyard::config
