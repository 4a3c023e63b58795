#pragma once

// How Redis entries become events, and how dead letters are written to Redis. Pure functions:
// any thread.
//
// A stream entry becomes an event with
//   id      the entry id ("1700000000000-0"), stable across redeliveries;
//   source  "redis://<host:port>/<db>/<key>" (Endpoint::describe(), never a password);
//   type    "switchyard.redis.stream";
//   time    the millisecond part of the entry id;
//   data    the value of the field `data` when the entry has one (as is, any bytes), otherwise
//           a JSON object of all fields (string values; invalid UTF-8 replaced), with
//           datacontenttype application/json;
//   attributes redis.key, redis.id, and redis.field.<name> for every field (exact bytes).
// A list element becomes an event with
//   id      "fnv1a-" + 16 hex digits of a 64-bit FNV-1a hash of the element: stable across
//           redeliveries, and equal for equal elements (a list has no other identity);
//   type    "switchyard.redis.list"; data the element; attributes redis.key, redis.id.
//
// A dead letter is written as
//   to a stream (XADD KEY * ...): the fields function, error_type, error_message, attempts,
//     event_id, event_source, event_type, then every source attribute of the event (redis.key,
//     redis.id, redis.field.*, kafka.topic...) under its own name, then data (exact bytes);
//   to a list (RPUSH KEY json): one JSON object with the same members, the attributes in an
//     `attributes` object, and `data` (a string when the data is UTF-8) or `data_base64`.

#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "scheduler/dead_letter.h"
#include "triggers/redis/reply.h"

namespace switchyard::triggers::redis {

inline constexpr std::string_view kStreamEventType = "switchyard.redis.stream";
inline constexpr std::string_view kListEventType = "switchyard.redis.list";

// "redis://127.0.0.1:6379/0/jobs".
std::string event_source(std::string_view endpoint, std::string_view key);

core::Event stream_entry_event(std::string_view source, std::string_view key,
                               const StreamEntry& entry);

// The stable id of a list element.
std::string list_element_id(std::string_view element);
core::Event list_element_event(std::string_view source, std::string_view key, std::string element);

// XADD's field/value arguments for a dead letter.
std::vector<std::string> dead_letter_fields(const scheduler::DeadLetter& letter);
// The JSON document RPUSHed for a dead letter.
std::string dead_letter_json(const scheduler::DeadLetter& letter);

}  // namespace switchyard::triggers::redis
