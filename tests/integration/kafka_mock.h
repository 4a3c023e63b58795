#pragma once

// librdkafka's mock Kafka cluster (3 brokers on 127.0.0.1, ephemeral ports) in this process,
// for the Kafka integration tests and the Kafka benchmark. The daemon under test reaches it over
// TCP through bootstraps(), like a real cluster. Also a producer into it and a reader of
// committed offsets and of whole topics.
//
// Thread rules: one thread uses an instance; librdkafka's threads stay inside librdkafka.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace switchyard::testing {

struct ReadRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

class KafkaMockCluster {
 public:
  explicit KafkaMockCluster(int brokers = 3);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  bool ok() const { return cluster_ != nullptr; }
  const std::string& bootstraps() const { return bootstraps_; }
  rd_kafka_mock_cluster_s* raw() { return cluster_; }

  void create_topic(const std::string& topic, int partitions);

  // Produces `count` records to `topic` with key key_of(i) (nullopt: no key) and value
  // value_of(i), partitioned by librdkafka's default partitioner (by key hash), and waits until
  // all are acknowledged. Returns false if some were not.
  bool produce(const std::string& topic, std::int64_t count,
               const std::function<std::optional<std::string>(std::int64_t)>& key_of,
               const std::function<std::string(std::int64_t)>& value_of,
               const std::vector<std::pair<std::string, std::string>>& headers = {});

  // The committed offsets of `group` for partitions 0..partitions-1 of `topic` (-1001 when
  // none), or an empty map when they could not be read.
  std::map<std::int32_t, std::int64_t> committed(const std::string& group, const std::string& topic,
                                                 int partitions);

  // The end offset (high watermark) of partitions 0..partitions-1 of `topic`, -1 for a
  // partition whose end could not be read within `timeout_ms`.
  std::map<std::int32_t, std::int64_t> end_offsets(const std::string& topic, int partitions,
                                                   int timeout_ms = 10000);

  // Every record of `topic` (partitions 0..partitions-1), read from the beginning until
  // `expected` records were read or `timeout_ms` passed.
  std::vector<ReadRecord> read_all(const std::string& topic, int partitions, std::size_t expected,
                                   int timeout_ms);

  // Fails the next `count` requests of `api_key` (Kafka protocol ApiKey: 1 Fetch, 8 OffsetCommit,
  // ...) with `error` (an rd_kafka_resp_err_t).
  void push_request_errors(int api_key, int count, int error);
  void set_broker_down(int broker_id);
  void set_broker_up(int broker_id);

 private:
  rd_kafka_s* handle_ = nullptr;  // The producer that owns the cluster (test.mock.num.brokers).
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace switchyard::testing
