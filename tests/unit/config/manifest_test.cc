// Single manifests through parse_manifest(): every kind of mistake, with its exact message.

#include <doctest/doctest.h>

#include "config/loader.h"
#include "config_fixture.h"

namespace switchyard::config {
namespace {

using testing::ConfigFixture;
using testing::kFlowHint;
using Strings = std::vector<std::string>;

constexpr const char* kHeader = "name: thumb\nlibrary: lib/libthumb.so\n";

class ManifestFixture : public ConfigFixture {
 public:
  ManifestFixture() { write_defaults(); }

  std::string file() const { return path("functions.d/thumb.yaml"); }

  // "<file>:line:column: message".
  std::string at(int line, int column, const std::string& message) const {
    return file() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
  }

  Strings errors(const std::string& yaml, FunctionManifest* out = nullptr) const {
    return errors_with(kinds(), yaml, out);
  }

  // The same, parsed with other kinds than the daemon's.
  Strings errors_with(const Kinds& with, const std::string& yaml,
                      FunctionManifest* out = nullptr) const {
    FunctionManifest manifest;
    std::vector<ConfigError> errors =
        parse_manifest(yaml, file(), with, out ? *out : manifest, env());
    Strings text;
    for (const ConfigError& error : errors) {
      text.push_back(error.to_string());
    }
    return text;
  }
};

// A runtime only these tests register, whose handlers receive what AWS Lambda sends (as the
// coming execution environments' will): `runtime: lambda-test`, no keys of its own.
struct LambdaTestSettings final : SettingsOf<LambdaTestSettings, RuntimeSettings> {
  std::vector<std::filesystem::path> code_files() const override { return {}; }
  std::string describe() const override { return "lambda-test"; }
  bool operator==(const LambdaTestSettings&) const = default;
};

// The daemon's kinds plus `lambda-test`.
Kinds with_lambda_runtime() {
  Kinds with = kinds();
  RuntimeKind runtime;
  runtime.key = "lambda-test";
  runtime.parse = [](MapReader&, const ManifestScope&) {
    return std::make_shared<LambdaTestSettings>();
  };
  runtime.lambda_events = true;
  REQUIRE(with.add(std::move(runtime)).ok());
  return with;
}

// One trigger of each kind, with `extra` added to each mapping ("" or ", payload: x").
std::string every_trigger(const std::string& extra) {
  return "triggers:\n"
         "  - http: { path: /a" +
         extra +
         " }\n"
         "  - kafka: { topic: t" +
         extra +
         " }\n"
         "  - redis: { stream: s" +
         extra +
         " }\n"
         "  - redis: { list: l" +
         extra +
         " }\n"
         "  - cron: { schedule: \"*/5 * * * *\"" +
         extra + " }\n";
}

// The payload of every trigger of `m`, in order.
Strings payloads(const FunctionManifest& m) {
  Strings out;
  for (const TriggerSpec& trigger : m.triggers) {
    if (const auto* http = trigger.as<triggers::http::HttpTriggerSettings>()) {
      out.push_back(http->payload);
    } else if (const auto* kafka = trigger.as<triggers::kafka::KafkaTriggerSettings>()) {
      out.push_back(kafka->payload);
    } else if (const auto* redis = trigger.as<triggers::redis::RedisTriggerSettings>()) {
      out.push_back(redis->payload);
    } else if (const auto* cron = trigger.as<triggers::cron::CronTriggerSettings>()) {
      out.push_back(cron->payload);
    }
  }
  return out;
}

TEST_CASE("a minimal manifest gets the documented defaults") {
  ManifestFixture f;
  FunctionManifest m;
  REQUIRE(f.errors(kHeader, &m) == Strings{});
  CHECK(m.name == "thumb");
  CHECK(functions::native_library(m) == f.dir() / "functions.d/lib/libthumb.so");
  CHECK(m.manifest_path == f.file());
  CHECK(m.concurrency == 1);
  CHECK(m.queue == 100);
  CHECK(m.timeout == Duration(3000));
  CHECK(m.execution == Execution::kPool);
  CHECK(m.config_json == "{}");
  CHECK(m.retry.attempts == 1);
  CHECK_FALSE(m.dead_letter.configured());
  CHECK(m.triggers.empty());
  CHECK(m.location.line == 1);
  CHECK(m.location.column == 1);
}

TEST_CASE("unknown keys are reported at the key, with the nearest valid key") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "concurency: 8\n") ==
        Strings{f.at(3, 1,
                     "unknown key \"concurency\" in function manifest (did you mean "
                     "\"concurrency\"?)")});
  CHECK(f.errors(std::string(kHeader) + "retry: { attempts: 2, bakoff: 1s }\n") ==
        Strings{f.at(3, 23, "unknown key \"bakoff\" in retry (did you mean \"backoff\"?)")});
  CHECK(
      f.errors(std::string(kHeader) + "colour: blue\n") ==
      Strings{f.at(3, 1,
                   "unknown key \"colour\" in function manifest (expected name, runtime, library, "
                   "isolation, memory, init_timeout, min_environments, idle_timeout, "
                   "max_invocations, concurrency, queue, timeout, execution, env, config, retry, "
                   "dead_letter, async or "
                   "triggers)")});
}

