#pragma once

// Records waiting to be dispatched again: refused by the function (throttled: they go again,
// first, when it has room) or failed without a dead letter (they go after a pause). They stay in
// flight for their partition's order and offsets (counted in Partition::held), so its commit
// point never passes them. Those of a partition that is no longer assigned are dropped, never
// dispatched: their offsets are not committed, and the partition's next owner reads them again.
//
// Thread rules: loop thread only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "core/event.h"
#include "triggers/kafka/partition.h"

namespace switchyard::triggers::kafka {

class HeldRecords {
 public:
  bool empty() const { return held_.empty(); }
  std::size_t size() const { return held_.size(); }

  // Keeps `events` of `partition` to go again at loop time `due_ms`; `delay` is the pause they
  // waited (handed back with them, for a refusal after a failure).
  void hold(const std::shared_ptr<Partition>& partition, std::vector<core::Event> events,
            std::uint64_t due_ms, std::chrono::milliseconds delay) {
    partition->held += events.size();
    held_.push_back(Held{partition, std::move(events), due_ms, delay});
  }

  // The earliest due time, or nullopt when nothing is held.
  std::optional<std::uint64_t> next_due_ms() const {
    std::optional<std::uint64_t> due;
    for (const auto& held : held_) {
      due = due ? std::min(*due, held.due_ms) : held.due_ms;
    }
    return due;
  }

  // Offers the held records that are due at `now_ms`, oldest first, to `dispatch(partition,
  // events, delay)`, at most `max` times; stops after a refusal (it returns false, and holds
  // them again itself). Records not due yet keep waiting, behind the others; those of a
  // partition no longer assigned are dropped. Returns how many times it called `dispatch`.
  template <typename Dispatch>
  std::size_t redispatch(std::uint64_t now_ms, std::size_t max, Dispatch&& dispatch) {
    std::size_t offered = 0;
    bool refused = false;
    for (std::size_t n = held_.size(); n > 0 && offered < max && !refused; --n) {
      Held held = std::move(held_.front());
      held_.pop_front();
      std::shared_ptr<Partition> partition = held.partition.lock();
      if (!partition || !partition->assigned()) {
        continue;
      }
      if (held.due_ms > now_ms) {
        held_.push_back(std::move(held));
        continue;
      }
      partition->held -= held.events.size();
      ++offered;
      refused = !dispatch(partition, std::move(held.events), held.delay);
    }
    return offered;
  }

  // Drops the records of partitions no longer assigned (revoked or dropped).
  void drop_unassigned() {
    std::erase_if(held_, [](const Held& held) {
      auto partition = held.partition.lock();
      return !partition || !partition->assigned();
    });
  }

  void clear() { held_.clear(); }

 private:
  struct Held {
    std::weak_ptr<Partition> partition;
    std::vector<core::Event> events;
    std::uint64_t due_ms = 0;
    std::chrono::milliseconds delay{0};
  };

  std::deque<Held> held_;
};

}  // namespace switchyard::triggers::kafka
