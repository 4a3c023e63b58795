// Custom runtimes (`runtime: provided`) fed by every event source, with the real daemon: a shell
// runtime (environments/events-bootstrap) and the C++ example runtime
// (examples/custom-runtime-cpp) receive the Lambda self-managed Kafka event from librdkafka's
// mock cluster and the EventBridge scheduled event from cron; their failures (exits, errors,
// hangs) are retried and dead-lettered with nothing lost; the C++ runtime answers HTTP (API
// Gateway 2.0) and the Invoke API. The handlers append each event to a file named in the
// manifest's `env:`, which the test reads back.

#include <dirent.h>
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kafka_mock.h"
#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kShellRuntime =
    std::string(SWITCHYARD_SOURCE_DIR) + "/tests/integration/environments/events-bootstrap";
const std::string kCppRuntime = SWITCHYARD_CPP_RUNTIME;
const std::string kCppExampleDir =
    std::string(SWITCHYARD_SOURCE_DIR) + "/examples/custom-runtime-cpp";
const std::string kShellExampleDir =
    std::string(SWITCHYARD_SOURCE_DIR) + "/examples/custom-runtime-shell";

std::string invoke_path(const std::string& function) {
  return "/2015-03-31/functions/" + function + "/invocations";
}

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    auto at = kAlphabet.find(c);
    if (at == std::string::npos) {
      continue;  // Padding.
    }
    bits = (bits << 6) | static_cast<unsigned>(at);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

std::string string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) {
    return {};
  }
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

// The lines of `path` that are whole (end in a newline). A handler appends each event with one
// write, but a reader may see that write in part: the last line, still being written, is left
// for the next read.
std::vector<std::string> whole_lines(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    if (end > start) {
      lines.push_back(text.substr(start, end - start));
    }
  }
  return lines;
}

// The events a handler appended to its EVENT_LOG, parsed; a whole line that is not JSON fails.
std::vector<rapidjson::Document> read_events(const std::string& path) {
  std::vector<rapidjson::Document> events;
  for (const std::string& line : whole_lines(path)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    CHECK_MESSAGE(!doc.HasParseError(), "not JSON: " << line);
    if (!doc.HasParseError()) {
      events.push_back(std::move(doc));
    }
  }
  return events;
}

// What a function's Lambda Kafka events held, checked record by record against the shape AWS
// sends: every event a SelfManagedKafka event, every record under its "<topic>-<partition>" key.
struct KafkaSeen {
  std::size_t events = 0;
  std::size_t records = 0;
  std::set<std::pair<int, long long>> coordinates;  // (partition, offset), each once.
  std::multiset<std::string> values;                // Decoded.
  std::size_t shape_errors = 0;
};

KafkaSeen read_kafka_events(const std::string& path, const std::string& topic) {
  KafkaSeen seen;
  for (const auto& event : read_events(path)) {
    ++seen.events;
    if (string_member(event, "eventSource") != "SelfManagedKafka" ||
        string_member(event, "bootstrapServers").empty() || !event.HasMember("records") ||
        !event["records"].IsObject()) {
      ++seen.shape_errors;
      continue;
    }
    for (const auto& group : event["records"].GetObject()) {
      std::string name = group.name.GetString();
      for (const auto& record : group.value.GetArray()) {
        ++seen.records;
        int partition = record["partition"].GetInt();
        long long offset = record["offset"].GetInt64();
        if (name != topic + "-" + std::to_string(partition) ||
            string_member(record, "topic") != topic || !record.HasMember("timestamp") ||
            base64_decode(string_member(record, "key")).rfind("k", 0) != 0) {
          ++seen.shape_errors;
        }
        seen.coordinates.insert({partition, offset});
        seen.values.insert(base64_decode(string_member(record, "value")));
      }
    }
  }
  return seen;
}

std::string metrics_of(RunningDaemon& daemon) {
  return http_request(daemon.admin_port(), "GET", "/metrics", {}, {}, 2s).body;
}

// A daemon config (log level info: the test reads the daemon's stderr only when it looks) and
// the manifests ("name" -> YAML) in a temp dir.
struct Setup {
  TempDir dir;
  std::string config;