TEST_CASE("a key given twice is an error") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "queue: 1\nqueue: 2\n") ==
        Strings{f.at(4, 1, "duplicate key \"queue\" in function manifest (first at line 3)")});
}

TEST_CASE("wrong types are reported with what was expected and what was found") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "concurrency: abc\n") ==
        Strings{f.at(3, 14, "concurrency must be an integer (got \"abc\")")});
  CHECK(f.errors(std::string(kHeader) + "concurrency: [1, 2]\n") ==
        Strings{f.at(3, 14, "concurrency must be an integer (got a list)")});
  CHECK(f.errors(std::string(kHeader) + "queue: 1.5\n") ==
        Strings{f.at(3, 8, "queue must be an integer (got \"1.5\")")});
  CHECK(f.errors(std::string(kHeader) + "retry: 3\n") ==
        Strings{f.at(3, 8, "retry must be a mapping (got \"3\")")});
  CHECK(f.errors(std::string(kHeader) + "env: { A: { b: c } }\n") ==
        Strings{f.at(3, 11, "env.A must be a string (got a mapping)")});
  CHECK(f.errors(std::string(kHeader) + "triggers: { http: { path: / } }\n") ==
        Strings{f.at(3, 11, "triggers must be a list (got a mapping)")});
  CHECK(f.errors("- name: thumb\n") ==
        Strings{f.at(1, 1, "function manifest must be a mapping (got a list)")});
}

TEST_CASE("impossible values are reported with the allowed range") {
  ManifestFixture f;
  CHECK(f.errors("name: thumb\nlibrary: lib/libthumb.so\n\n\n\n\nconcurrency: 0\n") ==
        Strings{f.at(7, 14, "concurrency must be at least 1 (got 0)")});
  CHECK(f.errors(std::string(kHeader) + "concurrency: -3\n") ==
        Strings{f.at(3, 14, "concurrency must be at least 1 (got -3)")});
  CHECK(f.errors(std::string(kHeader) + "queue: 99999999999999999999\n") ==
        Strings{f.at(3, 8, "queue must be at most 1000000 (got 99999999999999999999)")});
  CHECK(f.errors(std::string(kHeader) + "timeout: 20m\n") ==
        Strings{f.at(3, 10, "timeout must be at most 15m (got 20m)")});
  CHECK(f.errors(std::string(kHeader) + "timeout: 0\n") ==
        Strings{f.at(3, 10, "timeout must be greater than 0 (got 0)")});
  CHECK(f.errors(std::string(kHeader) + "execution: threads\n") ==
        Strings{f.at(3, 12, "execution must be one of pool or inline (got \"threads\")")});
  CHECK(f.errors(std::string(kHeader) + "retry: { attempts: 0, jitter: 1.5 }\n") ==
        Strings{f.at(3, 20, "retry.attempts must be at least 1 (got 0)"),
                f.at(3, 31, "retry.jitter must be between 0 and 1 (got 1.5)")});
  CHECK(f.errors(std::string(kHeader) + "retry: { backoff: 2s, max_backoff: 1s }\n") ==
        Strings{f.at(3, 36, "retry.max_backoff must be at least retry.backoff (2s), got 1s")});
  CHECK(
      f.errors("name: \"thumb nail\"\nlibrary: lib/libthumb.so\n") ==
      Strings{f.at(1, 7, "name \"thumb nail\" must be 1 to 64 letters, digits, '_', '.' or '-'")});
  CHECK(f.errors(std::string(kHeader) + "env: { 1BAD: x }\n") ==
        Strings{f.at(3, 8,
                     "env: \"1BAD\" is not a valid variable name (letters, digits and _, not "
                     "starting with a digit)")});
}

