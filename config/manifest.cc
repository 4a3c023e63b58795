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
constexpr Duration kMaxDelay = std::chrono::hours(24);

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

// Returns what is wrong with an HTTP route template, or an empty string.
std::string http_path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return "must start with '/'";
  }
  for (char c : path) {
    if (c == '?' || c == '#' || std::isspace(static_cast<unsigned char>(c))) {
      return std::string("must not contain '") + (c == '?' || c == '#' ? c : ' ') +
             "' (routes match the path only)";
    }
  }
  std::set<std::string, std::less<>> parameters;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view segment = path.substr(start, end - start);
    bool last = end == path.size();
    if (segment.empty() && !last) {
      return "must not contain an empty segment (\"//\")";
    }
    bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
    if (has_brace) {
      if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}') {
        return "has a malformed parameter \"" + std::string(segment) +
               "\": a parameter is a whole segment, {name} or {name+}";
      }
      std::string_view name = segment.substr(1, segment.size() - 2);
      bool greedy = name.back() == '+';
      if (greedy) {
        name.remove_suffix(1);
      }
      if (!is_identifier(name)) {
        return "has a malformed parameter \"" + std::string(segment) +
               "\": names are letters, digits and _";
      }
      if (greedy && !last) {
        return "has a greedy parameter \"" + std::string(segment) +
               "\" that is not the last segment";
      }
      if (!parameters.emplace(name).second) {
        return "uses the parameter name \"" + std::string(name) + "\" twice";
      }
    }
    start = end + 1;
  }
  return {};
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

void parse_dead_letter(FileReader& file, const YAML::Node& node, DeadLetterSpec& out,
                       ManifestMarks& marks) {
  MapReader dead_letter(file, node, "dead_letter", "dead_letter");
  if (!dead_letter.valid()) {
    return;
  }
  marks.dead_letter = file.location(node);
  dead_letter.allow_keys({"kafka_topic", "redis_stream", "redis_list"});
  dead_letter.read_string("kafka_topic", out.kafka_topic, false);
  dead_letter.read_string("redis_stream", out.redis_stream, false);
  dead_letter.read_string("redis_list", out.redis_list, false);
  int given = static_cast<int>(dead_letter.has("kafka_topic")) +
              static_cast<int>(dead_letter.has("redis_stream")) +
              static_cast<int>(dead_letter.has("redis_list"));
  if (given != 1) {
    file.fail(node,
              "dead_letter needs exactly one of kafka_topic, redis_stream or redis_list (got " +
                  std::to_string(given) + ")");
  }
}

void parse_http(MapReader& body, HttpTriggerSpec& out) {
  body.allow_keys({"path", "methods", "payload"});
  if (body.require("path") && body.read_string("path", out.path)) {
    std::string problem = http_path_problem(out.path);
    if (!problem.empty()) {
      body.file_reader().fail(body.get("path"),
                              body.name("path") + " \"" + out.path + "\" " + problem);
    }
  }
  YAML::Node methods = body.get("methods");
  if (methods.IsDefined()) {
    static constexpr std::string_view kMethods[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                                    "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    if (!methods.IsSequence()) {
      body.file_reader().fail(methods, body.name("methods") +
                                           " must be a list such as [GET, POST] (got " +
                                           describe(methods) + ")");
    } else {
      for (std::size_t i = 0; i < methods.size(); ++i) {
        std::string name = body.name("methods") + "[" + std::to_string(i) + "]";
        std::optional<std::string> method =
            body.file_reader().scalar(methods[i], name, "an HTTP method");
        if (!method) {
          continue;
        }
        std::transform(method->begin(), method->end(), method->begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(std::begin(kMethods), std::end(kMethods), *method) == std::end(kMethods)) {
          body.file_reader().fail(methods[i],
                                  name + " \"" + methods[i].Scalar() +
                                      "\" is not an HTTP method (expected GET, HEAD, "
                                      "POST, PUT, DELETE, PATCH, OPTIONS, CONNECT or TRACE)");
          continue;
        }
        if (std::find(out.methods.begin(), out.methods.end(), *method) == out.methods.end()) {
          out.methods.push_back(std::move(*method));
        }
      }
    }
  }
  body.read_choice("payload", {"", "apigw-v2"}, out.payload);
}

void parse_kafka(MapReader& body, const std::string& function_name, KafkaTriggerSpec& out) {
  body.allow_keys({"topic", "group_id", "ordering", "batch", "batch_window", "payload", "start"});
  if (body.require("topic")) {
    body.read_string("topic", out.topic, false);
  }
  out.group_id = "switchyard." + function_name;
  body.read_string("group_id", out.group_id, false);
  body.read_choice("ordering", {"partition", "key", "none"}, out.ordering);
  body.read_int("batch", 1, 10000, out.batch);
  body.read_duration("batch_window", Duration(0), kMaxDelay, out.batch_window);
  body.read_choice("payload", {"", "lambda-kafka"}, out.payload);
  body.read_choice("start", {"earliest", "latest"}, out.start);
}

