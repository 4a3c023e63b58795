#include "triggers/redis/redis_trigger.h"

#include "triggers/redis/settings.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "triggers/batch.h"
#include "triggers/redis/connection.h"
#include "triggers/redis/mapping.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/reply.h"
#include "triggers/redis/url.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

// The most entries one read asks for, whatever the capacity: keeps replies small.
constexpr std::size_t kMaxRead = 500;
// How often the consumer-group lag (or list length) gauge is refreshed.
constexpr milliseconds kInfoInterval(5000);

// Moves one element from the processing list back to the list, if it is still there. Atomic,
// so an element is never in both lists, nor in neither.
constexpr const char* kGiveBackScript =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then "
    "redis.call('RPUSH', KEYS[2], ARGV[1]) return 1 end return 0";

// The dead-letter destinations the Redis writer serves.
constexpr std::string_view kStreamDestination = "redis_stream";
constexpr std::string_view kListDestination = "redis_list";

bool is_redis_destination(const config::DeadLetterSpec& destination) {
  return destination.kind == kStreamDestination || destination.kind == kListDestination;
}

struct SourceSettings {
  std::string function;
  RedisTriggerSettings spec;
  Endpoint endpoint;
  std::string key;
  std::string consumer;
  milliseconds connect_timeout;
  milliseconds command_timeout;
};

// A command that answers the source for one entry (XACK, LREM, a give-back), kept until Redis
// confirms it: re-sent after a reconnection.
struct AckWork {
  std::vector<std::string> argv;
  std::string entry;  // The stream id or the list element it is for.
  bool success;       // An acknowledgement (counted as acked), or a give-back.
};

// What stream and list sources share: connections, backpressure, batching, dispatch,
// acknowledgements and stop().
class RedisSource : public Trigger {
 public:
  RedisSource(TriggerContext& context, SourceSettings settings, std::string kind)
      : context_(context),
        settings_(std::move(settings)),
        kind_(std::move(kind)),
        source_(event_source(settings_.endpoint.describe(), settings_.key)),
        batch_(static_cast<std::size_t>(std::max(settings_.spec.batch, 1))),
        reconnects_(counter("switchyard_redis_reconnects_total",
                            "Connections to Redis lost and re-established.")),
        reader_(context.loop, connection_options("reader"), &reconnects_),
        commands_(context.loop, connection_options("acks"), &reconnects_),
        read_(counter("switchyard_redis_entries_read_total",
                      "Entries read from Redis (including replayed and claimed ones).")),
        acked_(
            counter("switchyard_redis_entries_acked_total",
                    "Entries acknowledged to Redis (XACK / LREM) after success or dead letter.")),
        retried_(counter("switchyard_redis_entries_retried_total",
                         "Entries that failed and were left in Redis to be delivered again.")),
        dead_lettered_(counter("switchyard_redis_entries_dead_lettered_total",
                               "Entries acknowledged after their dead letter was written.")),
        claimed_(counter("switchyard_redis_entries_claimed_total",
                         "Stream entries taken over from idle consumers (XAUTOCLAIM).")),
        paused_(context.metrics.gauge("switchyard_redis_paused",
                                      "1 while a Redis trigger does not read because its "
                                      "function has no capacity.",
                                      labels())),
        window_timer_(context.loop, [this] { flush(true); }),
        retry_timer_(context.loop, [this] { pump(); }),
        info_timer_(context.loop, [this] { refresh_info(); }),
        stop_timer_(context.loop, [this] { give_up_acks(); }) {}

  ~RedisSource() override {
    if (watch_id_) {
      context_.dispatcher.unwatch_capacity(*watch_id_);
    }
  }

  std::string describe() const override {
    return fmt::format("redis {} {} ({})", kind_, settings_.key, settings_.function);
  }

  core::Status start() override {
    auto client = BlockingClient::connect(settings_.endpoint, settings_.connect_timeout,
                                          settings_.command_timeout);
    if (!client.ok()) {
      return client.error();
    }
    auto checked = check(client.value());
    if (!checked.ok()) {
      return checked;
    }
    watch_id_ = context_.dispatcher.watch_capacity(settings_.function, [this] { pump(); });
    reader_.on_ready([this] { on_reader_ready(); });
    reader_.on_lost([this] { reading_ = false; });
    commands_.on_ready([this] { resend_acks(); });
    reader_.start();
    commands_.start();
    info_timer_.start(kInfoInterval, kInfoInterval);
    started();
    spdlog::info("{}: consuming {} on {} as {}", describe(), settings_.key,
                 settings_.endpoint.describe(), settings_.consumer);
    return {};
  }