TEST_CASE("bad durations say what a duration looks like") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "timeout: 5x\n") ==
        Strings{f.at(3, 10,
                     "timeout: invalid duration \"5x\": expected a number followed by ms, s, m "
                     "or h (e.g. 250ms, 5s)")});
  CHECK(f.errors(std::string(kHeader) + "timeout: 5\n") ==
        Strings{f.at(3, 10,
                     "timeout: invalid duration \"5\": missing unit; expected a number followed "
                     "by ms, s, m or h (e.g. 250ms, 5s)")});
}

TEST_CASE("missing required keys are reported at the mapping") {
  ManifestFixture f;
  CHECK(f.errors("name: thumb\nqueue: 5\n") ==
        Strings{f.at(1, 1, "missing required key \"library\" in function manifest")});
  CHECK(f.errors("") ==
        Strings{f.at(1, 1, "missing required key \"name\" in function manifest"),
                f.at(1, 1, "missing required key \"library\" in function manifest")});
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - kafka: { group_id: g }\n") ==
        Strings{f.at(4, 12, "missing required key \"topic\" in kafka trigger")});
}

TEST_CASE("a library that does not exist is reported with the path it resolved to") {
  ManifestFixture f;
  CHECK(f.errors("name: thumb\nlibrary: lib/x.so\n") ==
        Strings{f.at(2, 10,
                     "library \"lib/x.so\" does not exist (resolved to " +
                         f.path("functions.d/lib/x.so") + ")")});
  CHECK(f.errors("name: thumb\nlibrary: ../functions.d/lib\n") ==
        Strings{f.at(2, 10,
                     "library \"../functions.d/lib\" is not a regular file (resolved to " +
                         f.path("functions.d/lib") + ")")});
  FunctionManifest m;
  CHECK(f.errors("name: thumb\nlibrary: " + f.path("functions.d/lib/libthumb.so") + "\n", &m) ==
        Strings{});
  CHECK(functions::native_library(m) == f.dir() / "functions.d/lib/libthumb.so");
}

TEST_CASE("YAML syntax errors are reported at the parser's position") {
  ManifestFixture f;
  CHECK(f.errors("name: thumb\nlibrary: [lib/libthumb.so\nqueue: 1\n") ==
        Strings{f.at(3, 6,
                     std::string("invalid YAML: did not find expected ',' or ']' (while parsing a "
                                 "flow sequence that starts at line 2, column 10)") +
                         kFlowHint)});
  CHECK(f.errors(std::string(kHeader) + "---\nname: other\n") ==
        Strings{f.at(4, 1, "a function manifest must be a single YAML document (found 2)")});
}

TEST_CASE("an unquoted route template in a flow mapping gets a hint to quote it") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - http: { path: /a/{id} }\n") ==
        Strings{f.at(4, 22,
                     std::string("invalid YAML: did not find expected ',' or '}' (while parsing a "
                                 "flow mapping that starts at line 4, column 11)") +
                         kFlowHint)});
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - http: { path: \"/a/{id}\" }\n") ==
        Strings{});
}

TEST_CASE("triggers: each item has exactly one known kind") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) +
                 "triggers:\n  - http: { path: /a }\n    kafka: { topic: t }\n") ==
        Strings{f.at(4, 5,
                     "triggers[0] must have exactly one key, http, kafka, redis or cron (got "
                     "\"http\", \"kafka\")")});
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - kafak: { topic: t }\n") ==
        Strings{f.at(4, 5,
                     "unknown trigger kind \"kafak\" (expected http, kafka, redis or cron; did "
                     "you mean \"kafka\"?)")});
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - sqs: { queue: q }\n") ==
        Strings{f.at(4, 5, "unknown trigger kind \"sqs\" (expected http, kafka, redis or cron)")});
  CHECK(f.errors(std::string(kHeader) + "triggers:\n  - http\n") ==
        Strings{f.at(4, 5,
                     "triggers[0] must be a mapping with one key, http, kafka, redis or cron "
                     "(got \"http\")")});
}

