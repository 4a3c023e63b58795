// Parsing and validation of one function manifest (functions.d/<name>.yaml).

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <system_error>

#include "config/reader.h"
#include "config/units.h"

namespace switchyard::config::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxNameLength = 64;
// Deeper `config:` values are almost certainly a mistake (or an attack on the recursion).
constexpr int kMaxConfigDepth = 64;
constexpr Duration kMaxTimeout = std::chrono::minutes(15);

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool is_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text.front()))) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// ---- config: as JSON ------------------------------------------------------------------------

bool is_plain_int(std::string_view text) {
  std::size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  return i < text.size() &&
         std::all_of(text.begin() + i, text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_plain_float(std::string_view text) {
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, the YAML 1.2 core schema's float.
  std::size_t i = 0;
  auto digits = [&]() {
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    return i - start;
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    ++i;
  }
  std::size_t whole = digits();
  std::size_t fraction = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (whole == 0 && fraction == 0) {
    return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == text.size();
}

// Writes a scalar, typed the way the YAML core schema would type it when it was written plain.
void write_scalar(const std::string& text, bool plain, JsonWriter& writer) {
  if (plain) {
    if (text == "null" || text == "Null" || text == "NULL" || text == "~" || text.empty()) {
      writer.Null();
      return;
    }
    if (text == "true" || text == "True" || text == "TRUE") {
      writer.Bool(true);
      return;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      writer.Bool(false);
      return;
    }
    if (is_plain_int(text)) {
      std::string_view digits = text;
      if (digits.front() == '+') {
        digits.remove_prefix(1);
      }
      std::int64_t value = 0;
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (error == std::errc() && end == digits.data() + digits.size()) {
        writer.Int64(value);
        return;
      }
    }
    if (is_plain_float(text)) {
      double value = std::strtod(text.c_str(), nullptr);
      if (std::isfinite(value)) {
        writer.Double(value);
        return;
      }
    }
  }
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_json(FileReader& file, const YAML::Node& node, const std::string& name, int depth,
                JsonWriter& writer) {
  if (depth > kMaxConfigDepth) {
    file.fail(node,
              name + " is nested more than " + std::to_string(kMaxConfigDepth) + " levels deep");
    writer.Null();
    return;
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      writer.StartObject();
      std::set<std::string, std::less<>> seen;
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          file.fail(entry.first,
                    "keys in " + name + " must be strings (got " + describe(entry.first) + ")");
          continue;
        }
        const std::string& key = entry.first.Scalar();
        if (!seen.insert(key).second) {
          file.fail(entry.first, "duplicate key \"" + key + "\" in " + name);
          continue;
        }
        writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        write_json(file, entry.second, name + "." + key, depth + 1, writer);
      }
      writer.EndObject();
      return;
    }
    case YAML::NodeType::Sequence: {
      writer.StartArray();
      for (std::size_t i = 0; i < node.size(); ++i) {
        write_json(file, node[i], name + "[" + std::to_string(i) + "]", depth + 1, writer);
      }
      writer.EndArray();
      return;
    }
    case YAML::NodeType::Scalar: {
      std::optional<std::string> text = file.scalar(node, name, "a value");
      // "?" is yaml-cpp's tag for a plain (unquoted, untagged) scalar.
      write_scalar(text.value_or(std::string()), node.Tag() == "?", writer);
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      writer.Null();
      return;
  }
}

// ---- Sections -------------------------------------------------------------------------------

void parse_retry(FileReader& file, const YAML::Node& node, RetryPolicy& out) {
  MapReader retry(file, node, "retry", "retry");
  retry.allow_keys({"attempts", "backoff", "max_backoff", "jitter"});
  retry.read_int("attempts", 1, 100, out.attempts);
  bool backoff_set = retry.read_duration("backoff", Duration(1), kMaxDelay, out.backoff);
  bool max_set = retry.read_duration("max_backoff", Duration(1), kMaxDelay, out.max_backoff);
  if (max_set && out.max_backoff < out.backoff) {
    file.fail(retry.get("max_backoff"), "retry.max_backoff must be at least retry.backoff (" +
                                            format_duration(out.backoff) + "), got " +
                                            format_duration(out.max_backoff));
  } else if (backoff_set && !max_set && out.max_backoff < out.backoff) {
    // A long first delay with the default cap would silently be cut short; raise the cap.
    out.max_backoff = out.backoff;
  }
  retry.read_double("jitter", 0.0, 1.0, out.jitter);
}

// A destination: `<what>: { <key>: <target> }`, exactly one of `keys`.
void parse_destination(FileReader& file, const YAML::Node& node, const std::string& what,
                       const std::vector<std::string_view>& keys, DeadLetterSpec& out) {
  MapReader destination(file, node, what, what);
  if (!destination.valid()) {
    return;
  }
  destination.allow_keys(keys);
  int given = 0;
  for (std::string_view key : keys) {
    if (destination.has(key)) {
      ++given;
      out.kind = std::string(key);
      destination.read_string(key, out.target, false);
    }
  }
  if (given != 1) {
    file.fail(node, what + " needs exactly one of " + join_choices(keys) + " (got " +
                        std::to_string(given) + ")");
  }
}

void parse_async(FileReader& file, const YAML::Node& node, const Kinds& kinds, AsyncSettings& out,
                 ManifestMarks& marks) {
  MapReader async(file, node, "async", "async");
  async.allow_keys({"max_attempts", "max_event_age", "queue", "on_success", "on_failure"});
  async.read_int("max_attempts", 1, 100, out.max_attempts);
  async.read_duration("max_event_age", Duration(1000), std::chrono::hours(6), out.max_event_age);
  if (YAML::Node queue = async.get("queue"); queue.IsDefined()) {
    MapReader bound(file, queue, "async.queue", "async.queue");
    bound.allow_keys(
        {"events", "bytes", kSharedQueueKinds[0], kSharedQueueKinds[1], "claim_after"});
    int events = 0;
    if (bound.read_int("events", 1, 10'000'000, events)) {
      out.queue_events = static_cast<std::uint64_t>(events);
    }
    bound.read_size("bytes", 1024, 1ull << 40, out.queue_bytes);
    for (std::string_view kind : kSharedQueueKinds) {
      if (!bound.has(kind)) {
        continue;
      }
      if (out.shared.configured()) {
        file.fail(bound.get(kind), "async.queue takes one of redis_stream and kafka_topic");
        break;
      }
      marks.shared = file.location(bound.get(kind));
      out.shared.kind = std::string(kind);
      bound.read_string(kind, out.shared.target, false);
    }
    bound.read_duration("claim_after", Duration(1000), std::chrono::hours(1), out.claim_after);
  }
  // A function, or anywhere a dead letter can go.
  std::vector<std::string_view> keys = kinds.dead_letter_keys();
  keys.insert(keys.begin(), kFunctionDestination);
  if (YAML::Node on_success = async.get("on_success"); on_success.IsDefined()) {
    marks.on_success = file.location(on_success);
    parse_destination(file, on_success, "async.on_success", keys, out.on_success);
  }
  if (YAML::Node on_failure = async.get("on_failure"); on_failure.IsDefined()) {
    marks.on_failure = file.location(on_failure);
    parse_destination(file, on_failure, "async.on_failure", keys, out.on_failure);
  }
}

void parse_dead_letter(FileReader& file, const YAML::Node& node, const Kinds& kinds,
                       DeadLetterSpec& out, ManifestMarks& marks) {
  marks.dead_letter = file.location(node);
  parse_destination(file, node, "dead_letter", kinds.dead_letter_keys(), out);
}

void parse_triggers(FileReader& file, const YAML::Node& node, const Kinds& kinds,
                    const ManifestScope& scope, std::vector<TriggerSpec>& out) {
  if (!node.IsSequence()) {
    file.fail(node, "triggers must be a list (got " + describe(node) + ")");
    return;
  }
  std::vector<std::string_view> keys = kinds.trigger_keys();
  std::string expected = join_choices(keys);
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    std::string prefix = "triggers[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      file.fail(item, prefix + " must be a mapping with one key, " + expected + " (got " +
                          describe(item) + ")");
      continue;
    }
    if (item.size() != 1) {
      std::string found;
      for (const auto& entry : item) {
        found += found.empty() ? "" : ", ";
        found += describe(entry.first);
      }
      file.fail(item, prefix + " must have exactly one key, " + expected + " (got " +
                          (found.empty() ? std::string("none") : found) + ")");
      continue;
    }
    const auto entry = *item.begin();
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : describe(entry.first);
    const TriggerKind* kind = kinds.trigger(key);
    if (kind == nullptr) {
      std::string message = "unknown trigger kind \"" + key + "\" (expected " + expected;
      if (auto suggestion = nearest(key, keys)) {
        message += "; did you mean \"" + std::string(*suggestion) + "\"?";
      }
      file.fail(entry.first, message + ")");
      continue;
    }
    MapReader body(file, entry.second, prefix + "." + key, key + " trigger");
    TriggerSpec trigger;
    trigger.kind = key;
    trigger.location = file.location(item);
    trigger.settings = kind->parse(body, scope);
    if (trigger.settings == nullptr) {
      file.fail(item, prefix + ": the " + key + " trigger kind read nothing from it");
      continue;
    }
    out.push_back(std::move(trigger));
  }
}

}  // namespace

