#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "triggers/kafka/client.h"
#include "triggers/kafka/client_release.h"
#include "triggers/kafka/consumer_trigger_impl.h"
#include "triggers/kafka/partition.h"

// Stopping: stop() drains (no more records taken or dispatched; the ones in the scheduler are
// waited for), then the consumer commits and leaves its group (at most kCloseWait), then
// teardown() (also the destructor's) lets the partitions and the client go: the client at once,
// or with the last event in the scheduler that may still hold one of its messages, and always
// destroyed off the loop (client_release.h): a worker may still hold a message of an event
// answered at a timeout or an abandon.

namespace switchyard::triggers::kafka {

namespace {

using std::chrono::milliseconds;

// How long stop() waits for the consumer to leave its group.
constexpr milliseconds kCloseWait{10000};

}  // namespace

void KafkaConsumerTrigger::stop(std::function<void()> done) {
  if (!lifecycle_.begin_drain()) {
    return;
  }
  on_stopped_ = std::move(done);
  commit_timer_.stop();
  held_timer_.stop();
  window_timer_.stop();
  held_.clear();
  for (auto& [id, partition] : partitions_) {
    partition->discard_waiting();
  }
  spdlog::info("kafka {} ({}): stopping; waiting for {} record(s) in flight", spec_.topic,
               function_, pull_.in_flight());
  maybe_stopped();
}

void KafkaConsumerTrigger::maybe_stopped() {
  if (lifecycle_.state() != LifecycleState::kDraining || pull_.in_flight() > 0) {
    return;
  }
  lifecycle_.begin_close();
  if (revoke_.state() == RebalanceState::kRevoking) {
    maybe_finish_revoke(true);
  }
  if (rk_ == nullptr) {
    finish_stop();
    return;
  }
  commit_sync({});
  ErrorHolder error(rd_kafka_consumer_close_queue(rk_, queue_.get()));
  if (error) {
    spdlog::warn("kafka {} ({}): cannot leave the group cleanly: {}", spec_.topic, function_,
                 rd_kafka_error_string(error.get()));
    teardown(false);
    finish_stop();
    return;
  }
  // Checked every 50ms as well as on every queue wake-up: leaving the group may finish without
  // one.
  close_deadline_ms_ = context_.loop.now_ms() + static_cast<std::uint64_t>(kCloseWait.count());
  close_timer_.start(milliseconds(50), milliseconds(50));
  watcher_->kick();
}

void KafkaConsumerTrigger::finish_close() {
  close_timer_.stop();
  teardown(true);
  finish_stop();
}

void KafkaConsumerTrigger::on_close_timeout() {
  if (rk_ != nullptr && rd_kafka_consumer_closed(rk_)) {
    finish_close();
    return;
  }
  if (watcher_) {
    watcher_->kick();
  }
  if (context_.loop.now_ms() < close_deadline_ms_) {
    return;
  }
  spdlog::warn(
      "kafka {} ({}): the consumer did not leave its group within {}ms; closing "
      "without it",
      spec_.topic, function_, kCloseWait.count());
  teardown(false);
  finish_stop();
}

void KafkaConsumerTrigger::finish_stop() {
  if (!lifecycle_.finish()) {
    return;
  }
  spdlog::info("kafka {} ({}): stopped", spec_.topic, function_);
  if (on_stopped_) {
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    done();
  }
}

void KafkaConsumerTrigger::teardown(bool closed, bool in_callback) {
  commit_timer_.stop();
  held_timer_.stop();
  window_timer_.stop();
  revoke_timer_.stop();
  close_timer_.stop();
  if (watcher_) {
    watcher_->stop();
  }
  // Buffered records are librdkafka's messages, and so are held events never built: destroyed
  // before the client is.
  for (auto& [id, partition] : partitions_) {
    drop(partition);
  }
  partitions_.clear();
  taken_.clear();
  held_.clear();
  if (rk_ != nullptr) {
    rd_kafka_t* rk = rk_;
    rk_ = nullptr;
    queue_.reset();
    revoke_.abandon();
    const int flags = closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE;
    if (pull_.in_flight() > 0) {
      // Events in the scheduler may still hold its messages: it goes with the last of them,
      // once the trigger is gone too (a completion then lets go of its event's message first).
      // The dropped partitions kept with it hold no message (Partition::drop()).
      pull_.keep(std::shared_ptr<void>(
          rk, [flags](void* client) { release_client(static_cast<rd_kafka_t*>(client), flags); }));
    } else {
      // Off the loop: an invocation that timed out or was abandoned may still hold a message.
      release_client(rk, flags);
    }
  }
  if (watcher_ && in_callback) {
    // Its own callback may be on the stack (serve() -> finish_close()): freed at a safe point.
    context_.loop.defer([watcher = std::shared_ptr<QueueWatcher>(std::move(watcher_))] {});
  }
  watcher_.reset();
}

void KafkaConsumerTrigger::drop(const std::shared_ptr<Partition>& partition) {
  if (partition->drop()) {
    pull_.keep(partition);
  }
}

}  // namespace switchyard::triggers::kafka
