#pragma once

// `payload: lambda-sqs`: a shape of switchyard's own, modelled on the event AWS Lambda sends a
// function for an SQS queue, so that Lambda handlers written for SQS read Redis entries
// unchanged. Every delivery is a batch, as with SQS, even for `batch: 1`:
//
//   {"Records": [
//     {"messageId": "1700000000000-0", "receiptHandle": "1700000000000-0",
//      "body": "<the event's data>",
//      "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
//      "messageAttributes": {"<field>": {"stringValue": "...", "stringListValues": [],
//                                        "binaryListValues": [], "dataType": "String"}},
//      "eventSource": "switchyard:redis",
//      "eventSourceARN": "redis://127.0.0.1:6379/0/jobs"}, ...]}
//
// - messageId and receiptHandle are the event id (a stream entry's id, a list element's
//   "fnv1a-..." id): the function names failed records in `batchItemFailures` by messageId.
// - body is the data a native function gets (a stream entry's `data` field, or a JSON object of
//   all its fields when it has none; a list element). When it is not valid UTF-8 it is base64
//   and attributes has "SwitchyardBodyEncoding": "base64".
// - attributes: ApproximateReceiveCount is "1" (switchyard does not count Redis deliveries);
//   SentTimestamp is the event time in milliseconds (a stream entry's id time, the time a list
//   element was read).
// - messageAttributes: a stream entry's fields but `data`, in their order, each name once (its
//   first value); a value that is not valid UTF-8 is {"binaryValue": "<base64>", ...,
//   "dataType": "Binary"}. Empty for a list element.
// - eventSourceARN is the event source ("redis://<host:port>/<db>/<key>"). There is no
//   md5OfBody and no awsRegion.
// Records keep the items' order.
//
// Pure function of its arguments: any thread.

#include <span>
#include <string_view>

#include "core/event.h"

namespace switchyard::triggers::redis {

inline constexpr std::string_view kBatchEventType = "switchyard.redis.batch";
inline constexpr std::string_view kLambdaEventSource = "switchyard:redis";

// The batch event for `items` (each made by stream_entry_event() or list_element_event()): data
// is the JSON above, datacontenttype application/json, type kBatchEventType, id "<first id>..
// <last id>" (the one id for one item), the first item's source and trace parent, the latest
// item time, and the attribute "batch.size".
core::Event encode_lambda_sqs(std::span<const core::Event> items);

}  // namespace switchyard::triggers::redis
