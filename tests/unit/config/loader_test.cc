// The daemon config and whole loads: switchyard.yaml plus a manifests directory on disk.

#include "config/loader.h"

#include <doctest/doctest.h>

#include <thread>

#include "config_fixture.h"

namespace switchyard::config {
namespace {

using testing::ConfigFixture;
using testing::kFlowHint;
using Strings = std::vector<std::string>;

std::string at(const std::string& file, int line, int column, const std::string& message) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

constexpr const char* kFullDaemon = R"(instance: host-a
region: eu-west-3
account_id: "123456789012"
workers: 4
manifests: functions.d
state_dir: state
http:  { address: 127.0.0.1, port: 0, enabled: true }
admin: { address: 127.0.0.1, port: 9191, enabled: false }
kafka:
  brokers: "localhost:9092"
  properties: { security.protocol: SSL, socket.keepalive.enable: true, retries: 5 }
redis: { url: "redis://localhost:${REDIS_PORT:-6379}/0", connect_timeout: 1500ms, command_timeout: 4s }
logging: { level: debug, format: json }
limits: { max_body: 1MiB, max_header: 16KiB, max_target: 4KiB, max_connections: 500, header_timeout: 5s, idle_timeout: 2m, shutdown_timeout: 10s, max_async_queue_file: 1GiB, async_queue_reserve: 0 }
)";

constexpr const char* kFullManifest = R"(name: thumbnail
library: lib/libthumb.so
concurrency: 8
queue: 50
timeout: 5s
execution: inline
env: { QUALITY: "85", LEVEL: 3 }
config: { sizes: [64, 128], mode: fast }
retry: { attempts: 3, backoff: 200ms, max_backoff: 10s, jitter: 0.5 }
dead_letter: { kafka_topic: thumbnail-dlq }
triggers:
  - http:  { path: "/thumbnail/{id}/{rest+}", methods: [post, GET], payload: apigw-v2 }
  - kafka: { topic: images, ordering: key, batch: 50, batch_window: 20ms, payload: lambda-kafka, start: latest }
  - redis: { stream: "jobs:thumbnail", group: workers, consumer: c1, batch: 10, batch_window: 50ms, block: 1s, claim_after: 30s }
  - redis: { list: jobs }
  - cron:  { schedule: "0 */5 * * * *", timezone: Europe/Berlin, overlap: skip, misfire: run_once, jitter: 10s, lock: redis, payload: tick }
)";

