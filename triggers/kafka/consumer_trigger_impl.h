#pragma once

// The consumer trigger's class, shared by the files that implement it, one part each (listed in
// consumer_trigger.h). Private to those files: everything else goes through
// make_consumer_trigger().
//
// Thread rules: loop thread only.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/commits.h"
#include "triggers/kafka/held_records.h"
#include "triggers/kafka/lifecycle.h"
#include "triggers/kafka/ordering.h"
#include "triggers/kafka/partition.h"
#include "triggers/kafka/pump_state.h"
#include "triggers/kafka/rebalance.h"
#include "triggers/kafka/record_message.h"
#include "triggers/kafka/settings.h"
#include "triggers/pull_source.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::kafka {

// Records taken from librdkafka's queue per wake-up before the loop gets a turn (the rest on the
// next iteration), and records dispatched per wake-up (an inline function runs inside dispatch).
// More are taken than dispatched: when the function is slower than the fetches, the records wait
// in the trigger's buffers, whose bound pauses the partition, rather than in librdkafka's queue,
// whose bound (queued.max.messages.kbytes) stops fetching for up to a second in librdkafka 2.0
// (nothing wakes its fetcher when the queue drains; a resume does).
inline constexpr std::size_t kMaxRecordsPerWake = 65536;
inline constexpr std::size_t kMaxDispatchesPerWake = 2048;
// Records of a partition offered at once without batches (the scheduler's longest run): a
// pooled function runs them one after another on one slot; under `partition` ordering it stops
// at a failure.
inline constexpr std::size_t kRunRecords = 32;

