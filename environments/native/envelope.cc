#include "environments/native/envelope.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>

#include "core/codec.h"
#include "core/time.h"

namespace switchyard::environments {
namespace {

// ---- Encoding -------------------------------------------------------------------------------

// A RapidJSON output stream that appends to a std::string. The writer reserves room before it
// writes a string (PutReserve below); growing the capacity geometrically there keeps a long
// payload from reallocating once per character and nothing is zero-filled ahead of the writes.
class StringSink {
 public:
  using Ch = char;

  explicit StringSink(std::string& out) : out_(out) { out_.clear(); }

  void Put(char c) { out_.push_back(c); }
  void Flush() {}
  void reserve(std::size_t count) {
    std::size_t needed = out_.size() + count;
    if (needed > out_.capacity()) {
      out_.reserve(std::max(needed, 2 * out_.capacity()));
    }
  }

 private:
  std::string& out_;
};

// Found by argument-dependent lookup from inside rapidjson::Writer, in place of its generic
// versions (which would reserve nothing).
[[maybe_unused]] inline void PutReserve(StringSink& sink, std::size_t count) {
  sink.reserve(count);
}
[[maybe_unused]] inline void PutUnsafe(StringSink& sink, char c) {
  sink.Put(c);
}

using JsonWriter = rapidjson::Writer<StringSink>;

// Writes the envelope of one event or response. `scratch` holds a repaired or base64 string for
// the call that needs one.
class EnvelopeWriter {
 public:
  explicit EnvelopeWriter(std::string& out) : sink_(out), writer_(sink_) {}

  JsonWriter& json() { return writer_; }

  void key(std::string_view name) {
    writer_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  }

  // A string member holding text; left out when empty.
  void text_member(std::string_view name, std::string_view value) {
    if (!value.empty()) {
      key(name);
      text(value);
    }
  }

  // A string that should be text: a byte that is not valid UTF-8 becomes U+FFFD (a JSON text
  // cannot carry it).
  void text(std::string_view value) {
    if (core::is_valid_utf8(value)) {
      string(value);
    } else {
      scratch_ = core::to_valid_utf8(value);
      string(scratch_);
    }
  }

  // Bytes as `name` when they are valid UTF-8, else as `name`_base64; left out when empty.
  void bytes_member(std::string_view name, std::string_view base64_name, std::string_view value) {
    if (value.empty()) {
      return;
    }
    if (core::is_valid_utf8(value)) {
      key(name);
      string(value);
    } else {
      key(base64_name);
      scratch_ = core::base64_encode(value);
      string(scratch_);
    }
  }

  // Bytes as a string when they are valid UTF-8, else as {"base64": "..."}.
  void bytes_value(std::string_view value) {
    if (core::is_valid_utf8(value)) {
      string(value);
      return;
    }
    writer_.StartObject();
    key("base64");
    scratch_ = core::base64_encode(value);
    string(scratch_);
    writer_.EndObject();
  }

  void time_member(std::string_view name, std::chrono::system_clock::time_point time);

 private:
  void string(std::string_view value) {
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }

