#include "triggers/http/payload.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/text.h"
#include "core/time.h"

namespace switchyard::triggers::http {

namespace {

// Untrusted JSON is parsed iteratively (no recursion), but serializing a DOM value recurses, so
// documents we re-serialize are refused past this nesting depth.
constexpr int kMaxJsonDepth = 128;

constexpr rapidjson::ParseFlag kParseFlags = rapidjson::kParseIterativeFlag;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

core::Error invalid(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

std::string to_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) {
      return false;
    }
  }
  return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// The media type of a Content-Type value, lower-cased, without parameters.
std::string media_type(std::string_view content_type) {
  std::size_t semicolon = content_type.find(';');
  return to_lower(core::trim_ows(content_type.substr(0, semicolon)));
}

bool is_json_media_type(std::string_view media) {
  return media == "application/json" || media == "text/json" ||
         (media.size() > 5 && media.substr(media.size() - 5) == "+json");
}

void write_string(JsonWriter& writer, std::string_view text) {
  if (is_valid_utf8(text)) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  } else {
    std::string valid = to_valid_utf8(text);
    writer.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
  }
}

void write_key(JsonWriter& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

std::string serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The deepest nesting of arrays and objects in `json`, by a scan that ignores strings.
int json_depth(std::string_view json) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string_view as_view(const rapidjson::Value& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

// Appends `value` to the comma-joined entry named `name`, keeping first-appearance order.
void join_into(std::vector<std::pair<std::string, std::string>>& entries, std::string name,
               std::string_view value) {
  for (auto& entry : entries) {
    if (entry.first == name) {
      entry.second += ',';
      entry.second.append(value);
      return;
    }
  }
  entries.emplace_back(std::move(name), std::string(value));
}

bool is_token(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_safe_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

core::Status check_attribute_string(const rapidjson::Value& value, std::string_view name) {
  if (!value.IsString()) {
    return invalid("CloudEvent attribute \"" + std::string(name) + "\" must be a string");
  }
  return core::Status();
}

core::Status apply_structured(core::Event& event) {
  if (json_depth(event.data) > kMaxJsonDepth) {
    return invalid("structured CloudEvent is nested more than " + std::to_string(kMaxJsonDepth) +
                   " levels deep");
  }
  rapidjson::Document document;
  document.Parse<kParseFlags>(event.data.data(), event.data.size());
  if (document.HasParseError()) {
    return invalid(std::string("structured CloudEvent is not valid JSON: ") +
                   rapidjson::GetParseError_En(document.GetParseError()) + " (at offset " +
                   std::to_string(document.GetErrorOffset()) + ")");
  }
  if (!document.IsObject()) {
    return invalid("structured CloudEvent must be a JSON object");
  }

  std::string specversion, id, source, type, subject, dataschema, datacontenttype, traceparent;
  std::optional<std::chrono::system_clock::time_point> time;
  const rapidjson::Value* data = nullptr;
  const rapidjson::Value* data_base64 = nullptr;
  core::Attributes extensions;
  struct Known {
    std::string_view name;
    std::string* field;
  };
  const std::array<Known, 7> known = {{{"specversion", &specversion},
                                       {"id", &id},
                                       {"source", &source},
                                       {"type", &type},
                                       {"subject", &subject},
                                       {"dataschema", &dataschema},
                                       {"datacontenttype", &datacontenttype}}};

  for (const auto& member : document.GetObject()) {
    std::string_view name = as_view(member.name);
    const rapidjson::Value& value = member.value;
    if (name == "data") {
      data = &value;
      continue;
    }
    if (name == "data_base64") {
      data_base64 = &value;
      continue;
    }
    auto it =
        std::find_if(known.begin(), known.end(), [&](const Known& k) { return k.name == name; });
    if (it != known.end()) {
      if (auto status = check_attribute_string(value, name); !status.ok()) {
        return status;
      }
      it->field->assign(as_view(value));
      continue;
    }
    if (name == "time") {
      if (auto status = check_attribute_string(value, name); !status.ok()) {
        return status;
      }
      time = core::parse_rfc3339(as_view(value));
      if (!time) {
        return invalid("CloudEvent attribute \"time\" is not an RFC 3339 timestamp: \"" +
                       std::string(as_view(value)) + "\"");
      }
      continue;
    }
    if (value.IsNull()) {
      continue;  // The JSON format says null means the attribute is absent.
    }
    std::string text = value.IsString() ? std::string(as_view(value)) : serialize(value);
    if (name == "traceparent") {
      traceparent = text;
    }
    extensions.push_back({"ce." + std::string(name), std::move(text)});
  }

  if (specversion.empty()) {
    return invalid("structured CloudEvent is missing \"specversion\"");
  }
  if (specversion != "1.0") {
    return invalid("unsupported CloudEvents specversion \"" + specversion + "\" (only 1.0)");
  }
  for (auto [field, name] : {std::pair{&id, "id"}, {&source, "source"}, {&type, "type"}}) {
    if (field->empty()) {
      return invalid(std::string("structured CloudEvent is missing \"") + name + "\"");
    }
  }

  std::string payload;
  if (data != nullptr && data_base64 != nullptr) {
    return invalid("structured CloudEvent has both \"data\" and \"data_base64\"");
  }
  if (data_base64 != nullptr && !data_base64->IsNull()) {
    if (!data_base64->IsString()) {
      return invalid("CloudEvent \"data_base64\" must be a string");
    }
    auto decoded = base64_decode(as_view(*data_base64));
    if (!decoded) {
      return invalid("CloudEvent \"data_base64\" is not valid base64");
    }
    payload = std::move(*decoded);
  } else if (data != nullptr && !data->IsNull()) {
    // A JSON string with a non-JSON content type carries text (the JSON event format's rule);
    // anything else is the JSON value itself.
    if (data->IsString() && !datacontenttype.empty() &&
        !is_json_media_type(media_type(datacontenttype))) {
      payload.assign(as_view(*data));
    } else {
      payload = serialize(*data);
      if (datacontenttype.empty()) {
        datacontenttype = "application/json";
      }
    }
  }

  event.id = std::move(id);
  event.source = std::move(source);
  event.type = std::move(type);
  event.subject = std::move(subject);
  event.dataschema = std::move(dataschema);
  event.datacontenttype = std::move(datacontenttype);
  if (time) {
    event.time = *time;
  }
  if (event.traceparent.empty()) {
    event.traceparent = std::move(traceparent);
  }
  event.data = std::move(payload);
  for (core::Attribute& attribute : extensions) {
    event.attributes.push_back(std::move(attribute));
  }
  return core::Status();
}

core::Status apply_binary(const Headers& headers, core::Event& event) {
  std::optional<std::string> specversion, id, source, type, subject, dataschema, time_text;
  core::Attributes extensions;
  struct Known {
    std::string_view name;
    std::optional<std::string>* field;
  };
  const std::array<Known, 7> known = {{{"specversion", &specversion},
                                       {"id", &id},
                                       {"source", &source},
                                       {"type", &type},
                                       {"subject", &subject},
                                       {"dataschema", &dataschema},
                                       {"time", &time_text}}};
  for (const Header& header : headers) {
    if (!istarts_with(header.name, "ce-") || header.name.size() == 3) {
      continue;
    }
    std::string name = to_lower(std::string_view(header.name).substr(3));
    std::string value;
    if (!percent_decode(header.value, value)) {
      return invalid("header " + header.name + " has an invalid percent-encoding");
    }
    auto it =
        std::find_if(known.begin(), known.end(), [&](const Known& k) { return k.name == name; });
    if (it != known.end()) {
      // The binding allows each attribute once; the first occurrence wins.
      if (!*it->field) {
        *it->field = std::move(value);
      }
      continue;
    }
    if (name == "traceparent" && event.traceparent.empty()) {
      event.traceparent = value;
    }
    extensions.push_back({"ce." + name, std::move(value)});
  }

  if (!specversion) {
    return invalid("missing header ce-specversion");
  }
  if (*specversion != "1.0") {
    return invalid("unsupported CloudEvents specversion \"" + *specversion + "\" (only 1.0)");
  }
  for (auto [field, name] : {std::pair{&id, "ce-id"}, {&source, "ce-source"}, {&type, "ce-type"}}) {
    if (!*field || (*field)->empty()) {
      return invalid(std::string("missing header ") + name);
    }
  }
  std::optional<std::chrono::system_clock::time_point> time;
  if (time_text) {
    time = core::parse_rfc3339(*time_text);
    if (!time) {
      return invalid("header ce-time is not an RFC 3339 timestamp: \"" + *time_text + "\"");
    }
  }

  event.id = std::move(*id);
  event.source = std::move(*source);
  event.type = std::move(*type);
  if (subject) {
    event.subject = std::move(*subject);
  }
  if (dataschema) {
    event.dataschema = std::move(*dataschema);
  }
  if (time) {
    event.time = *time;
  }
  for (core::Attribute& attribute : extensions) {
    event.attributes.push_back(std::move(attribute));
  }
  return core::Status();
}

// "23/Nov/2026:13:45:00 +0000", the time format of API Gateway's requestContext.
std::string format_apigw_time(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto day = floor<days>(now);
  year_month_day date(day);
  hh_mm_ss<seconds> clock(floor<seconds>(now - day));
  char text[40];
  std::snprintf(text, sizeof(text), "%02u/%s/%04d:%02d:%02d:%02d +0000",
                static_cast<unsigned>(date.day()), kMonths[static_cast<unsigned>(date.month()) - 1],
                static_cast<int>(date.year()), static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

// The Host header without its port; "[::1]:8080" keeps its brackets.
std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    return host.substr(0, colon);
  }
  return host;
}

std::string_view domain_prefix(std::string_view domain) {
  bool ip_literal = !domain.empty() &&
                    (domain.front() == '[' || std::all_of(domain.begin(), domain.end(), [](char c) {
                       return (c >= '0' && c <= '9') || c == '.';
                     }));
  if (ip_literal) {
    return domain;
  }
  return domain.substr(0, domain.find('.'));
}

core::Error bad_response(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument,
                     "invalid apigw-v2 function response: " + std::move(message));
}

}  // namespace

// ---- Native event ---------------------------------------------------------------------------

void fill_event(Request& request, const RouteMatch& match, std::string_view request_id,
                std::chrono::system_clock::time_point now, core::Event& event) {
  event.id.assign(request_id);
  event.source.assign(kNativeEventSource);
  event.type.assign(kNativeEventType);
  event.time = now;
  if (const std::string* content_type = find_header(request.headers, "content-type")) {
    event.datacontenttype = *content_type;
  }
  if (const std::string* traceparent = find_header(request.headers, "traceparent")) {
    event.traceparent = *traceparent;
  }

  event.attributes.reserve(event.attributes.size() + 4 + request.headers.size() +
                           match.params.size());
  event.attributes.push_back({"http.method", request.method});
  event.attributes.push_back({"http.path", request.path});
  event.attributes.push_back({"http.query", request.query});
  for (const Header& header : request.headers) {
    std::string key = "http.header.";
    key += to_lower(header.name);
    event.attributes.push_back({std::move(key), header.value});
  }
  for (const auto& [name, value] : match.params) {
    event.attributes.push_back({"http.param." + name, value});
  }
  event.attributes.push_back({"http.remote_address", request.remote_address});

  event.data = std::move(request.body);
  request.body.clear();  // A moved-from string is valid but unspecified; make it plainly empty.
}

core::Status apply_cloudevents(const Headers& headers, core::Event& event) {
  const std::string* content_type = find_header(headers, "content-type");
  std::string media = content_type != nullptr ? media_type(*content_type) : std::string();
  if (media == "application/cloudevents-batch+json") {
    return invalid("batched CloudEvents (application/cloudevents-batch+json) are not supported");
  }
  if (media == "application/cloudevents+json") {
    return apply_structured(event);
  }
  for (std::string_view name : {"ce-specversion", "ce-id", "ce-source", "ce-type"}) {
    if (find_header(headers, name) != nullptr) {
      return apply_binary(headers, event);
    }
  }
  return core::Status();
}

// ---- API Gateway HTTP API, payload format 2.0 -----------------------------------------------

std::string build_apigw_v2_event(const Request& request, const RouteMatch& match,
                                 std::string_view route_template, std::string_view request_id,
                                 std::chrono::system_clock::time_point now) {
  std::string route_key = request.method;
  route_key += ' ';
  route_key.append(route_template);

  std::vector<std::string> cookies;
  std::vector<std::pair<std::string, std::string>> headers;
  for (const Header& header : request.headers) {
    if (iequals(header.name, "cookie")) {
      std::string_view rest = header.value;
      while (!rest.empty()) {
        std::size_t semicolon = rest.find(';');
        std::string_view cookie = core::trim_ows(rest.substr(0, semicolon));
        if (!cookie.empty()) {
          cookies.emplace_back(cookie);
        }
        rest =
            semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
      }
      continue;
    }
    join_into(headers, to_lower(header.name), header.value);
  }

  std::vector<std::pair<std::string, std::string>> query;
  std::string_view rest = request.query;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    std::size_t equals = pair.find('=');
    std::string_view raw_key = pair.substr(0, equals);
    std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    std::string key;
    std::string value;
    // Bad escapes are passed on as written: the raw string is there for functions that care.
    if (!percent_decode(raw_key, key, true)) {
      key.assign(raw_key);
    }
    if (!percent_decode(raw_value, value, true)) {
      value.assign(raw_value);
    }
    join_into(query, std::move(key), value);
  }

  const std::string* host = find_header(request.headers, "host");
  std::string_view domain = host != nullptr ? host_without_port(*host) : std::string_view();
  const std::string* user_agent = find_header(request.headers, "user-agent");
  std::string protocol =
      "HTTP/" + std::to_string(request.version_major) + "." + std::to_string(request.version_minor);
  auto epoch_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();

  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  write_key(writer, "version");
  writer.String("2.0");
  write_key(writer, "routeKey");
  write_string(writer, route_key);
  write_key(writer, "rawPath");
  write_string(writer, request.path);
  write_key(writer, "rawQueryString");
  write_string(writer, request.query);
  if (!cookies.empty()) {
    write_key(writer, "cookies");
    writer.StartArray();
    for (const std::string& cookie : cookies) {
      write_string(writer, cookie);
    }
    writer.EndArray();
  }
  write_key(writer, "headers");
  writer.StartObject();
  for (const auto& [name, value] : headers) {
    write_key(writer, name);
    write_string(writer, value);
  }
  writer.EndObject();
  if (!query.empty()) {
    write_key(writer, "queryStringParameters");
    writer.StartObject();
    for (const auto& [name, value] : query) {
      write_string(writer, name);
      write_string(writer, value);
    }
    writer.EndObject();
  }

  write_key(writer, "requestContext");
  writer.StartObject();
  write_key(writer, "accountId");
  writer.String("anonymous");
  write_key(writer, "apiId");
  writer.String("switchyard");
  write_key(writer, "domainName");
  write_string(writer, domain);
  write_key(writer, "domainPrefix");
  write_string(writer, domain_prefix(domain));
  write_key(writer, "http");
  writer.StartObject();
  write_key(writer, "method");
  write_string(writer, request.method);
  write_key(writer, "path");
  write_string(writer, request.path);
  write_key(writer, "protocol");
  write_string(writer, protocol);
  write_key(writer, "sourceIp");
  write_string(writer, request.remote_address);
  write_key(writer, "userAgent");
  write_string(writer, user_agent != nullptr ? std::string_view(*user_agent) : "");
  writer.EndObject();
  write_key(writer, "requestId");
  write_string(writer, request_id);
  write_key(writer, "routeKey");
  write_string(writer, route_key);
  write_key(writer, "stage");
  writer.String("$default");
  write_key(writer, "time");
  write_string(writer, format_apigw_time(now));
  write_key(writer, "timeEpoch");
  writer.Int64(epoch_ms);
  writer.EndObject();

  // AWS leaves "body" out when the request has none.
  bool base64 = false;
  if (!request.body.empty()) {
    write_key(writer, "body");
    if (is_valid_utf8(request.body)) {
      write_string(writer, request.body);
    } else {
      base64 = true;
      write_string(writer, base64_encode(request.body));
    }
  }
  if (!match.params.empty()) {
    write_key(writer, "pathParameters");
    writer.StartObject();
    for (const auto& [name, value] : match.params) {
      write_string(writer, name);
      write_string(writer, value);
    }
    writer.EndObject();
  }
  write_key(writer, "isBase64Encoded");
  writer.Bool(base64);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

core::Result<Response> parse_apigw_v2_response(std::string_view function_output) {
  rapidjson::Document document;
  document.Parse<kParseFlags>(function_output.data(), function_output.size());
  Response response;
  if (document.HasParseError()) {
    // AWS answers 502 here; a plain-text answer is friendlier for functions written for
    // switchyard, so output that is not JSON is passed through as text.
    response.headers.push_back({"Content-Type", "text/plain"});
    response.body.assign(function_output);
    return response;
  }
  if (!document.IsObject() || !document.HasMember("statusCode")) {
    // Format 2.0 infers the response: any JSON without statusCode is the body of a 200.
    response.headers.push_back({"Content-Type", "application/json"});
    response.body.assign(function_output);
    return response;
  }

  const rapidjson::Value& status = document["statusCode"];
  if (!status.IsInt() || status.GetInt() < 100 || status.GetInt() > 599) {
    return bad_response("statusCode must be an integer from 100 to 599");
  }
  response.status = status.GetInt();

  if (auto it = document.FindMember("headers"); it != document.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsObject()) {
      return bad_response("headers must be an object");
    }
    for (const auto& member : it->value.GetObject()) {
      std::string name(as_view(member.name));
      const rapidjson::Value& value = member.value;
      std::string text;
      if (value.IsNull()) {
        continue;
      }
      if (value.IsString()) {
        text.assign(as_view(value));
      } else if (value.IsBool() || value.IsNumber()) {
        text = serialize(value);
      } else {
        return bad_response("header \"" + name + "\" must be a string");
      }
      if (!is_token(name)) {
        return bad_response("header name \"" + name + "\" is not a valid token");
      }
      if (!is_safe_header_value(text)) {
        return bad_response("header \"" + name + "\" contains CR, LF or NUL");
      }
      response.headers.push_back({std::move(name), std::move(text)});
    }
  }

  if (auto it = document.FindMember("cookies"); it != document.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray()) {
      return bad_response("cookies must be an array of strings");
    }
    for (const rapidjson::Value& cookie : it->value.GetArray()) {
      if (!cookie.IsString()) {
        return bad_response("cookies must be an array of strings");
      }
      if (!is_safe_header_value(as_view(cookie))) {
        return bad_response("a cookie contains CR, LF or NUL");
      }
      response.headers.push_back({"Set-Cookie", std::string(as_view(cookie))});
    }
  }

  bool base64 = false;
  if (auto it = document.FindMember("isBase64Encoded");
      it != document.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsBool()) {
      return bad_response("isBase64Encoded must be a boolean");
    }
    base64 = it->value.GetBool();
  }

  if (auto it = document.FindMember("body"); it != document.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString()) {
      return bad_response("body must be a string");
    }
    if (base64) {
      auto decoded = base64_decode(as_view(it->value));
      if (!decoded) {
        return bad_response("body is not valid base64 although isBase64Encoded is true");
      }
      response.body = std::move(*decoded);
    } else {
      response.body.assign(as_view(it->value));
    }
  }
  return response;
}

// ---- Codecs ---------------------------------------------------------------------------------

}  // namespace switchyard::triggers::http