// Its PullSource offers its records to the function (runs, or batches: the trigger keeps its own
// buffer and batch window per partition, and holds what the function does not take), guards
// their completions, and watches the function's capacity.
//
// Hidden: its members are not interposable (the build is -fPIC), so that, as when the class was
// local to one file, the calls between members defined in the same file may be inlined.
class __attribute__((visibility("hidden"))) KafkaConsumerTrigger final : public Trigger,
                                                                         public PullSource::Owner {
 public:
  KafkaConsumerTrigger(TriggerContext& context, std::string function,
                       const KafkaTriggerSettings& spec, ConfHolder conf);

  // Completions still to come do nothing: the PullSource's guard keeps what they point at.
  ~KafkaConsumerTrigger() override { teardown(/*closed=*/false, /*in_callback=*/false); }

  std::string describe() const override;
  core::Status start() override;
  void stop(std::function<void()> done) override;

  // PullSource::Owner. A record of `context` (its Partition, which stays valid while its records
  // are in the scheduler: see drop()) is done. Public, and called directly by the record's
  // completion (PullSource::completion<KafkaConsumerTrigger>()), into which it is inlined with
  // what it calls: this runs once per record.
  [[gnu::always_inline]] void completed(core::Event& event, core::Outcome& outcome,
                                        void* context) override {
    completed(static_cast<Partition*>(context), event, outcome);
  }
  // Never called: the trigger keeps its records in its own buffers, not staged in the
  // PullSource, and only offers them (what the function does not take stays with it).
  void rejected(std::vector<core::Event> /*events*/) override {}
  void capacity_returned() override { pump(); }

 private:
  // consumer_trigger.cc: construction, and serving the consumer queue.
  PullSource::Options pull_options() const;
  core::Counter& commit_counter(const char* result);
  core::Counter& rebalance_counter(const char* kind);
  void serve();
  void take(MessageHolder holder);
  void pause(Partition& partition);

  // consumer_trigger_dispatch.cc: dispatching, and backpressure.
  // Hands ready records to the function as capacity allows, then pauses or resumes partitions.
  void pump();
  // After a completion: one pump for all the completions of this loop turn (a pooled
  // function's results come back in bunches), not one per record. Inside a pump (an inline
  // function answered during dispatch) the running pump goes round again instead.
  void request_pump();
  void pump_round();
  // Without batches: the partition's next records that may go now, into run_events_ (see
  // Partition::take_run()). False when none may.
  bool take_run(Partition& partition);
  // Offers run_events_, records of `partition`, as one run (PullSource::offer()). Under
  // `partition` ordering (a sequence) it stops at a failure, and what it does not take goes back
  // to the front of the partition's returned records; otherwise (`key` and `none`: records that
  // do not wait for each other) what it does not take is held, to go first when it has room.
  // Returns false when it did not take them all (it is full).
  bool dispatch_run(const std::shared_ptr<Partition>& partition);
  // Offers `items`, records of `partition` (a batch, or a held record), as one dispatch
  // (PullSource::offer()). Returns false when the function did not take them all (it is full):
  // the rest are held and go again first, with `delay` handed back with them. `items` is left
  // empty.
  bool dispatch(const std::shared_ptr<Partition>& partition, std::vector<core::Event>& items,
                std::chrono::milliseconds delay);
  // Keeps `items` to dispatch again: at once when the function has room (`now`), or after
  // `delay` (a failed dead letter).
  void hold(const std::shared_ptr<Partition>& partition, std::vector<core::Event> items,
            std::chrono::milliseconds delay, bool now = false);
  void arm_held_timer();
  void on_held_timer();
  // Inlined into the Owner override above (see there); defined below the class.
  [[gnu::always_inline]] inline void completed(Partition* partition, core::Event& event,
                                               core::Outcome& outcome);
  void apply_backpressure();

  // consumer_trigger_commits.cc: commits, and librdkafka's other callbacks (statistics, errors).
  void on_commit_timer();
  // Commits `ids` (all when empty) and waits for the answer, at most kSyncCommitTimeoutMs.
  void commit_sync(const std::vector<std::int32_t>& ids);
  void update_lag();
  static void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  // librdkafka's statistics, every statistics.interval.ms, on the loop thread (they come through
  // the consumer queue). Only the group's join state is read: a cooperative member whose
  // heartbeat learned of a rebalance rejoins at once, and a commit sent before the join is over
  // is answered ILLEGAL_GENERATION, which librdkafka 2.0 takes as the loss of the whole
  // assignment (librdkafka issue #4059, fixed upstream in 2.10). Periodic commits wait while the
  // member is not "steady"; the statistics may be up to one interval late.
  static int stats_cb(rd_kafka_t* rk, char* json, size_t json_len, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  // consumer_trigger_rebalance.cc: rebalances.
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  bool cooperative() const;
  void on_assign(rd_kafka_topic_partition_list_t* partitions);
  void on_revoke(rd_kafka_topic_partition_list_t* partitions);
  // Finishes a pending revoke once its partitions have nothing in flight (or `force`, when the
  // wait is over): commits them (unless lost) and unassigns them. Returns whether it finished.
  bool maybe_finish_revoke(bool force);

  // consumer_trigger_stop.cc: stopping.
  void maybe_stopped();
  void finish_close();
  void on_close_timeout();
  void finish_stop();
  // `in_callback`: one of this trigger's own loop callbacks may be on the stack.
  void teardown(bool closed, bool in_callback = true);
  // Called before `partition` leaves partitions_: records of it still in the scheduler keep it
  // (their completions point at it) until they are answered.
  void drop(const std::shared_ptr<Partition>& partition);

  TriggerContext& context_;
  std::string function_;
  KafkaTriggerSettings spec_;
  Ordering ordering_;
  bool batched_;
  bool lambda_;
  // `partition` ordering without batches: a partition's records go as sequences
  // (take_run(), Dispatcher::dispatch_run()).
  bool sequenced_;
  // A partition is paused when its buffer holds this many bytes (twice
  // max.partition.fetch.bytes: pausing below one fetch would pause at every fetch, and a resume
  // costs librdkafka a fetch round trip) or this many records, and resumed at half (what is left
  // covers librdkafka's fetch after the resume).
  BufferLimits limits_;
  std::chrono::milliseconds commit_interval_{1000};
  std::string bootstrap_;
  ConfHolder conf_;

  rd_kafka_t* rk_ = nullptr;
  QueueHolder queue_;
  std::unique_ptr<QueueWatcher> watcher_;
  PartitionMap partitions_;
  HeldRecords held_;
  PendingRevoke revoke_;

  core::Timer commit_timer_;
  core::Timer held_timer_;
  core::Timer window_timer_;
  core::BeforeWait pump_soon_;  // One pump for a turn's completions (request_pump).
  core::Timer revoke_timer_;
  core::Timer close_timer_;
  std::uint64_t close_deadline_ms_ = 0;

  core::Labels labels_;
  core::Counter& records_;
  core::Counter& commits_ok_;
  core::Counter& commits_failed_;
  core::Counter& assigns_;
  core::Counter& revokes_;
  core::Counter& losts_;
  core::Counter& redeliveries_;
  core::Counter& dead_letters_;
  core::Counter& failures_;
  core::Counter& errors_;
  core::Gauge& paused_;
  core::Gauge& assigned_;

  bool serving_ = false;
  bool queue_drained_ = false;  // serve() emptied librdkafka's queue: pausing drops nothing.
  std::size_t dispatch_budget_ = kMaxDispatchesPerWake;  // Renewed by every serve().
  PumpLoop pump_loop_;
  CommitGate commit_gate_;
  Lifecycle lifecycle_;
  std::function<void()> on_stopped_;
  std::vector<BufferedRecord> taken_;  // pump_round()'s records, reused.
  // The events of a run (take_run()) or a batch, reused.
  std::vector<core::Event> run_events_;
  // Last: destroyed first, so that no completion reaches a half-destroyed trigger.
  PullSource pull_;
};

// Dispatching (consumer_trigger_dispatch.cc): what becomes of a record once it is answered. Here
// because it is inlined into every record's completion, which the vtable's copy of the Owner
// override (consumer_trigger.cc) needs too.
inline void KafkaConsumerTrigger::completed(Partition* partition, core::Event& event,
                                            core::Outcome& outcome) {
  switch (partition->settle(event, outcome, lifecycle_.stopping())) {
    case Settlement::kTakenBack:
      // It goes again once the record that stopped its sequence is done.
      request_pump();
      return;
    case Settlement::kPartitionDropped:
      // Revoked before its record was answered (revoke timeout): its offset was not committed
      // by us, so the partition's next owner reads it again.
      if (partition->in_scheduler == 0) {
        pull_.forget(partition);
      }
      maybe_stopped();
      return;
    case Settlement::kRedeliver: {
      failures_.inc_unshared();
      spdlog::warn(
          "kafka {} ({}): record {} failed and has no dead letter ({}: {}); "
          "it is dispatched again, its offset does not move",
          spec_.topic, function_, event.id, outcome.error_type, outcome.error_message);
      std::vector<core::Event> again;
      again.push_back(std::move(event));
      hold(partitions_.at(partition->id), std::move(again), partition->redeliver_delay);
      return;
    }
    case Settlement::kFinished:
      if (outcome.dead_lettered) {
        dead_letters_.inc_unshared();
      }
      break;
    case Settlement::kAbandoned:
      break;
  }
  if (partition->state() == PartitionState::kRevoking) {
    maybe_finish_revoke(false);
  }
  if (lifecycle_.stopping()) {
    maybe_stopped();
    return;
  }
  request_pump();
}

}  // namespace switchyard::triggers::kafka
