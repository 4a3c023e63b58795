#include "triggers/http/payload.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>

#include "core/time.h"

using namespace switchyard;
using namespace switchyard::triggers::http;
using namespace std::chrono_literals;

namespace {

std::chrono::system_clock::time_point fixed_time() {
  // 2026-11-23T13:45:00.123Z
  return std::chrono::system_clock::time_point(
             std::chrono::sys_days(std::chrono::year(2026) / 11 / 23)) +
         13h + 45min + 123ms;
}

std::vector<std::string> attributes_named(const core::Event& event, std::string_view key) {
  std::vector<std::string> values;
  for (const core::Attribute& attribute : event.attributes) {
    if (attribute.key == key) {
      values.push_back(attribute.value);
    }
  }
  return values;
}

std::string attribute(const core::Event& event, std::string_view key) {
  const core::Attribute* found = core::find_attribute(event.attributes, key);
  return found != nullptr ? found->value : "<absent>";
}

std::string header(const Response& response, std::string_view name) {
  const std::string* value = find_header(response.headers, name);
  return value != nullptr ? *value : "<absent>";
}

Request post_request() {
  Request request;
  request.method = "POST";
  request.target = "/thumbnail/42?size=small";
  request.path = "/thumbnail/42";
  request.query = "size=small";
  request.headers = {{"Host", "example.com:8080"},
                     {"Content-Type", "image/png"},
                     {"X-Tag", "a"},
                     {"X-Tag", "b"},
                     {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
  request.body = "body bytes";
  request.remote_address = "192.0.2.1";
  return request;
}

}  // namespace

TEST_CASE("the native event carries the request's attributes and moves its body") {
  Request request = post_request();
  RouteMatch match{3, {{"id", "42"}}};
  core::Event event;
  fill_event(request, match, "req-1", fixed_time(), event);
  CHECK(event.id == "req-1");
  CHECK(event.source == "switchyard/http");
  CHECK(event.type == "switchyard.http.request");
  CHECK(event.time == fixed_time());
  CHECK(event.datacontenttype == "image/png");
  CHECK(event.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(event.data == "body bytes");
  CHECK(request.body.empty());
  CHECK(request.method == "POST");  // Only the body is taken.
  CHECK(attribute(event, "http.method") == "POST");
  CHECK(attribute(event, "http.path") == "/thumbnail/42");
  CHECK(attribute(event, "http.query") == "size=small");
  CHECK(attribute(event, "http.header.host") == "example.com:8080");
  CHECK(attribute(event, "http.header.content-type") == "image/png");
  CHECK(attributes_named(event, "http.header.x-tag") == std::vector<std::string>{"a", "b"});
  CHECK(attribute(event, "http.param.id") == "42");
  CHECK(attribute(event, "http.remote_address") == "192.0.2.1");
  // Without a CloudEvents header, the binding leaves the defaults.
  REQUIRE(apply_cloudevents(request.headers, event).ok());
  CHECK(event.id == "req-1");
  CHECK(event.data == "body bytes");
}

namespace {

core::Event binary_event(Headers headers, core::Status& status) {
  Request request;
  request.method = "POST";
  request.path = "/events";
  request.headers = std::move(headers);
  request.body = R"({"x":1})";
  core::Event event;
  fill_event(request, RouteMatch{}, "req-1", fixed_time(), event);
  status = apply_cloudevents(request.headers, event);
  return event;
}

}  // namespace

TEST_CASE("CloudEvents binary mode reads ce-* headers") {
  core::Status status;
  core::Event event = binary_event({{"Content-Type", "application/json"},
                                    {"ce-specversion", "1.0"},
                                    {"CE-Id", "evt-9"},
                                    {"ce-source", "/orders"},
                                    {"ce-type", "com.example.order.created"},
                                    {"ce-subject", "order%2042"},
                                    {"ce-time", "2026-11-23T14:45:00.5+01:00"},
                                    {"ce-dataschema", "https://example.com/schema"},
                                    {"ce-Region", "eu%2Dwest"}},
                                   status);
  REQUIRE(status.ok());
  CHECK(event.id == "evt-9");
  CHECK(event.source == "/orders");
  CHECK(event.type == "com.example.order.created");
  CHECK(event.subject == "order 42");
  CHECK(event.time == fixed_time() - 123ms + 500ms);
  CHECK(event.dataschema == "https://example.com/schema");
  CHECK(event.datacontenttype == "application/json");
  CHECK(event.data == R"({"x":1})");
  CHECK(attribute(event, "ce.region") == "eu-west");
}

TEST_CASE("CloudEvents binary mode rejects incomplete or invalid headers") {
  core::Status status;
  binary_event({{"ce-specversion", "1.0"}, {"ce-source", "/s"}, {"ce-type", "t"}}, status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "missing header ce-id");
  CHECK(status.error().code() == core::ErrorCode::kInvalidArgument);

  binary_event({{"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}}, status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "missing header ce-specversion");

  binary_event({{"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}},
               status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "unsupported CloudEvents specversion \"0.3\" (only 1.0)");

  binary_event({{"ce-specversion", "1.0"},
                {"ce-id", "1"},
                {"ce-source", "/s"},
                {"ce-type", "t"},
                {"ce-time", "yesterday"}},
               status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "header ce-time is not an RFC 3339 timestamp: \"yesterday\"");

  binary_event({{"ce-specversion", "1.0"}, {"ce-id", "%zz"}, {"ce-source", "/s"}, {"ce-type", "t"}},
               status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "header ce-id has an invalid percent-encoding");
}

namespace {

core::Event structured_event(std::string body, core::Status& status) {
  Request request;
  request.method = "POST";
  request.path = "/events";
  request.headers = {{"Content-Type", "application/cloudevents+json; charset=utf-8"}};
  request.body = std::move(body);
  core::Event event;
  fill_event(request, RouteMatch{}, "req-1", fixed_time(), event);
  status = apply_cloudevents(request.headers, event);
  return event;
}

}  // namespace

TEST_CASE("CloudEvents structured mode with JSON data") {
  core::Status status;
  core::Event event = structured_event(R"({"specversion":"1.0","id":"A-1","source":"/src",
      "type":"t.created","subject":"s","time":"2026-11-23T13:45:00.123Z",
      "data":{"name":"x","n":[1,2]},"region":"eu","priority":5,"gone":null})",
                                       status);
  REQUIRE(status.ok());
  CHECK(event.id == "A-1");
  CHECK(event.source == "/src");
  CHECK(event.type == "t.created");
  CHECK(event.subject == "s");
  CHECK(event.time == fixed_time());
  CHECK(event.datacontenttype == "application/json");
  CHECK(event.data == R"({"name":"x","n":[1,2]})");
  CHECK(attribute(event, "ce.region") == "eu");
  CHECK(attribute(event, "ce.priority") == "5");
  CHECK(attribute(event, "ce.gone") == "<absent>");

  // A string with a non-JSON content type is the text itself.
  event = structured_event(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "datacontenttype":"text/plain","data":"hello"})",
                           status);
  REQUIRE(status.ok());
  CHECK(event.data == "hello");
  CHECK(event.datacontenttype == "text/plain");
}

TEST_CASE("CloudEvents structured mode with data_base64") {
  core::Status status;
  core::Event event = structured_event(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="})",
                                       status);
  REQUIRE(status.ok());
  CHECK(event.data == std::string("\x00\x01\x02\xff", 4));
  CHECK(event.datacontenttype == "application/octet-stream");

  structured_event(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "data_base64":"not base64!"})",
                   status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "CloudEvent \"data_base64\" is not valid base64");
}

TEST_CASE("CloudEvents structured mode rejects what is not a valid CloudEvent") {
  core::Status status;
  structured_event(R"({"specversion":"1.0","source":"/s","type":"t"})", status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "structured CloudEvent is missing \"id\"");

  structured_event(R"({"id":"1","source":"/s","type":"t"})", status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "structured CloudEvent is missing \"specversion\"");

  structured_event(R"({"specversion":"1.0","id":1,"source":"/s","type":"t"})", status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "CloudEvent attribute \"id\" must be a string");

  structured_event("{not json", status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message().rfind("structured CloudEvent is not valid JSON: ", 0) == 0);

  structured_event("[1]", status);
  REQUIRE_FALSE(status.ok());

  structured_event(R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,
      "data_base64":"AA=="})",
                   status);
  REQUIRE_FALSE(status.ok());