TEST_CASE("a full config round-trips into the snapshot") {
  ConfigFixture f;
  f.vars = {{"REDIS_PORT", "6380"}};
  f.write_defaults(kFullDaemon);
  f.write("functions.d/thumb.yaml", kFullManifest);
  f.write("functions.d/hello.yml", "name: hello\nlibrary: lib/libthumb.so\n");
  f.write("functions.d/README.md", "not a manifest");
  f.write("functions.d/.hidden.yaml", "not: [valid");

  LoadResult result = f.load();
  for (const ConfigError& error : result.errors) {
    MESSAGE(error.to_string());
  }
  REQUIRE(result.ok());
  const DaemonConfig& d = result.snapshot->daemon;
  CHECK(d.config_path == f.dir() / "switchyard.yaml");
  CHECK(d.instance == "host-a");
  CHECK(d.region == "eu-west-3");
  CHECK(d.account_id == "123456789012");
  CHECK(d.workers == 4);
  CHECK(d.manifests_dir == f.dir() / "functions.d");
  CHECK(d.state_dir == f.dir() / "state");
  CHECK(d.http.address == "127.0.0.1");
  CHECK(d.http.port == 0);
  CHECK(d.http.enabled);
  CHECK(d.admin.port == 9191);
  CHECK_FALSE(d.admin.enabled);
  CHECK(d.kafka.brokers == "localhost:9092");
  CHECK(d.kafka.properties ==
        std::map<std::string, std::string>{
            {"security.protocol", "SSL"}, {"socket.keepalive.enable", "true"}, {"retries", "5"}});
  CHECK(d.redis.url == "redis://localhost:6380/0");
  CHECK(d.redis.connect_timeout == Duration(1500));
  CHECK(d.redis.command_timeout == Duration(4000));
  CHECK(d.logging.level == "debug");
  CHECK(d.logging.format == "json");
  CHECK(d.limits.max_body_bytes == 1024 * 1024);
  CHECK(d.limits.max_header_bytes == 16 * 1024);
  CHECK(d.limits.max_target_bytes == 4 * 1024);
  CHECK(d.limits.max_connections == 500);
  CHECK(d.limits.header_timeout == Duration(5000));
  CHECK(d.limits.idle_timeout == Duration(120000));
  CHECK(d.limits.shutdown_timeout == Duration(10000));
  CHECK(d.limits.max_async_queue_file == 1ull << 30);
  CHECK(d.limits.async_queue_reserve == 0);

  // Sorted by file name: hello.yml before thumb.yaml.
  const std::vector<FunctionManifest>& functions = result.snapshot->functions;
  REQUIRE(functions.size() == 2);
  CHECK(functions[0].name == "hello");
  CHECK(functions[0].manifest_path == f.dir() / "functions.d/hello.yml");
  const FunctionManifest& m = functions[1];
  CHECK(m.name == "thumbnail");
  CHECK(functions::native_library(m) == f.dir() / "functions.d/lib/libthumb.so");
  CHECK(m.manifest_path == f.dir() / "functions.d/thumb.yaml");
  CHECK(m.concurrency == 8);
  CHECK(m.queue == 50);
  CHECK(m.timeout == Duration(5000));
  CHECK(m.execution == Execution::kInline);
  CHECK(m.env == std::map<std::string, std::string>{{"QUALITY", "85"}, {"LEVEL", "3"}});
  CHECK(m.config_json == R"({"sizes":[64,128],"mode":"fast"})");
  CHECK(m.retry.attempts == 3);
  CHECK(m.retry.backoff == Duration(200));
  CHECK(m.retry.max_backoff == Duration(10000));
  CHECK(m.retry.jitter == doctest::Approx(0.5));
  CHECK(m.dead_letter.kind == "kafka_topic");
  CHECK(m.dead_letter.target == "thumbnail-dlq");
  CHECK(m.location.file == f.path("functions.d/thumb.yaml"));

  REQUIRE(m.triggers.size() == 5);
  const auto& http = settings<triggers::http::HttpTriggerSettings>(m.triggers[0]);
  CHECK(http.path == "/thumbnail/{id}/{rest+}");
  CHECK(http.methods == std::vector<std::string>{"POST", "GET"});
  CHECK(http.payload == "apigw-v2");
  CHECK(m.triggers[0].location.line == 12);
  CHECK(m.triggers[0].location.column == 5);

  const auto& kafka = settings<triggers::kafka::KafkaTriggerSettings>(m.triggers[1]);
  CHECK(kafka.topic == "images");
  CHECK(kafka.group_id == "switchyard.thumbnail");
  CHECK(kafka.ordering == "key");
  CHECK(kafka.batch == 50);
  CHECK(kafka.batch_window == Duration(20));
  CHECK(kafka.payload == "lambda-kafka");
  CHECK(kafka.start == "latest");

  const auto& stream = settings<triggers::redis::RedisTriggerSettings>(m.triggers[2]);
  CHECK(stream.stream == "jobs:thumbnail");
  CHECK(stream.list.empty());
  CHECK(stream.group == "workers");
  CHECK(stream.consumer == "c1");
  CHECK(stream.batch == 10);
  CHECK(stream.batch_window == Duration(50));
  CHECK(stream.block == Duration(1000));
  CHECK(stream.claim_after == Duration(30000));

  const auto& list = settings<triggers::redis::RedisTriggerSettings>(m.triggers[3]);
  CHECK(list.list == "jobs");
  CHECK(list.stream.empty());
  CHECK(list.group == "switchyard");
  CHECK(list.block == Duration(2000));

  const auto& cron = settings<triggers::cron::CronTriggerSettings>(m.triggers[4]);
  CHECK(cron.schedule == "0 */5 * * * *");
  CHECK(cron.timezone == "Europe/Berlin");
  CHECK(cron.overlap == "skip");
  CHECK(cron.misfire == "run_once");
  CHECK(cron.jitter == Duration(10000));
  CHECK(cron.lock == "redis");
  CHECK(cron.payload == "tick");
}

