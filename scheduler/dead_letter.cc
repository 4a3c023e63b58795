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

}  // namespace switchyard::scheduler