void parse_manifest_text(std::string_view yaml, const fs::path& manifest_path, const Kinds& kinds,
                         const EnvLookup& env, FunctionManifest& out, ManifestMarks& marks,
                         std::vector<ConfigError>& errors) {
  FileReader file(manifest_path.string(), env, errors);
  out.manifest_path = manifest_path;
  out.config_json = "{}";
  std::optional<YAML::Node> document = load_document(yaml, file, "a function manifest");
  if (!document) {
    return;
  }
  out.location = file.location(*document);
  MapReader root(file, *document, "", "function manifest");
  if (!root.valid()) {
    return;
  }
  // The runtime decides which other keys the manifest may have.
  const RuntimeKind* runtime = nullptr;
  std::vector<std::string_view> runtimes = kinds.runtime_keys();
  if (!root.has("runtime") || root.read_choice("runtime", runtimes, out.runtime)) {
    runtime = kinds.runtime(out.runtime);
    if (runtime == nullptr) {
      file.fail(*document, "runtime \"" + out.runtime + "\" is not built into this switchyard");
    }
  }
  std::vector<std::string_view> keys = {"name", "runtime"};
  if (runtime != nullptr) {
    keys.insert(keys.end(), runtime->keys.begin(), runtime->keys.end());
  } else {
    // The runtime is unknown and was reported: accept every runtime's keys rather than add an
    // error for each of them.
    for (std::string_view key : runtimes) {
      const std::vector<std::string>& own = kinds.runtime(key)->keys;
      keys.insert(keys.end(), own.begin(), own.end());
    }
  }
  for (std::string_view key : {"concurrency", "queue", "timeout", "execution", "env", "config",
                               "retry", "dead_letter", "async", "triggers"}) {
    keys.push_back(key);
  }
  root.allow_keys(keys);

  if (root.require("name") && root.read_string("name", out.name)) {
    YAML::Node name = root.get("name");
    marks.name = file.location(name);
    if (out.name.empty() || out.name.size() > kMaxNameLength ||
        !std::all_of(out.name.begin(), out.name.end(), is_name_char)) {
      file.fail(name, "name \"" + out.name + "\" must be 1 to " + std::to_string(kMaxNameLength) +
                          " letters, digits, '_', '.' or '-'");
    }
  }
  // The runtime was read first: its handlers decide the payload a trigger gives by default.
  ManifestScope scope{out.name, manifest_path, runtime != nullptr && runtime->lambda_events};
  if (runtime != nullptr) {
    out.code = runtime->parse(root, scope);
    if (out.code == nullptr) {
      file.fail(*document, "runtime \"" + out.runtime + "\" read nothing from this manifest");
    }
  }
  root.read_int("concurrency", 1, 10000, out.concurrency);
  root.read_int("queue", 0, 1000000, out.queue);
  root.read_duration("timeout", Duration(1), kMaxTimeout, out.timeout);
  std::string execution;
  if (root.read_choice("execution", {"pool", "inline"}, execution)) {
    out.execution = execution == "inline" ? Execution::kInline : Execution::kPool;
  }
  if (root.read_string_map("env", out.env)) {
    for (const auto& entry : root.get("env")) {
      if (entry.first.IsScalar() && !is_identifier(entry.first.Scalar())) {
        file.fail(entry.first, "env: \"" + entry.first.Scalar() +
                                   "\" is not a valid variable name (letters, digits and _, "
                                   "not starting with a digit)");
      }
    }
  }
  YAML::Node config = root.get("config");
  if (config.IsDefined()) {
    if (!config.IsMap()) {
      file.fail(config, "config must be a mapping (got " + describe(config) + ")");
    } else {
      rapidjson::StringBuffer buffer;
      JsonWriter writer(buffer);
      write_json(file, config, "config", 0, writer);
      out.config_json.assign(buffer.GetString(), buffer.GetSize());
    }
  }
  if (YAML::Node retry = root.get("retry"); retry.IsDefined()) {
    parse_retry(file, retry, out.retry);
  }
  if (YAML::Node dead_letter = root.get("dead_letter"); dead_letter.IsDefined()) {
    parse_dead_letter(file, dead_letter, kinds, out.dead_letter, marks);
  }
  if (YAML::Node async = root.get("async"); async.IsDefined()) {
    parse_async(file, async, kinds, out.async, marks);
  }
  // Neither async.max_attempts nor retry.attempts: asynchronous invocations are retried as
  // Lambda retries them, while other events keep the default retry policy.
  if (out.async.max_attempts == 0) {
    const YAML::Node retry = root.get("retry");
    const bool retry_attempts = retry.IsMap() && retry["attempts"].IsDefined();
    if (!retry_attempts) {
      out.async.max_attempts = kLambdaAsyncAttempts;
    }
  }
  if (YAML::Node triggers = root.get("triggers"); triggers.IsDefined()) {
    parse_triggers(file, triggers, kinds, scope, out.triggers);
  }
}

}  // namespace switchyard::config::detail

namespace switchyard::config {

std::vector<const DeadLetterSpec*> FunctionManifest::written_destinations() const {
  std::vector<const DeadLetterSpec*> out;
  for (const DeadLetterSpec* destination :
       {&dead_letter, &async.on_success, &async.on_failure, &async.shared}) {
    if (destination->configured() && destination->kind != kFunctionDestination) {
      out.push_back(destination);
    }
  }
  return out;
}

}  // namespace switchyard::config
