#pragma once

// The native batch: what a function receives for a trigger with `batch:` above 1 and no
// source-specific payload. It is a CloudEvents JSON batch (application/cloudevents-batch+json):
// an array of structured events, each with its attributes, its data (a JSON value when its
// datacontenttype is JSON and the data parses, a string when it is UTF-8 text, `data_base64`
// otherwise) and an `attributes` object with the source attributes ("redis.id", ...).
//
// The function reports failed items by their `id` in `batchItemFailures`
// (scheduler/dispatcher.h). Pure functions: any thread.

#include <span>

#include "core/event.h"

namespace switchyard::triggers {

// The batch event for `items` (at least one): type "switchyard.batch", the first item's source,
// id "<first id>..<last id>" (the one id when there is one item), the latest item time, the
// first traceparent, and the attribute "batch.size".
core::Event encode_native_batch(std::span<const core::Event> items);

}  // namespace switchyard::triggers
