#include "triggers/kafka/offset_tracker.h"

#include <algorithm>

namespace switchyard::triggers::kafka {

bool PartitionOffsets::takes(std::int64_t offset) const {
  return offset >= 0 && (next_ < 0 || offset >= next_) &&
         (entries_.empty() || offset > entries_.back().offset);
}

bool PartitionOffsets::take(std::int64_t offset, std::uint32_t tag) {
  if (!takes(offset)) {
    return false;
  }
  entries_.push_back({offset, tag, false});
  next_ = offset + 1;
  ++unfinished_;
  return true;
}

std::deque<PartitionOffsets::Entry>::const_iterator PartitionOffsets::find(
    std::int64_t offset) const {
  if (entries_.empty() || offset < entries_.front().offset) {
    return entries_.end();
  }
  // Offsets are usually consecutive: the entry is then at its distance from the front.
  auto guess = static_cast<std::uint64_t>(offset - entries_.front().offset);
  if (guess < entries_.size() && entries_[guess].offset == offset) {
    return entries_.begin() + static_cast<std::ptrdiff_t>(guess);
  }
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), offset,
                       [](const Entry& entry, std::int64_t value) { return entry.offset < value; });
  return it != entries_.end() && it->offset == offset ? it : entries_.end();
}

std::optional<std::uint32_t> PartitionOffsets::finish(std::int64_t offset) {
  auto found = find(offset);
  if (found == entries_.end() || found->finished) {
    return std::nullopt;
  }
  auto it = entries_.begin() + (found - entries_.cbegin());
  it->finished = true;
  const std::uint32_t tag = it->tag;
  --unfinished_;
  while (!entries_.empty() && entries_.front().finished) {
    entries_.pop_front();
  }
  return tag;
}

std::optional<std::uint32_t> PartitionOffsets::tag_of(std::int64_t offset) const {
  auto it = find(offset);
  if (it == entries_.end() || it->finished) {
    return std::nullopt;
  }
  return it->tag;
}

std::int64_t PartitionOffsets::committable() const {
  if (!entries_.empty()) {
    return entries_.front().offset;
  }
  return next_;
}

}  // namespace switchyard::triggers::kafka