TEST_CASE("an empty switchyard.yaml gives the documented defaults") {
  ConfigFixture f;
  f.write_defaults();
  LoadResult result = f.load();
  REQUIRE(result.ok());
  const DaemonConfig& d = result.snapshot->daemon;
  CHECK_FALSE(d.instance.empty());
  CHECK(d.region == "us-east-1");
  CHECK(d.account_id == "000000000000");
  unsigned cpus = std::thread::hardware_concurrency();
  CHECK(d.workers == static_cast<int>(cpus == 0 ? 1 : cpus));
  CHECK(d.manifests_dir == f.dir() / "functions.d");
  CHECK(d.state_dir == "/var/lib/switchyard");
  CHECK(d.http.address == "0.0.0.0");
  CHECK(d.http.port == 8080);
  CHECK(d.admin.address == "127.0.0.1");
  CHECK(d.admin.port == 9090);
  CHECK(d.kafka.brokers.empty());
  CHECK(d.redis.url.empty());
  CHECK(d.logging.level == "info");
  CHECK(d.logging.format == "auto");
  CHECK(d.limits.max_body_bytes == 6 * 1024 * 1024);
  CHECK(d.limits.max_header_bytes == 64 * 1024);
  CHECK(d.limits.max_target_bytes == 8 * 1024);
  CHECK(d.limits.max_async_queue_file == 0);
  CHECK(d.limits.async_queue_reserve == 64ull << 20);
  CHECK(result.snapshot->functions.empty());
}

TEST_CASE("load_from_string reads manifests relative to the pretend path") {
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/hello.yaml", "name: hello\nlibrary: lib/libthumb.so\n");
  LoadResult result =
      load_from_string("workers: 2\n", f.dir() / "switchyard.yaml", kinds(), f.env());
  REQUIRE(result.ok());
  CHECK(result.snapshot->daemon.workers == 2);
  REQUIRE(result.snapshot->functions.size() == 1);

  result = load_from_string("workers: two\n", f.dir() / "inline.yaml", kinds(), f.env());
  CHECK(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        at(f.path("inline.yaml"), 1, 10, "workers must be an integer (got \"two\")"));
}

TEST_CASE("daemon config: unknown keys, wrong types and impossible values") {
  ConfigFixture f;
  const std::string file = f.path("switchyard.yaml");
  auto errors_for = [&](const std::string& yaml) {
    f.write_defaults(yaml);
    return f.load_errors();
  };
  CHECK(errors_for("wokers: 4\n") ==
        Strings{at(file, 1, 1,
                   "unknown key \"wokers\" in switchyard.yaml (did you mean \"workers\"?)")});
  CHECK(errors_for("http: { prot: 80 }\n") ==
        Strings{at(file, 1, 9, "unknown key \"prot\" in http (did you mean \"port\"?)")});
  CHECK(errors_for("http: 8080\n") ==
        Strings{at(file, 1, 7, "http must be a mapping (got \"8080\")")});
  CHECK(errors_for("http: { port: 70000 }\n") ==
        Strings{at(file, 1, 15, "http.port must be at most 65535 (got 70000)")});
  CHECK(errors_for("admin: { enabled: yes }\n") ==
        Strings{at(file, 1, 19, "admin.enabled must be true or false (got \"yes\")")});
  CHECK(errors_for("workers: 5000\n") ==
        Strings{at(file, 1, 10, "workers must be at most 1024 (got 5000)")});
  CHECK(errors_for("redis: { url: \"localhost:6379\" }\n") ==
        Strings{at(file, 1, 15,
                   "redis.url \"localhost:6379\" must start with redis:// or unix:// (e.g. "
                   "redis://localhost:6379/0)")});
  CHECK(errors_for("logging: { level: verbose }\n") ==
        Strings{at(file, 1, 19,
                   "logging.level must be one of trace, debug, info, warn, error, critical or "
                   "off (got \"verbose\")")});
  CHECK(errors_for("kafka: { brokers: b:9092, properties: { acks: [1] } }\n") ==
        Strings{at(file, 1, 47, "kafka.properties.acks must be a string (got a list)")});
  CHECK(errors_for("limits: { header_timeout: 10 }\n") ==
        Strings{at(file, 1, 27,
                   "limits.header_timeout: invalid duration \"10\": missing unit; expected a "
                   "number followed by ms, s, m or h (e.g. 250ms, 5s)")});
  CHECK(errors_for("account_id: 1234\n") ==
        Strings{at(file, 1, 13, "account_id \"1234\" must be 12 digits (as 123456789012)")});
  CHECK(
      errors_for("account_id: \"12345678901a\"\n") ==
      Strings{at(file, 1, 13, "account_id \"12345678901a\" must be 12 digits (as 123456789012)")});
  CHECK(errors_for("instance: ${INSTANCE}\n") ==
        Strings{at(file, 1, 11,
                   "instance: environment variable INSTANCE is not set (use "
                   "${INSTANCE:-default} to give a default)")});
}

