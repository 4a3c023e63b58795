#pragma once

// The daemon config (switchyard.yaml) and function manifests as validated plain structs.
// Parsed once at load (config/loader.h); nothing at runtime reads YAML.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace switchyard::config {

using Duration = std::chrono::milliseconds;

// Where a value came from, for error messages at runtime ("functions.d/thumb.yaml:7:14").
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based.
  int column = 0;  // 1-based.
};

// ---- Kinds' settings ------------------------------------------------------------------------

// What a kind (a trigger kind, a runtime) parsed from its part of a manifest. The kind's own
// folder defines the concrete type (triggers/kafka/settings.h); config/ only keeps and compares
// it. Compared at a reload to tell whether a kind's triggers or a function must be rebuilt.
class Settings {
 public:
  virtual ~Settings() = default;
  virtual bool equals(const Settings& other) const = 0;
  // What the settings say in a few words, for logs and the Lambda API ("topic orders").
  virtual std::string describe() const { return {}; }
};

// Implements equals() with the concrete type's operator== (usually `= default`).
template <typename Self, typename Base = Settings>
class SettingsOf : public Base {
 public:
  bool equals(const Settings& other) const final {
    const auto* same = dynamic_cast<const Self*>(&other);
    return same != nullptr && *same == static_cast<const Self&>(*this);
  }
  // Lets the concrete type default its operator==.
  bool operator==(const SettingsOf&) const { return true; }
};

// What the Lambda API reports of a function's runtime (GetFunctionConfiguration).
struct RuntimeSummary {
  std::string handler;             // Handler; "" when the runtime has none.
  std::uint64_t memory_bytes = 0;  // MemorySize: each environment's; 0 in the daemon's process.
};

// A runtime's settings: also what a reload checks for a changed file.
class RuntimeSettings : public Settings {
 public:
  virtual RuntimeSummary summary() const { return {}; }
  // The files a function's code is loaded from; a reload loads a new version when one changed.
  virtual std::vector<std::filesystem::path> code_files() const = 0;
  // Where the code comes from, for logs and /functions ("/srv/fn/libthumb.so").
  std::string describe() const override = 0;
};

// ---- Triggers -------------------------------------------------------------------------------

struct TriggerSpec {
  std::string kind;                          // The key under `triggers:` ("kafka").
  std::shared_ptr<const Settings> settings;  // As that kind's parser read them.
  SourceLocation location;                   // Of the trigger's node in the manifest.

  // The settings as the kind's concrete type, or nullptr for a trigger of another kind.
  template <typename T>
  const T* as() const {
    return dynamic_cast<const T*>(settings.get());
  }
};

// ---- Functions ------------------------------------------------------------------------------

struct RetryPolicy {
  int attempts = 1;             // Total invocations, including the first. 1 = no retry.
  Duration backoff{100};        // Delay before the first retry; doubles each time.
  Duration max_backoff{10000};  // Cap on the delay.
  double jitter = 0.2;          // Fraction of the delay randomised (0 = none, 1 = full).

  bool operator==(const RetryPolicy&) const = default;
};

// Where a function's events go after their last failed attempt: `dead_letter: { kind: target }`.
// Also where an asynchronous invocation's record goes (`async.on_success`, `async.on_failure`),
// where the kind may also be kFunctionDestination.
struct DeadLetterSpec {
  std::string kind;    // A registered destination ("kafka_topic", "redis_list"); "" = log and
                       // count only.
  std::string target;  // The topic, stream, list or function.
  bool configured() const { return !kind.empty(); }

  bool operator==(const DeadLetterSpec&) const = default;
};

// Lambda's settings for asynchronous invocations (an HTTP request with X-Amz-Invocation-Type:
// Event, the Invoke API's InvocationType Event): `async:` in a manifest. Such invocations are
// written to the durable queue in state_dir before they are answered 202 (async/).
// Lambda's default for asynchronous invocations: two retries (MaximumRetryAttempts 2).
inline constexpr int kLambdaAsyncAttempts = 3;

struct AsyncSettings {
  // Total attempts, the first included (Lambda's MaximumRetryAttempts + 1); 0 = the function's
  // retry.attempts. A manifest that sets neither gets Lambda's default, kLambdaAsyncAttempts.
  int max_attempts = 0;
  // How long an invocation may wait in the queue, retries included, before it is given up
  // (Lambda's MaximumEventAgeInSeconds, 60 s to 6 h there).
  Duration max_event_age{std::chrono::hours(6)};
  // The bound on the function's queued invocations: past it a request is refused with 429.
  std::uint64_t queue_events = 10000;
  std::uint64_t queue_bytes = 64ull << 20;
  // Lambda's destinations: where the invocation record goes after a success, and after the
  // invocation was given up (besides the dead letter). Unset: none.
  DeadLetterSpec on_success;
  DeadLetterSpec on_failure;
  // Where the queue is kept (`async.queue.redis_stream` or `.kafka_topic`): unset, in
  // state_dir's file (this host's own); a Redis stream or a Kafka topic (kind: one of
  // kSharedQueueKinds), shared by every daemon whose function names it, so that another host
  // runs what a dead host accepted (async/shared_queue.h).
  DeadLetterSpec shared;
  // A shared queue's invocations held by a daemon that stopped answering for this long are
  // taken over by another (its consumer group's XAUTOCLAIM).
  Duration claim_after{std::chrono::seconds(60)};