  void stop(std::function<void()> done) override {
    stopping_ = true;
    on_stopped_ = std::move(done);
    window_timer_.stop();
    retry_timer_.stop();
    info_timer_.stop();
    stopping_hook();
    // A read in flight fails now; what Redis handed it stays pending / in the processing list.
    reader_.close();
    reading_ = false;
    while (!staged_.empty()) {
      core::Event event = std::move(staged_.front());
      staged_.pop_front();
      release(event);
    }
    maybe_stopped();
  }

 protected:
  core::Counter& counter(std::string_view name, std::string_view help) {
    return context_.metrics.counter(name, help, labels());
  }
  core::Labels labels() const { return {{"function", settings_.function}, {"key", settings_.key}}; }
  ConnectionOptions connection_options(std::string_view role) const {
    ConnectionOptions options;
    options.endpoint = settings_.endpoint;
    options.connect_timeout = settings_.connect_timeout;
    options.command_timeout = settings_.command_timeout;
    options.name =
        fmt::format("redis {} {} ({}) {}", kind_, settings_.key, settings_.function, role);
    return options;
  }

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

  // Reads as many entries as the function can take, if it can take any.
  void pump() {
    if (stopping_) {
      return;
    }
    flush(false);
    if (!can_read() || retry_timer_.active()) {
      return;
    }
    std::size_t capacity = context_.dispatcher.capacity(settings_.function) * batch_;
    std::size_t room = capacity > staged_.size() ? capacity - staged_.size() : 0;
    room = std::min(room, kMaxRead);
    if (room == 0) {
      // watch_capacity calls pump() when the function frees a slot.
      paused_.set(1);
      return;
    }
    paused_.set(0);
    reading_ = true;
    read(room);
  }

  // Room for claimed entries (streams): what the function can take beyond what is staged.
  std::size_t room() const {
    std::size_t capacity = context_.dispatcher.capacity(settings_.function) * batch_;
    return std::min(capacity > staged_.size() ? capacity - staged_.size() : 0, kMaxRead);
  }

  void read_done() {
    reading_ = false;
    pump();
  }

  void read_failed(const std::string& why, bool connection_lost) {
    reading_ = false;
    if (stopping_) {
      return;
    }
    if (connection_lost) {
      // on_reader_ready() resumes.
      return;
    }
    spdlog::error("{}: {}; reading again in 1s", describe(), why);
    retry_timer_.start(milliseconds(1000));
  }

  // Takes an entry: it is dispatched now or once the batch is complete.
  void stage(core::Event event) {
    read_.inc_unshared();
    event.completion = [this, alive = std::weak_ptr<char>(alive_)](core::Event& done,
                                                                   core::Outcome& outcome) {
      if (!alive.expired()) {
        completed(done, outcome);
      }
    };
    staged_.push_back(std::move(event));
  }