TEST_CASE("http triggers: route templates and methods are checked") {
  ManifestFixture f;
  auto http = [&](const std::string& body) {
    return f.errors(std::string(kHeader) + "triggers:\n  - http: " + body + "\n");
  };
  CHECK(http("{ path: thumb }") ==
        Strings{f.at(4, 19, "triggers[0].http.path \"thumb\" must start with '/'")});
  CHECK(http("{ path: \"/files/{path+}/x\" }") ==
        Strings{f.at(4, 19,
                     "triggers[0].http.path \"/files/{path+}/x\" has a greedy parameter "
                     "\"{path+}\" that is not the last segment")});
  CHECK(http("{ path: \"/a/x{id}\" }") ==
        Strings{f.at(4, 19,
                     "triggers[0].http.path \"/a/x{id}\" has a malformed parameter \"x{id}\": a "
                     "parameter is a whole segment, {name} or {name+}")});
  CHECK(http("{ path: \"/a/{id}/{id}\" }") ==
        Strings{f.at(4, 19,
                     "triggers[0].http.path \"/a/{id}/{id}\" uses the parameter name \"id\" "
                     "twice")});
  CHECK(http("{ path: /a, methods: [post, FETCH] }") ==
        Strings{f.at(4, 39,
                     "triggers[0].http.methods[1] \"FETCH\" is not an HTTP method (expected GET, "
                     "HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT or TRACE)")});
  CHECK(http("{ path: /a, methods: POST }") ==
        Strings{f.at(4, 32,
                     "triggers[0].http.methods must be a list such as [GET, POST] (got "
                     "\"POST\")")});
  CHECK(http("{ path: /a, payload: apigw-v1 }") ==
        Strings{f.at(4, 32,
                     "triggers[0].http.payload must be one of native or apigw-v2 (got "
                     "\"apigw-v1\"); did you mean \"apigw-v2\"?")});
}

TEST_CASE("kafka, redis and cron triggers: values are checked") {
  ManifestFixture f;
  auto trigger = [&](const std::string& item) {
    return f.errors(std::string(kHeader) + "triggers:\n  - " + item + "\n");
  };
  CHECK(trigger("kafka: { topic: t, batch: 0 }") ==
        Strings{f.at(4, 31, "triggers[0].kafka.batch must be at least 1 (got 0)")});
  CHECK(trigger("kafka: { topic: t, ordering: random }") ==
        Strings{f.at(4, 34,
                     "triggers[0].kafka.ordering must be one of partition, key or none (got "
                     "\"random\")")});
  CHECK(trigger("redis: { stream: s, list: l }") ==
        Strings{f.at(4, 12, "triggers[0].redis needs exactly one of stream or list (got both)")});
  CHECK(
      trigger("redis: { group: g }") ==
      Strings{f.at(4, 12, "triggers[0].redis needs exactly one of stream or list (got neither)")});
  CHECK(trigger("redis: { list: l, claim_after: 5s }") ==
        Strings{
            f.at(4, 36, "triggers[0].redis.claim_after applies only to redis streams, not lists")});
  CHECK(trigger("cron: { timezone: UTC }") ==
        Strings{f.at(4, 11, "missing required key \"schedule\" in cron trigger")});
  CHECK(trigger("cron: { schedule: \"\" }") ==
        Strings{f.at(4, 23, "triggers[0].cron.schedule must not be empty")});
  CHECK(trigger("cron: { schedule: \"* * * * * *\", overlap: skipp, jitter: 1x }") ==
        Strings{f.at(4, 47,
                     "triggers[0].cron.overlap must be one of allow, skip or queue (got "
                     "\"skipp\"); did you mean \"skip\"?"),
                f.at(4, 62,
                     "triggers[0].cron.jitter: invalid duration \"1x\": expected a number "
                     "followed by ms, s, m or h (e.g. 250ms, 5s)")});
}

