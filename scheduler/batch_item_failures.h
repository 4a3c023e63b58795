#pragma once

// Reads the answer a function may give a batch to fail only some of its items: a JSON object
// with `batchItemFailures` (`[{"itemIdentifier": "<item id>"}, ...]`, as in AWS Lambda's partial
// batch responses). Dispatcher::dispatch_batch() documents what the scheduler does with it.
//
// Pure parsing, no state: callable from any thread.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"

namespace switchyard::scheduler {

struct BatchItemFailures {
  // One flag per item, in the items' order, set for those reported as failed (every item with
  // a reported id). Empty when the body reports no failure (no `batchItemFailures`, null, an
  // empty list, or not a JSON object).
  std::vector<bool> failed;
  // Set when the report cannot be followed (not a list, an entry without an itemIdentifier
  // string, an id that is not in the batch): the whole batch failed, for this reason.
  std::optional<std::string> whole_batch_error;

  bool any() const { return !failed.empty() || whole_batch_error.has_value(); }
};

// Reads `body`, a successful response to a batch of `items`.
BatchItemFailures read_batch_item_failures(std::string_view body,
                                           std::span<const core::Event> items);

}  // namespace switchyard::scheduler