  // Dispatches staged entries: whole batches, and the rest when `force` or when there is no
  // batch window.
  void flush(bool force) {
    while (!staged_.empty() && !stopping_) {
      if (staged_.size() < batch_ && !force && settings_.spec.batch_window.count() > 0) {
        if (!window_timer_.active()) {
          window_timer_.start(settings_.spec.batch_window);
        }
        return;
      }
      std::size_t n = std::min(batch_, staged_.size());
      scheduler::Admission admission;
      if (batch_ == 1) {
        core::Event event = std::move(staged_.front());
        staged_.pop_front();
        ++in_flight_;
        admission = context_.dispatcher.dispatch(settings_.function, std::move(event));
        if (admission == scheduler::Admission::kThrottled ||
            admission == scheduler::Admission::kRejected) {
          --in_flight_;
          staged_.push_front(std::move(event));  // Left as it was.
        }
      } else {
        std::vector<core::Event> items;
        items.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          items.push_back(std::move(staged_.front()));
          staged_.pop_front();
        }
        in_flight_ += n;
        admission = context_.dispatcher.dispatch_batch(
            settings_.function, std::move(items),
            [](std::span<const core::Event> batch) { return encode_native_batch(batch); });
        if (admission == scheduler::Admission::kThrottled ||
            admission == scheduler::Admission::kRejected) {
          in_flight_ -= n;
          for (auto it = items.rbegin(); it != items.rend(); ++it) {
            staged_.push_front(std::move(*it));
          }
        }
      }
      if (admission == scheduler::Admission::kThrottled) {
        paused_.set(1);
        return;  // watch_capacity resumes.
      }
      if (admission == scheduler::Admission::kRejected) {
        spdlog::warn("{}: function {} is not serving; {} entr(ies) left in Redis", describe(),
                     settings_.function, staged_.size());
        while (!staged_.empty()) {
          core::Event event = std::move(staged_.front());
          staged_.pop_front();
          release(event);
        }
        return;
      }
    }
    if (staged_.empty()) {
      window_timer_.stop();
    }
  }

  void completed(core::Event& event, core::Outcome& outcome) {
    --in_flight_;
    if (outcome.ok() || outcome.dead_lettered) {
      if (outcome.dead_lettered) {
        dead_lettered_.inc_unshared();
      }
      ack(event);
    } else {
      if (outcome.kind != core::OutcomeKind::kRejected) {
        retried_.inc_unshared();
        spdlog::warn(
            "{}: entry {} failed after {} attempt(s) ({}: {}) and was not "
            "dead-lettered; it stays in Redis to be delivered again",
            describe(), event.id, outcome.attempts, outcome.error_type, outcome.error_message);
      }
      release(event);
    }
    maybe_stopped();
  }

  // Sends an acknowledgement or give-back, now or once the connection is back.
  void settle(AckWork work) {
    if (!commands_.ready()) {
      unsent_.push_back(std::move(work));
      return;
    }
    auto shared = std::make_shared<AckWork>(std::move(work));
    ++acks_in_flight_;
    bool sent = commands_.send(shared->argv, [this, shared, alive = std::weak_ptr<char>(alive_)](
                                                 core::Result<Reply> reply) {
      if (alive.expired()) {
        return;
      }
      if (acks_in_flight_ > 0) {
        --acks_in_flight_;
      }
      if (stopping_ && !on_stopped_) {
        return;  // Stopped already: given up on.
      }
      if (!reply.ok()) {
        // The connection went away: the command may or may not have run. Send it again
        // once connected (XACK and LREM of one element are safe to repeat).
        unsent_.push_back(std::move(*shared));
      } else {
        if (reply->is_error()) {
          spdlog::error("{}: {} for entry {} failed: {}", describe(), shared->argv[0],
                        shared->entry, reply->str);
        } else if (shared->success) {
          acked_.inc_unshared();
        }
        ack_settled(*shared);
      }
      maybe_stopped();
    });
    if (!sent) {
      --acks_in_flight_;
      unsent_.push_back(std::move(*shared));
    }
  }

  void resend_acks() {
    std::vector<AckWork> work;
    work.swap(unsent_);
    for (auto& item : work) {
      settle(std::move(item));
    }
    maybe_stopped();
  }

  void give_up_acks() {
    if (!unsent_.empty() || acks_in_flight_ > 0) {
      spdlog::warn(
          "{}: {} acknowledgement(s) could not be written before stopping; those "
          "entries will be delivered again",
          describe(), unsent_.size() + acks_in_flight_);
    }
    unsent_.clear();
    acks_in_flight_ = 0;
    finish_stop();
  }

  void maybe_stopped() {
    if (!stopping_ || !on_stopped_ || in_flight_ > 0) {
      return;
    }
    if (unsent_.empty() && acks_in_flight_ == 0) {
      finish_stop();
      return;
    }
    // Acknowledgements are still on their way: bounded by a reconnection plus a command.
    if (!stop_timer_.active()) {
      stop_timer_.start(settings_.connect_timeout + settings_.command_timeout);
    }
  }

  void finish_stop() {
    if (!on_stopped_) {
      return;
    }
    stop_timer_.stop();
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    // Closing fails nothing that matters any more; callbacks are guarded by stopping_.
    commands_.close();
    done();
  }

  TriggerContext& context_;
  SourceSettings settings_;
  std::string kind_;
  std::string source_;
  std::size_t batch_;
  core::Counter& reconnects_;
  Connection reader_;
  Connection commands_;
  core::Counter& read_;
  core::Counter& acked_;
  core::Counter& retried_;
  core::Counter& dead_lettered_;
  core::Counter& claimed_;
  core::Gauge& paused_;
  core::Timer window_timer_;
  core::Timer retry_timer_;
  core::Timer info_timer_;
  core::Timer stop_timer_;

  std::deque<core::Event> staged_;  // Read, not dispatched yet (batch window, throttled).
  std::size_t in_flight_ = 0;       // Dispatched, completion not called yet.
  std::size_t acks_in_flight_ = 0;
  std::vector<AckWork> unsent_;  // Waiting for the acks connection.
  bool reading_ = false;
  bool recovered_ = false;  // Start-up recovery is done: reads may begin.
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::optional<std::size_t> watch_id_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