  Setup(const std::string& brokers,
        std::initializer_list<std::pair<const std::string, std::string>> manifests,
        const std::string& manifests_dir = "functions.d") {
    std::string text = "workers: 2\nmanifests: " + manifests_dir +
                       "\nstate_dir: ${SWITCHYARD_STATE_DIR}\nregion: eu-west-3\n"
                       "http:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                       "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
                       "logging: { level: info, format: text }\n";
    if (!brokers.empty()) {
      // A stopped member leaves the group quickly; commits come soon.
      text += "kafka:\n  brokers: \"" + brokers +
              "\"\n  properties:\n    auto.commit.interval.ms: \"200\"\n"
              "    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"500\"\n";
    }
    config = dir.write("switchyard.yaml", text);
    std::filesystem::create_directories(dir.path() + "/functions.d");
    for (const auto& [name, yaml] : manifests) {
      dir.write("functions.d/" + name + ".yaml", yaml);
    }
  }

  std::string log(const std::string& name) const { return dir.path() + "/" + name + ".log"; }
};

std::string provided(const std::string& name, const std::string& bootstrap, const std::string& log,
                     const std::string& rest) {
  return "name: " + name + "\nruntime: provided\nbootstrap: " + bootstrap +
         "\nconcurrency: 2\ntimeout: 5s\nenv: { EVENT_LOG: \"" + log + "\" }\n" + rest;
}

std::int64_t committed_total(KafkaMockCluster& cluster, const std::string& group,
                             const std::string& topic, int partitions) {
  std::int64_t total = 0;
  for (const auto& [partition, offset] : cluster.committed(group, topic, partitions)) {
    total += std::max<std::int64_t>(offset, 0);
  }
  return total;
}

}  // namespace

TEST_CASE("shell and C++ runtimes get Lambda's Kafka event; every record once") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("orders", 4);
  const std::int64_t count = 200;
  REQUIRE(cluster.produce(
      "orders", count, [](std::int64_t i) { return "k" + std::to_string(i % 13); },
      [](std::int64_t i) { return "record-" + std::to_string(i); }));
  TempDir logs;
  const std::string trigger =
      "triggers:\n  - kafka: { topic: orders, batch: 10, batch_window: 20ms }\n";
  Setup setup(cluster.bootstraps(),
              {{"shell", provided("shell", kShellRuntime, logs.path() + "/shell.log", trigger)},
               {"cpp", provided("cpp", kCppRuntime, logs.path() + "/cpp.log", trigger)}});
  RunningDaemon daemon(kBin, setup.config);
  INFO(daemon.process().err());
  REQUIRE(daemon.ready());

  std::multiset<std::string> produced;
  for (std::int64_t i = 0; i < count; ++i) {
    produced.insert("record-" + std::to_string(i));
  }
  for (const std::string function : {"shell", "cpp"}) {
    CAPTURE(function);
    const std::string log = logs.path() + "/" + function + ".log";
    CHECK(eventually(
        [&] { return read_kafka_events(log, "orders").records >= static_cast<size_t>(count); },
        60s));
    CHECK(eventually(
        [&] { return committed_total(cluster, "switchyard." + function, "orders", 4) == count; },
        20s));
  }
  CHECK(daemon.stop().exit_code == 0);

  // Read once everything is committed and the daemon is gone: nothing came twice.
  for (const std::string function : {"shell", "cpp"}) {
    CAPTURE(function);
    KafkaSeen seen = read_kafka_events(logs.path() + "/" + function + ".log", "orders");
    CHECK(seen.shape_errors == 0);
    CHECK(seen.records == static_cast<std::size_t>(count));
    CHECK(seen.coordinates.size() == static_cast<std::size_t>(count));
    CHECK(seen.values == produced);
    // Batches of up to 10 records of one partition.
    CHECK(seen.events < seen.records);
    CHECK(seen.events >= seen.records / 10);
  }
}