  StringSink sink_;
  JsonWriter writer_;
  std::string scratch_;
};

// RFC 3339 in UTC with nanoseconds: "2026-11-23T13:45:00.123456789Z".
void EnvelopeWriter::time_member(std::string_view name,
                                 std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  if (time == system_clock::time_point{}) {
    return;
  }
  auto day = floor<days>(time);
  year_month_day date{day};
  auto since_midnight = duration_cast<nanoseconds>(time - day);
  hh_mm_ss<nanoseconds> clock{since_midnight};
  std::array<char, 48> text;
  int length = std::snprintf(
      text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%09lldZ",
      static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
      static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
      static_cast<int>(clock.minutes().count()), static_cast<int>(clock.seconds().count()),
      static_cast<long long>(clock.subseconds().count()));
  key(name);
  string(std::string_view(text.data(), static_cast<std::size_t>(length)));
}

// Event and EventView have the same field names; one template writes both.
template <typename EventLike>
void write_event(const EventLike& event, std::string& out) {
  EnvelopeWriter writer(out);
  writer.json().StartObject();
  writer.text_member("id", event.id);
  writer.text_member("source", event.source);
  writer.text_member("type", event.type);
  writer.text_member("subject", event.subject);
  writer.text_member("datacontenttype", event.datacontenttype);
  writer.text_member("dataschema", event.dataschema);
  writer.time_member("time", event.time);
  writer.text_member("traceparent", event.traceparent);
  writer.bytes_member("data", "data_base64", event.data);
  if (!event.attributes.empty()) {
    writer.key("attributes");
    writer.json().StartArray();
    for (const auto& attribute : event.attributes) {
      writer.json().StartArray();
      writer.text(attribute.key);
      writer.bytes_value(attribute.value);
      writer.json().EndArray();
    }
    writer.json().EndArray();
  }
  writer.json().EndObject();
}

// ---- Decoding -------------------------------------------------------------------------------

// Iterative: a deeply nested document cannot exhaust the stack. Validated: a JSON text is UTF-8.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

std::string_view view(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

core::Error invalid(std::string_view what, std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument,
                     std::string(what) + " envelope: " + std::move(message));
}

// Parses `json` into `document`; an error says where the JSON went wrong.
std::optional<core::Error> parse(std::string_view what, std::string_view json,
                                 rapidjson::Document& document) {
  document.Parse<kParseFlags>(json.data(), json.size());
  if (document.HasParseError()) {
    return invalid(what, std::string("not JSON: ") +
                             rapidjson::GetParseError_En(document.GetParseError()) + " (at byte " +
                             std::to_string(document.GetErrorOffset()) + ")");
  }
  if (!document.IsObject()) {
    return invalid(what, "not a JSON object");
  }
  return std::nullopt;
}

// Remembers which members an object had, to refuse one given twice (which of two values meant
// is not ours to guess).
class SeenMembers {
 public:
  // False when `index` was seen already.
  bool first(std::size_t index) {
    std::uint32_t bit = 1u << index;
    bool fresh = (seen_ & bit) == 0;
    seen_ |= bit;
    return fresh;
  }

