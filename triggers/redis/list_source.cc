#include "triggers/redis/list_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "triggers/redis/mapping.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/reply.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

// Moves one element from the processing list back to the list, if it is still there. Atomic,
// so an element is never in both lists, nor in neither.
constexpr const char* kGiveBackScript =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then "
    "redis.call('RPUSH', KEYS[2], ARGV[1]) return 1 end return 0";

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
    bool sent = reader_.send(
        {"LMOVE", processing_, settings_.key, "LEFT", "RIGHT"}, [this](core::Result<Reply> reply) {
          if (!reply.ok()) {
            return;  // Lost connection: on_reader_ready() starts over.
          }
          if (reply->is_error()) {
            spdlog::error("{}: cannot recover the processing list {}: {}", describe(), processing_,
                          reply->str);
            retry_recovery();
            return;
          }
          if (!reply->is_nil()) {
            ++recovered_count_;
            recover_all();
            return;
          }
          if (recovered_count_ > 0) {
            spdlog::info("{}: moved {} unfinished element(s) from {} back to {}", describe(),
                         recovered_count_, processing_, settings_.key);
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
    bool sent = reader_.send({"LRANGE", processing_, "0", "-1"}, [this](core::Result<Reply> reply) {
      if (!reply.ok()) {
        return;  // Lost connection: on_reader_ready() starts over.
      }
      if (reply->is_error()) {
        spdlog::error("{}: cannot read the processing list {}: {}; trying again in 1s", describe(),
                      processing_, reply->str);
        retry_recovery();
        return;
      }
      if (reply->type == Reply::Type::kArray) {
        std::unordered_map<std::string, std::size_t> seen;
        for (const Reply& element : reply->elements) {
          std::size_t count = ++seen[element.str];
          auto it = active_.find(element.str);
          std::size_t active = it == active_.end() ? 0 : it->second;
          if (count > active) {
            spdlog::info("{}: giving back an element of {} that no event holds", describe(),
                         processing_);
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
          [this](core::Result<Reply> reply) {
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
      bool sent = reader_.send({"LMOVE", settings_.key, processing_, "RIGHT", "LEFT"},
                               [this, round](core::Result<Reply> reply) {
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
    commands_.send({"LLEN", settings_.key}, [this](core::Result<Reply> reply) {
      if (reply.ok() && reply->type == Reply::Type::kInteger) {
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

}  // namespace

TriggerPtr make_list_source(TriggerContext& context, SourceSettings settings) {
  return std::make_unique<ListSource>(context, std::move(settings));
}

}  // namespace switchyard::triggers::redis