TEST_CASE("a cron trigger sends custom runtimes EventBridge's scheduled event") {
  TempDir logs;
  const std::string trigger = "triggers:\n  - cron: { schedule: \"* * * * * *\" }\n";
  Setup setup(
      "",
      {{"shell-tick", provided("shell-tick", kShellRuntime, logs.path() + "/shell.log", trigger)},
       {"cpp-tick", provided("cpp-tick", kCppRuntime, logs.path() + "/cpp.log", trigger)}});
  RunningDaemon daemon(kBin, setup.config);
  INFO(daemon.process().err());
  REQUIRE(daemon.ready());
  for (const std::string function : {"shell", "cpp"}) {
    CAPTURE(function);
    const std::string log = logs.path() + "/" + function + ".log";
    REQUIRE(eventually([&] { return file_lines(log).size() >= 2; }, 10s));
    std::set<std::string> times;
    std::set<std::string> ids;
    for (const auto& event : read_events(log)) {
      CHECK(string_member(event, "detail-type") == "Scheduled Event");
      CHECK(string_member(event, "source") == "aws.events");
      CHECK(string_member(event, "version") == "0");
      CHECK(string_member(event, "account").size() == 12);
      REQUIRE(event.HasMember("resources"));
      REQUIRE(event["resources"].IsArray());
      REQUIRE(event["resources"].Size() == 1);
      CHECK(std::string(event["resources"][0].GetString()) ==
            "switchyard:cron/" + function + "-tick");
      CHECK(event.HasMember("detail"));
      CHECK(event["detail"].IsObject());
      std::string time = string_member(event, "time");
      CHECK(time.size() == 20);  // 2026-12-04T18:00:01Z
      CHECK(time.back() == 'Z');
      times.insert(time);
      ids.insert(string_member(event, "id"));
    }
    // One event per tick: each its own second and id.
    CHECK(times.size() == read_events(log).size());
    CHECK(ids.size() == read_events(log).size());
  }
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("custom runtime failures are retried and dead-lettered; nothing lost, nothing left") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("mixed", 4);
  cluster.create_topic("dlq", 1);
  const std::int64_t count = 40;
  // Bad records by index; the others are good.
  const std::map<std::int64_t, std::string> bad = {
      {3, "crash"}, {8, "fail"}, {13, "hang"}, {21, "fail"}, {30, "crash"}};
  auto value_of = [&](std::int64_t i) {
    auto it = bad.find(i);
    return (it == bad.end() ? std::string("good") : it->second) + "-" + std::to_string(i);
  };
  REQUIRE(cluster.produce(
      "mixed", count, [](std::int64_t i) { return "k" + std::to_string(i); }, value_of));
  TempDir logs;
  // timeout 5s, not less: the shell runtime forks a dozen programs per event, and on a loaded
  // 2-core CI machine a good event once took over 1 s (timed out, retried, logged twice).
  Setup setup(cluster.bootstraps(),
              {{"faulty", "name: faulty\nruntime: provided\nbootstrap: " + kShellRuntime +
                              "\nconcurrency: 4\ntimeout: 5s\n"
                              "env: { EVENT_LOG: \"" +
                              logs.path() +
                              "/faulty.log\" }\n"
                              "retry: { attempts: 3, backoff: 10ms, max_backoff: 20ms }\n"
                              "dead_letter: { kafka_topic: dlq }\n"
                              "triggers:\n  - kafka: { topic: mixed, batch: 1 }\n"}});
  RunningDaemon daemon(kBin, setup.config);
  INFO(daemon.process().err());
  REQUIRE(daemon.ready());

  // Every bad record reaches the dead-letter topic, once, after its three attempts.
  auto letters = cluster.read_all("dlq", 1, bad.size(), 60000);
  REQUIRE(letters.size() == bad.size());
  // A crash is the runtime's exit, a failure the runtime's errorType, a hang the deadline's.
  std::map<std::string, std::string> expected_types;  // By value.
  for (const auto& [i, word] : bad) {
    expected_types[value_of(i)] = word == "crash"  ? "Runtime.ExitError"
                                  : word == "fail" ? "Custom.Failure"
                                                   : "Sandbox.Timedout";
  }
  std::set<std::string> lettered;
  for (const auto& letter : letters) {
    std::map<std::string, std::string> headers(letter.headers.begin(), letter.headers.end());
    CAPTURE(letter.value);
    lettered.insert(letter.value);
    CHECK(headers["switchyard.attempts"] == "3");
    CHECK(headers["switchyard.function"] == "faulty");
    CHECK(headers["switchyard.source.topic"] == "mixed");
    CHECK(headers["switchyard.error.type"] == expected_types[letter.value]);
  }
  CHECK(lettered.size() == bad.size());

  // Every good record is processed, once; no bad one ever succeeded.
  const std::string log = logs.path() + "/faulty.log";
  const std::size_t good = count - bad.size();
  CHECK(eventually([&] { return read_kafka_events(log, "mixed").records >= good; }, 30s));
  CHECK(eventually(
      [&] { return committed_total(cluster, "switchyard.faulty", "mixed", 4) == count; }, 20s));
  KafkaSeen seen = read_kafka_events(log, "mixed");
  CHECK(seen.shape_errors == 0);
  CHECK(seen.records == good);
  CHECK(seen.coordinates.size() == good);
  std::multiset<std::string> good_values;
  for (std::int64_t i = 0; i < count; ++i) {
    if (bad.count(i) == 0) {
      good_values.insert(value_of(i));
    }
  }
  CHECK(seen.values == good_values);

  // The daemon is up, has reaped every environment that ended, and counted what happened:
  // final outcomes per record, an environment stop per crashing or hanging attempt.
  CHECK(::kill(daemon.process().pid(), 0) == 0);
  // (One that just ended is a zombie until the loop reaps it: not for long.)
  CHECK(eventually(
      [&] {
        for (char state : child_states(daemon.process().pid())) {
          if (state == 'Z') {
            return false;
          }
        }
        return true;
      },
      5s));
  const std::string labels = "{function=\"faulty\",";
  std::string metrics;
  CHECK(eventually(
      [&] {
        metrics = metrics_of(daemon);
        return metric(metrics, "switchyard_dead_letters_total{function=\"faulty\"}") ==
               static_cast<double>(bad.size());
      },
      10s));
  INFO(metrics);
  CHECK(metric(metrics, "switchyard_events_total" + labels + "outcome=\"ok\"}") == good);
  CHECK(metric(metrics, "switchyard_events_total" + labels + "outcome=\"error\"}") == 4);
  CHECK(metric(metrics, "switchyard_events_total" + labels + "outcome=\"timeout\"}") == 1);
  CHECK(metric(metrics, "switchyard_retries_total{function=\"faulty\"}") == 2 * bad.size());
  CHECK(metric(metrics, "switchyard_environment_stops_total" + labels + "reason=\"crash\"}") ==
        2 * 3);
  CHECK(metric(metrics, "switchyard_environment_stops_total" + labels + "reason=\"timeout\"}") ==
        1 * 3);

  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
}

