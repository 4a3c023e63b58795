#include "async/event_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "core/codec.h"

namespace switchyard::async {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A string as itself when it is valid UTF-8, else as {"base64": "..."}.
void write_bytes(Writer& writer, std::string_view bytes) {
  if (core::is_valid_utf8(bytes)) {
    writer.String(bytes.data(), static_cast<rapidjson::SizeType>(bytes.size()));
    return;
  }
  std::string encoded = core::base64_encode(bytes);
  writer.StartObject();
  writer.Key("base64");
  writer.String(encoded.data(), static_cast<rapidjson::SizeType>(encoded.size()));
  writer.EndObject();
}

// An empty member is left out (read back as empty).
void write_member(Writer& writer, const char* name, std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  writer.Key(name);
  write_bytes(writer, bytes);
}

// The inverse of write_bytes(); false when `value` is neither form.
bool read_bytes(const rapidjson::Value& value, std::string& out) {
  if (value.IsString()) {
    out.assign(value.GetString(), value.GetStringLength());
    return true;
  }
  if (value.IsObject()) {
    auto encoded = value.FindMember("base64");
    if (encoded == value.MemberEnd() || !encoded->value.IsString()) {
      return false;
    }
    std::optional<std::string> decoded = core::base64_decode(
        std::string_view(encoded->value.GetString(), encoded->value.GetStringLength()));
    if (!decoded) {
      return false;
    }
    out = std::move(*decoded);
    return true;
  }
  return false;
}

bool read_member(const rapidjson::Value& object, const char* name, std::string& out) {
  auto member = object.FindMember(name);
  if (member == object.MemberEnd()) {
    out.clear();
    return true;
  }
  return read_bytes(member->value, out);
}

core::Error malformed(std::string_view what) {
  return core::Error(core::ErrorCode::kInvalidArgument,
                     "queued event is malformed: " + std::string(what));
}

}  // namespace

std::string encode_event(const core::Event& event) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  write_member(writer, "id", event.id);
  write_member(writer, "source", event.source);
  write_member(writer, "type", event.type);
  write_member(writer, "subject", event.subject);
  write_member(writer, "datacontenttype", event.datacontenttype);
  write_member(writer, "dataschema", event.dataschema);
  writer.Key("time_ns");
  writer.Int64(
      std::chrono::duration_cast<std::chrono::nanoseconds>(event.time.time_since_epoch()).count());
  write_member(writer, "traceparent", event.traceparent);
  writer.Key("attributes");
  writer.StartArray();
  for (const core::Attribute& attribute : event.attributes) {
    writer.StartArray();
    write_bytes(writer, attribute.key);
    write_bytes(writer, attribute.value);
    writer.EndArray();
  }
  writer.EndArray();
  write_member(writer, "data", event.data);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

core::Status decode_event(std::string_view bytes, core::Event& event) {
  rapidjson::Document document;
  document.Parse(bytes.data(), bytes.size());
  if (document.HasParseError() || !document.IsObject()) {
    return malformed("not a JSON object");
  }
  struct Field {
    const char* name;
    std::string* out;
  };
  const Field fields[] = {
      {"id", &event.id},
      {"source", &event.source},
      {"type", &event.type},
      {"subject", &event.subject},
      {"datacontenttype", &event.datacontenttype},
      {"dataschema", &event.dataschema},
      {"traceparent", &event.traceparent},
      {"data", &event.data},
  };
  for (const Field& field : fields) {
    if (!read_member(document, field.name, *field.out)) {
      return malformed(field.name);
    }
  }
  event.time = {};
  auto time = document.FindMember("time_ns");
  if (time != document.MemberEnd()) {
    if (!time->value.IsInt64()) {
      return malformed("time_ns");
    }
    event.time = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(time->value.GetInt64())));
  }
  event.attributes.clear();
  auto attributes = document.FindMember("attributes");
  if (attributes != document.MemberEnd()) {
    if (!attributes->value.IsArray()) {
      return malformed("attributes");
    }
    for (const rapidjson::Value& pair : attributes->value.GetArray()) {
      core::Attribute& attribute = event.attributes.emplace_back();
      if (!pair.IsArray() || pair.Size() != 2 || !read_bytes(pair[0], attribute.key) ||
          !read_bytes(pair[1], attribute.value)) {
        return malformed("attributes");
      }
    }
  }
  return {};
}

}  // namespace switchyard::async