TEST_CASE("payload: native triggers by default; a Lambda runtime's get their Lambda payloads") {
  ManifestFixture f;
  Kinds lambda = with_lambda_runtime();
  const std::string native_header = kHeader;
  const std::string lambda_header = "name: thumb\nruntime: lambda-test\n";
  const Strings native = {"", "", "", "", ""};

  FunctionManifest m;
  REQUIRE(f.errors_with(lambda, lambda_header + every_trigger(""), &m) == Strings{});
  CHECK(payloads(m) ==
        Strings{"apigw-v2", "lambda-kafka", "lambda-sqs", "lambda-sqs", "eventbridge"});

  // `payload: native` keeps the native event, stored as "" as a native function's default.
  m = {};
  REQUIRE(f.errors_with(lambda, lambda_header + every_trigger(", payload: native"), &m) ==
          Strings{});
  CHECK(payloads(m) == native);

  // A native function is as before: no payload is the native event; `native` and the old
  // spelling "" say the same; a Lambda payload is there when asked for.
  m = {};
  REQUIRE(f.errors_with(lambda, native_header + every_trigger(""), &m) == Strings{});
  CHECK(payloads(m) == native);
  m = {};
  REQUIRE(f.errors(native_header + every_trigger(", payload: native"), &m) == Strings{});
  CHECK(payloads(m) == native);
  m = {};
  REQUIRE(f.errors(native_header + every_trigger(", payload: \"\""), &m) == Strings{});
  CHECK(payloads(m) == native);
  m = {};
  REQUIRE(f.errors(native_header + "triggers:\n  - redis: { list: l, payload: lambda-sqs }\n"
                                   "  - cron: { schedule: \"* * * * *\", payload: hello }\n",
                   &m) == Strings{});
  CHECK(payloads(m) == Strings{"lambda-sqs", "hello"});

  // A Lambda runtime's explicit payload wins over the default: cron's free text stays text.
  m = {};
  REQUIRE(f.errors_with(lambda,
                        lambda_header + "triggers:\n  - cron: { schedule: \"* * * * *\", "
                                        "payload: \"{\\\"job\\\": 1}\" }\n",
                        &m) == Strings{});
  CHECK(payloads(m) == Strings{"{\"job\": 1}"});
}

TEST_CASE("a payload a trigger kind does not have is reported with its choices") {
  ManifestFixture f;
  Kinds lambda = with_lambda_runtime();
  for (const std::string& header :
       {std::string(kHeader), std::string("name: thumb\nruntime: lambda-test\n")}) {
    CAPTURE(header);
    auto trigger = [&](const std::string& item) {
      return f.errors_with(lambda, header + "triggers:\n  - " + item + "\n");
    };
    CHECK(trigger("kafka: { topic: t, payload: lambda-sqs }") ==
          Strings{f.at(4, 33,
                       "triggers[0].kafka.payload must be one of native or lambda-kafka (got "
                       "\"lambda-sqs\")")});
    CHECK(trigger("redis: { stream: s, payload: lambda-sqss }") ==
          Strings{f.at(4, 34,
                       "triggers[0].redis.payload must be one of native or lambda-sqs (got "
                       "\"lambda-sqss\"); did you mean \"lambda-sqs\"?")});
    CHECK(trigger("http: { path: /a, payload: Native }") ==
          Strings{f.at(4, 32,
                       "triggers[0].http.payload must be one of native or apigw-v2 (got "
                       "\"Native\"); did you mean \"native\"?")});
    CHECK(trigger("redis: { list: l, payload: [lambda-sqs] }") ==
          Strings{f.at(4, 32,
                       "triggers[0].redis.payload must be one of native or lambda-sqs (got a "
                       "list)")});
  }
}

TEST_CASE("dead_letter needs exactly one destination") {
  ManifestFixture f;
  CHECK(f.errors(std::string(kHeader) + "dead_letter: { kafka_topic: a, redis_list: b }\n") ==
        Strings{f.at(3, 14,
                     "dead_letter needs exactly one of kafka_topic, redis_stream or redis_list "
                     "(got 2)")});
  CHECK(f.errors(std::string(kHeader) + "dead_letter: {}\n") ==
        Strings{f.at(3, 14,
                     "dead_letter needs exactly one of kafka_topic, redis_stream or redis_list "
                     "(got 0)")});
}

