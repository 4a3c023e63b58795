#include "triggers/redis/async_stream.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <deque>
#include <utility>

#include "async/event_codec.h"
#include "triggers/redis/connection.h"
#include "triggers/redis/stream_source.h"
#include "triggers/shared_async.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

// KEYS: the stream, its bytes counter. ARGV: max events, max bytes, this one's size, then the
// entry's fields. Answers the new entry's id, or [events, bytes] when it does not fit. An empty
// stream holds no bytes, whatever the counter says (the stream was deleted or trimmed).
constexpr const char* kAddScript = R"lua(
local events = redis.call('XLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if events == 0 then
  bytes = 0
  redis.call('SET', KEYS[2], 0)
end
if events >= tonumber(ARGV[1]) or bytes + tonumber(ARGV[3]) > tonumber(ARGV[2]) then
  return {events, bytes}
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
redis.call('INCRBY', KEYS[2], ARGV[3])
return id
)lua";

// What the put-back and settle scripts share: the `size` field of an entry's field list as a
// number (0 when missing or not a number), and whether `consumer` holds entry `id`.
constexpr const char* kScriptFunctions = R"lua(
local function entry_size(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'size' then
      return tonumber(fields[i + 1]) or 0
    end
  end
  return 0
end
local function held(key, group, id, consumer)
  return #redis.call('XPENDING', key, group, id, id, 1, consumer) > 0
end
)lua";

// KEYS: the stream, its bytes counter. ARGV: the group, the consumer, the entry put back, the
// new entry's size, then its fields. Answers the new entry's id, or nil when the old one is
// gone or no longer this consumer's (another daemon took it over).
const std::string kPutBackScript = std::string(kScriptFunctions) + R"lua(
local old = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #old == 0 or not held(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then
  return false
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
redis.call('INCRBY', KEYS[2], tonumber(ARGV[4]) - entry_size(old[1][2]))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return id
)lua";

// KEYS: the stream, its bytes counter. ARGV: the group, the consumer, the entry. When the entry
// is this consumer's, acknowledges it and deletes it, taking its size off the counter; one
// another daemon took over is left to it. Answers 1 when it settled the entry.
const std::string kSettleScript = std::string(kScriptFunctions) + R"lua(
if not held(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then
  return 0
end
local found = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #found > 0 then
  redis.call('DECRBY', KEYS[2], entry_size(found[1][2]))
  redis.call('XDEL', KEYS[1], ARGV[3])
end
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
)lua";

// KEYS: the stream, its bytes counter. Answers [events, bytes, enqueued_at of the first entry].
constexpr const char* kUsageScript = R"lua(
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = '0'
if #first > 0 then
  local fields = first[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'enqueued_at' then
      oldest = fields[i + 1]
    end
  end
end
return {redis.call('XLEN', KEYS[1]), redis.call('GET', KEYS[2]) or '0', oldest}
)lua";

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

class AsyncWriter final : public async::SharedQueue {
 public:
  AsyncWriter(core::Loop& loop, const SourceSettings& settings)
      : key_(settings.key),
        bytes_key_(bytes_key(settings.key)),
        consumer_(settings.consumer),
        connection_(loop, options(settings)),
        usage_timer_(loop, [this] { refresh_usage(); }),
        wait_limit_(settings.command_timeout),
        waiting_timer_(loop, [this] { expire_waiting(); }) {
    connection_.on_ready([this] {
      send_waiting();
      refresh_usage();
    });
    connection_.start();
    usage_timer_.start(std::chrono::seconds(1), std::chrono::seconds(1));
    usage_timer_.unref();
  }

  // Replaced at a reload, or gone with the daemon: every command not answered yet is answered
  // with an error (an invocation being added is refused, not left without an answer).
  ~AsyncWriter() override {
    connection_.close();
    std::deque<Waiting> waiting = std::move(waiting_);
    for (Waiting& command : waiting) {
      command.callback(core::Error(core::ErrorCode::kUnavailable, "the writer was closed"));
    }
  }

