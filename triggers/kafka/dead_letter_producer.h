#pragma once

// The dead-letter writer for `dead_letter: { kafka_topic: T }`: one librdkafka producer per
// daemon (acks=all, idempotent), whose delivery reports are served on the loop thread (its main
// queue wakes a uv_poll_t, like the consumers). A dead letter is "written" when the broker has
// acknowledged it; only then does the scheduler acknowledge the source record. The record
// written is triggers/kafka/record.h's dead_letter_record(): the original key, value and
// headers plus switchyard.* headers with the error, attempts, function and source coordinates.
//
// Thread rules: loop thread only. Ownership: shared by the DeadLetterRouter; close() flushes
// for at most 10s, then fails whatever is left.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "scheduler/dead_letter.h"
#include "triggers/kafka/record.h"

struct rd_kafka_s;
struct rd_kafka_queue_s;

namespace switchyard::triggers::kafka {

class QueueWatcher;

class DeadLetterProducer final : public scheduler::DeadLetterSink,
                                 public std::enable_shared_from_this<DeadLetterProducer> {
 public:
  // Creates and starts the producer; an error names a property librdkafka refused.
  static core::Result<std::shared_ptr<DeadLetterProducer>> create(core::Loop& loop,
                                                                  core::MetricsRegistry& metrics,
                                                                  const config::KafkaConfig& kafka);
  // The producer properties switchyard sets unless kafka.properties does.
  static const std::map<std::string, std::string>& defaults();

  DeadLetterProducer(core::Loop& loop, core::MetricsRegistry& metrics);
  ~DeadLetterProducer() override;

  void send(const scheduler::DeadLetter& letter, std::function<void(core::Status)> done) override;
  // What send() names what it writes.
  static constexpr std::string_view kDeadLetter = "the dead letter";
  // Writes `record` to `topic` (a shared asynchronous queue's invocation: triggers/kafka/
  // async_topic.h); `done` once the broker acknowledged it, or with why not (`what` names it).
  void produce(const std::string& topic, const DeadLetterRecord& record,
               std::function<void(core::Status)> done, std::string_view what);
  void close(std::function<void()> done) override;

  // librdkafka's delivery report for the dead letter `ticket` (served on the loop thread).
  void on_delivery_report(std::uint64_t ticket, int err, const std::string& topic);

 private:
  void serve();
  void destroy_client();
  void finish_close();
  void fail_pending(const std::string& why);
  core::Counter& written(const std::string& topic, const char* result);

  core::Loop& loop_;
  core::MetricsRegistry& metrics_;
  rd_kafka_s* rk_ = nullptr;
  rd_kafka_queue_s* main_queue_ = nullptr;  // Released before the client is destroyed.
  std::unique_ptr<QueueWatcher> watcher_;
  std::unique_ptr<core::Timer> close_timer_;
  std::uint64_t close_deadline_ms_ = 0;
  std::uint64_t next_ticket_ = 1;
  // A record sent and not reported yet; dead letters (and destination records) are counted.
  struct Pending {
    std::function<void(core::Status)> done;
    bool dead_letter = false;
  };
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::function<void()> on_closed_;
  bool closing_ = false;
};

}  // namespace switchyard::triggers::kafka
