#pragma once

// Which offset of one partition may be committed: the lowest offset whose record is not finished
// yet, or the one after the last record taken when every taken record has finished. A failed
// record that is neither done nor dead-lettered stays unfinished, so the committed offset never
// passes it (a failed record is never skipped).
//
// Records are taken in offset order (the order a consumer reads them); they may finish in any
// order. Offsets may have gaps (compacted topics, transaction markers): the commit point then
// jumps over offsets that were never taken.
//
// Thread rules: none (a plain value type); the Kafka trigger uses it on the loop thread.

#include <cstdint>
#include <deque>
#include <optional>

namespace switchyard::triggers::kafka {

class PartitionOffsets {
 public:
  // `start`: the offset the partition is read from, known before any record is taken (-1 when
  // unknown: nothing is committable until a record is taken).
  explicit PartitionOffsets(std::int64_t start = -1) : next_(start) {}

  // Whether take(offset) would take it: false for an offset at or below the last one taken (a
  // duplicate delivery).
  bool takes(std::int64_t offset) const;
  // Records that `offset` was read and is in progress, with the caller's `tag` for it (the Kafka
  // trigger keeps its record's ordering lane). Offsets must increase; an offset at or below the
  // last one taken is ignored and returns false (a duplicate delivery).
  bool take(std::int64_t offset, std::uint32_t tag = 0);
  // Marks `offset` finished (processed, or dead-lettered) and returns its tag. Unknown offsets,
  // and offsets finished before, are ignored (nullopt).
  std::optional<std::uint32_t> finish(std::int64_t offset);
  // The tag of an unfinished `offset`, or nullopt.
  std::optional<std::uint32_t> tag_of(std::int64_t offset) const;

  // The offset to commit (the next record to read after a restart), or -1 if none is known.
  std::int64_t committable() const;
  // Records taken and not finished.
  std::size_t unfinished() const { return unfinished_; }
  // The offset after the last one taken (-1 before any).
  std::int64_t next() const { return next_; }

 private:
  struct Entry {
    std::int64_t offset;
    std::uint32_t tag;
    bool finished;
  };
  // The entry of `offset`, or entries_.end().
  std::deque<Entry>::const_iterator find(std::int64_t offset) const;
  std::deque<Entry> entries_;  // Taken offsets, ascending; finished ones at the front are popped.
  std::int64_t next_;
  std::size_t unfinished_ = 0;
};

}  // namespace switchyard::triggers::kafka