TEST_CASE("daemon config: bad sizes say what a size looks like") {
  ConfigFixture f;
  f.write_defaults("limits:\n  max_body: 6XB\n  max_header: 100\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("switchyard.yaml"), 2, 13,
                   "limits.max_body: invalid size \"6XB\": expected a number of bytes, "
                   "optionally followed by B, KiB, MiB, GiB, KB, MB or GB (e.g. 512, 64KiB, "
                   "6MiB)"),
                at(f.path("switchyard.yaml"), 3, 15,
                   "limits.max_header must be at least 1KiB (got 100)")});
}

TEST_CASE("a missing manifests directory is reported at the key or the file") {
  ConfigFixture f;
  f.write("switchyard.yaml", "workers: 1\nmanifests: conf.d\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("switchyard.yaml"), 2, 12,
                   "manifests directory \"conf.d\" does not exist (resolved to " +
                       f.path("conf.d") + ")")});
  f.write("switchyard.yaml", "workers: 1\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("switchyard.yaml"), 1, 1,
                   "manifests directory \"functions.d\" does not exist (resolved to " +
                       f.path("functions.d") + ")")});
  f.write("functions.d", "a file");
  CHECK(f.load_errors() == Strings{at(f.path("switchyard.yaml"), 1, 1,
                                      "manifests \"functions.d\" is not a directory (resolved to " +
                                          f.path("functions.d") + ")")});
}

TEST_CASE("a config file that cannot be read or parsed") {
  ConfigFixture f;
  CHECK(f.load_errors() == Strings{f.path("switchyard.yaml") +
                                   ": cannot read config file: No such file or directory"});
  f.write_defaults("http: { port: 80\nworkers: 2\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("switchyard.yaml"), 2, 8,
                   std::string("invalid YAML: did not find expected ',' or '}' (while "
                               "parsing a flow mapping that starts at line 1, column 7)") +
                       kFlowHint)});
}

TEST_CASE("duplicate function names are reported with both locations") {
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/a.yaml", "name: hello\nlibrary: lib/libthumb.so\n");
  f.write("functions.d/b.yaml", "library: lib/libthumb.so\nname: hello\n");
  CHECK(f.load_errors() == Strings{at(f.path("functions.d/b.yaml"), 2, 7,
                                      "duplicate function name \"hello\" (first defined at " +
                                          f.path("functions.d/a.yaml") + ":1:7)")});
}

TEST_CASE("kafka and redis triggers need the connection configured in switchyard.yaml") {
  ConfigFixture f;
  f.write_defaults("http: { enabled: false }\n");
  f.write("functions.d/a.yaml",
          "name: a\nlibrary: lib/libthumb.so\n"
          "dead_letter: { redis_stream: dlq }\n"
          "triggers:\n"
          "  - kafka: { topic: images }\n"
          "  - redis: { list: jobs }\n"
          "  - cron: { schedule: \"* * * * * *\", lock: redis }\n"
          "  - http: { path: / }\n");
  const std::string file = f.path("functions.d/a.yaml");
  CHECK(f.load_errors() ==
        Strings{at(file, 3, 14, "dead_letter.redis_stream needs redis.url in switchyard.yaml"),
                at(file, 5, 5, "kafka trigger needs kafka.brokers in switchyard.yaml"),
                at(file, 6, 5, "redis trigger needs redis.url in switchyard.yaml"),
                at(file, 7, 5, "cron trigger with lock: redis needs redis.url in switchyard.yaml"),
                at(file, 8, 5,
                   "http trigger needs the HTTP listener, but http.enabled is false in "
                   "switchyard.yaml")});
}

