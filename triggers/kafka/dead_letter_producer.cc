#include "triggers/kafka/dead_letter_producer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "triggers/kafka/client.h"
#include "triggers/kafka/record.h"

namespace switchyard::triggers::kafka {

namespace {

constexpr std::chrono::milliseconds kCloseWait{10000};
constexpr std::size_t kMaxReportsPerWake = 1024;

// rd_kafka_t's dr_msg_cb reaches the producer through the client's opaque; each message
// carries its ticket (not a pointer, so that a late report can never touch freed memory).
void delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque);

}  // namespace

const std::map<std::string, std::string>& DeadLetterProducer::defaults() {
  static const std::map<std::string, std::string> defaults = {
      {"acks", "all"},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
      {"message.timeout.ms", "30000"},
  };
  return defaults;
}

core::Result<std::shared_ptr<DeadLetterProducer>> DeadLetterProducer::create(
    core::Loop& loop, core::MetricsRegistry& metrics, const config::KafkaConfig& kafka) {
  auto conf = make_conf(kafka, RD_KAFKA_PRODUCER, defaults(), {}, "dead letters");
  if (!conf.ok()) {
    return core::Error(conf.error().code(),
                       "kafka dead-letter producer: " + conf.error().message());
  }
  auto producer = std::make_shared<DeadLetterProducer>(loop, metrics);
  rd_kafka_conf_set_opaque(conf.value().get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf.value().get(), delivery_report);
  auto client = make_client(RD_KAFKA_PRODUCER, std::move(conf).value(), "kafka dead letters");
  if (!client.ok()) {
    return client.error();
  }
  producer->rk_ = client.value();
  producer->main_queue_ = rd_kafka_queue_get_main(producer->rk_);
  producer->watcher_ = std::make_unique<QueueWatcher>(loop, producer->main_queue_,
                                                      [raw = producer.get()] { raw->serve(); });
  if (auto status = producer->watcher_->start(); !status.ok()) {
    return status.error();
  }
  return producer;
}

DeadLetterProducer::DeadLetterProducer(core::Loop& loop, core::MetricsRegistry& metrics)
    : loop_(loop), metrics_(metrics) {}

DeadLetterProducer::~DeadLetterProducer() {
  destroy_client();
  fail_pending("the dead-letter producer was destroyed");
}

void DeadLetterProducer::destroy_client() {
  if (watcher_) {
    watcher_->stop();
  }
  // rd_kafka_destroy waits for every queue reference: the main queue's goes first.
  if (main_queue_ != nullptr) {
    rd_kafka_queue_destroy(main_queue_);
    main_queue_ = nullptr;
  }
  if (rk_ != nullptr) {
    rd_kafka_t* rk = rk_;
    rk_ = nullptr;
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(rk);
  }
}

core::Counter& DeadLetterProducer::written(const std::string& topic, const char* result) {
  return metrics_.counter("switchyard_kafka_dead_letter_writes_total",
                          "Dead letters written to Kafka topics, by result.",
                          {{"topic", topic}, {"result", result}});
}

void DeadLetterProducer::send(const scheduler::DeadLetter& letter,
                              std::function<void(core::Status)> done) {
  const std::string& topic = letter.destination.target;
  if (rk_ == nullptr || closing_) {
    done(core::Error(core::ErrorCode::kUnavailable, "the Kafka dead-letter producer is closed"));
    return;
  }
  DeadLetterRecord record;
  if (letter.record != nullptr) {
    record.value = *letter.record;
    record.headers.push_back({"content-type", std::string("application/json")});
  } else {
    record = dead_letter_record(letter.event, letter.function, letter.outcome.error_type,
                                letter.outcome.error_message, letter.outcome.attempts);
  }
  produce(topic, record, std::move(done), kDeadLetter);
}

