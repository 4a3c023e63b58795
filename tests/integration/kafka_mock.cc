#include "kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <set>

namespace switchyard::testing {

namespace {

bool set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char errstr[256];
  if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "kafka mock: %s: %s\n", name, errstr);
    return false;
  }
  return true;
}

void quiet_log(const rd_kafka_t*, int level, const char* facility, const char* message) {
  if (level <= 3) {
    std::fprintf(stderr, "kafka mock %s: %s\n", facility, message);
  }
}

}  // namespace

KafkaMockCluster::KafkaMockCluster(int brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "test.mock.num.brokers", std::to_string(brokers));
  set(conf, "linger.ms", "5");
  set(conf, "queue.buffering.max.messages", "1000000");
  rd_kafka_conf_set_log_cb(conf, quiet_log);
  char errstr[256];
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (handle_ == nullptr) {
    std::fprintf(stderr, "kafka mock: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return;
  }
  cluster_ = rd_kafka_handle_mock_cluster(handle_);
  if (cluster_ != nullptr) {
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
}

KafkaMockCluster::~KafkaMockCluster() {
  if (handle_ != nullptr) {
    rd_kafka_flush(handle_, 5000);
    rd_kafka_destroy(handle_);
  }
}

void KafkaMockCluster::create_topic(const std::string& topic, int partitions) {
  rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 3);
}

bool KafkaMockCluster::produce(
    const std::string& topic, std::int64_t count,
    const std::function<std::optional<std::string>(std::int64_t)>& key_of,
    const std::function<std::string(std::int64_t)>& value_of,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  for (std::int64_t i = 0; i < count; ++i) {
    std::optional<std::string> key = key_of(i);
    std::string value = value_of(i);
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [name, text] : headers) {
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                          static_cast<ssize_t>(text.size()));
    }
    const char* key_data = key ? key->data() : nullptr;
    std::size_t key_size = key ? key->size() : 0;
    const char* topic_name = topic.c_str();
    void* value_data = value.data();
    std::size_t value_size = value.size();
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          handle_, RD_KAFKA_V_TOPIC(topic_name), RD_KAFKA_V_KEY(key_data, key_size),
          RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(handle_, 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        std::fprintf(stderr, "kafka mock: produce: %s\n", rd_kafka_err2str(err));
        return false;
      }
      break;
    }
    rd_kafka_poll(handle_, 0);
  }
  return rd_kafka_flush(handle_, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::map<std::int32_t, std::int64_t> KafkaMockCluster::committed(const std::string& group,
                                                                 const std::string& topic,
                                                                 int partitions) {
  std::map<std::int32_t, std::int64_t> out;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstraps_);
  set(conf, "group.id", group);
  rd_kafka_conf_set_log_cb(conf, quiet_log);
  char errstr[256];
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    return out;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  }
  if (rd_kafka_committed(consumer, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      out[list->elems[i].partition] = list->elems[i].offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy_flags(consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  return out;
}

std::map<std::int32_t, std::int64_t> KafkaMockCluster::end_offsets(const std::string& topic,
                                                                   int partitions, int timeout_ms) {
  std::map<std::int32_t, std::int64_t> out;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = -1;
    std::int64_t high = -1;
    if (rd_kafka_query_watermark_offsets(handle_, topic.c_str(), p, &low, &high, timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      high = -1;
    }
    out[p] = high;
  }
  return out;
}

std::vector<ReadRecord> KafkaMockCluster::read_all(const std::string& topic, int partitions,
                                                   std::size_t expected, int timeout_ms) {
  std::vector<ReadRecord> out;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstraps_);
  set(conf, "group.id", "switchyard-test-reader");
  set(conf, "enable.auto.commit", "false");
  rd_kafka_conf_set_log_cb(conf, quiet_log);
  char errstr[256];
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    return out;
  }
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
    if (message == nullptr) {
      continue;
    }
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ReadRecord record;
      record.partition = message->partition;
      record.offset = message->offset;
      if (message->key != nullptr) {
        record.key.emplace(static_cast<const char*>(message->key), message->key_len);
      }
      if (message->payload != nullptr) {
        record.value.assign(static_cast<const char*>(message->payload), message->len);
      }
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          record.headers.emplace_back(
              name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
        }
      }
      out.push_back(std::move(record));
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_destroy_flags(consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  return out;
}

void KafkaMockCluster::push_request_errors(int api_key, int count, int error) {
  std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count),
                                          static_cast<rd_kafka_resp_err_t>(error));
  rd_kafka_mock_push_request_errors_array(cluster_, static_cast<int16_t>(api_key), errors.size(),
                                          errors.data());
}

void KafkaMockCluster::set_broker_down(int broker_id) {
  rd_kafka_mock_broker_set_down(cluster_, broker_id);
}

void KafkaMockCluster::set_broker_up(int broker_id) {
  rd_kafka_mock_broker_set_up(cluster_, broker_id);
}

}  // namespace switchyard::testing
