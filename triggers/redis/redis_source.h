#pragma once

// What the Redis stream and list sources share: their two connections (a reader, and one for
// acknowledgements so that a blocking read does not hold them up), reading no more than the
// function can take and stopping while it can take none, the pull-source machinery (staging,
// batches, dispatch, capacity: triggers/pull_source.h), acknowledgements and give-backs kept
// until Redis confirms them, and stop().
//
// A subclass says how to check, recover, read, acknowledge and give back its kind of key.
//
// Thread rules: loop thread only. Reply callbacks capture `this` without a guard: a Connection
// calls none once destroyed, and the source owns its connections. Hence, as for a Connection,
// the `done` of stop() must not destroy the source from inside (the daemon defers it).
// Completions are guarded by the PullSource (CompletionGuard).

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"
#include "triggers/pull_source.h"
#include "triggers/redis/connection.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/settings.h"
#include "triggers/redis/url.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::redis {

// One Redis trigger of one function, as the factory resolved it.
struct SourceSettings {
  std::string function;
  RedisTriggerSettings spec;
  Endpoint endpoint;
  std::string key;
  std::string consumer;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds command_timeout;
  // A shared asynchronous queue's reader (async_stream.h): a settled entry is also deleted
  // from the stream, its size taken off the queue's bytes.
  bool removes_settled = false;
};

// A command that answers the source for one entry (XACK, LREM, a give-back), kept until Redis
// confirms it: re-sent after a reconnection.
struct AckWork {
  std::vector<std::string> argv;
  std::string entry;  // The stream id or the list element it is for.
  bool success;       // An acknowledgement (counted as acked), or a give-back.
};

class RedisSource : public Trigger, private PullSource::Owner {
 public:
  RedisSource(TriggerContext& context, SourceSettings settings, std::string kind);

  std::string describe() const override;
  core::Status start() override;
  void stop(std::function<void()> done) override;

 protected:
  core::Counter& counter(std::string_view name, std::string_view help);
  core::Labels labels() const;
  ConnectionOptions connection_options(std::string_view role) const;

  // Blocking checks at start: key types, the consumer group.
  virtual core::Status check(BlockingClient& client) = 0;
  // Called at the end of start().
  virtual void started() {}
  // The reader connected (first time or again): recover, then pump().
  virtual void on_reader_ready() = 0;
  // Reads up to `count` entries on reader_, then calls read_done() or read_failed().
  virtual void read(std::size_t count) = 0;
  // Answers the source for an entry that is done (success or dead letter).
  virtual void ack(const core::Event& event) = 0;
  // An entry that failed without a dead letter, or that is released unprocessed.
  virtual void release(const core::Event& event) = 0;
  virtual void refresh_info() = 0;
  virtual void stopping_hook() {}
  // An acknowledgement (or give-back) command was confirmed by Redis, or given up.
  virtual void ack_settled(const AckWork& work) = 0;

  bool can_read() const { return !stopping_ && !reading_ && reader_.ready() && recovered_; }

  // Offers what is staged, then reads as many entries as the function can take, if it can
  // take any.
  void pump();
  // Room for claimed entries (streams): what the function can take beyond what is staged.
  std::size_t room() const;
  void read_done();
  void read_failed(const std::string& why, bool connection_lost);
  // Takes an entry: it is dispatched at the next flush(), now or once its batch is complete.
  void stage(core::Event event);
  // Dispatches staged entries: whole batches, and the rest when `force` or when there is no
  // batch window.
  void flush(bool force) { pull_.flush(force); }
  // Sends an acknowledgement or give-back, now or once the connection is back.
  void settle(AckWork work);

  // The metrics are registered in this order, as they always were.
  TriggerContext& context_;
  SourceSettings settings_;
  std::string kind_;
  std::string source_;
  core::Counter& reconnects_;
  Connection reader_;
  Connection commands_;
  core::Counter& read_;
  core::Counter& acked_;
  core::Counter& retried_;
  core::Counter& dead_lettered_;
  core::Counter& claimed_;
  core::Gauge& paused_;
  core::Timer retry_timer_;
  core::Timer info_timer_;
  core::Timer stop_timer_;

  std::size_t acks_in_flight_ = 0;
  std::vector<AckWork> unsent_;  // Waiting for the acks connection.
  bool reading_ = false;
  bool recovered_ = false;  // Start-up recovery is done: reads may begin.
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  // Last: destroyed first, so that a completion arriving later does nothing.
  PullSource pull_;

 private:
  // PullSource::Owner.
  void completed(core::Event& event, core::Outcome& outcome, void* context) override;
  void rejected(std::vector<core::Event> events) override;
  void throttled() override;
  void capacity_returned() override;

  // Reads as many entries as the function can take beyond those staged.
  void read_more();
  void resend_acks();
  void give_up_acks();
  void maybe_stopped();
  void finish_stop();
};

}  // namespace switchyard::triggers::redis
