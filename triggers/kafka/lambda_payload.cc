#include "triggers/kafka/lambda_payload.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/codec.h"
#include "core/log.h"
#include "triggers/kafka/record.h"

namespace switchyard::triggers::kafka {

namespace {

void append_record(std::string& out, const KafkaRecord& record) {
  out += "{\"topic\":\"";
  core::append_json_escaped(out, record.topic);
  out += "\",\"partition\":";
  out += std::to_string(record.partition);
  out += ",\"offset\":";
  out += std::to_string(record.offset);
  out += ",\"timestamp\":";
  out += std::to_string(record.timestamp_ms);
  out += ",\"timestampType\":\"";
  core::append_json_escaped(out, record.timestamp_type);
  out += '"';
  if (record.key) {
    out += ",\"key\":\"";
    out += core::base64_encode(*record.key);
    out += '"';
  }
  out += ",\"value\":\"";
  out += core::base64_encode(record.value);
  out += "\",\"headers\":[";
  bool first = true;
  for (const auto& header : record.headers) {
    out += first ? "{\"" : ",{\"";
    first = false;
    core::append_json_escaped(out, header.name);
    out += "\":[";
    const std::string value = header.value.value_or(std::string());
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      out += std::to_string(static_cast<int>(static_cast<signed char>(value[i])));
    }
    out += "]}";
  }
  out += "]}";
}

}  // namespace

core::Event encode_lambda_kafka(std::span<const core::Event> items,
                                std::string_view bootstrap_servers) {
  // Group by topic-partition, in order of first appearance.
  std::vector<std::pair<std::string, std::vector<KafkaRecord>>> groups;
  for (const auto& item : items) {
    std::optional<KafkaRecord> record = record_from_event(item);
    if (!record) {
      continue;  // Not a Kafka event: never made by this trigger.
    }
    std::string name = record->topic + "-" + std::to_string(record->partition);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&name](const auto& group) { return group.first == name; });
    if (it == groups.end()) {
      groups.emplace_back(std::move(name), std::vector<KafkaRecord>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(std::move(*record));
  }

  core::Event event;
  std::string& out = event.data;
  out.reserve(128 + items.size() * 128);
  out += "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":\"";
  core::append_json_escaped(out, bootstrap_servers);
  out += "\",\"records\":{";
  bool first_group = true;
  for (const auto& [name, records] : groups) {
    if (!first_group) {
      out += ',';
    }
    first_group = false;
    out += '"';
    core::append_json_escaped(out, name);
    out += "\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      append_record(out, records[i]);
    }
    out += ']';
  }
  out += "}}";

  event.datacontenttype = "application/json";
  event.type = std::string(kBatchEventType);
  if (!items.empty()) {
    event.id = items.size() == 1 ? items.front().id : items.front().id + ".." + items.back().id;
    event.source = items.front().source;
    event.traceparent = items.front().traceparent;
    for (const auto& item : items) {
      if (item.time > event.time) {
        event.time = item.time;
      }
    }
  }
  event.attributes.push_back({"batch.size", std::to_string(items.size())});
  event.synchronous = false;
  return event;
}

}  // namespace switchyard::triggers::kafka