TEST_CASE("the C++ runtime answers HTTP (API Gateway 2.0) and the Invoke API") {
  // The example as shipped: its own manifest (examples/custom-runtime-cpp/function.yaml).
  Setup setup("", {}, kCppExampleDir);
  RunningDaemon daemon(kBin, setup.config);
  INFO(daemon.process().err());
  REQUIRE(daemon.ready());
  const std::string function = "hello-cpp-runtime";
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };

  // HTTP: the handler gets the API Gateway 2.0 request; its result, JSON without statusCode,
  // is a 200 application/json body.
  long long before = now_ms();
  auto reply = http_request(daemon.http_port(), "POST", "/cpp-runtime?x=1", R"({"name":"Ada"})",
                            "Content-Type: application/json\r\n");
  CHECK(reply.status == 200);
  CHECK(reply.header("content-type") == "application/json");
  rapidjson::Document answer;
  answer.Parse(reply.body.c_str());
  REQUIRE_MESSAGE(!answer.HasParseError(), reply.body);
  REQUIRE(answer["received"].IsObject());
  const auto& request = answer["received"];
  CHECK(string_member(request, "version") == "2.0");
  CHECK(string_member(request, "rawPath") == "/cpp-runtime");
  CHECK(string_member(request, "rawQueryString") == "x=1");
  CHECK(string_member(request["requestContext"]["http"], "method") == "POST");
  CHECK(string_member(request, "body") == R"({"name":"Ada"})");
  CHECK(!string_member(answer, "requestId").empty());
  CHECK(string_member(answer, "functionArn") ==
        "arn:aws:lambda:eu-west-3:000000000000:function:" + function);
  REQUIRE(answer["deadlineMs"].IsInt64());
  CHECK(answer["deadlineMs"].GetInt64() >= before + 2900);  // timeout: 3s
  CHECK(answer["deadlineMs"].GetInt64() <= now_ms() + 3000);

  // A handler failure is a 502 to an HTTP caller.
  auto failed_http = http_request(daemon.http_port(), "POST", "/cpp-runtime", "please-fail");
  CHECK(failed_http.status == 502);

  // The Invoke API: the payload as sent.
  auto invoked = http_request(daemon.admin_port(), "POST", invoke_path(function), R"({"x":"y"})");
  CHECK(invoked.status == 200);
  CHECK(invoked.header("x-amz-function-error") == "");
  rapidjson::Document direct;
  direct.Parse(invoked.body.c_str());
  REQUIRE_MESSAGE(!direct.HasParseError(), invoked.body);
  CHECK(string_member(direct["received"], "x") == "y");

  // Keep-alive: each environment asks, answers and asks again over one connection (four
  // invocations so far; one connection per request would be eight or more).
  double connections =
      metric(metrics_of(daemon), "switchyard_http_connections_total{server=\"runtime-api\"}");
  CHECK(connections >= 1);
  CHECK(connections <= 2);

  // Its failures as Lambda reports them: the runtime's errorType, an exit.
  auto failed =
      http_request(daemon.admin_port(), "POST", invoke_path(function), R"({"ask":"please-fail"})");
  CHECK(failed.status == 200);
  CHECK(failed.header("x-amz-function-error") == "Unhandled");
  CHECK(failed.body.find(R"("errorType":"Example.Failure")") != std::string::npos);
  auto crashed =
      http_request(daemon.admin_port(), "POST", invoke_path(function), R"({"ask":"please-crash"})");
  CHECK(crashed.header("x-amz-function-error") == "Unhandled");
  CHECK(crashed.body.find("Runtime exited with error: exit status 2") != std::string::npos);
  // And it answers again, from a fresh environment.
  auto again = http_request(daemon.admin_port(), "POST", invoke_path(function), R"([1,2])");
  CHECK(again.status == 200);
  CHECK(again.body.rfind(R"({"received":[1,2],)", 0) == 0);

  auto metrics = metrics_of(daemon);
  CHECK(metric(metrics, "switchyard_environment_stops_total{function=\"" + function +
                            "\",reason=\"crash\"}") == 1);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("the C++ runtime reports an init failure through /init/error") {
  Setup setup("", {{"broken", "name: broken\nruntime: provided\nbootstrap: " + kCppRuntime +
                                  "\nhandler: nope\n"}});
  Child daemon({kBin, "run", "-c", setup.config}, {{"SWITCHYARD_HTTP_PORT", "0"},
                                                   {"SWITCHYARD_ADMIN_PORT", "0"},
                                                   {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
  auto result = daemon.wait(20s);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find(
            "function 'broken': init failed: Runtime.HandlerNotFound: no handler named 'nope'") !=
        std::string::npos);
}

TEST_CASE("the shell example's manifest serves AWS's tutorial runtime as shipped") {
  Setup setup("", {}, kShellExampleDir);
  RunningDaemon daemon(kBin, setup.config);
  INFO(daemon.process().err());
  REQUIRE(daemon.ready());
  auto reply = http_request(daemon.http_port(), "GET", "/shell-runtime");
  CHECK(reply.status == 200);
  CHECK(reply.body.find("Hello from a shell runtime!") != std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}