  structured_event(std::string(100000, '[') + std::string(100000, ']'), status);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message().find("nested more than") != std::string::npos);

  Request batch;
  batch.headers = {{"Content-Type", "application/cloudevents-batch+json"}};
  core::Event event;
  CHECK_FALSE(apply_cloudevents(batch.headers, event).ok());
}

TEST_CASE("apigw-v2 event has AWS's format 2.0 shape") {
  Request request;
  request.method = "POST";
  request.path = "/thumbnail/a%20b";
  request.query = "size=small&tag=x&tag=y%2Fz&q=a+b&flag&&empty=";
  request.version_minor = 1;
  request.headers = {{"Host", "api.example.com:8080"},
                     {"User-Agent", "curl/8.0"},
                     {"Cookie", "session=abc; theme=dark"},
                     {"cookie", "lang=en"},
                     {"Accept", "text/html"},
                     {"ACCEPT", "application/json"},
                     {"X-Latin1", "caf\xe9"}};
  request.body = std::string("\x89PNG\r\n\x1a\n\xff", 9);
  request.remote_address = "192.0.2.7";
  RouteMatch match{0, {{"id", "a b"}}};
  std::string json =
      build_apigw_v2_event(request, match, "/thumbnail/{id}", "req-77", fixed_time());

  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  // AWS's documented field order.
  std::vector<std::string> keys;
  for (const auto& member : doc.GetObject()) {
    keys.emplace_back(member.name.GetString());
  }
  CHECK(keys == std::vector<std::string>{"version", "routeKey", "rawPath", "rawQueryString",
                                         "cookies", "headers", "queryStringParameters",
                                         "requestContext", "body", "pathParameters",
                                         "isBase64Encoded"});
  CHECK(std::string(doc["version"].GetString()) == "2.0");
  CHECK(std::string(doc["routeKey"].GetString()) == "POST /thumbnail/{id}");
  CHECK(std::string(doc["rawPath"].GetString()) == "/thumbnail/a%20b");
  CHECK(std::string(doc["rawQueryString"].GetString()) == request.query);

  const auto& cookies = doc["cookies"];
  REQUIRE(cookies.Size() == 3);
  CHECK(std::string(cookies[0].GetString()) == "session=abc");
  CHECK(std::string(cookies[1].GetString()) == "theme=dark");
  CHECK(std::string(cookies[2].GetString()) == "lang=en");

  const auto& headers = doc["headers"];
  CHECK_FALSE(headers.HasMember("cookie"));
  CHECK(std::string(headers["host"].GetString()) == "api.example.com:8080");
  CHECK(std::string(headers["accept"].GetString()) == "text/html,application/json");
  CHECK(std::string(headers["user-agent"].GetString()) == "curl/8.0");
  CHECK(std::string(headers["x-latin1"].GetString()) == "caf\xEF\xBF\xBD");

  const auto& query = doc["queryStringParameters"];
  CHECK(std::string(query["size"].GetString()) == "small");
  CHECK(std::string(query["tag"].GetString()) == "x,y/z");
  CHECK(std::string(query["q"].GetString()) == "a b");
  CHECK(std::string(query["flag"].GetString()) == "");
  CHECK(std::string(query["empty"].GetString()) == "");
  CHECK(query.MemberCount() == 5);

  const auto& context = doc["requestContext"];
  CHECK(std::string(context["accountId"].GetString()) == "anonymous");
  CHECK(std::string(context["apiId"].GetString()) == "switchyard");
  CHECK(std::string(context["domainName"].GetString()) == "api.example.com");
  CHECK(std::string(context["domainPrefix"].GetString()) == "api");
  CHECK(std::string(context["http"]["method"].GetString()) == "POST");
  CHECK(std::string(context["http"]["path"].GetString()) == "/thumbnail/a%20b");
  CHECK(std::string(context["http"]["protocol"].GetString()) == "HTTP/1.1");
  CHECK(std::string(context["http"]["sourceIp"].GetString()) == "192.0.2.7");
  CHECK(std::string(context["http"]["userAgent"].GetString()) == "curl/8.0");
  CHECK(std::string(context["requestId"].GetString()) == "req-77");
  CHECK(std::string(context["routeKey"].GetString()) == "POST /thumbnail/{id}");
  CHECK(std::string(context["stage"].GetString()) == "$default");
  CHECK(std::string(context["time"].GetString()) == "23/Nov/2026:13:45:00 +0000");
  CHECK(context["timeEpoch"].GetInt64() == 1795441500123);

  CHECK(doc["isBase64Encoded"].GetBool());
  CHECK(base64_decode(doc["body"].GetString()) == request.body);
  CHECK(std::string(doc["pathParameters"]["id"].GetString()) == "a b");
}