// ---- Streams ------------------------------------------------------------------------------

class StreamSource final : public RedisSource {
 public:
  StreamSource(TriggerContext& context, SourceSettings settings)
      : RedisSource(context, std::move(settings), "stream"),
        lag_(context.metrics.gauge("switchyard_redis_consumer_group_lag",
                                   "Entries of the stream not yet delivered to the group "
                                   "(XINFO GROUPS lag).",
                                   {{"function", settings_.function},
                                    {"key", settings_.key},
                                    {"group", settings_.spec.group}})),
        claim_timer_(context.loop, [this] { claim(); }) {}

 private:
  core::Status check(BlockingClient& client) override {
    auto type = expect_type(client, settings_.key, "stream", "the trigger's stream");
    if (!type.ok()) {
      return type;
    }
    return create_group(client);
  }

  core::Status create_group(BlockingClient& client) {
    auto reply =
        client.command({"XGROUP", "CREATE", settings_.key, settings_.spec.group, "0", "MKSTREAM"});
    if (!reply.ok()) {
      return reply.error();
    }
    if (reply->is_error() && reply->error_code() != "BUSYGROUP") {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         fmt::format("cannot create consumer group \"{}\" on stream \"{}\": {}",
                                     settings_.spec.group, settings_.key, reply->str));
    }
    return {};
  }

  void started() override {
    auto interval =
        std::clamp(settings_.spec.claim_after / 2, milliseconds(100), milliseconds(30000));
    claim_timer_.start(interval, interval);
  }

  void stopping_hook() override { claim_timer_.stop(); }

  void on_reader_ready() override {
    // This consumer's own pending entries first: read before a crash or a lost connection and
    // never acknowledged. Entries still running here are skipped.
    replay_cursor_ = "0";
    replaying_ = true;
    recovered_ = true;
    reading_ = false;
    pump();
  }

  void read(std::size_t count) override {
    std::vector<std::string> argv = {"XREADGROUP",       "GROUP", settings_.spec.group,
                                     settings_.consumer, "COUNT", std::to_string(count)};
    milliseconds extra(0);
    if (!replaying_) {
      argv.push_back("BLOCK");
      argv.push_back(std::to_string(settings_.spec.block.count()));
      extra = settings_.spec.block;
    }
    argv.push_back("STREAMS");
    argv.push_back(settings_.key);
    argv.push_back(replaying_ ? replay_cursor_ : ">");
    bool sent = reader_.send(
        argv,
        [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
          if (!alive.expired()) {
            on_read(std::move(reply));
          }
        },
        extra);
    if (!sent) {
      reading_ = false;
    }
  }

  void on_read(core::Result<Reply> reply) {
    if (!reply.ok()) {
      read_failed(reply.error().message(), true);
      return;
    }
    if (reply->error_code() == "NOGROUP") {
      // The stream or its group went away (deleted, or a Redis without persistence
      // restarted): create them again and carry on.
      spdlog::warn("{}: consumer group \"{}\" is missing; creating it again", describe(),
                   settings_.spec.group);
      reader_.send(
          {"XGROUP", "CREATE", settings_.key, settings_.spec.group, "0", "MKSTREAM"},
          [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> created) {
            if (alive.expired()) {
              return;
            }
            if (created.ok() && (!created->is_error() || created->error_code() == "BUSYGROUP")) {
              read_done();
            } else {
              read_failed(created.ok() ? created->str : created.error().message(), !created.ok());
            }
          });
      return;
    }
    auto entries = parse_xreadgroup(reply.value());
    if (!entries.ok()) {
      read_failed(entries.error().message(), false);
      return;
    }
    if (replaying_) {
      if (entries->empty()) {
        replaying_ = false;
      } else {
        replay_cursor_ = entries->back().id;
      }
    }
    take(entries.value(), false);
    read_done();
  }

  void take(const std::vector<StreamEntry>& entries, bool claimed) {
    for (const auto& entry : entries) {
      if (entry.deleted) {
        // Deleted while pending: nothing to process; acknowledge so it leaves the group.
        settle({{"XACK", settings_.key, settings_.spec.group, entry.id}, entry.id, false});
        continue;
      }
      if (!active_.insert(entry.id).second) {
        continue;  // Already running here.
      }
      if (claimed) {
        claimed_.inc_unshared();
      }
      stage(stream_entry_event(source_, settings_.key, entry));
    }
    flush(false);
  }

  void ack(const core::Event& event) override {
    settle({{"XACK", settings_.key, settings_.spec.group, event.id}, event.id, true});
  }

  void release(const core::Event& event) override {
    // It stays pending in the group: replayed at this consumer's next start, or claimed
    // (XAUTOCLAIM) once idle for claim_after.
    active_.erase(event.id);
  }

  void ack_settled(const AckWork& work) override { active_.erase(work.entry); }

  // Keeps the entries running here from looking idle to the other consumers of the group
  // (which would claim them after claim_after): XCLAIM ... JUSTID resets their idle time.
  void heartbeat() {
    if (active_.empty() || !commands_.ready()) {
      return;
    }
    std::vector<std::string> argv = {"XCLAIM", settings_.key, settings_.spec.group,
                                     settings_.consumer, "0"};
    for (const auto& id : active_) {
      if (argv.size() >= 1005) {
        break;
      }
      argv.push_back(id);
    }
    argv.push_back("JUSTID");
    commands_.send(argv, [](core::Result<Reply>) {});
  }

  // Takes over entries idle longer than claim_after, from any consumer of the group.
  void claim() {
    if (stopping_ || !commands_.ready() || !recovered_) {
      return;
    }
    if (claim_cursor_ == "0-0") {
      heartbeat();
    }
    if (claiming_) {
      return;
    }
    std::size_t count = room();
    if (count == 0) {
      return;
    }
    claiming_ = true;
    bool sent =
        commands_.send({"XAUTOCLAIM", settings_.key, settings_.spec.group, settings_.consumer,
                        std::to_string(settings_.spec.claim_after.count()), claim_cursor_, "COUNT",
                        std::to_string(count)},
                       [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
                         if (alive.expired()) {
                           return;
                         }
                         claiming_ = false;
                         if (!reply.ok() || stopping_) {
                           return;
                         }
                         auto claimed = parse_xautoclaim(reply.value());
                         if (!claimed.ok()) {
                           if (reply->error_code() != "NOGROUP") {
                             spdlog::warn("{}: {}", describe(), claimed.error().message());
                           }
                           return;
                         }
                         claim_cursor_ = claimed->cursor;
                         take(claimed->entries, true);
                         if (claim_cursor_ != "0-0") {
                           // More idle entries may follow: go on at once.
                           claim();
                         }
                       });
    if (!sent) {
      claiming_ = false;
    }
  }

  void refresh_info() override {
    commands_.send({"XINFO", "GROUPS", settings_.key},
                   [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
                     if (alive.expired() || !reply.ok()) {
                       return;
                     }
                     if (auto lag = parse_group_lag(reply.value(), settings_.spec.group)) {
                       lag_.set(static_cast<double>(*lag));
                     }
                   });
  }

  core::Gauge& lag_;
  core::Timer claim_timer_;
  std::unordered_set<std::string> active_;  // Ids staged, running, or awaiting their XACK.
  std::string replay_cursor_ = "0";
  bool replaying_ = true;
  std::string claim_cursor_ = "0-0";
  bool claiming_ = false;
};

