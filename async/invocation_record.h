#pragma once

// The record an asynchronous invocation's destination receives (`async.on_success`,
// `async.on_failure`), in the shape AWS Lambda writes for its destinations:
//
//   {"version": "1.0", "timestamp": "2026-12-06T10:00:00.123Z",
//    "requestContext": {"requestId": "...", "functionArn": "arn:...:function:f:$LATEST",
//                       "condition": "Success" | "RetriesExhausted" | "EventAgeExceeded",
//                       "approximateInvokeCount": 3},
//    "requestPayload": <the event's data>,
//    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
//                        "functionError": "Unhandled"},     (functionError: failures only)
//    "responsePayload": <the result, or the error object>}
//
// A payload that is JSON is embedded as JSON, anything else as a string (base64 when it is not
// UTF-8). An invocation given up before any attempt ran (too old) has no responseContext nor
// responsePayload.
//
// Thread rules: none; the function is pure.

#include <chrono>
#include <string>
#include <string_view>

#include "core/event.h"

namespace switchyard::async {

// Lambda's `condition` of a successful invocation.
inline constexpr std::string_view kSuccess = "Success";

struct InvocationRecordInput {
  std::string_view request_id;
  std::string_view function_arn;  // Without the qualifier: ":$LATEST" is added.
  std::string_view condition;     // kSuccess, kRetriesExhausted or kEventAgeExceeded.
  const core::Event& event;       // Its data is the requestPayload.
  const core::Outcome& outcome;   // The last attempt's; attempts counts them all.
  std::chrono::system_clock::time_point timestamp;
};

std::string invocation_record(const InvocationRecordInput& input);

}  // namespace switchyard::async