TEST_CASE("apigw-v2 event leaves out what the request does not have") {
  Request request;
  request.method = "GET";
  request.path = "/ping";
  request.remote_address = "::1";
  request.headers = {{"Host", "[::1]:9000"}};
  std::string json = build_apigw_v2_event(request, RouteMatch{}, "/ping", "r", fixed_time());
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK_FALSE(doc.HasMember("cookies"));
  CHECK_FALSE(doc.HasMember("queryStringParameters"));
  CHECK_FALSE(doc.HasMember("pathParameters"));
  CHECK_FALSE(doc.HasMember("body"));
  CHECK(std::string(doc["rawQueryString"].GetString()) == "");
  CHECK(std::string(doc["requestContext"]["domainName"].GetString()) == "[::1]");
  CHECK_FALSE(doc["isBase64Encoded"].GetBool());

  request.body = "{\"text\":\"caf\xC3\xA9\"}";
  json = build_apigw_v2_event(request, RouteMatch{}, "/ping", "r", fixed_time());
  doc.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["body"].GetString()) == request.body);
  CHECK_FALSE(doc["isBase64Encoded"].GetBool());
}

TEST_CASE("apigw-v2 response with statusCode, headers, cookies and body") {
  auto response = parse_apigw_v2_response(
      R"({"statusCode":201,"headers":{"Content-Type":"text/html","X-Count":3,"X-Ok":true},
          "cookies":["a=1; Path=/","b=2"],"body":"<p>hi</p>","isBase64Encoded":false})");
  REQUIRE(response.ok());
  CHECK(response->status == 201);
  CHECK(header(*response, "content-type") == "text/html");
  CHECK(header(*response, "x-count") == "3");
  CHECK(header(*response, "x-ok") == "true");
  std::vector<std::string> set_cookies;
  for (const Header& h : response->headers) {
    if (h.name == "Set-Cookie") {
      set_cookies.push_back(h.value);
    }
  }
  CHECK(set_cookies == std::vector<std::string>{"a=1; Path=/", "b=2"});
  CHECK(response->body == "<p>hi</p>");

  auto empty = parse_apigw_v2_response(R"({"statusCode":204})");
  REQUIRE(empty.ok());
  CHECK(empty->status == 204);
  CHECK(empty->body.empty());
  CHECK(empty->headers.empty());
}