 private:
  std::uint32_t seen_ = 0;
};

// A string member's value; an error names the member.
std::optional<core::Error> read_string(std::string_view what, std::string_view name,
                                       const rapidjson::Value& value, std::string& out) {
  if (!value.IsString()) {
    return invalid(what, "\"" + std::string(name) + "\" must be a string");
  }
  out.assign(value.GetString(), value.GetStringLength());
  return std::nullopt;
}

// A text member's value (an attribute, not bytes). The parser validates the bytes of the JSON,
// but a \u escape of a lone surrogate ("\udda7") still decodes to bytes that are not UTF-8:
// refused, as text cannot be written back as it came (bytes members go as base64 instead).
std::optional<core::Error> read_text(std::string_view what, std::string_view name,
                                     const rapidjson::Value& value, std::string& out) {
  if (value.IsString() && !core::is_valid_utf8(view(value))) {
    return invalid(what, "\"" + std::string(name) + "\" is not valid UTF-8 (a lone surrogate?)");
  }
  return read_string(what, name, value, out);
}

std::optional<core::Error> read_base64(std::string_view what, std::string_view name,
                                       const rapidjson::Value& value, std::string& out) {
  if (!value.IsString()) {
    return invalid(what, "\"" + std::string(name) + "\" must be a string");
  }
  auto decoded = core::base64_decode(view(value));
  if (!decoded) {
    return invalid(what, "\"" + std::string(name) + "\" is not valid base64");
  }
  out = std::move(*decoded);
  return std::nullopt;
}

constexpr std::string_view kEvent = "event";
constexpr std::string_view kResponse = "response";

// The event's text members, in the order of their bits in SeenMembers.
struct TextMember {
  std::string_view name;
  std::string core::Event::*field;
};
constexpr std::array<TextMember, 7> kEventText = {{
    {"id", &core::Event::id},
    {"source", &core::Event::source},
    {"type", &core::Event::type},
    {"subject", &core::Event::subject},
    {"datacontenttype", &core::Event::datacontenttype},
    {"dataschema", &core::Event::dataschema},
    {"traceparent", &core::Event::traceparent},
}};
enum EventBit : std::size_t { kTimeBit = kEventText.size(), kDataBit, kAttributesBit };

std::optional<core::Error> read_attributes(const rapidjson::Value& value,
                                           core::AttributeWriter& attributes) {
  if (!value.IsArray()) {
    return invalid(kEvent, "\"attributes\" must be an array of [key, value] pairs");
  }
  rapidjson::SizeType index = 0;
  for (const auto& pair : value.GetArray()) {
    std::string at = "attribute " + std::to_string(index++);
    if (!pair.IsArray() || pair.Size() != 2) {
      return invalid(kEvent, at + " must be a [key, value] pair");
    }
    if (!pair[0].IsString()) {
      return invalid(kEvent, at + ": its key must be a string");
    }
    if (!core::is_valid_utf8(view(pair[0]))) {
      return invalid(kEvent, at + ": its key is not valid UTF-8 (a lone surrogate?)");
    }
    core::Attribute& attribute = attributes.next();
    attribute.key.assign(view(pair[0]));
    const rapidjson::Value& item = pair[1];
    if (item.IsString()) {
      attribute.value.assign(view(item));
      continue;
    }
    if (!item.IsObject() || item.MemberCount() != 1 || !item.HasMember("base64")) {
      return invalid(kEvent, at + " (\"" + attribute.key +
                                 "\"): its value must be a string or {\"base64\": \"...\"}");
    }
    if (auto error = read_base64(kEvent, "base64", item["base64"], attribute.value)) {
      return invalid(kEvent,
                     at + " (\"" + attribute.key + "\"): " + "its value is not valid base64");
    }
  }
  return std::nullopt;
}

std::optional<core::Error> read_event(const rapidjson::Value& root, core::Event& out,
                                      core::AttributeWriter& attributes) {
  SeenMembers seen;
  for (const auto& member : root.GetObject()) {
    std::string_view name = view(member.name);
    const rapidjson::Value& value = member.value;
    auto text = std::find_if(kEventText.begin(), kEventText.end(),
                             [&](const TextMember& text) { return text.name == name; });
    std::size_t bit;
    std::optional<core::Error> error;
    if (text != kEventText.end()) {
      bit = static_cast<std::size_t>(text - kEventText.begin());
      error = read_text(kEvent, name, value, out.*(text->field));
    } else if (name == "time") {
      bit = kTimeBit;
      if (!value.IsString()) {
        error = invalid(kEvent, "\"time\" must be an RFC 3339 string");
      } else if (auto time = core::parse_rfc3339(view(value))) {
        out.time = *time;
      } else {
        error = invalid(
            kEvent, "\"time\" is not an RFC 3339 date-time: \"" + std::string(view(value)) + "\"");
      }
    } else if (name == "data") {
      bit = kDataBit;
      error = read_string(kEvent, name, value, out.data);
    } else if (name == "data_base64") {
      bit = kDataBit;
      error = read_base64(kEvent, name, value, out.data);
    } else if (name == "attributes") {
      bit = kAttributesBit;
      error = read_attributes(value, attributes);
    } else {
      continue;  // Unknown: a member a newer daemon added.
    }
    if (error) {
      return error;
    }
    if (!seen.first(bit)) {
      return invalid(kEvent, bit == kDataBit ? "\"data\" or \"data_base64\" is given twice"
                                             : "\"" + std::string(name) + "\" is given twice");
    }
  }
  return std::nullopt;
}

enum ResponseBit : std::size_t { kStatusBit, kHeadersBit, kBodyBit };

std::optional<core::Error> read_headers(const rapidjson::Value& value, core::Attributes& out) {
  if (!value.IsArray()) {
    return invalid(kResponse, "\"headers\" must be an array of [name, value] pairs");
  }
  out.reserve(value.Size());
  rapidjson::SizeType index = 0;
  for (const auto& pair : value.GetArray()) {
    std::string at = "header " + std::to_string(index++);
    if (!pair.IsArray() || pair.Size() != 2) {
      return invalid(kResponse, at + " must be a [name, value] pair");
    }
    if (!pair[0].IsString() || !pair[1].IsString()) {
      return invalid(kResponse, at + ": its name and value must be strings");
    }
    out.push_back({std::string(view(pair[0])), std::string(view(pair[1]))});
  }
  return std::nullopt;
}

std::optional<core::Error> read_response(const rapidjson::Value& root, core::Response& out) {
  SeenMembers seen;
  for (const auto& member : root.GetObject()) {
    std::string_view name = view(member.name);
    const rapidjson::Value& value = member.value;
    std::size_t bit;
    std::optional<core::Error> error;
    if (name == "status") {
      bit = kStatusBit;
      if (!value.IsInt() || value.GetInt() < 100 || value.GetInt() > 599) {
        error = invalid(kResponse, "\"status\" must be an integer from 100 to 599");
      } else {
        out.status = value.GetInt();
      }
    } else if (name == "headers") {
      bit = kHeadersBit;
      error = read_headers(value, out.headers);
    } else if (name == "body") {
      bit = kBodyBit;
      error = read_string(kResponse, name, value, out.body);
    } else if (name == "body_base64") {
      bit = kBodyBit;
      error = read_base64(kResponse, name, value, out.body);
    } else {
      continue;  // Unknown: a member a newer environment added.
    }
    if (error) {
      return error;
    }
    if (!seen.first(bit)) {
      return invalid(kResponse, bit == kBodyBit ? "\"body\" or \"body_base64\" is given twice"
                                                : "\"" + std::string(name) + "\" is given twice");
    }
  }
  return std::nullopt;
}

}  // namespace

void encode_event(const core::Event& event, std::string& out) {
  write_event(event, out);
}

void encode_event(const core::EventView& event, std::string& out) {
  write_event(event, out);
}

std::string encode_event(const core::Event& event) {
  std::string out;
  write_event(event, out);
  return out;
}

std::string encode_event(const core::EventView& event) {
  std::string out;
  write_event(event, out);
  return out;
}

core::Status decode_event(std::string_view json, core::Event& out) {
  rapidjson::Document document;
  if (auto error = parse(kEvent, json, document)) {
    return *error;
  }
  out.clear_contents();
  core::AttributeWriter attributes(out.attributes);
  if (auto error = read_event(document, out, attributes)) {
    return *error;
  }
  return core::Status::ok_status();
}

void encode_response(const core::Response& response, std::string& out) {
  EnvelopeWriter writer(out);
  writer.json().StartObject();
  writer.key("status");
  writer.json().Int(response.status);
  if (!response.headers.empty()) {
    writer.key("headers");
    writer.json().StartArray();
    for (const core::Attribute& header : response.headers) {
      writer.json().StartArray();
      writer.text(header.key);
      writer.text(header.value);
      writer.json().EndArray();
    }
    writer.json().EndArray();
  }
  writer.bytes_member("body", "body_base64", response.body);
  writer.json().EndObject();
}

std::string encode_response(const core::Response& response) {
  std::string out;
  encode_response(response, out);
  return out;
}

core::Result<core::Response> decode_response(std::string_view json) {
  rapidjson::Document document;
  if (auto error = parse(kResponse, json, document)) {
    return *error;
  }
  core::Response response;
  if (auto error = read_response(document, response)) {
    return *error;
  }
  return response;
}

}  // namespace switchyard::environments
