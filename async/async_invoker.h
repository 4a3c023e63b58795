#pragma once

// What a source of asynchronous invocations talks to: the HTTP trigger for a request with
// X-Amz-Invocation-Type: Event, the Invoke API for InvocationType Event. Such an invocation has
// no source that keeps it (unlike a Kafka record or a Redis entry): it is answered 202 only once
// it is written to the durable queue (async/async_queue.h), which then runs it, retries it and
// gives it up as Lambda does.
//
// Thread rules: loop thread only.

#include <functional>
#include <string>
#include <string_view>

#include "core/event.h"

namespace switchyard::async {

// What became of an asynchronous invocation offered to the queue.
enum class Acceptance {
  kAccepted,  // Written and fsynced: answer 202.
  kFull,      // The function's asynchronous queue is full (async.queue): answer 429.
  kFailed,    // Could not be written (a full disk, an I/O error): answer 503.
  kRejected,  // No such function, or the daemon is shutting down: answer 503.
};

std::string_view to_string(Acceptance acceptance);

struct AcceptResult {
  Acceptance kind = Acceptance::kAccepted;
  std::string message;  // Why, when it was not accepted.

  bool accepted() const { return kind == Acceptance::kAccepted; }
};

class AsyncInvoker {
 public:
  using Answer = std::function<void(const AcceptResult& result)>;

  virtual ~AsyncInvoker() = default;

  // Offers an asynchronous invocation of `function`, known by `request_id` (unique: the id the
  // caller is answered with). Its contents are kept; its completion must be empty. `answer` is
  // called exactly once on the loop thread: before invoke() returns for a refusal, after the
  // group commit that wrote it otherwise.
  virtual void invoke(std::string_view function, const std::string& request_id, core::Event&& event,
                      Answer answer) = 0;
};

}  // namespace switchyard::async