// ---- Lists --------------------------------------------------------------------------------

class ListSource final : public RedisSource {
 public:
  ListSource(TriggerContext& context, SourceSettings settings)
      : RedisSource(context, std::move(settings), "list"),
        processing_(settings_.key + ":processing:" + settings_.consumer),
        length_(context.metrics.gauge("switchyard_redis_list_length",
                                      "Elements waiting in a Redis trigger's list (LLEN).",
                                      labels())) {}

 private:
  core::Status check(BlockingClient& client) override {
    auto type = expect_type(client, settings_.key, "list", "the trigger's list");
    if (!type.ok()) {
      return type;
    }
    return expect_type(client, processing_, "list", "the trigger's processing list");
  }

  void on_reader_ready() override {
    reading_ = false;
    blocking_ = false;
    if (!recovered_) {
      recover_all();
    } else {
      reconcile();
    }
  }

  // At start: everything in our processing list was left by a previous run. Move it back to
  // the list (newest first, to the consuming end, so the oldest is taken first).
  void recover_all() {
    bool sent =
        reader_.send({"LMOVE", processing_, settings_.key, "LEFT", "RIGHT"},
                     [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
                       if (alive.expired() || !reply.ok()) {
                         return;  // Lost connection: on_reader_ready() starts over.
                       }
                       if (reply->is_error()) {
                         spdlog::error("{}: cannot recover the processing list {}: {}", describe(),
                                       processing_, reply->str);
                         retry_recovery();
                         return;
                       }
                       if (!reply->is_nil()) {
                         ++recovered_count_;
                         recover_all();
                         return;
                       }
                       if (recovered_count_ > 0) {
                         spdlog::info("{}: moved {} unfinished element(s) from {} back to {}",
                                      describe(), recovered_count_, processing_, settings_.key);
                       }
                       recovered_ = true;
                       pump();
                     });
    (void)sent;  // Not sent: the connection is gone and on_reader_ready() starts over.
  }