TEST_CASE("async destinations name a function of the daemon, or a configured connection") {
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/a.yaml",
          "name: a\nlibrary: lib/libthumb.so\n"
          "async:\n"
          "  on_success: { function: b }\n"
          "  on_failure: { function: nobody }\n");
  f.write("functions.d/b.yaml",
          "name: b\nlibrary: lib/libthumb.so\n"
          "async: { on_failure: { kafka_topic: failures } }\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("functions.d/a.yaml"), 5, 15,
                   "no function named \"nobody\" (destinations name a function of this daemon)"),
                at(f.path("functions.d/b.yaml"), 3, 22,
                   "async.on_failure.kafka_topic needs kafka.brokers in switchyard.yaml")});
}

TEST_CASE("a shared asynchronous queue needs redis.url and a stream of its own") {
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/a.yaml",
          "name: a\nlibrary: lib/libthumb.so\n"
          "async:\n  queue: { redis_stream: jobs }\n");
  CHECK(f.load_errors() == Strings{at(f.path("functions.d/a.yaml"), 4, 26,
                                      "async.queue.redis_stream needs redis.url in "
                                      "switchyard.yaml")});
  f.write_defaults("redis: { url: \"redis://127.0.0.1:6379/0\" }\n");
  f.write("functions.d/b.yaml",
          "name: b\nlibrary: lib/libthumb.so\n"
          "async:\n  queue: { redis_stream: jobs }\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("functions.d/b.yaml"), 4, 26,
                   "async.queue.redis_stream \"jobs\" is already the asynchronous queue of "
                   "function a (each function needs a queue of its own)")});
}

TEST_CASE("async destinations that loop back to their function are refused") {
  ConfigFixture f;
  f.write_defaults();
  f.write("functions.d/a.yaml",
          "name: a\nlibrary: lib/libthumb.so\n"
          "async: { on_success: { function: b } }\n");
  f.write("functions.d/b.yaml",
          "name: b\nlibrary: lib/libthumb.so\n"
          "async: { on_failure: { function: a } }\n");
  f.write("functions.d/c.yaml",
          "name: c\nlibrary: lib/libthumb.so\n"
          "async: { on_success: { function: c } }\n");
  CHECK(f.load_errors() ==
        Strings{at(f.path("functions.d/a.yaml"), 3, 22,
                   "asynchronous destinations form a loop (a -> b -> a): each invocation record "
                   "would make another without end"),
                at(f.path("functions.d/b.yaml"), 3, 22,
                   "asynchronous destinations form a loop (b -> a -> b): each invocation record "
                   "would make another without end"),
                at(f.path("functions.d/c.yaml"), 3, 22,
                   "asynchronous destinations form a loop (c -> c): each invocation record would "
                   "make another without end")});
}

TEST_CASE("every error of every file is collected in one load") {
  ConfigFixture f;
  f.write_defaults("workers: -1\nlogging: { format: xml }\n");
  f.write("functions.d/a.yaml", "name: a\nlibrary: lib/missing.so\nconcurrency: 0\ntimeout: 5x\n");
  f.write("functions.d/b.yaml", "name: b\nlibrary: lib/libthumb.so\nqueue: [\n");
  f.write("functions.d/c.yaml",
          "name: a\nlibrary: lib/libthumb.so\ntriggers: [{ kafka: { topic: t } }]\n");
  const std::string config = f.path("switchyard.yaml");
  const std::string a = f.path("functions.d/a.yaml");
  const std::string b = f.path("functions.d/b.yaml");
  const std::string c = f.path("functions.d/c.yaml");
  CHECK(f.load_errors() ==
        Strings{
            at(config, 1, 10, "workers must be at least 0 (got -1)"),
            at(config, 2, 20, "logging.format must be one of auto, text or json (got \"xml\")"),
            at(a, 2, 10,
               "library \"lib/missing.so\" does not exist (resolved to " +
                   f.path("functions.d/lib/missing.so") + ")"),
            at(a, 3, 14, "concurrency must be at least 1 (got 0)"),
            at(a, 4, 10,
               "timeout: invalid duration \"5x\": expected a number followed by ms, s, m or h "
               "(e.g. 250ms, 5s)"),
            at(b, 4, 1,
               std::string("invalid YAML: did not find expected node content (while parsing a "
                           "flow node that starts at line 4, column 1)") +
                   kFlowHint),
            at(c, 1, 7, "duplicate function name \"a\" (first defined at " + a + ":1:7)"),
            at(c, 3, 12, "kafka trigger needs kafka.brokers in switchyard.yaml"),
        });
}

}  // namespace
}  // namespace switchyard::config
