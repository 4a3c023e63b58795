#include "triggers/redis/mapping.h"

#include <fmt/format.h>

#include <cstdint>

#include "core/codec.h"
#include "core/log.h"

namespace switchyard::triggers::redis {

namespace {

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  core::append_json_escaped(
      out, core::is_valid_utf8(value) ? std::string(value) : core::to_valid_utf8(value));
  out += '"';
}

}  // namespace

std::string event_source(std::string_view endpoint, std::string_view key) {
  return fmt::format("redis://{}/{}", endpoint, key);
}

core::Event stream_entry_event(std::string_view source, std::string_view key,
                               const StreamEntry& entry) {
  core::Event event;
  event.id = entry.id;
  event.source = std::string(source);
  event.type = std::string(kStreamEventType);
  if (auto ms = stream_id_ms(entry.id)) {
    event.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(*ms));
  }
  event.attributes.reserve(entry.fields.size() + 2);
  event.attributes.push_back({"redis.key", std::string(key)});
  event.attributes.push_back({"redis.id", entry.id});
  const std::string* data = nullptr;
  for (const auto& [name, value] : entry.fields) {
    event.attributes.push_back({"redis.field." + name, value});
    if (name == "data" && data == nullptr) {
      data = &value;
    }
  }
  if (data != nullptr) {
    event.data = *data;
  } else {
    std::string json = "{";
    bool first = true;
    for (const auto& [name, value] : entry.fields) {
      if (!first) {
        json += ',';
      }
      first = false;
      append_json_string(json, name);
      json += ':';
      append_json_string(json, value);
    }
    json += '}';
    event.data = std::move(json);
    event.datacontenttype = "application/json";
  }
  event.synchronous = false;
  return event;
}

std::string list_element_id(std::string_view element) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : element) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("fnv1a-{:016x}", hash);
}

core::Event list_element_event(std::string_view source, std::string_view key, std::string element) {
  core::Event event;
  event.id = list_element_id(element);
  event.source = std::string(source);
  event.type = std::string(kListEventType);
  event.time = std::chrono::system_clock::now();
  event.attributes.push_back({"redis.key", std::string(key)});
  event.attributes.push_back({"redis.id", event.id});
  event.data = std::move(element);
  event.synchronous = false;
  return event;
}

std::vector<std::string> dead_letter_fields(const scheduler::DeadLetter& letter) {
  const core::Event& event = letter.event;
  std::vector<std::string> fields = {
      "function",      letter.function,
      "error_type",    letter.outcome.error_type,
      "error_message", letter.outcome.error_message,
      "attempts",      std::to_string(letter.outcome.attempts),
      "event_id",      event.id,
      "event_source",  event.source,
      "event_type",    event.type,
  };
  for (const auto& attribute : event.attributes) {
    fields.push_back(attribute.key);
    fields.push_back(attribute.value);
  }
  fields.push_back("data");
  fields.push_back(event.data);
  return fields;
}

std::string dead_letter_json(const scheduler::DeadLetter& letter) {
  const core::Event& event = letter.event;
  std::string json = "{\"function\":";
  append_json_string(json, letter.function);
  json += ",\"error_type\":";
  append_json_string(json, letter.outcome.error_type);
  json += ",\"error_message\":";
  append_json_string(json, letter.outcome.error_message);
  json += fmt::format(",\"attempts\":{}", letter.outcome.attempts);
  json += ",\"event_id\":";
  append_json_string(json, event.id);
  json += ",\"event_source\":";
  append_json_string(json, event.source);
  json += ",\"event_type\":";
  append_json_string(json, event.type);
  json += ",\"attributes\":{";
  bool first = true;
  for (const auto& attribute : event.attributes) {
    if (!first) {
      json += ',';
    }
    first = false;
    append_json_string(json, attribute.key);
    json += ':';
    append_json_string(json, attribute.value);
  }
  json += '}';
  if (core::is_valid_utf8(event.data)) {
    json += ",\"data\":";
    append_json_string(json, event.data);
  } else {
    json += ",\"data_base64\":\"" + core::base64_encode(event.data) + "\"";
  }
  json += '}';
  return json;
}

}  // namespace switchyard::triggers::redis