void parse_redis(MapReader& body, RedisTriggerSpec& out) {
  body.allow_keys(
      {"stream", "list", "group", "consumer", "batch", "batch_window", "block", "claim_after"});
  body.read_string("stream", out.stream, false);
  body.read_string("list", out.list, false);
  bool stream = body.has("stream");
  bool list = body.has("list");
  if (body.valid() && stream == list) {
    body.file_reader().fail(body.node(), body.prefix() +
                                             " needs exactly one of stream or list (got " +
                                             (stream ? "both" : "neither") + ")");
  }
  if (list) {
    // These only mean something for a stream's consumer group; ignoring them would hide a typo'd
    // "list:" that was meant to be "stream:".
    for (std::string_view key : {"group", "consumer", "claim_after"}) {
      if (body.has(key)) {
        body.file_reader().fail(body.get(key),
                                body.name(key) + " applies only to redis streams, not lists");
      }
    }
  }
  body.read_string("group", out.group, false);
  body.read_string("consumer", out.consumer, false);
  body.read_int("batch", 1, 10000, out.batch);
  body.read_duration("batch_window", Duration(0), kMaxDelay, out.batch_window);
  body.read_duration("block", Duration(1), std::chrono::minutes(10), out.block);
  body.read_duration("claim_after", Duration(1), kMaxDelay, out.claim_after);
}

void parse_cron(MapReader& body, CronTriggerSpec& out) {
  body.allow_keys({"schedule", "timezone", "overlap", "misfire", "jitter", "lock", "payload"});
  if (body.require("schedule")) {
    body.read_string("schedule", out.schedule, false);
  }
  body.read_string("timezone", out.timezone, false);
  body.read_choice("overlap", {"allow", "skip", "queue"}, out.overlap);
  body.read_choice("misfire", {"skip", "run_once"}, out.misfire);
  body.read_duration("jitter", Duration(0), kMaxDelay, out.jitter);
  body.read_choice("lock", {"", "redis"}, out.lock);
  body.read_string("payload", out.payload);
}

void parse_triggers(FileReader& file, const YAML::Node& node, const std::string& function_name,
                    std::vector<TriggerSpec>& out) {
  if (!node.IsSequence()) {
    file.fail(node, "triggers must be a list (got " + describe(node) + ")");
    return;
  }
  static constexpr std::string_view kExpected = "http, kafka, redis or cron";
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    std::string prefix = "triggers[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      file.fail(item, prefix + " must be a mapping with one key, " + std::string(kExpected) +
                          " (got " + describe(item) + ")");
      continue;
    }
    if (item.size() != 1) {
      std::string keys;
      for (const auto& entry : item) {
        keys += keys.empty() ? "" : ", ";
        keys += describe(entry.first);
      }
      file.fail(item, prefix + " must have exactly one key, " + std::string(kExpected) + " (got " +
                          (keys.empty() ? std::string("none") : keys) + ")");
      continue;
    }
    const auto entry = *item.begin();
    std::string kind = entry.first.IsScalar() ? entry.first.Scalar() : describe(entry.first);
    TriggerSpec trigger;
    trigger.location = file.location(item);
    MapReader body(file, entry.second, prefix + "." + kind, kind + " trigger");
    if (kind == "http") {
      parse_http(body, trigger.spec.emplace<HttpTriggerSpec>());
    } else if (kind == "kafka") {
      parse_kafka(body, function_name, trigger.spec.emplace<KafkaTriggerSpec>());
    } else if (kind == "redis") {
      parse_redis(body, trigger.spec.emplace<RedisTriggerSpec>());
    } else if (kind == "cron") {
      parse_cron(body, trigger.spec.emplace<CronTriggerSpec>());
    } else {
      std::string message =
          "unknown trigger kind \"" + kind + "\" (expected " + std::string(kExpected);
      if (auto suggestion = nearest(kind, {"http", "kafka", "redis", "cron"})) {
        message += "; did you mean \"" + std::string(*suggestion) + "\"?";
      }
      file.fail(entry.first, message + ")");
      continue;
    }
    out.push_back(std::move(trigger));
  }
}

void parse_library(FileReader& file, MapReader& root, const fs::path& manifest_path,
                   FunctionManifest& out) {
  std::string text;
  if (!root.require("library") || !root.read_string("library", text, false)) {
    return;
  }
  fs::path library(text);
  fs::path joined = library.is_absolute() ? library : manifest_path.parent_path() / library;
  std::error_code error;
  fs::path absolute = fs::absolute(joined, error);
  if (error) {
    absolute = joined;
  }
  fs::path resolved = fs::weakly_canonical(absolute, error);
  if (error) {
    resolved = absolute.lexically_normal();
  }
  out.library = resolved;
  fs::file_status status = fs::status(resolved, error);
  if (!fs::exists(status)) {
    file.fail(root.get("library"),
              "library \"" + text + "\" does not exist (resolved to " + resolved.string() + ")");
  } else if (!fs::is_regular_file(status)) {
    file.fail(root.get("library"), "library \"" + text + "\" is not a regular file (resolved to " +
                                       resolved.string() + ")");
  }
}

}  // namespace

void parse_manifest_text(std::string_view yaml, const fs::path& manifest_path, const EnvLookup& env,
                         FunctionManifest& out, ManifestMarks& marks,
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
  root.allow_keys({"name", "library", "concurrency", "queue", "timeout", "execution", "env",
                   "config", "retry", "dead_letter", "triggers"});

  if (root.require("name") && root.read_string("name", out.name)) {
    YAML::Node name = root.get("name");
    marks.name = file.location(name);
    if (out.name.empty() || out.name.size() > kMaxNameLength ||
        !std::all_of(out.name.begin(), out.name.end(), is_name_char)) {
      file.fail(name, "name \"" + out.name + "\" must be 1 to " + std::to_string(kMaxNameLength) +
                          " letters, digits, '_', '.' or '-'");
    }
  }
  parse_library(file, root, manifest_path, out);
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
    parse_dead_letter(file, dead_letter, out.dead_letter, marks);
  }
  if (YAML::Node triggers = root.get("triggers"); triggers.IsDefined()) {
    parse_triggers(file, triggers, out.name, out.triggers);
  }
}

}  // namespace switchyard::config::detail