  void add(const async::Record& record, const async::Limits& limits, AddDone done) override {
    std::vector<std::string> fields = invocation_fields(record);
    const std::string& size = fields[11];  // The value of `size`.
    std::vector<std::string> argv = {"EVAL",
                                     kAddScript,
                                     "2",
                                     key_,
                                     bytes_key_,
                                     std::to_string(limits.max_events),
                                     std::to_string(limits.max_bytes),
                                     size};
    argv.insert(argv.end(), std::make_move_iterator(fields.begin()),
                std::make_move_iterator(fields.end()));
    auto answer = std::make_shared<AddDone>(std::move(done));
    send(std::move(argv), [this, answer](core::Result<Reply> reply) {
      if (!reply.ok()) {
        (*answer)(Added::kFailed, describe() + ": " + reply.error().message());
      } else if (reply->is_error()) {
        (*answer)(Added::kFailed, describe() + ": " + reply->str);
      } else if (reply->type == Reply::Type::kArray && reply->elements.size() == 2) {
        (*answer)(Added::kFull,
                  fmt::format("{} invocation(s), {} byte(s) in {}", reply->elements[0].integer,
                              reply->elements[1].integer, describe()));
      } else {
        (*answer)(Added::kAdded, std::string());
      }
    });
  }

  void requeue(std::string_view entry, const async::Record& record, Done done) override {
    std::vector<std::string> fields = invocation_fields(record);
    std::vector<std::string> argv = {"EVAL",    kPutBackScript,     "2",
                                     key_,      bytes_key_,         std::string(kAsyncGroup),
                                     consumer_, std::string(entry), fields[11]};
    argv.insert(argv.end(), std::make_move_iterator(fields.begin()),
                std::make_move_iterator(fields.end()));
    auto answer = std::make_shared<Done>(std::move(done));
    send(std::move(argv), [this, answer](core::Result<Reply> reply) {
      if (!reply.ok()) {
        (*answer)(reply.error());
      } else if (reply->is_error()) {
        (*answer)(core::Error(core::ErrorCode::kUnavailable, describe() + ": " + reply->str));
      } else if (reply->is_nil()) {
        (*answer)(core::Error(core::ErrorCode::kNotFound,
                              describe() + ": the entry is no longer this daemon's (another "
                                           "took it over)"));
      } else {
        (*answer)(core::Status());
      }
    });
  }

  async::FunctionUsage usage() const override { return usage_; }

  bool idle() const override { return waiting_.empty() && connection_.pending() == 0; }

  std::string describe() const override { return "redis stream " + key_; }

 private:
  static ConnectionOptions options(const SourceSettings& settings) {
    ConnectionOptions options;
    options.endpoint = settings.endpoint;
    options.connect_timeout = settings.connect_timeout;
    options.command_timeout = settings.command_timeout;
    options.name = "redis asynchronous queue " + settings.key + " (" + settings.function + ")";
    return options;
  }

  // A command sent while the connection is down (starting, or reconnecting) waits for it, at
  // most the command timeout, then fails.
  struct Waiting {
    std::vector<std::string> argv;
    Connection::ReplyCallback callback;
    std::chrono::steady_clock::time_point deadline;
  };
  static constexpr std::size_t kMaxWaiting = 10000;

  void send(std::vector<std::string> argv, Connection::ReplyCallback callback) {
    if (connection_.ready() && waiting_.empty()) {
      if (connection_.send(argv, callback)) {
        return;
      }
    }
    if (waiting_.size() >= kMaxWaiting) {
      callback(core::Error(core::ErrorCode::kUnavailable, "not connected to Redis, and " +
                                                              std::to_string(kMaxWaiting) +
                                                              " command(s) already wait for it"));
      return;
    }
    waiting_.push_back(Waiting{std::move(argv), std::move(callback),
                               std::chrono::steady_clock::now() + wait_limit_});
    if (!waiting_timer_.active()) {
      waiting_timer_.start(milliseconds(100), milliseconds(100));
    }
  }