void DeadLetterProducer::produce(const std::string& topic, const DeadLetterRecord& record,
                                 std::function<void(core::Status)> done, std::string_view what) {
  if (rk_ == nullptr || closing_) {
    done(core::Error(core::ErrorCode::kUnavailable, "the Kafka producer is closed"));
    return;
  }
  rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
  for (const auto& header : record.headers) {
    rd_kafka_header_add(headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                        header.value ? header.value->data() : nullptr,
                        header.value ? static_cast<ssize_t>(header.value->size()) : 0);
  }
  std::uint64_t ticket = next_ticket_++;
  // The librdkafka macros cast their arguments without parentheses: plain variables only.
  const char* key_data = record.key ? record.key->data() : nullptr;
  std::size_t key_size = record.key ? record.key->size() : 0;
  // Copied (RD_KAFKA_MSG_F_COPY), never written through.
  void* value_data = const_cast<char*>(record.value.data());
  std::size_t value_size = record.value.size();
  void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(ticket));
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_data, key_size),
      RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers);  // Not taken over on failure.
    if (what == kDeadLetter) {
      written(topic, "failed").inc_unshared();
    }
    done(core::Error(core::ErrorCode::kUnavailable,
                     fmt::format("cannot queue {} for topic {}: {}", what, topic, describe(err))));
    return;
  }
  pending_.emplace(ticket, Pending{std::move(done), what == kDeadLetter});
}

void DeadLetterProducer::serve() {
  if (rk_ == nullptr) {
    return;
  }
  std::size_t served = 0;
  while (served < kMaxReportsPerWake) {
    int count = rd_kafka_poll(rk_, 0);
    if (count <= 0) {
      break;
    }
    served += static_cast<std::size_t>(count);
  }
  if (served >= kMaxReportsPerWake && watcher_) {
    watcher_->kick();
  }
  if (closing_ && rk_ != nullptr && rd_kafka_outq_len(rk_) == 0) {
    finish_close();
  }
}

void DeadLetterProducer::on_delivery_report(std::uint64_t ticket, int err,
                                            const std::string& topic) {
  auto it = pending_.find(ticket);
  if (it == pending_.end()) {
    return;
  }
  Pending pending = std::move(it->second);
  pending_.erase(it);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (pending.dead_letter) {
    written(topic, code == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok" : "failed").inc_unshared();
  }
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
    pending.done(core::Status());
  } else {
    pending.done(
        core::Error(core::ErrorCode::kUnavailable,
                    fmt::format("record not written to topic {}: {}", topic, describe(code))));
  }
}

void DeadLetterProducer::close(std::function<void()> done) {
  if (closing_ || rk_ == nullptr) {
    done();
    return;
  }
  closing_ = true;
  on_closed_ = std::move(done);
  close_deadline_ms_ = loop_.now_ms() + static_cast<std::uint64_t>(kCloseWait.count());
  // Delivery reports arrive through serve(); this timer checks the queue and the deadline.
  close_timer_ = std::make_unique<core::Timer>(loop_, [this] {
    serve();
    if (closing_ && rk_ != nullptr && loop_.now_ms() >= close_deadline_ms_) {
      spdlog::warn("kafka dead letters: {} message(s) not acknowledged within {}ms; giving up",
                   rd_kafka_outq_len(rk_), kCloseWait.count());
      finish_close();
    }
  });
  close_timer_->start(std::chrono::milliseconds(0), std::chrono::milliseconds(20));
}

void DeadLetterProducer::finish_close() {
  if (rk_ == nullptr) {
    return;
  }
  if (close_timer_) {
    close_timer_->stop();
  }
  destroy_client();
  fail_pending("the dead-letter producer closed before the broker acknowledged it");
  // The timer is running its own callback possibly: let it go at a safe point.
  loop_.defer([timer = std::shared_ptr<core::Timer>(std::move(close_timer_))] {});
  if (on_closed_) {
    auto done = std::move(on_closed_);
    on_closed_ = nullptr;
    done();
  }
}

void DeadLetterProducer::fail_pending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [ticket, waiting] : pending) {
    waiting.done(core::Error(core::ErrorCode::kUnavailable, why));
  }
}

namespace {

void delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* producer = static_cast<DeadLetterProducer*>(opaque);
  auto ticket = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message->_private));
  std::string topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
  producer->on_delivery_report(ticket, message->err, topic);
}

}  // namespace

}  // namespace switchyard::triggers::kafka
