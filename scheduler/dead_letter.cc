#include "scheduler/dead_letter.h"

#include <spdlog/spdlog.h>

namespace switchyard::scheduler {

void LoggingDeadLetterSink::send(const DeadLetter& letter,
                                 std::function<void(core::Status)> done) {
  spdlog::error("function {}: event {} dead-lettered after {} attempt(s): {}: {}",
                letter.function, letter.event.id, letter.outcome.attempts,
                letter.outcome.error_type, letter.outcome.error_message);
  done(core::Status());
}

void DeadLetterRouter::install(std::string_view kind, std::shared_ptr<DeadLetterSink> sink) {
  if (kind == "kafka") {
    kafka_ = std::move(sink);
  } else if (kind == "redis") {
    redis_ = std::move(sink);
  }
}

bool DeadLetterRouter::has(std::string_view kind) const {
  return (kind == "kafka" && kafka_ != nullptr) || (kind == "redis" && redis_ != nullptr);
}

std::string_view DeadLetterRouter::kind_of(const config::DeadLetterSpec& destination) {
  if (!destination.kafka_topic.empty()) {
    return "kafka";
  }
  if (!destination.redis_stream.empty() || !destination.redis_list.empty()) {
    return "redis";
  }
  return "";
}

void DeadLetterRouter::send(const DeadLetter& letter, std::function<void(core::Status)> done) {
  std::string_view kind = kind_of(letter.destination);
  if (kind.empty()) {
    logging_.send(letter, std::move(done));
    return;
  }
  DeadLetterSink* sink = kind == "kafka" ? kafka_.get() : redis_.get();
  if (sink == nullptr) {
    done(core::Error(core::ErrorCode::kUnavailable,
                     "no " + std::string(kind) + " dead-letter writer is running"));
    return;
  }
  sink->send(letter, std::move(done));
}

void DeadLetterRouter::close(std::function<void()> done) {
  auto sinks = std::make_shared<std::vector<std::shared_ptr<DeadLetterSink>>>();
  for (auto& sink : {kafka_, redis_}) {
    if (sink != nullptr) {
      sinks->push_back(sink);
    }
  }
  if (sinks->empty()) {
    done();
    return;
  }
  auto remaining = std::make_shared<std::size_t>(sinks->size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& sink : *sinks) {
    sink->close([remaining, shared_done, sinks] {
      if (--*remaining == 0) {
        (*shared_done)();
      }
    });
  }
}

}  // namespace switchyard::scheduler
