#pragma once

// librdkafka plumbing shared by the Kafka consumer trigger and the dead-letter producer:
// RAII holders for its C handles, the client configuration built from the daemon config
// (brokers plus the `kafka.properties` passed straight through), and QueueWatcher, which wakes
// the libuv loop when a librdkafka queue has something to serve.
//
// This header is private to triggers/kafka (it includes rdkafka.h); triggers/kafka/kafka_trigger.h
// is the public one.
//
// Thread rules: loop thread only, except where a comment says otherwise.

#include <librdkafka/rdkafka.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "core/loop.h"

namespace switchyard::triggers::kafka {

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* handle) const {
    if (handle != nullptr) {
      Destroy(handle);
    }
  }
};
using ConfHolder =
    std::unique_ptr<rd_kafka_conf_t, Deleter<rd_kafka_conf_t, &rd_kafka_conf_destroy>>;
using QueueHolder =
    std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_t, &rd_kafka_queue_destroy>>;
using PartitionListHolder = std::unique_ptr<
    rd_kafka_topic_partition_list_t,
    Deleter<rd_kafka_topic_partition_list_t, &rd_kafka_topic_partition_list_destroy>>;
using ErrorHolder =
    std::unique_ptr<rd_kafka_error_t, Deleter<rd_kafka_error_t, &rd_kafka_error_destroy>>;
using EventHolder =
    std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_t, &rd_kafka_event_destroy>>;
using MessageHolder =
    std::unique_ptr<rd_kafka_message_t, Deleter<rd_kafka_message_t, &rd_kafka_message_destroy>>;

// Whether `property` belongs on a client of `type`: false for a consumer-only property on a
// producer and the reverse, as librdkafka's own property table (its C/P column) says.
bool applies_to(rd_kafka_type_t type, std::string_view property);

// Builds a configuration for a client of `type`: bootstrap.servers from `kafka.brokers`, then
// `defaults` (ours, overridable), then every `kafka.properties` entry that applies to `type`
// (the others are meant for the other kind of client: librdkafka would only warn about them),
// then `forced` (what switchyard relies on: never overridable). A property librdkafka refuses is an
// error naming it: "kafka.properties.security.protocol: Invalid value \"tls\" for configuration
// property ...". librdkafka's log lines go to spdlog, tagged with `who`.
core::Result<ConfHolder> make_conf(const config::KafkaConfig& kafka, rd_kafka_type_t type,
                                   const std::map<std::string, std::string>& defaults,
                                   const std::map<std::string, std::string>& forced,
                                   const std::string& who);

// Makes a client of `type` from `conf` (taken over, also on failure).
core::Result<rd_kafka_t*> make_client(rd_kafka_type_t type, ConfHolder conf,
                                      const std::string& who);

// Assigns `partitions` to the consumer `rk` (rd_kafka_incremental_assign() for a `cooperative`
// member, rd_kafka_assign() otherwise), resumed first: librdkafka keeps a partition's pause flag
// across assignments (2.0.2), so one paused for backpressure before a revoke would stay paused
// for good. Resumed before the assign, never after: librdkafka 2.0.2 gives every resume a new
// version barrier of its partition, paused or not, and drops an operation of the partition whose
// barrier is older than one it has served. Its main thread starts an assigned partition's fetcher
// (a barrier, then the operation) once the committed offsets are in; a resume after the assign
// whose barrier and operation fall between those two has the fetcher's start dropped, and the
// partition is never read, silently (librdkafka issues #2190, #4686). Returns librdkafka's error,
// or an empty string.
std::string assign_partitions(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions,
                              bool cooperative);

// Wakes the loop when `queue` goes from empty to non-empty: librdkafka writes to a pipe that a
// uv_poll_t watches (rd_kafka_queue_io_event_enable). `on_ready` then serves the queue; it is
// also where the owner re-arms (kick()) when it stops serving before the queue is empty, since
// librdkafka writes again only after the queue was emptied.
class QueueWatcher {
 public:
  QueueWatcher(core::Loop& loop, rd_kafka_queue_t* queue, std::function<void()> on_ready);
  ~QueueWatcher();
  QueueWatcher(const QueueWatcher&) = delete;
  QueueWatcher& operator=(const QueueWatcher&) = delete;

  core::Status start();
  // Calls on_ready on the next loop iteration (coalesced).
  void kick();
  // Stops the io events (the queue may then be destroyed).
  void stop();

 private:
  void drain_pipe();

  core::Loop& loop_;
  rd_kafka_queue_t* queue_;
  std::function<void()> on_ready_;
  int fds_[2] = {-1, -1};
  core::Handle<uv_poll_t> poll_;
  core::Timer kick_timer_;
  bool kicked_ = false;
};

// "Broker: Not coordinator" and the like, with the error name: for log lines and Errors.
std::string describe(rd_kafka_resp_err_t err);

}  // namespace switchyard::triggers::kafka
