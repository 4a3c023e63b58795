#include "triggers/redis/lambda_payload.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/log.h"

namespace switchyard::triggers::redis {

namespace {

constexpr std::string_view kFieldPrefix = "redis.field.";
// The field a stream entry's body comes from (mapping.h): not repeated as an attribute.
constexpr std::string_view kDataField = "data";

// A JSON string of `value`, with any byte that is not UTF-8 replaced (names, ids).
void append_string(std::string& out, std::string_view value) {
  out += '"';
  if (core::is_valid_utf8(value)) {
    core::append_json_escaped(out, value);
  } else {
    core::append_json_escaped(out, core::to_valid_utf8(value));
  }
  out += '"';
}

void append_member(std::string& out, std::string_view key, std::string_view value) {
  append_string(out, key);
  out += ':';
  append_string(out, value);
}

void append_message_attributes(std::string& out, const core::Attributes& attributes) {
  out += "\"messageAttributes\":{";
  std::vector<std::string_view> seen;
  for (const core::Attribute& attribute : attributes) {
    std::string_view key = attribute.key;
    if (!key.starts_with(kFieldPrefix)) {
      continue;
    }
    std::string_view name = key.substr(kFieldPrefix.size());
    if (name == kDataField || std::find(seen.begin(), seen.end(), name) != seen.end()) {
      continue;
    }
    if (!seen.empty()) {
      out += ',';
    }
    seen.push_back(name);
    append_string(out, name);
    if (core::is_valid_utf8(attribute.value)) {
      out += ":{";
      append_member(out, "stringValue", attribute.value);
      out += R"(,"stringListValues":[],"binaryListValues":[],"dataType":"String"})";
    } else {
      out += ":{";
      append_member(out, "binaryValue", core::base64_encode(attribute.value));
      out += R"(,"stringListValues":[],"binaryListValues":[],"dataType":"Binary"})";
    }
  }
  out += '}';
}

void append_record(std::string& out, const core::Event& item) {
  out += '{';
  append_member(out, "messageId", item.id);
  out += ',';
  append_member(out, "receiptHandle", item.id);
  out += ',';
  const bool text = core::is_valid_utf8(item.data);
  if (text) {
    append_member(out, "body", item.data);
  } else {
    append_member(out, "body", core::base64_encode(item.data));
  }
  const auto sent =
      std::chrono::duration_cast<std::chrono::milliseconds>(item.time.time_since_epoch());
  out += R"(,"attributes":{"ApproximateReceiveCount":"1","SentTimestamp":")";
  out += std::to_string(sent.count());
  out += '"';
  if (!text) {
    out += R"(,"SwitchyardBodyEncoding":"base64")";
  }
  out += "},";
  append_message_attributes(out, item.attributes);
  out += ',';
  append_member(out, "eventSource", kLambdaEventSource);
  out += ',';
  append_member(out, "eventSourceARN", item.source);
  out += '}';
}

}  // namespace

core::Event encode_lambda_sqs(std::span<const core::Event> items) {
  core::Event event;
  std::string& out = event.data;
  std::size_t size = 16;
  for (const core::Event& item : items) {
    size += 256 + item.data.size() + item.source.size();
  }
  out.reserve(size);
  out += "{\"Records\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    append_record(out, items[i]);
  }
  out += "]}";

  event.datacontenttype = "application/json";
  event.type = std::string(kBatchEventType);
  if (!items.empty()) {
    event.id = items.size() == 1 ? items.front().id : items.front().id + ".." + items.back().id;
    event.source = items.front().source;
    event.traceparent = items.front().traceparent;
    for (const core::Event& item : items) {
      event.time = std::max(event.time, item.time);
    }
  }
  event.attributes.push_back({"batch.size", std::to_string(items.size())});
  event.synchronous = false;
  return event;
}

}  // namespace switchyard::triggers::redis
