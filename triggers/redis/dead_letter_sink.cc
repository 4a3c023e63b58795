#include "triggers/redis/dead_letter_sink.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "triggers/redis/mapping.h"
#include "triggers/redis/reply.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

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
    if (letter.record != nullptr) {
      if (destination.kind == kStreamDestination) {
        pending.argv = {"XADD",          pending.key, "*",           "function",
                        letter.function, "data",      *letter.record};
      } else {
        pending.argv = {"RPUSH", pending.key, *letter.record};
      }
    } else if (destination.kind == kStreamDestination) {
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

}  // namespace

bool is_redis_destination(const config::DeadLetterSpec& destination) {
  return destination.kind == kStreamDestination || destination.kind == kListDestination;
}

std::shared_ptr<scheduler::DeadLetterSink> start_dead_letter_sink(core::Loop& loop,
                                                                  ConnectionOptions options,
                                                                  core::Counter& written) {
  auto sink = std::make_shared<RedisDeadLetterSink>(loop, std::move(options), written);
  sink->start();
  return sink;
}

}  // namespace switchyard::triggers::redis
