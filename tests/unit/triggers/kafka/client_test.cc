#include "triggers/kafka/client.h"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

using namespace switchyard::triggers::kafka;

namespace {

std::string get(const ConfHolder& conf, const char* name) {
  char value[256];
  size_t size = sizeof(value);
  REQUIRE(rd_kafka_conf_get(conf.get(), name, value, &size) == RD_KAFKA_CONF_OK);
  return value;
}

// librdkafka's log lines, from whichever of its threads logs them, in the order they came.
std::mutex log_mutex;
std::vector<std::string> log_lines;

void keep_log_line(const rd_kafka_t*, int, const char*, const char* message) {
  std::lock_guard<std::mutex> lock(log_mutex);
  log_lines.emplace_back(message);
}

std::size_t log_size() {
  std::lock_guard<std::mutex> lock(log_mutex);
  return log_lines.size();
}

// The index of the first line kept that contains `text`, or the number of lines.
std::size_t first_line_with(const std::string& text) {
  std::lock_guard<std::mutex> lock(log_mutex);
  auto it = std::find_if(log_lines.begin(), log_lines.end(), [&](const std::string& line) {
    return line.find(text) != std::string::npos;
  });
  return static_cast<std::size_t>(it - log_lines.begin());
}

}  // namespace

TEST_CASE("assigned partitions are resumed before librdkafka may start their fetchers") {
  // A resume after the assign could take a version barrier between the one of a partition's
  // fetcher start and that operation (librdkafka's main thread starts the fetcher once the
  // committed offsets are in): the start would be dropped as outdated, and the partition never
  // read. Seen in librdkafka's debug log: each partition's resume is logged (on the calling
  // thread) before the group takes the assignment (on librdkafka's main thread, before
  // rd_kafka_assign() returns).
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    log_lines.clear();
  }
  char errstr[512];
  // A mock cluster of one broker (owned by a client of its own), with a topic of 2 partitions.
  rd_kafka_conf_t* cluster_conf = rd_kafka_conf_new();
  REQUIRE(rd_kafka_conf_set(cluster_conf, "test.mock.num.brokers", "1", errstr, sizeof(errstr)) ==
          RD_KAFKA_CONF_OK);
  rd_kafka_t* cluster = rd_kafka_new(RD_KAFKA_PRODUCER, cluster_conf, errstr, sizeof(errstr));
  REQUIRE(cluster != nullptr);
  rd_kafka_mock_cluster_t* mock = rd_kafka_handle_mock_cluster(cluster);
  REQUIRE(rd_kafka_mock_topic_create(mock, "orders", 2, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] :
       {std::pair<const char*, std::string>{"bootstrap.servers",
                                            rd_kafka_mock_cluster_bootstraps(mock)},
        {"group.id", "assign-test"},
        {"debug", "cgrp,topic"}}) {
    REQUIRE(rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof(errstr)) ==
            RD_KAFKA_CONF_OK);
  }
  rd_kafka_conf_set_log_cb(conf, &keep_log_line);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  REQUIRE(rk != nullptr);
  // The topic's partitions known to the consumer, as they are to a subscribed one.
  const rd_kafka_metadata_t* metadata = nullptr;
  REQUIRE(rd_kafka_metadata(rk, 1, nullptr, &metadata, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_metadata_destroy(metadata);

  PartitionListHolder partitions(rd_kafka_topic_partition_list_new(2));
  rd_kafka_topic_partition_list_add(partitions.get(), "orders", 0);
  rd_kafka_topic_partition_list_add(partitions.get(), "orders", 1);
  CHECK(assign_partitions(rk, partitions.get(), /*cooperative=*/false).empty());

  const std::size_t assigned = first_line_with("new assignment of 2 partition(s)");
  CHECK(assigned < log_size());
  CHECK(first_line_with("Resume orders [0]") < assigned);
  CHECK(first_line_with("Resume orders [1]") < assigned);

  rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  rd_kafka_destroy(cluster);
}

TEST_CASE("properties apply to the kind of client librdkafka's table gives them") {
  CHECK(applies_to(RD_KAFKA_CONSUMER, "fetch.wait.max.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_PRODUCER, "fetch.wait.max.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_PRODUCER, "session.timeout.ms"));
  CHECK(applies_to(RD_KAFKA_PRODUCER, "linger.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_CONSUMER, "linger.ms"));
  // Both kinds: global client properties.
  CHECK(applies_to(RD_KAFKA_PRODUCER, "security.protocol"));
  CHECK(applies_to(RD_KAFKA_CONSUMER, "security.protocol"));
  CHECK(applies_to(RD_KAFKA_PRODUCER, "client.id"));
  // Not in the table: left to librdkafka, which refuses it with its own message.
  CHECK(applies_to(RD_KAFKA_PRODUCER, "no.such.property"));
}

TEST_CASE("a client's configuration gets only the properties meant for its kind") {
  switchyard::config::KafkaConfig kafka;
  kafka.brokers = "localhost:9092";
  kafka.properties = {{"fetch.wait.max.ms", "123"}, {"linger.ms", "7"}, {"client.id", "sy"}};
  auto producer = make_conf(kafka, RD_KAFKA_PRODUCER, {}, {}, "test");
  REQUIRE(producer.ok());
  CHECK(get(*producer, "linger.ms") == "7");
  CHECK(get(*producer, "client.id") == "sy");
  CHECK(get(*producer, "fetch.wait.max.ms") != "123");  // librdkafka's default stays.
  auto consumer = make_conf(kafka, RD_KAFKA_CONSUMER, {}, {}, "test");
  REQUIRE(consumer.ok());
  CHECK(get(*consumer, "fetch.wait.max.ms") == "123");
  CHECK(get(*consumer, "client.id") == "sy");
  CHECK(get(*consumer, "linger.ms") != "7");
  // A bad value of a property that applies is still an error naming it.
  kafka.properties = {{"linger.ms", "soon"}};
  auto bad = make_conf(kafka, RD_KAFKA_PRODUCER, {}, {}, "test");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("kafka.properties.linger.ms") != std::string::npos);
}
