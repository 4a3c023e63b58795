#pragma once

// The HTTP trigger: one server for every function's `http` routes. A request is routed, turned
// into an event (native, CloudEvents binary or structured, or API Gateway payload 2.0), and
// dispatched; its outcome becomes the response: the function's own response on success, 502 with
// {"errorType","errorMessage"} on a function error, 504 on a timeout, 429 with Retry-After when
// throttled, 503 while draining. `X-Amz-Invocation-Type: Event` answers 202 at once and sends the
// event down the function's retry and dead-letter path.
//
// Thread rules: loop thread only.

#include <string>
#include <vector>

#include "triggers/trigger.h"

namespace switchyard::triggers::http {

// Every route conflict among the snapshot's http triggers, as "file:line:column: message"; for
// `switchyard validate`, which reports them with the config's own errors.
std::vector<std::string> check_http_routes(const config::Snapshot& snapshot);

// Registers the "http" trigger kind.
void register_http_trigger(TriggerRegistry& registry);

}  // namespace switchyard::triggers::http
