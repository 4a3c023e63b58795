#include "scheduler/dead_letter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace switchyard::scheduler {

void LoggingDeadLetterSink::send(const DeadLetter& letter, std::function<void(core::Status)> done) {
  spdlog::error("function {}: event {} dead-lettered after {} attempt(s): {}: {}", letter.function,
                letter.event.id, letter.outcome.attempts, letter.outcome.error_type,
                letter.outcome.error_message);
  done(core::Status());
}

void DeadLetterRouter::install(std::string_view kind, std::shared_ptr<DeadLetterSink> sink) {
  sinks_.insert_or_assign(std::string(kind), std::move(sink));
}

bool DeadLetterRouter::has(std::string_view kind) const {
  auto it = sinks_.find(kind);
  return it != sinks_.end() && it->second != nullptr;
}

void DeadLetterRouter::send(const DeadLetter& letter, std::function<void(core::Status)> done) {
  const config::DeadLetterSpec& destination = letter.destination;
  if (!destination.configured()) {
    logging_.send(letter, std::move(done));
    return;
  }
  auto it = sinks_.find(destination.kind);
  if (it == sinks_.end() || it->second == nullptr) {
    done(core::Error(core::ErrorCode::kUnavailable,
                     "no " + destination.kind + " dead-letter writer is running"));
    return;
  }
  it->second->send(letter, std::move(done));
}

void DeadLetterRouter::close(std::function<void()> done) {
  auto sinks = std::make_shared<std::vector<std::shared_ptr<DeadLetterSink>>>();
  for (const auto& [kind, sink] : sinks_) {
    if (sink != nullptr && std::find(sinks->begin(), sinks->end(), sink) == sinks->end()) {
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
