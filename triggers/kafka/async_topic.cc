#include "triggers/kafka/async_topic.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "async/event_codec.h"
#include "triggers/kafka/consumer_trigger.h"
#include "triggers/shared_async.h"

namespace switchyard::triggers::kafka {

namespace {

using std::chrono::milliseconds;

// Measures the group's lag on `topic` every second, on a thread of its own: librdkafka's
// metadata, watermark and committed-offset queries block. A consumer client that subscribes to
// nothing and reads nothing.
class LagProbe {
 public:
  static core::Result<std::unique_ptr<LagProbe>> start(const config::KafkaConfig& kafka,
                                                       const std::string& topic) {
    const std::string who = "kafka asynchronous queue " + topic + " (lag)";
    auto conf = make_conf(kafka, RD_KAFKA_CONSUMER, consumer_defaults(), consumer_forced(), who);
    if (!conf.ok()) {
      return conf.error();
    }
    char errstr[512];
    if (rd_kafka_conf_set(conf.value().get(), "group.id", async_group(topic).c_str(), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      return core::Error(core::ErrorCode::kInvalidArgument, fmt::format("group.id: {}", errstr));
    }
    auto client = make_client(RD_KAFKA_CONSUMER, std::move(conf).value(), who);
    if (!client.ok()) {
      return client.error();
    }
    return std::unique_ptr<LagProbe>(new LagProbe(client.value(), topic));
  }

  ~LagProbe() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    // It never joined the group: nothing to leave.
    rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  // The lag as last measured; -1 before the first measure.
  std::int64_t lag() const { return lag_.load(std::memory_order_relaxed); }
  // How many measures there have been (a writer counts what it added since the last).
  std::uint64_t measures() const { return measures_.load(std::memory_order_relaxed); }

 private:
  LagProbe(rd_kafka_t* rk, std::string topic)
      : rk_(rk), topic_(std::move(topic)), thread_([this] { run(); }) {}

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      if (auto lag = measure()) {
        lag_.store(*lag, std::memory_order_relaxed);
        measures_.fetch_add(1, std::memory_order_relaxed);
      }
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }

  std::optional<std::int64_t> measure() {
    constexpr int kTimeoutMs = 1000;
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, topic_.c_str(), nullptr);
    if (topic == nullptr) {
      return std::nullopt;
    }
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, topic, &metadata, kTimeoutMs);
    rd_kafka_topic_destroy(topic);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || metadata == nullptr || metadata->topic_cnt != 1 ||
        metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata != nullptr) {
        rd_kafka_metadata_destroy(metadata);
      }
      return std::nullopt;
    }
    PartitionListHolder partitions(
        rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
    for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
      rd_kafka_topic_partition_list_add(partitions.get(), topic_.c_str(),
                                        metadata->topics[0].partitions[i].id);
    }
    rd_kafka_metadata_destroy(metadata);
    if (rd_kafka_committed(rk_, partitions.get(), kTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    std::int64_t lag = 0;
    for (int i = 0; i < partitions->cnt; ++i) {
      const rd_kafka_topic_partition_t& partition = partitions->elems[i];
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (rd_kafka_query_watermark_offsets(rk_, topic_.c_str(), partition.partition, &low, &high,
                                           kTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
      }
      const std::int64_t from = partition.offset >= 0 ? std::max(partition.offset, low) : low;
      lag += std::max<std::int64_t>(0, high - from);
    }
    return lag;
  }

  rd_kafka_t* rk_;
  std::string topic_;
  std::atomic<std::int64_t> lag_{-1};
  std::atomic<std::uint64_t> measures_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // Last: started once the rest is set.
};

class AsyncWriter final : public async::SharedQueue {
 public:
  AsyncWriter(std::shared_ptr<DeadLetterProducer> producer, std::string topic,
              std::unique_ptr<LagProbe> probe)
      : producer_(std::move(producer)), topic_(std::move(topic)), probe_(std::move(probe)) {}

  void add(const async::Record& record, const async::Limits& limits, AddDone done) override {
    const std::int64_t queued = estimate();
    if (queued >= 0 && static_cast<std::uint64_t>(queued) >= limits.max_events) {
      done(Added::kFull, fmt::format("about {} invocation(s) in {}", queued, describe()));
      return;
    }
    ++counts_->unanswered;
    // The producer may answer after this writer is gone (it closes last): the callback holds
    // only what it shares.
    producer_->produce(
        topic_, invocation_record(record),
        [counts = counts_, where = describe(), done = std::move(done)](core::Status status) {
          --counts->unanswered;
          if (status.ok()) {
            ++counts->added;
            done(Added::kAdded, std::string());
          } else {
            done(Added::kFailed, where + ": " + status.error().message());
          }
        },
        "the asynchronous invocation");
  }

  void requeue(std::string_view, const async::Record& record, Done done) override {
    ++counts_->unanswered;
    producer_->produce(
        topic_, invocation_record(record),
        [counts = counts_, done = std::move(done)](core::Status status) {
          --counts->unanswered;
          done(std::move(status));
        },
        "the asynchronous invocation's retry");
  }

  async::FunctionUsage usage() const override {
    async::FunctionUsage usage;
    usage.events = static_cast<std::uint64_t>(std::max<std::int64_t>(0, estimate()));
    return usage;
  }

  bool idle() const override { return counts_->unanswered == 0; }

  std::string describe() const override { return "kafka topic " + topic_; }

 private:
  struct Counts {
    std::size_t unanswered = 0;  // Produced and not reported yet.
    std::uint64_t added = 0;     // Invocations added, in all.
  };

  // The lag as last measured, plus what this daemon added since; -1 before the first measure.
  std::int64_t estimate() const {
    const std::int64_t lag = probe_->lag();
    if (lag < 0) {
      return -1;
    }
    if (probe_->measures() != measure_seen_) {
      measure_seen_ = probe_->measures();
      added_at_measure_ = counts_->added;
    }
    return lag + static_cast<std::int64_t>(counts_->added - added_at_measure_);
  }

  std::shared_ptr<DeadLetterProducer> producer_;
  std::string topic_;
  std::unique_ptr<LagProbe> probe_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  mutable std::uint64_t measure_seen_ = 0;
  mutable std::uint64_t added_at_measure_ = 0;
};

}  // namespace

