#pragma once

// The bytes an asynchronous invocation's event is kept as in the durable queue (the `event`
// column of async_events, see async/queue_store.h): its contents as one JSON object, so that an
// operator can read them with the sqlite3 CLI (`json_extract(event, '$.type')`).
//
// Every CloudEvents attribute is a string member (`id`, `source`, `type`, `subject`,
// `datacontenttype`, `dataschema`, `traceparent`; one that is empty is left out), `time` is
// `time_ns` (nanoseconds since the Unix epoch, exact), `attributes` an array of [key, value]
// pairs in order (duplicates kept), and `data` comes last (left out when empty). A string that is
// not valid UTF-8 (binary data, a binary header) is written as {"base64": "..."} instead, so that
// every byte comes back exactly.
//
// Thread rules: none; both functions are pure.

#include <string>
#include <string_view>

#include "core/error.h"
#include "core/event.h"

namespace switchyard::async {

// The event's contents (id through traceparent, attributes, data) as JSON. The completion,
// pending contents and source tag are not kept.
std::string encode_event(const core::Event& event);

// Fills in `event`'s contents from what encode_event() wrote. A member that is missing is left
// empty; anything that is not such an object is an error (kInvalidArgument).
core::Status decode_event(std::string_view bytes, core::Event& event);

}  // namespace switchyard::async