  void retry_recovery() {
    recovery_retry_ = std::make_unique<core::Timer>(context_.loop, [this] {
      if (reader_.ready() && !stopping_) {
        on_reader_ready();
      }
    });
    recovery_retry_->start(milliseconds(1000));
  }

  // After a reconnection: an element can be in the processing list without an event here
  // (the connection dropped after Redis moved it, before its reply arrived). Give those back.
  void reconcile() {
    bool sent =
        reader_.send({"LRANGE", processing_, "0", "-1"},
                     [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
                       if (alive.expired() || !reply.ok()) {
                         return;
                       }
                       if (reply->type == Reply::Type::kArray) {
                         std::unordered_map<std::string, std::size_t> seen;
                         for (const Reply& element : reply->elements) {
                           std::size_t count = ++seen[element.str];
                           auto it = active_.find(element.str);
                           std::size_t active = it == active_.end() ? 0 : it->second;
                           if (count > active) {
                             spdlog::info("{}: giving back an element of {} that no event holds",
                                          describe(), processing_);
                             settle({give_back_argv(element.str), element.str, false});
                             ++active_[element.str];  // Until the give-back is confirmed.
                           }
                         }
                       }
                       pump();
                     });
    (void)sent;
  }

  std::vector<std::string> give_back_argv(const std::string& element) const {
    return {"EVAL", kGiveBackScript, "2", processing_, settings_.key, element};
  }

  void read(std::size_t count) override {
    if (blocking_) {
      // Nothing was there last time: wait in Redis for one element.
      bool sent = reader_.send(
          {"BLMOVE", settings_.key, processing_, "RIGHT", "LEFT",
           fmt::format("{:.3f}", static_cast<double>(settings_.spec.block.count()) / 1000.0)},
          [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
            if (alive.expired()) {
              return;
            }
            if (!reply.ok()) {
              read_failed(reply.error().message(), true);
              return;
            }
            if (reply->is_error()) {
              read_failed("BLMOVE " + settings_.key + ": " + reply->str, false);
              return;
            }
            if (!reply->is_nil()) {
              blocking_ = false;
              take(std::move(reply->str));
              flush(false);
            }
            read_done();
          },
          settings_.spec.block);
      if (!sent) {
        reading_ = false;
      }
      return;
    }
    // Elements may be waiting: move up to `count` of them in one pipelined round trip.
    struct Round {
      std::size_t remaining;
      std::size_t moved = 0;
      std::string error;
      bool lost = false;
    };
    auto round = std::make_shared<Round>();
    round->remaining = count;
    for (std::size_t i = 0; i < count; ++i) {
      bool sent = reader_.send(
          {"LMOVE", settings_.key, processing_, "RIGHT", "LEFT"},
          [this, round, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
            if (alive.expired()) {
              return;
            }
            if (!reply.ok()) {
              round->lost = true;
            } else if (reply->is_error()) {
              round->error = "LMOVE " + settings_.key + ": " + reply->str;
            } else if (!reply->is_nil()) {
              ++round->moved;
              take(std::move(reply->str));
            }
            if (--round->remaining > 0) {
              return;
            }
            flush(false);
            if (round->lost) {
              read_failed("connection lost", true);
            } else if (!round->error.empty()) {
              read_failed(round->error, false);
            } else {
              blocking_ = round->moved == 0;
              read_done();
            }
          });
      if (!sent) {
        // The connection went away: the callbacks of what was sent report it.
        round->remaining -= count - i;
        if (round->remaining == 0) {
          reading_ = false;
        }
        return;
      }
    }
  }

  void take(std::string element) {
    ++active_[element];
    stage(list_element_event(source_, settings_.key, std::move(element)));
  }

  void ack(const core::Event& event) override {
    settle({{"LREM", processing_, "1", event.data}, event.data, true});
  }

