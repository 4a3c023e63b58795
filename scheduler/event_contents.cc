#include "scheduler/event_contents.h"

#include <cstddef>
#include <string>

namespace switchyard::scheduler {

namespace {

// What trim() keeps of an event's contents for the next event built into its invocation: a
// small record's data, attributes and strings (at most ~8 KiB per idle invocation); anything
// larger is freed.
constexpr std::size_t kKeptDataBytes = 4096;
constexpr std::size_t kKeptAttributes = 16;
constexpr std::size_t kKeptStringBytes = 128;

void trim_text(std::string& text, std::size_t keep) {
  if (text.capacity() > keep) {
    std::string().swap(text);
  }
}

}  // namespace

void EventContents::trim(core::Event& event) {
  // Unless the loop pinned the contents first (a timeout it saw first), they are trimmed here,
  // on the thread that made them.
  State expected = State::kBuilt;
  if (!state_.compare_exchange_strong(expected, State::kTrimming, std::memory_order_acq_rel)) {
    return;
  }
  trim_text(event.data, kKeptDataBytes);
  if (event.attributes.size() > kKeptAttributes) {
    core::Attributes().swap(event.attributes);
  }
  for (core::Attribute& attribute : event.attributes) {
    trim_text(attribute.key, kKeptStringBytes);
    trim_text(attribute.value, kKeptStringBytes);
  }
  trim_text(event.traceparent, kKeptStringBytes);
  trim_text(event.subject, kKeptStringBytes);
  trim_text(event.datacontenttype, kKeptStringBytes);
  trim_text(event.dataschema, kKeptStringBytes);
  state_.store(State::kTrimmed, std::memory_order_release);
}

EventContents::Pin EventContents::pin(core::Event& event) {
  for (;;) {
    State state = state_.load(std::memory_order_acquire);
    switch (state) {
      case State::kGiven:
      case State::kPinned:
        return Pin::kPinned;
      case State::kPending:
        build(event);  // No worker started on them: built here (the worker runs them built).
        break;
      case State::kBuilt:
        if (state_.compare_exchange_strong(state, State::kPinned, std::memory_order_acq_rel)) {
          return Pin::kPinned;
        }
        break;
      case State::kViewed:
        // The function reads a view: the contents are copied, not built (they stay pending).
        if (state_.compare_exchange_strong(state, State::kCopying, std::memory_order_acq_rel)) {
          return Pin::kCopy;
        }
        break;
      case State::kTrimmed:
      case State::kReleased:
        // The function succeeded in time and its worker let the contents go: its result is on
        // its way and reports it.
        return Pin::kFinished;
      case State::kBuilding:
      case State::kTrimming:
      case State::kViewing:
      case State::kEndingView:
      case State::kCopying:  // Never: the loop ends its copy before it pins again.
        // The worker is in the middle of a step.
        std::this_thread::yield();
        break;
    }
  }
}

}  // namespace switchyard::scheduler
