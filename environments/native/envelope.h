#pragma once

// The native envelope: how the daemon hands a whole core::Event to a function running in an
// execution environment (the body of a Runtime API `next`), and how the environment hands the
// function's core::Response back (the body of its `response` POST). Both are JSON:
//
//   event    {"id", "source", "type", "subject", "datacontenttype", "dataschema",
//             "time": "2026-11-23T13:45:00.123456789Z", "traceparent",
//             "data": "text" | "data_base64": "...",
//             "attributes": [["key", "value" | {"base64": "..."}], ...]}
//   response {"status": 200, "headers": [["name", "value"], ...],
//             "body": "text" | "body_base64": "..."}
//
// Every member may be left out (an empty string, a zero time, no attributes). Data, bodies and
// attribute values that are not valid UTF-8 travel as base64; the other strings are text, and a
// byte of them that is not valid UTF-8 is written as U+FFFD. Attributes keep their order and
// duplicates. Unknown members are ignored, so that either side may add some.
//
// The decoders read untrusted input (the daemon decodes what an environment sent): anything
// malformed is an kInvalidArgument error saying what was wrong, never a crash.
// Thread rules: none; every function may run on any thread.

#include <string>
#include <string_view>

#include "core/error.h"
#include "core/event.h"

namespace switchyard::environments {

// The Content-Type of an encoded event and of an encoded response.
inline constexpr std::string_view kEventContentType = "application/vnd.switchyard.event+json";
inline constexpr std::string_view kResponseContentType = "application/vnd.switchyard.response+json";

// Encodes `event`'s contents (id through traceparent, attributes) into `out`, replacing what it
// held and reusing its storage. The event's completion, source_tag, synchronous flag and pending
// contents are not part of the envelope.
void encode_event(const core::Event& event, std::string& out);
void encode_event(const core::EventView& event, std::string& out);
std::string encode_event(const core::Event& event);
std::string encode_event(const core::EventView& event);

// Fills `out`'s contents (id through traceparent, attributes) from `json`, reusing their
// storage; the other fields of `out` are left alone. On an error `out` may be partly filled.
core::Status decode_event(std::string_view json, core::Event& out);

void encode_response(const core::Response& response, std::string& out);
std::string encode_response(const core::Response& response);

// A status outside 100..599, a header that is not a pair of strings, or bad base64 is an error.
core::Result<core::Response> decode_response(std::string_view json);

}  // namespace switchyard::environments