TEST_CASE("apigw-v2 response with a base64 body is decoded") {
  auto response =
      parse_apigw_v2_response(R"({"statusCode":200,"body":"AAEC/w==","isBase64Encoded":true})");
  REQUIRE(response.ok());
  CHECK(response->body == std::string("\x00\x01\x02\xff", 4));

  auto bad = parse_apigw_v2_response(R"({"statusCode":200,"body":"A@==","isBase64Encoded":true})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() ==
        "invalid apigw-v2 function response: body is not valid base64 although isBase64Encoded "
        "is true");
}

TEST_CASE("apigw-v2 response without statusCode is inferred as a 200 JSON body") {
  for (std::string_view output :
       {R"({"message":"hello"})", R"([1,2,3])", R"("just a string")", "42", "true", "null"}) {
    auto response = parse_apigw_v2_response(output);
    REQUIRE(response.ok());
    CHECK(response->status == 200);
    CHECK(header(*response, "Content-Type") == "application/json");
    CHECK(response->body == output);
  }
}

TEST_CASE("apigw-v2 response that is not JSON is passed through as text") {
  auto response = parse_apigw_v2_response("hello, world");
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(header(*response, "Content-Type") == "text/plain");
  CHECK(response->body == "hello, world");
}

TEST_CASE("apigw-v2 responses that would be unsafe or malformed are errors") {
  auto message = [](std::string_view output) {
    auto response = parse_apigw_v2_response(output);
    return response.ok() ? std::string("<ok>") : response.error().message();
  };
  CHECK(message(R"({"statusCode":"200"})") ==
        "invalid apigw-v2 function response: statusCode must be an integer from 100 to 599");
  CHECK(message(R"({"statusCode":99})").find("statusCode") != std::string::npos);
  CHECK(message(R"({"statusCode":200,"headers":{"X-A":"1\r\nInjected: yes"}})") ==
        "invalid apigw-v2 function response: header \"X-A\" contains CR, LF or NUL");
  CHECK(message(R"({"statusCode":200,"headers":{"Bad Name":"1"}})") ==
        "invalid apigw-v2 function response: header name \"Bad Name\" is not a valid token");
  CHECK(message(R"({"statusCode":200,"headers":{"X":{}}})").find("must be a string") !=
        std::string::npos);
  CHECK(message(R"({"statusCode":200,"cookies":["a=1\nb"]})") ==
        "invalid apigw-v2 function response: a cookie contains CR, LF or NUL");
  CHECK(message(R"({"statusCode":200,"cookies":"a=1"})").find("cookies must be") !=
        std::string::npos);
  CHECK(message(R"({"statusCode":200,"body":{"a":1}})") ==
        "invalid apigw-v2 function response: body must be a string");
  // Deep nesting is parsed without recursion: no crash, a plain inferred response.
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  CHECK(message(deep) == "<ok>");
}