  int attempts(const RetryPolicy& retry) const {
    return max_attempts > 0 ? max_attempts : retry.attempts;
  }
  bool operator==(const AsyncSettings&) const = default;
};

// The destination kind of `async.on_success: { function: name }`: the record is an asynchronous
// invocation of that function.
inline constexpr std::string_view kFunctionDestination = "function";
// The kinds of AsyncSettings::shared: `async.queue.redis_stream: key`, `.kafka_topic: topic`.
inline constexpr std::string_view kSharedQueueKinds[] = {"redis_stream", "kafka_topic"};

enum class Execution { kPool, kInline };

struct FunctionManifest {
  std::string name;  // [A-Za-z0-9_.-]+, unique across manifests.
  std::filesystem::path manifest_path;
  std::string runtime = "native";               // A registered runtime: how the function runs.
  std::shared_ptr<const RuntimeSettings> code;  // As that runtime's parser read them.
  int concurrency = 1;
  int queue = 100;  // Max events waiting (0 = none wait).
  Duration timeout{3000};
  Execution execution = Execution::kPool;
  std::map<std::string, std::string> env;
  std::string config_json;  // The manifest's free-form `config:` map, as JSON ("{}").
  RetryPolicy retry;
  DeadLetterSpec dead_letter;
  AsyncSettings async;
  std::vector<TriggerSpec> triggers;
  SourceLocation location;  // Of the manifest's root node.

  // The destinations a trigger kind's writer serves: the dead letter, the asynchronous
  // destinations that are not functions, and a shared asynchronous queue.
  std::vector<const DeadLetterSpec*> written_destinations() const;
};

// ---- Daemon ---------------------------------------------------------------------------------

struct HttpListenerConfig {
  std::string address = "0.0.0.0";
  int port = 8080;  // 0 = pick a free port (tests).
  bool enabled = true;

  bool operator==(const HttpListenerConfig&) const = default;
};

// An access key of the admin listener's Lambda API (requests signed with Signature Version 4).
struct AdminKey {
  std::string access_key_id;
  std::string secret;                  // Read from `secret_env` or `secret_file` at load.
  std::vector<std::string> functions;  // The functions it may invoke; empty: every one.

  bool may_invoke(const std::string& function) const;
  bool operator==(const AdminKey&) const = default;
};

struct AdminListenerConfig {
  std::string address = "127.0.0.1";
  int port = 9090;
  bool enabled = true;
  // With keys, every Lambda API request and /functions must be signed by one of them. Without,
  // the listener binds only to loopback unless `insecure` says otherwise.
  std::vector<AdminKey> keys;
  bool insecure = false;

  bool authenticated() const { return !keys.empty(); }

  bool operator==(const AdminListenerConfig&) const = default;
};

struct KafkaConfig {
  std::string brokers;                            // "host:port,host:port"; empty = no Kafka.
  std::map<std::string, std::string> properties;  // librdkafka properties, passed through.

  bool operator==(const KafkaConfig&) const = default;
};

struct RedisConfig {
  std::string url;  // redis://[user:password@]host:port/db or unix:///path.
  Duration connect_timeout{2000};
  Duration command_timeout{5000};

  bool operator==(const RedisConfig&) const = default;
};

struct LoggingConfig {
  std::string level = "info";   // trace | debug | info | warn | error | critical | off.
  std::string format = "auto";  // auto (text on a terminal, JSON otherwise) | text | json.

  bool operator==(const LoggingConfig&) const = default;
};

struct LimitsConfig {
  std::uint64_t max_body_bytes = 6ull * 1024 * 1024;
  std::uint64_t max_header_bytes = 64ull * 1024;
  std::uint64_t max_target_bytes = 8ull * 1024;
  int max_connections = 10000;
  Duration header_timeout{10000};
  Duration idle_timeout{60000};
  Duration shutdown_timeout{30000};
  // A cap on the durable queue of asynchronous invocations (state_dir/async-queue.db); past it
  // they are refused with 503 as on a full disk. 0 = none (the disk is the limit).
  std::uint64_t max_async_queue_file = 0;
  // Free space the durable queue keeps on state_dir's filesystem: an asynchronous invocation
  // that would leave less is refused with 503, so that finished ones can always be removed
  // (removals need a little room too) and the queue recovers once they have run. 0 = none.
  std::uint64_t async_queue_reserve = 64ull << 20;

  bool operator==(const LimitsConfig&) const = default;
};

struct DaemonConfig {
  std::filesystem::path config_path;
  std::string instance;              // Stable name of this daemon instance (default: hostname).
  std::string region = "us-east-1";  // AWS_REGION for execution environments, and ARNs.
  std::string account_id = "000000000000";  // The account in the ARNs the daemon makes up.
  int workers = 0;                          // 0 = number of CPUs.
  std::filesystem::path manifests_dir;      // Absolute: resolved against the config file's folder.
  std::filesystem::path state_dir;          // Absolute; default: /var/lib/switchyard.
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