  void release(const core::Event& event) override {
    // Back to the list's consuming end, to be taken again (here or by another consumer). If
    // that cannot be written, the element stays in the processing list until the next start.
    settle({give_back_argv(event.data), event.data, false});
  }

  void ack_settled(const AckWork& work) override {
    auto it = active_.find(work.entry);
    if (it != active_.end() && --it->second == 0) {
      active_.erase(it);
    }
  }

  void refresh_info() override {
    commands_.send({"LLEN", settings_.key},
                   [this, alive = std::weak_ptr<char>(alive_)](core::Result<Reply> reply) {
                     if (!alive.expired() && reply.ok() && reply->type == Reply::Type::kInteger) {
                       length_.set(static_cast<double>(reply->integer));
                     }
                   });
  }

  std::string processing_;
  core::Gauge& length_;
  // Elements staged, running or awaiting their LREM / give-back, with their multiplicity.
  std::unordered_map<std::string, std::size_t> active_;
  bool blocking_ = false;
  std::size_t recovered_count_ = 0;
  std::unique_ptr<core::Timer> recovery_retry_;
};

// ---- Dead letters -------------------------------------------------------------------------

// Writes dead letters to Redis streams (XADD) and lists (RPUSH) over its own connection.
// While that connection is down, a dead letter waits for it up to command_timeout (at most
// kMaxWaiting of them), then fails: the scheduler then leaves the event unacknowledged, so that
// it is delivered again.
class RedisDeadLetterSink final : public scheduler::DeadLetterSink {
 public:
  RedisDeadLetterSink(core::Loop& loop, ConnectionOptions options, core::Counter& written)
      : loop_(loop),
        connection_(loop, std::move(options)),
        written_(written),
        expiry_timer_(loop, [this] { expire(); }) {
    connection_.on_ready([this] { flush_waiting(); });
  }

  void start() { connection_.start(); }

  void send(const scheduler::DeadLetter& letter, std::function<void(core::Status)> done) override {
    const auto& destination = letter.destination;
    Letter pending;
    pending.key = destination.target;
    if (destination.kind == kStreamDestination) {
      pending.argv = {"XADD", pending.key, "*"};
      for (auto& field : dead_letter_fields(letter)) {
        pending.argv.push_back(std::move(field));
      }
    } else {
      pending.argv = {"RPUSH", pending.key, dead_letter_json(letter)};
    }
    pending.done = std::move(done);
    if (connection_.ready()) {
      write(std::move(pending));
      return;
    }
    if (closed_ || waiting_.size() >= kMaxWaiting) {
      pending.done(not_connected());
      return;
    }
    pending.deadline =
        loop_.now_ms() + static_cast<std::uint64_t>(connection_.options().command_timeout.count());
    waiting_.push_back(std::move(pending));
    if (!expiry_timer_.active()) {
      expiry_timer_.start(milliseconds(100), milliseconds(100));
    }
  }

  void close(std::function<void()> done) override {
    closed_ = true;
    expiry_timer_.stop();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& letter : waiting) {
      letter.done(not_connected());
    }
    connection_.close();
    done();
  }

 private:
  static constexpr std::size_t kMaxWaiting = 10000;

  struct Letter {
    std::string key;
    std::vector<std::string> argv;
    std::function<void(core::Status)> done;
    std::uint64_t deadline = 0;
  };

  core::Error not_connected() const {
    return core::Error(core::ErrorCode::kUnavailable,
                       "the redis dead-letter writer is not connected to " +
                           connection_.options().endpoint.describe());
  }

  void write(Letter letter) {
    auto shared = std::make_shared<Letter>(std::move(letter));
    bool sent = connection_.send(shared->argv, [this, shared](core::Result<Reply> reply) {
      if (!reply.ok()) {
        shared->done(reply.error());
      } else if (reply->is_error()) {
        shared->done(core::Error(
            core::ErrorCode::kUnavailable,
            "writing the dead letter to redis key \"" + shared->key + "\" failed: " + reply->str));
      } else {
        written_.inc_unshared();
        shared->done(core::Status());
      }
    });
    if (!sent) {
      shared->done(not_connected());
    }
  }

  void flush_waiting() {
    expiry_timer_.stop();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& letter : waiting) {
      write(std::move(letter));
    }
  }

  void expire() {
    std::uint64_t now = loop_.now_ms();
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
      Letter letter = std::move(waiting_.front());
      waiting_.pop_front();
      letter.done(not_connected());
    }
    if (waiting_.empty()) {
      expiry_timer_.stop();
    }
  }

  core::Loop& loop_;
  Connection connection_;
  core::Counter& written_;
  core::Timer expiry_timer_;
  std::deque<Letter> waiting_;
  bool closed_ = false;
};

