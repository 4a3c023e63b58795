#pragma once

// The mappings between an HTTP request/response and what a function sees:
// - the native event (CloudEvents attributes plus "http.*" source attributes),
// - the CloudEvents 1.0 HTTP protocol binding (binary and structured modes) on top of it,
// - API Gateway HTTP API payload format 2.0 (the event JSON and the response rules),
// (percent-decoding, base64 and UTF-8 checks are in core/codec.h).
//
// Everything here is a pure function of its arguments: safe to call from any thread. All input
// is untrusted; bad input is reported through the return value, never asserted.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/error.h"
#include "core/event.h"
#include "http/message.h"
#include "triggers/http/router.h"

namespace switchyard::triggers::http {

// The server's request and response (http/message.h), which these mappings read and write.
using switchyard::http::find_header;
using switchyard::http::Header;
using switchyard::http::Headers;
using switchyard::http::Request;
using switchyard::http::Response;

// ---- Native event ---------------------------------------------------------------------------

inline constexpr std::string_view kNativeEventSource = "switchyard/http";
inline constexpr std::string_view kNativeEventType = "switchyard.http.request";

// Fills `event` from a routed request. The body is moved out of `request` into event.data; the
// rest of `request` is left intact (the trigger still needs keep_alive and friends).
// Attributes, in this order: http.method, http.path (still percent-encoded), http.query (raw),
// http.header.<lowercase name> for each header (repeats kept, in order), http.param.<name>
// (decoded), http.remote_address. CloudEvents: id = request_id, source = kNativeEventSource,
// type = kNativeEventType, time = now, datacontenttype = the Content-Type header, traceparent =
// the traceparent header.
void fill_event(Request& request, const RouteMatch& match, std::string_view request_id,
                std::chrono::system_clock::time_point now, core::Event& event);

// Applies the CloudEvents 1.0 HTTP binding to an event filled by fill_event (its data holds the
// request body). Call it after fill_event.
// - Structured mode (Content-Type application/cloudevents+json): the body is a JSON CloudEvent;
//   id, source, type and specversion "1.0" are required; `data` becomes the data (a JSON string
//   with a non-JSON datacontenttype as its text, any other value as serialized JSON with
//   datacontenttype defaulting to application/json) or `data_base64` is decoded; other
//   attributes become "ce.<name>" (non-string values as their JSON text, null skipped).
// - Binary mode (any of ce-specversion, ce-id, ce-source, ce-type present): those four are
//   required, ce-specversion must be 1.0, ce-time must be RFC 3339; ce-subject, ce-dataschema
//   set their fields; other ce-* headers become "ce.<lowercase name>". Header values are
//   percent-decoded as the binding says. The body stays the data; Content-Type stays
//   datacontenttype.
// - Neither: the event is left as it is.
// Batched mode (application/cloudevents-batch+json) is refused. Returns kInvalidArgument with a
// message naming the problem when the request is not a valid CloudEvent; the trigger answers 400.
core::Status apply_cloudevents(const Headers& headers, core::Event& event);

// ---- API Gateway HTTP API, payload format 2.0 -----------------------------------------------

// The event JSON AWS sends a Lambda function behind an HTTP API, in AWS's documented field order.
// routeKey is "<request method> <route_template>". Differences from AWS, on purpose: domainName
// is the Host header without its port; the body is base64-encoded (isBase64Encoded true) only
// when it is not valid UTF-8, where AWS looks at the content type. Strings that are not valid
// UTF-8 (header or query values) have their bad bytes replaced by U+FFFD so that the JSON stays
// valid.
std::string build_apigw_v2_event(const Request& request, const RouteMatch& match,
                                 std::string_view route_template, std::string_view request_id,
                                 std::chrono::system_clock::time_point now);

// Turns a function's output into the HTTP response, with AWS's format 2.0 rules:
// - a JSON object with statusCode: statusCode (an integer 100..599), headers (an object; string,
//   number and boolean values), cookies (an array of strings, one Set-Cookie header each), body
//   (a string), isBase64Encoded (the body is then decoded);
// - any other JSON value, or an object without statusCode: 200, Content-Type application/json,
//   the output itself as the body ("format 2.0 infers the response");
// - output that is not JSON at all: 200, Content-Type text/plain, the output as the body.
// Returns an error (the trigger answers 502) when a statusCode response is malformed, including
// header names that are not tokens and values containing CR, LF or NUL (response splitting).
core::Result<Response> parse_apigw_v2_response(std::string_view function_output);

// ---- Codecs ---------------------------------------------------------------------------------

using core::percent_decode;

using core::base64_decode;
using core::base64_encode;
using core::is_valid_utf8;
using core::to_valid_utf8;

}  // namespace switchyard::triggers::http
