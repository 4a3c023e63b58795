#include "triggers/redis/redis_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "triggers/batch.h"
#include "triggers/redis/lambda_payload.h"
#include "triggers/redis/mapping.h"

namespace switchyard::triggers::redis {

namespace {

using std::chrono::milliseconds;

// The most entries one read asks for, whatever the capacity: keeps replies small.
constexpr std::size_t kMaxRead = 500;
// How often the consumer-group lag (or list length) gauge is refreshed.
constexpr milliseconds kInfoInterval(5000);

PullSource::Options pull_options(const SourceSettings& settings) {
  PullSource::Options options;
  options.function = settings.function;
  options.batch = static_cast<std::size_t>(std::max(settings.spec.batch, 1));
  options.batch_window = settings.spec.batch_window;
  if (settings.spec.payload == "lambda-sqs") {
    // Always a batch of Records, as SQS sends them, even of one.
    options.mode = PullSource::Mode::kBatch;
    options.encode = [](std::span<const core::Event> batch) { return encode_lambda_sqs(batch); };
  } else {
    options.mode = options.batch > 1 ? PullSource::Mode::kBatch : PullSource::Mode::kSingle;
    options.encode = [](std::span<const core::Event> batch) { return encode_native_batch(batch); };
  }
  return options;
}

}  // namespace

RedisSource::RedisSource(TriggerContext& context, SourceSettings settings, std::string kind)
    : context_(context),
      settings_(std::move(settings)),
      kind_(std::move(kind)),
      source_(event_source(settings_.endpoint.describe(), settings_.key)),
      reconnects_(counter("switchyard_redis_reconnects_total",
                          "Connections to Redis lost and re-established.")),
      reader_(context.loop, connection_options("reader"), &reconnects_),
      commands_(context.loop, connection_options("acks"), &reconnects_),
      read_(counter("switchyard_redis_entries_read_total",
                    "Entries read from Redis (including replayed and claimed ones).")),
      acked_(counter("switchyard_redis_entries_acked_total",
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
      retry_timer_(context.loop, [this] { pump(); }),
      info_timer_(context.loop, [this] { refresh_info(); }),
      stop_timer_(context.loop, [this] { give_up_acks(); }),
      pull_(context.loop, context.dispatcher, pull_options(settings_), *this) {}

std::string RedisSource::describe() const {
  return fmt::format("redis {} {} ({})", kind_, settings_.key, settings_.function);
}

core::Status RedisSource::start() {
  auto client = BlockingClient::connect(settings_.endpoint, settings_.connect_timeout,
                                        settings_.command_timeout);
  if (!client.ok()) {
    return client.error();
  }
  auto checked = check(client.value());
  if (!checked.ok()) {
    return checked;
  }
  pull_.start();
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

void RedisSource::stop(std::function<void()> done) {
  stopping_ = true;
  on_stopped_ = std::move(done);
  // Nothing staged is offered any more: it goes back to Redis below.
  std::vector<core::Event> staged = pull_.stop();
  retry_timer_.stop();
  info_timer_.stop();
  stopping_hook();
  // A read in flight fails now; what Redis handed it stays pending / in the processing list.
  reader_.close();
  reading_ = false;
  for (const core::Event& event : staged) {
    release(event);
  }
  maybe_stopped();
}

core::Counter& RedisSource::counter(std::string_view name, std::string_view help) {
  return context_.metrics.counter(name, help, labels());
}

core::Labels RedisSource::labels() const {
  return {{"function", settings_.function}, {"key", settings_.key}};
}

ConnectionOptions RedisSource::connection_options(std::string_view role) const {
  ConnectionOptions options;
  options.endpoint = settings_.endpoint;
  options.connect_timeout = settings_.connect_timeout;
  options.command_timeout = settings_.command_timeout;
  options.name = fmt::format("redis {} {} ({}) {}", kind_, settings_.key, settings_.function, role);
  return options;
}

void RedisSource::pump() {
  if (stopping_) {
    return;
  }
  pull_.flush(false);
  read_more();
}

void RedisSource::read_more() {
  if (!can_read() || retry_timer_.active()) {
    return;
  }
  std::size_t room = pull_.room(kMaxRead);
  if (room == 0) {
    // The PullSource calls capacity_returned() when the function frees a slot.
    paused_.set(1);
    return;
  }
  paused_.set(0);
  reading_ = true;
  read(room);
}

std::size_t RedisSource::room() const {
  return pull_.room(kMaxRead);
}

void RedisSource::read_done() {
  reading_ = false;
  pump();
}

void RedisSource::read_failed(const std::string& why, bool connection_lost) {
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

void RedisSource::stage(core::Event event) {
  read_.inc_unshared();
  pull_.stage(std::move(event));
}

void RedisSource::completed(core::Event& event, core::Outcome& outcome, void* /*context*/) {
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

void RedisSource::rejected(std::vector<core::Event> events) {
  spdlog::warn("{}: function {} is not serving; {} entr(ies) left in Redis", describe(),
               settings_.function, events.size());
  for (const core::Event& event : events) {
    release(event);
  }
}

void RedisSource::throttled() {
  // The PullSource calls capacity_returned() when the function frees a slot.
  paused_.set(1);
}

void RedisSource::capacity_returned() {
  if (!stopping_) {
    read_more();
  }
}

void RedisSource::settle(AckWork work) {
  if (!commands_.ready()) {
    unsent_.push_back(std::move(work));
    return;
  }
  auto shared = std::make_shared<AckWork>(std::move(work));
  ++acks_in_flight_;
  bool sent = commands_.send(shared->argv, [this, shared](core::Result<Reply> reply) {
    if (acks_in_flight_ > 0) {
      --acks_in_flight_;
    }
    if (stopping_ && !on_stopped_) {
      return;  // Stopped already: given up on.
    }
    if (!reply.ok()) {
      // The connection went away: the command may or may not have run. Send it again once
      // connected (XACK and LREM of one element are safe to repeat).
      unsent_.push_back(std::move(*shared));
    } else {
      if (reply->is_error()) {
        spdlog::error("{}: {} for entry {} failed: {}", describe(), shared->argv[0], shared->entry,
                      reply->str);
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

void RedisSource::resend_acks() {
  std::vector<AckWork> work;
  work.swap(unsent_);
  for (auto& item : work) {
    settle(std::move(item));
  }
  maybe_stopped();
}

void RedisSource::give_up_acks() {
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

void RedisSource::maybe_stopped() {
  if (!stopping_ || !on_stopped_ || pull_.in_flight() > 0) {
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

void RedisSource::finish_stop() {
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

}  // namespace switchyard::triggers::redis
