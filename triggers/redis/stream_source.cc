#include "triggers/redis/stream_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "triggers/redis/async_stream.h"
#include "triggers/redis/mapping.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/reply.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

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
        claim_timer_(context.loop, [this] {
          heartbeat();
          claim();
        }) {}

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
        argv, [this](core::Result<Reply> reply) { on_read(std::move(reply)); }, extra);
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
          [this](core::Result<Reply> created) {
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
    if (settings_.removes_settled) {
      settle({settle_command(settings_.key, settings_.spec.group, settings_.consumer, event.id),
              event.id, true});
      return;
    }
    settle({{"XACK", settings_.key, settings_.spec.group, event.id}, event.id, true});
  }

  void release(const core::Event& event) override {
    // It stays pending in the group: replayed at this consumer's next start, or claimed
    // (XAUTOCLAIM) once idle for claim_after.
    active_.erase(event.id);
  }

  void ack_settled(const AckWork& work) override { active_.erase(work.entry); }

  // Keeps the entries running here from looking idle to the other consumers of the group
  // (which would claim them after claim_after): XCLAIM ... JUSTID resets their idle time. All of
  // them, 1000 to a command, at every tick of the claim timer.
  void heartbeat() {
    if (active_.empty() || !commands_.ready()) {
      return;
    }
    const std::vector<std::string> head = {"XCLAIM", settings_.key, settings_.spec.group,
                                           settings_.consumer, "0"};
    std::vector<std::string> argv = head;
    auto send = [&] {
      argv.push_back("JUSTID");
      commands_.send(argv, [](core::Result<Reply>) {});
      argv = head;
    };
    for (const auto& id : active_) {
      argv.push_back(id);
      if (argv.size() - head.size() == 1000) {
        send();
      }
    }
    if (argv.size() > head.size()) {
      send();
    }
  }

  // Takes over entries idle longer than claim_after, from any consumer of the group.
  void claim() {
    if (stopping_ || !commands_.ready() || !recovered_) {
      return;
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
                       [this](core::Result<Reply> reply) {
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
    commands_.send({"XINFO", "GROUPS", settings_.key}, [this](core::Result<Reply> reply) {
      if (!reply.ok()) {
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

}  // namespace

TriggerPtr make_stream_source(TriggerContext& context, SourceSettings settings) {
  return std::make_unique<StreamSource>(context, std::move(settings));
}

}  // namespace switchyard::triggers::redis