std::string async_group(std::string_view topic) {
  return "switchyard-async." + std::string(topic);
}

DeadLetterRecord invocation_record(const async::Record& record) {
  DeadLetterRecord out;
  out.key = record.id;
  out.value = async::encode_event(record.event);
  out.headers = {{"request_id", record.id},
                 {"function", record.function},
                 {"attempts", std::to_string(record.attempts)},
                 {"enqueued_at", std::to_string(record.enqueued_at_ms)},
                 {"next_attempt_at", std::to_string(record.next_attempt_at_ms)}};
  return out;
}

core::Result<async::Record> invocation_from_event(const core::Event& event) {
  return invocation_from_attributes(event, "kafka.header.", "header");
}

core::Result<std::shared_ptr<async::SharedQueue>> make_async_writer(
    std::shared_ptr<DeadLetterProducer> producer, const config::KafkaConfig& kafka,
    const std::string& function, const std::string& topic) {
  auto probe = LagProbe::start(kafka, topic);
  if (!probe.ok()) {
    return core::Error(probe.error().code(),
                       fmt::format("the asynchronous queue of function {} (kafka topic {}): {}",
                                   function, topic, probe.error().message()));
  }
  return std::shared_ptr<async::SharedQueue>(
      std::make_shared<AsyncWriter>(std::move(producer), topic, std::move(probe).value()));
}

TriggerPtr make_async_reader(TriggerContext& context, async::SharedIntake& intake,
                             const std::string& function, const KafkaTriggerSettings& spec,
                             ConfHolder conf) {
  SharedReaderSettings reader;
  reader.function = function;
  reader.queue = "kafka topic " + spec.topic;
  reader.decode = invocation_from_event;
  // The record stays in the topic's log; the partition moves on.
  reader.unreadable = SharedReaderSettings::Unreadable::kPassOver;
  auto shared_conf = std::make_shared<ConfHolder>(std::move(conf));
  return make_shared_reader(
      context, intake, std::move(reader), [&](TriggerContext& reader_context) {
        return make_consumer_trigger(reader_context, function, spec, std::move(*shared_conf));
      });
}

}  // namespace switchyard::triggers::kafka