TEST_CASE("base64 round-trips and rejects bad input") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xfb\xff", 2)) == "+/8=");
  CHECK(base64_decode("") == std::string());
  CHECK(base64_decode("Zg==") == std::string("f"));
  CHECK(base64_decode("Zm8=") == std::string("fo"));
  CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(base64_decode("+/8=") == std::string("\xfb\xff", 2));
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK_FALSE(base64_decode("Zg"));    // Padding is required.
  CHECK_FALSE(base64_decode("Zg=a"));  // '=' only at the end.
  CHECK_FALSE(base64_decode("=Zg="));
  CHECK_FALSE(base64_decode("Zm9v\n"));  // No whitespace.
  CHECK_FALSE(base64_decode("Zm-_"));    // Not the URL alphabet.
  CHECK_FALSE(base64_decode("Zg==Zg=="));
  CHECK_FALSE(base64_decode("===="));
}

TEST_CASE("UTF-8 validation follows RFC 3629") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK(is_valid_utf8(std::string("a\0b", 3)));
  CHECK_FALSE(is_valid_utf8("\xC3"));              // Truncated.
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // Overlong '/'.
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // Overlong.
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // Surrogate U+D800.
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // Above U+10FFFF.
  CHECK_FALSE(is_valid_utf8("\x80"));              // Lone continuation byte.
  CHECK_FALSE(is_valid_utf8("\xFF"));
  CHECK(to_valid_utf8("caf\xE9!") == "caf\xEF\xBF\xBD!");
  CHECK(to_valid_utf8("ok \xC3\xA9") == "ok \xC3\xA9");
}

TEST_CASE("percent-decoding") {
  std::string out;
  CHECK(percent_decode("a%20b%2Fc", out));
  CHECK(out == "a b/c");
  CHECK(percent_decode("a+b", out));
  CHECK(out == "a+b");
  CHECK(percent_decode("a+b%2b", out, true));
  CHECK(out == "a b+");
  CHECK(percent_decode("%e2%82%AC", out));
  CHECK(out == "\xE2\x82\xAC");
  CHECK_FALSE(percent_decode("%", out));
  CHECK_FALSE(percent_decode("abc%2", out));
  CHECK_FALSE(percent_decode("%G0", out));
}

TEST_CASE("RFC 3339 timestamps") {
  auto epoch = std::chrono::system_clock::time_point{};
  CHECK(core::parse_rfc3339("1970-01-01T00:00:00Z") == epoch);
  CHECK(core::parse_rfc3339("1970-01-01t01:00:00+01:00") == epoch);
  CHECK(core::parse_rfc3339("1969-12-31T23:30:00-00:30") == epoch);
  CHECK(core::parse_rfc3339("2026-11-23T13:45:00.123Z") == fixed_time());
  CHECK(core::parse_rfc3339("2026-11-23T13:45:00.123456789123z") ==
        fixed_time() + std::chrono::duration_cast<std::chrono::system_clock::duration>(456789ns));
  CHECK(core::parse_rfc3339("2024-02-29T00:00:00Z").has_value());
  CHECK_FALSE(core::parse_rfc3339("2023-02-29T00:00:00Z"));  // Not a leap year.
  CHECK_FALSE(core::parse_rfc3339("2026-13-01T00:00:00Z"));
  CHECK_FALSE(core::parse_rfc3339("2026-11-23T24:00:00Z"));
  CHECK_FALSE(core::parse_rfc3339("2026-11-23T13:45:00"));  // An offset is required.
  CHECK_FALSE(core::parse_rfc3339("2026-11-23 13:45:00Z"));
  CHECK_FALSE(core::parse_rfc3339("2026-11-23T13:45:00.Z"));
  CHECK_FALSE(core::parse_rfc3339("2026-11-23T13:45:00+0100"));
  CHECK_FALSE(core::parse_rfc3339("2026-11-23T13:45:00Zjunk"));
  CHECK_FALSE(core::parse_rfc3339(""));
}