TEST_CASE("asynchronous attempts: async.max_attempts, else retry.attempts, else Lambda's 3") {
  ManifestFixture f;
  auto attempts = [&](const std::string& yaml) {
    FunctionManifest m;
    REQUIRE(f.errors(std::string(kHeader) + yaml, &m) == Strings{});
    return std::pair(m.async.attempts(m.retry), m.retry.attempts);
  };
  // Other events keep their own default (no retry).
  CHECK(attempts("") == std::pair(3, 1));
  CHECK(attempts("retry: { backoff: 1s }\n") == std::pair(3, 1));
  CHECK(attempts("retry: { attempts: 5 }\n") == std::pair(5, 5));
  CHECK(attempts("retry: { attempts: 5 }\nasync: { max_attempts: 2 }\n") == std::pair(2, 5));
}

TEST_CASE("async destinations: a function or a dead-letter kind, exactly one") {
  ManifestFixture f;
  FunctionManifest m;
  REQUIRE(f.errors(std::string(kHeader) + "async:\n"
                                          "  on_success: { function: audit }\n"
                                          "  on_failure: { redis_list: failures }\n",
                   &m) == Strings{});
  CHECK(m.async.on_success == config::DeadLetterSpec{"function", "audit"});
  CHECK(m.async.on_failure == config::DeadLetterSpec{"redis_list", "failures"});
  CHECK(m.written_destinations().size() == 1);
  CHECK(
      f.errors(std::string(kHeader) + "async: { on_failure: { function: a, kafka_topic: b } }\n") ==
      Strings{f.at(3, 22,
                   "async.on_failure needs exactly one of function, kafka_topic, redis_stream "
                   "or redis_list (got 2)")});
  CHECK(f.errors(std::string(kHeader) + "async: { on_success: {} }\n") ==
        Strings{f.at(3, 22,
                     "async.on_success needs exactly one of function, kafka_topic, redis_stream "
                     "or redis_list (got 0)")});
}

TEST_CASE("async.queue.redis_stream: the queue shared through a Redis stream") {
  ManifestFixture f;
  FunctionManifest m;
  REQUIRE(f.errors(std::string(kHeader) + "async:\n"
                                          "  queue: { events: 50, redis_stream: async:resize, "
                                          "claim_after: 5s }\n",
                   &m) == Strings{});
  CHECK(m.async.shared == config::DeadLetterSpec{"redis_stream", "async:resize"});
  CHECK(m.async.claim_after == config::Duration(5000));
  CHECK(m.async.queue_events == 50);
  // Its kind's writer serves it, as it serves a dead letter.
  REQUIRE(m.written_destinations().size() == 1);
  CHECK(m.written_destinations()[0] == &m.async.shared);
  FunctionManifest local;
  REQUIRE(f.errors(std::string(kHeader) + "async: { queue: { events: 5 } }\n", &local) ==
          Strings{});
  CHECK(!local.async.shared.configured());
  CHECK(local.written_destinations().empty());
  CHECK(f.errors(std::string(kHeader) + "async: { queue: { redis_stream: \"\" } }\n") != Strings{});
  FunctionManifest kafka;
  REQUIRE(f.errors(std::string(kHeader) + "async: { queue: { kafka_topic: jobs } }\n", &kafka) ==
          Strings{});
  CHECK(kafka.async.shared == config::DeadLetterSpec{"kafka_topic", "jobs"});
  CHECK(f.errors(std::string(kHeader) +
                 "async: { queue: { redis_stream: a, kafka_topic: b } }\n") != Strings{});
  CHECK(f.errors(std::string(kHeader) + "async: { queue: { claim_after: 10ms } }\n") != Strings{});
}

