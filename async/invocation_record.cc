#include "async/invocation_record.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/codec.h"
#include "core/time.h"

namespace switchyard::async {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void string(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// `payload` as JSON when it is JSON, else as a string (base64 when it is not UTF-8), as Lambda
// embeds payloads that are always JSON on its side.
void payload(Writer& writer, std::string_view bytes) {
  rapidjson::Document document;
  // Fails on anything after the one value but blanks.
  document.Parse(bytes.data(), bytes.size());
  if (!document.HasParseError()) {
    document.Accept(writer);
    return;
  }
  string(writer, core::is_valid_utf8(bytes) ? std::string(bytes) : core::base64_encode(bytes));
}

}  // namespace

std::string invocation_record(const InvocationRecordInput& input) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  const core::Outcome& outcome = input.outcome;
  writer.StartObject();
  writer.Key("version");
  writer.String("1.0");
  writer.Key("timestamp");
  string(writer, core::format_rfc3339(input.timestamp));
  writer.Key("requestContext");
  writer.StartObject();
  writer.Key("requestId");
  string(writer, input.request_id);
  writer.Key("functionArn");
  string(writer, std::string(input.function_arn) + ":$LATEST");
  writer.Key("condition");
  string(writer, input.condition);
  writer.Key("approximateInvokeCount");
  writer.Int(outcome.attempts);
  writer.EndObject();
  writer.Key("requestPayload");
  payload(writer, input.event.data);
  if (outcome.attempts > 0) {
    writer.Key("responseContext");
    writer.StartObject();
    writer.Key("statusCode");
    writer.Int(200);
    writer.Key("executedVersion");
    writer.String("$LATEST");
    if (!outcome.ok()) {
      writer.Key("functionError");
      writer.String("Unhandled");
    }
    writer.EndObject();
    writer.Key("responsePayload");
    if (outcome.ok()) {
      payload(writer, outcome.response.body);
    } else if (!outcome.error_document.empty()) {
      payload(writer, outcome.error_document);
    } else {
      writer.StartObject();
      writer.Key("errorMessage");
      string(writer, outcome.error_message);
      writer.Key("errorType");
      string(writer, outcome.error_type);
      writer.EndObject();
    }
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace switchyard::async
