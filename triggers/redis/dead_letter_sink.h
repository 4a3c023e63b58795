#pragma once

// Writes dead letters to Redis streams (XADD) and lists (RPUSH) over its own connection.
// While that connection is down, a dead letter waits for it up to command_timeout (at most
// kMaxWaiting of them), then fails: the scheduler then leaves the event unacknowledged, so that
// it is delivered again.
//
// Thread rules: loop thread only.

#include <memory>
#include <string_view>

#include "config/config.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "scheduler/dead_letter.h"
#include "triggers/redis/connection.h"

namespace switchyard::triggers::redis {

// The dead-letter destinations the Redis writer serves.
inline constexpr std::string_view kStreamDestination = "redis_stream";
inline constexpr std::string_view kListDestination = "redis_list";

bool is_redis_destination(const config::DeadLetterSpec& destination);

// Makes the writer and starts connecting; `written` counts the dead letters written.
std::shared_ptr<scheduler::DeadLetterSink> start_dead_letter_sink(core::Loop& loop,
                                                                  ConnectionOptions options,
                                                                  core::Counter& written);

}  // namespace switchyard::triggers::redis