  void send_waiting() {
    while (!waiting_.empty() && connection_.ready()) {
      Waiting next = std::move(waiting_.front());
      waiting_.pop_front();
      if (!connection_.send(next.argv, next.callback)) {
        waiting_.push_front(std::move(next));
        return;
      }
    }
    if (waiting_.empty()) {
      waiting_timer_.stop();
    }
  }

  void expire_waiting() {
    send_waiting();
    const auto now = std::chrono::steady_clock::now();
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
      Waiting expired = std::move(waiting_.front());
      waiting_.pop_front();
      expired.callback(
          core::Error(core::ErrorCode::kUnavailable,
                      fmt::format("not connected to Redis (waited {}ms)", wait_limit_.count())));
    }
    if (waiting_.empty()) {
      waiting_timer_.stop();
    }
  }

  void refresh_usage() {
    if (refreshing_ || !connection_.ready()) {
      return;
    }
    refreshing_ = true;
    bool sent = connection_.send(
        {"EVAL", kUsageScript, "2", key_, bytes_key_}, [this](core::Result<Reply> reply) {
          refreshing_ = false;
          if (!reply.ok() || reply->type != Reply::Type::kArray || reply->elements.size() != 3) {
            return;
          }
          async::FunctionUsage usage;
          usage.events =
              static_cast<std::uint64_t>(std::max<long long>(0, reply->elements[0].integer));
          parse_number(reply->elements[1].str, usage.bytes);
          parse_number(reply->elements[2].str, usage.oldest_enqueued_at_ms);
          usage_ = usage;
        });
    if (!sent) {
      refreshing_ = false;
    }
  }

  std::string key_;
  std::string bytes_key_;
  std::string consumer_;
  Connection connection_;
  core::Timer usage_timer_;
  milliseconds wait_limit_;
  std::deque<Waiting> waiting_;
  core::Timer waiting_timer_;
  bool refreshing_ = false;
  async::FunctionUsage usage_;
};

}  // namespace

std::string bytes_key(std::string_view key) {
  return std::string(key) + ":bytes";
}

std::vector<std::string> settle_command(std::string_view key, std::string_view group,
                                        std::string_view consumer, std::string_view entry) {
  return {"EVAL",
          kSettleScript,
          "2",
          std::string(key),
          bytes_key(key),
          std::string(group),
          std::string(consumer),
          std::string(entry)};
}

std::vector<std::string> invocation_fields(const async::Record& record) {
  std::string data = async::encode_event(record.event);
  std::string size = std::to_string(data.size());
  return {"request_id",
          record.id,
          "function",
          record.function,
          "attempts",
          std::to_string(record.attempts),
          "enqueued_at",
          std::to_string(record.enqueued_at_ms),
          "next_attempt_at",
          std::to_string(record.next_attempt_at_ms),
          "size",
          std::move(size),
          "data",
          std::move(data)};
}

core::Result<async::Record> invocation_from_event(const core::Event& event) {
  if (core::find_attribute(event.attributes, "redis.field.data") == nullptr) {
    return core::Error(core::ErrorCode::kInvalidArgument, "no valid field \"data\"");
  }
  return invocation_from_attributes(event, "redis.field.", "field");
}

std::shared_ptr<async::SharedQueue> make_async_writer(core::Loop& loop,
                                                      const SourceSettings& settings) {
  return std::make_shared<AsyncWriter>(loop, settings);
}

TriggerPtr make_async_reader(TriggerContext& context, async::SharedIntake& intake,
                             SourceSettings settings) {
  SharedReaderSettings reader;
  reader.function = settings.function;
  reader.queue = "redis stream " + settings.key;
  reader.decode = invocation_from_event;
  reader.unreadable = SharedReaderSettings::Unreadable::kLeave;
  return make_shared_reader(context, intake, std::move(reader),
                            [&settings](TriggerContext& reader_context) {
                              return make_stream_source(reader_context, std::move(settings));
                            });
}

}  // namespace switchyard::triggers::redis
