// Drain on SIGTERM with two pulling sources at once: a daemon consuming a Redis stream (a real
// redis-server) and a Kafka topic (librdkafka's mock cluster) gets SIGTERM in the middle, exits
// 0, and a restarted daemon finishes the rest: every entry and every record processed, none lost
// (duplicates are allowed and reported).

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "kafka_mock.h"
#include "redis_server.h"
#include "support/daemon.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
constexpr int kEntries = 3000;
constexpr int kRecords = 3000;

// Kafka: the distinct (partition, offset) pairs recorded ("R <topic> <partition> <offset> ...").
std::set<std::pair<int, long long>> kafka_seen(const std::string& file, std::size_t* lines) {
  std::set<std::pair<int, long long>> seen;
  auto all = file_lines(file);
  *lines = 0;
  for (const auto& line : all) {
    std::istringstream in(line);
    std::string kind, topic;
    int partition;
    long long offset;
    if (in >> kind >> topic >> partition >> offset && kind == "R") {
      seen.insert({partition, offset});
      ++*lines;
    }
  }
  return seen;
}

}  // namespace

TEST_CASE(
    "SIGTERM while a Redis stream and a Kafka topic are consumed: a restart finishes "
    "everything, nothing is lost") {
  RedisServer redis;
  KafkaMockCluster kafka;
  REQUIRE(kafka.ok());
  kafka.create_topic("orders", 4);
  REQUIRE(kafka.produce(
      "orders", kRecords,
      [](std::int64_t i) { return std::optional<std::string>("k" + std::to_string(i % 50)); },
      [](std::int64_t i) { return "v" + std::to_string(i); }));
  {
    auto client = redis.client();
    for (int i = 0; i < kEntries;) {
      std::vector<std::string> argv = {"EVAL",
                                       "for i = 1, #ARGV do redis.call('XADD', KEYS[1], '*', "
                                       "'data', ARGV[i]) end return #ARGV",
                                       "1", "jobs"};
      for (int j = 0; j < 500 && i < kEntries; ++j, ++i) {
        argv.push_back(std::to_string(i));
      }
      REQUIRE(client.command(argv).ok());
    }
  }

  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/functions.d");
  const std::string redis_out = dir.path() + "/redis.txt";
  const std::string kafka_out = dir.path() + "/kafka.txt";
  dir.write("switchyard.yaml",
            "instance: drain-host\nworkers: 4\nmanifests: functions.d\n"
            "state_dir: ${SWITCHYARD_STATE_DIR}\n"
            "http: { enabled: false }\n"
            "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
            "logging: { level: info, format: text }\n"
            "limits: { shutdown_timeout: 20s }\n"
            "redis: { url: \"" +
                redis.url() +
                "\" }\n"
                "kafka:\n  brokers: \"" +
                kafka.bootstraps() +
                "\"\n"
                "  properties:\n    session.timeout.ms: \"6000\"\n"
                "    heartbeat.interval.ms: \"500\"\n");
  dir.write("functions.d/fromredis.yaml", "name: fromredis\nlibrary: " REDIS_RECORDER
                                          "\nconcurrency: 2\n"
                                          "env:\n  RECORD_FILE: \"" +
                                              redis_out +
                                              "\"\n  SLEEP_MS: \"10\"\n"
                                              "triggers:\n  - redis: { stream: jobs }\n");
  // About 800 records/s over 4 lanes, the stream 200 entries/s: neither is finished when the
  // other reaches 300, so that the SIGTERM lands in the middle of both.
  dir.write("functions.d/fromkafka.yaml",
            "name: fromkafka\nlibrary: " KAFKA_RECORDER
            "\nconcurrency: 4\n"
            "env: { OUT_FILE: \"" +
                kafka_out +
                "\", SLEEP_US: \"5000\" }\n"
                "triggers:\n  - kafka: { topic: orders, ordering: key }\n");
  const std::string config = dir.path() + "/switchyard.yaml";

  std::size_t kafka_lines = 0;
  {
    RunningDaemon daemon(kBin, config);
    REQUIRE_MESSAGE(daemon.ready(), daemon.process().err());
    // Both sources under way, neither finished.
    REQUIRE(eventually(
        [&] {
          (void)daemon.process().err();  // Keep its pipe drained.
          return file_lines(redis_out).size() >= 300 &&
                 kafka_seen(kafka_out, &kafka_lines).size() >= 300;
        },
        60s, 20ms));
    auto stopped = daemon.stop(40s);
    INFO(stopped.err);
    CHECK(stopped.exit_code == 0);
  }
  std::size_t redis_at_stop = file_lines(redis_out).size();
  std::size_t kafka_at_stop = kafka_seen(kafka_out, &kafka_lines).size();
  MESSAGE("at SIGTERM: redis " << redis_at_stop << "/" << kEntries << ", kafka " << kafka_at_stop
                               << "/" << kRecords);
  CHECK(redis_at_stop < static_cast<std::size_t>(kEntries));
  CHECK(kafka_at_stop < static_cast<std::size_t>(kRecords));

  RunningDaemon again(kBin, config);
  REQUIRE_MESSAGE(again.ready(), again.process().err());
  bool done = eventually(
      [&] {
        (void)again.process().err();
        std::set<std::string> redis_seen;
        for (const auto& line : file_lines(redis_out)) {
          redis_seen.insert(line);
        }
        return redis_seen.size() >= static_cast<std::size_t>(kEntries) &&
               kafka_seen(kafka_out, &kafka_lines).size() >= static_cast<std::size_t>(kRecords);
      },
      120s, 20ms);
  CHECK(again.stop(40s).exit_code == 0);

  auto redis_lines = file_lines(redis_out);
  std::set<std::string> redis_seen(redis_lines.begin(), redis_lines.end());
  auto records = kafka_seen(kafka_out, &kafka_lines);
  MESSAGE("redis: " << redis_seen.size() << " of " << kEntries << " entries, "
                    << redis_lines.size() - redis_seen.size()
                    << " duplicate(s); kafka: " << records.size() << " of " << kRecords
                    << " records, " << kafka_lines - records.size() << " duplicate(s)");
  CHECK(done);
  for (int i = 0; i < kEntries; ++i) {
    if (redis_seen.count(std::to_string(i)) == 0) {
      FAIL_CHECK("redis entry " << i << " was lost");
      break;
    }
  }
  CHECK(records.size() == static_cast<std::size_t>(kRecords));
}
