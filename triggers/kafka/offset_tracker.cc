#include "triggers/kafka/offset_tracker.h"

#include <algorithm>

namespace switchyard::triggers::kafka {

bool PartitionOffsets::take(std::int64_t offset) {
  if (offset < 0 || (next_ >= 0 && offset < next_) ||
      (!entries_.empty() && offset <= entries_.back().offset)) {
    return false;
  }
  entries_.push_back({offset, false});
  next_ = offset + 1;
  ++unfinished_;
  return true;
}

void PartitionOffsets::finish(std::int64_t offset) {
  if (entries_.empty() || offset < entries_.front().offset) {
    return;
  }
  // Offsets are usually consecutive: the entry is then at its distance from the front.
  auto it = entries_.end();
  auto guess = static_cast<std::uint64_t>(offset - entries_.front().offset);
  if (guess < entries_.size() && entries_[guess].offset == offset) {
    it = entries_.begin() + static_cast<std::ptrdiff_t>(guess);
  } else {
    it = std::lower_bound(
        entries_.begin(), entries_.end(), offset,
        [](const Entry& entry, std::int64_t value) { return entry.offset < value; });
  }
  if (it == entries_.end() || it->offset != offset || it->finished) {
    return;
  }
  it->finished = true;
  --unfinished_;
  while (!entries_.empty() && entries_.front().finished) {
    entries_.pop_front();
  }
}

std::int64_t PartitionOffsets::committable() const {
  if (!entries_.empty()) {
    return entries_.front().offset;
  }
  return next_;
}

}  // namespace switchyard::triggers::kafka
