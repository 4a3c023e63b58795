#include "triggers/batch.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/time.h"

namespace switchyard::triggers {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write(JsonWriter& writer, std::string_view text) {
  if (core::is_valid_utf8(text)) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  } else {
    std::string valid = core::to_valid_utf8(text);
    writer.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
  }
}

void member(JsonWriter& writer, std::string_view key, std::string_view value) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  write(writer, value);
}

bool is_json(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') {
    media.remove_suffix(1);
  }
  return media == "application/json" || media.ends_with("+json");
}

void write_data(JsonWriter& writer, const core::Event& item) {
  if (is_json(item.datacontenttype)) {
    rapidjson::Document parsed;
    parsed.Parse<rapidjson::kParseIterativeFlag>(item.data.data(), item.data.size());
    if (!parsed.HasParseError()) {
      writer.Key("data");
      parsed.Accept(writer);
      return;
    }
  }
  if (core::is_valid_utf8(item.data)) {
    member(writer, "data", item.data);
  } else {
    member(writer, "data_base64", core::base64_encode(item.data));
  }
}

}  // namespace

core::Event encode_native_batch(std::span<const core::Event> items) {
  core::Event batch;
  batch.type = "switchyard.batch";
  batch.datacontenttype = "application/cloudevents-batch+json";
  if (items.empty()) {
    batch.data = "[]";
    batch.attributes.push_back({"batch.size", "0"});
    return batch;
  }
  batch.source = items.front().source;
  batch.id = items.size() == 1 ? items.front().id : items.front().id + ".." + items.back().id;
  batch.traceparent = items.front().traceparent;

  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  for (const core::Event& item : items) {
    batch.time = std::max(batch.time, item.time);
    writer.StartObject();
    member(writer, "specversion", "1.0");
    member(writer, "id", item.id);
    member(writer, "source", item.source);
    member(writer, "type", item.type);
    if (!item.subject.empty()) {
      member(writer, "subject", item.subject);
    }
    if (item.time != std::chrono::system_clock::time_point{}) {
      member(writer, "time", core::format_rfc3339(item.time));
    }
    if (!item.datacontenttype.empty()) {
      member(writer, "datacontenttype", item.datacontenttype);
    }
    if (!item.dataschema.empty()) {
      member(writer, "dataschema", item.dataschema);
    }
    write_data(writer, item);
    writer.Key("attributes");
    writer.StartObject();
    for (const core::Attribute& attribute : item.attributes) {
      member(writer, attribute.key, attribute.value);
    }
    writer.EndObject();
    writer.EndObject();
  }
  writer.EndArray();
  batch.data.assign(buffer.GetString(), buffer.GetSize());
  batch.attributes.push_back({"batch.size", std::to_string(items.size())});
  return batch;
}

}  // namespace switchyard::triggers