core::Result<std::vector<TriggerPtr>> build(const config::Snapshot& snapshot,
                                            TriggerContext& context) {
  std::vector<TriggerPtr> triggers;
  const config::RedisConfig& redis = snapshot.daemon.redis;
  bool any_dead_letter = false;
  bool any_trigger = false;
  for (const auto& manifest : snapshot.functions) {
    any_dead_letter |= is_redis_destination(manifest.dead_letter);
    for (const auto& trigger : manifest.triggers) {
      any_trigger |= trigger.as<RedisTriggerSettings>() != nullptr;
    }
  }
  if (!any_dead_letter && !any_trigger) {
    return triggers;
  }
  auto endpoint = parse_redis_url(redis.url);
  if (!endpoint.ok()) {
    return endpoint.error();
  }

  if (any_dead_letter) {
    // A dead-letter key of the wrong type would fail every dead letter: refuse to start.
    auto client =
        BlockingClient::connect(endpoint.value(), redis.connect_timeout, redis.command_timeout);
    if (!client.ok()) {
      return core::Error(client.error().code(),
                         "redis dead-letter writer: " + client.error().message());
    }
    for (const auto& manifest : snapshot.functions) {
      const auto& dead_letter = manifest.dead_letter;
      core::Status status;
      if (is_redis_destination(dead_letter)) {
        status = expect_type(client.value(), dead_letter.target,
                             dead_letter.kind == kStreamDestination ? "stream" : "list",
                             "dead letters of function " + manifest.name);
      }
      if (!status.ok()) {
        return status.error();
      }
    }
    ConnectionOptions options;
    options.endpoint = endpoint.value();
    options.connect_timeout = redis.connect_timeout;
    options.command_timeout = redis.command_timeout;
    options.name = "redis dead-letter writer";
    auto sink = std::make_shared<RedisDeadLetterSink>(
        context.loop, std::move(options),
        context.metrics.counter("switchyard_redis_dead_letters_written_total",
                                "Dead letters written to Redis streams and lists."));
    sink->start();
    context.dead_letters.install(kStreamDestination, sink);
    context.dead_letters.install(kListDestination, sink);
  }

  for (const auto& manifest : snapshot.functions) {
    for (const auto& trigger : manifest.triggers) {
      const auto* spec = trigger.as<RedisTriggerSettings>();
      if (spec == nullptr) {
        continue;
      }
      SourceSettings settings;
      settings.function = manifest.name;
      settings.spec = *spec;
      settings.endpoint = endpoint.value();
      settings.key = spec->stream.empty() ? spec->list : spec->stream;
      settings.consumer =
          spec->consumer.empty() ? snapshot.daemon.instance + "-" + manifest.name : spec->consumer;
      settings.connect_timeout = redis.connect_timeout;
      settings.command_timeout = redis.command_timeout;
      if (!spec->stream.empty()) {
        triggers.push_back(std::make_unique<StreamSource>(context, std::move(settings)));
      } else {
        triggers.push_back(std::make_unique<ListSource>(context, std::move(settings)));
      }
    }
  }
  return triggers;
}

}  // namespace

void register_redis_trigger(TriggerRegistry& registry) {
  auto needs_url = [](const config::DaemonConfig& daemon, std::string_view what) {
    return daemon.redis.url.empty() ? std::string(what) + " needs redis.url" : std::string();
  };
  TriggerKind kind;
  kind.manifest.key = "redis";
  kind.manifest.parse = parse_redis_trigger;
  kind.manifest.check = [needs_url](const config::Settings&, const config::DaemonConfig& daemon) {
    return needs_url(daemon, "redis trigger");
  };
  kind.manifest.daemon_section = "redis";
  kind.factory = build;
  for (std::string_view destination : {kStreamDestination, kListDestination}) {
    std::string what = "dead_letter." + std::string(destination);
    kind.dead_letters.push_back(config::DeadLetterKind{
        std::string(destination), "",
        [needs_url, what](const config::DaemonConfig& daemon) { return needs_url(daemon, what); },
        "redis"});
  }
  kind.same_daemon_settings = [](const config::DaemonConfig& a, const config::DaemonConfig& b) {
    return a.redis == b.redis;
  };
  auto status = registry.add(std::move(kind));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::triggers::redis
