#include "triggers/pull_source.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace switchyard::triggers {

bool admitted(scheduler::Admission admission) {
  return admission == scheduler::Admission::kStarted || admission == scheduler::Admission::kQueued;
}

PullSource::PullSource(core::Loop& loop, scheduler::Dispatcher& dispatcher, Options options,
                       Owner& owner)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      owner_(owner),
      window_timer_(loop, [this] { flush(true); }),
      guard_(*this) {
  options_.batch = std::max<std::size_t>(options_.batch, 1);
  if (options_.mode == Mode::kRun) {
    offering_.reserve(options_.batch);
  }
}

PullSource::~PullSource() {
  if (watch_id_) {
    dispatcher_.unwatch_capacity(*watch_id_);
  }
}

void PullSource::start() {
  if (!watch_id_) {
    watch_id_ = dispatcher_.watch_capacity(options_.function, [this] { on_capacity(); });
  }
}

std::vector<core::Event> PullSource::stop() {
  state_ = State::kStopped;
  window_timer_.stop();
  std::vector<core::Event> events(std::make_move_iterator(staged_.begin()),
                                  std::make_move_iterator(staged_.end()));
  staged_.clear();
  return events;
}

void PullSource::stage(core::Event event, void* context) {
  event.completion = guard_.completion(context);
  staged_.push_back(std::move(event));
}

void PullSource::put_back(std::span<core::Event> events) {
  staged_.insert(staged_.begin(), std::make_move_iterator(events.begin()),
                 std::make_move_iterator(events.end()));
}

void PullSource::flush(bool force) {
  if (state_ == State::kStopped) {
    return;
  }
  if (flushing_) {
    flush_again_ = true;
    return;
  }
  flushing_ = true;
  do {
    flush_again_ = false;
    flush_staged(force);
  } while (flush_again_ && state_ != State::kStopped);
  flushing_ = false;
}

void PullSource::flush_staged(bool force) {
  while (!staged_.empty() && state_ != State::kStopped) {
    if (options_.mode == Mode::kBatch && staged_.size() < options_.batch && !force &&
        options_.batch_window.count() > 0) {
      state_ = State::kWindow;
      if (!window_timer_.active()) {
        window_timer_.start(options_.batch_window);
      }
      return;
    }
    std::size_t count = 1;
    if (options_.mode == Mode::kBatch) {
      count = std::min(options_.batch, staged_.size());
    } else if (options_.mode == Mode::kRun) {
      count = std::min({options_.batch, staged_.size(),
                        std::max<std::size_t>(dispatcher_.run_room(options_.function), 1)});
    }
    const scheduler::Admission admission = offer_staged(count);
    if (admission == scheduler::Admission::kThrottled) {
      // The window timer, if armed, still fires: it offers them again, as a returning capacity
      // does.
      state_ = State::kThrottled;
      owner_.throttled();
      return;
    }
    if (admission == scheduler::Admission::kRejected) {
      state_ = State::kIdle;
      window_timer_.stop();
      std::vector<core::Event> events(std::make_move_iterator(staged_.begin()),
                                      std::make_move_iterator(staged_.end()));
      staged_.clear();
      owner_.rejected(std::move(events));
      return;
    }
  }
  if (state_ != State::kStopped) {
    state_ = State::kIdle;
    window_timer_.stop();
  }
}

PullSource::Offered PullSource::offer(std::span<core::Event> events) {
  Offered offered{scheduler::Admission::kStarted, 0};
  if (events.empty()) {
    return offered;
  }
  const std::size_t count = options_.mode == Mode::kSingle ? 1 : events.size();
  // Counted first: an inline function answers during the call.
  guard_.expect(count);
  switch (options_.mode) {
    case Mode::kSingle:
      // Moved from only when admitted; left as it was otherwise.
      offered.admission = dispatcher_.dispatch(options_.function, std::move(events.front()));
      offered.taken = admitted(offered.admission) ? 1 : 0;
      break;
    case Mode::kBatch: {
      std::vector<core::Event> items(std::make_move_iterator(events.begin()),
                                     std::make_move_iterator(events.end()));
      offered.admission =
          dispatcher_.dispatch_batch(options_.function, std::move(items), options_.encode);
      if (admitted(offered.admission)) {
        offered.taken = count;
      } else {
        std::move(items.begin(), items.end(), events.begin());  // Left as they were.
      }
      break;
    }
    case Mode::kRun:
      // dispatch_run() says how many it took, not why it took no more: the rest wait for
      // capacity, as throttled ones do.
      offered.taken = dispatcher_.dispatch_run(options_.function, events, options_.run_order);
      offered.admission = offered.taken == count ? scheduler::Admission::kStarted
                                                 : scheduler::Admission::kThrottled;
      break;
  }
  guard_.unexpect(count - offered.taken);
  return offered;
}

scheduler::Admission PullSource::offer_staged(std::size_t count) {
  offering_.clear();
  for (std::size_t i = 0; i < count; ++i) {
    offering_.push_back(std::move(staged_.front()));
    staged_.pop_front();
  }
  const Offered offered = offer(offering_);
  // What was not taken goes back in front, in order.
  staged_.insert(staged_.begin(), std::make_move_iterator(offering_.begin() + offered.taken),
                 std::make_move_iterator(offering_.end()));
  offering_.clear();
  return offered.admission;
}

std::size_t PullSource::room(std::size_t limit) const {
  std::size_t capacity = dispatcher_.capacity(options_.function);
  if (options_.mode == Mode::kBatch) {
    capacity *= options_.batch;
  }
  return std::min(capacity > staged_.size() ? capacity - staged_.size() : 0, limit);
}

void PullSource::completed(core::Event& event, core::Outcome& outcome, void* context) {
  owner_.completed(event, outcome, context);
}

void PullSource::on_capacity() {
  if (state_ == State::kStopped) {
    return;
  }
  flush(false);
  owner_.capacity_returned();
}

}  // namespace switchyard::triggers