TEST_CASE("config: is kept as JSON with scalars typed as YAML would type them") {
  ManifestFixture f;
  FunctionManifest m;
  REQUIRE(f.errors(std::string(kHeader) + "config:\n"
                                          "  quality: 85\n"
                                          "  ratio: 1.5\n"
                                          "  enabled: true\n"
                                          "  nothing: ~\n"
                                          "  quoted: \"85\"\n"
                                          "  text: hello world\n"
                                          "  sizes: [small, 2, { w: 10 }]\n"
                                          "  from_env: ${QUALITY:-70}\n",
                   &m) == Strings{});
  CHECK(m.config_json ==
        "{\"quality\":85,\"ratio\":1.5,\"enabled\":true,\"nothing\":null,\"quoted\":\"85\","
        "\"text\":\"hello world\",\"sizes\":[\"small\",2,{\"w\":10}],\"from_env\":70}");
  CHECK(f.errors(std::string(kHeader) + "config: [1]\n") ==
        Strings{f.at(3, 9, "config must be a mapping (got a list)")});
}

TEST_CASE("${VAR} expands in manifest values before they are converted") {
  ManifestFixture f;
  f.vars = {{"CONCURRENCY", "4"}, {"TOPIC", "images"}};
  FunctionManifest m;
  REQUIRE(f.errors(std::string(kHeader) + "concurrency: ${CONCURRENCY}\n"
                                          "env: { MODE: \"${MODE:-fast}\" }\n"
                                          "triggers:\n  - kafka: { topic: \"${TOPIC}\" }\n",
                   &m) == Strings{});
  CHECK(m.concurrency == 4);
  CHECK(m.env.at("MODE") == "fast");
  REQUIRE(m.triggers.size() == 1);
  CHECK(settings<triggers::kafka::KafkaTriggerSettings>(m.triggers[0]).topic == "images");
  CHECK(f.errors(std::string(kHeader) + "queue: ${QUEUE}\n") ==
        Strings{f.at(3, 8,
                     "queue: environment variable QUEUE is not set (use ${QUEUE:-default} to "
                     "give a default)")});
}

}  // namespace
}  // namespace switchyard::config

// Found by the manifest fuzzer: yaml-cpp 0.7 never returns on these. libyaml rejects them
// before yaml-cpp sees them.
TEST_CASE("malformed YAML that would hang yaml-cpp is an error, not a hang") {
  for (const char* yaml : {",\n", "# comment\n, name: a\n", "---\n,\n", "--- ,\n",
                           "name: !t\n,\xff\n", "!x\n,\n", "!n? n\nb1 4n\n? n\nb1yxe"}) {
    CAPTURE(yaml);
    switchyard::config::FunctionManifest manifest;
    auto errors =
        switchyard::config::parse_manifest(yaml, "f.yaml", switchyard::config::kinds(), manifest);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.starts_with("invalid YAML: "));
  }
  switchyard::config::FunctionManifest manifest;
  auto errors = switchyard::config::parse_manifest("--- ,\n", "f.yaml", switchyard::config::kinds(),
                                                   manifest);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "f.yaml:1:5: invalid YAML: did not find expected node content (while parsing a block "
        "node that starts at line 1, column 5)");
}

TEST_CASE("tags, anchors and aliases are refused with their position") {
  switchyard::config::FunctionManifest manifest;
  auto errors = switchyard::config::parse_manifest("name: a\nlibrary: !!str x.so\n", "f.yaml",
                                                   switchyard::config::kinds(), manifest);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "f.yaml:2:10: invalid YAML: tags (tag:yaml.org,2002:str) are not supported in "
        "switchyard files");
  errors = switchyard::config::parse_manifest("name: &n a\nlibrary: *n\n", "f.yaml",
                                              switchyard::config::kinds(), manifest);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "f.yaml:1:7: invalid YAML: anchors (&n) are not supported in switchyard files");
  errors = switchyard::config::parse_manifest("name: a\nlibrary: *n\n", "f.yaml",
                                              switchyard::config::kinds(), manifest);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "f.yaml:2:10: invalid YAML: aliases (*name) are not supported in switchyard files");
  // Found by the manifest fuzzer: yaml-cpp 0.7 spins forever on this one; it must be refused
  // at once.
  errors = switchyard::config::parse_manifest("\n&o:5 ,, 2{2 xnu queue}] }\n", "f.yaml",
                                              switchyard::config::kinds(), manifest);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "f.yaml:2:1: invalid YAML: anchors (&o) are not supported in switchyard files");
}
