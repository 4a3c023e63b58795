#pragma once

// The records of one partition that were read but not dispatched yet, and the rule that says
// which of them may go to the function now:
// - kPartition: one record (or one batch) in flight per partition, in offset order (Lambda's
//   rule);
// - kKey: in offset order per key, one record in flight per key, keys in parallel (a record
//   without a key has its own lane: keyless records stay in order among themselves);
// - kNone: any record, as capacity allows.
// A batch takes up to `max` ready records; in kKey mode at most one per key, so that a retried
// batch item never overtakes a later record of its key.
//
// Thread rules: none (a plain value type); the Kafka trigger uses it on the loop thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchyard::triggers::kafka {

enum class Ordering { kPartition, kKey, kNone };

// Parses the manifest's `ordering` ("partition", "key", "none"); kPartition otherwise.
Ordering parse_ordering(const std::string& text);

template <typename T>
class OrderedBuffer {
 public:
  explicit OrderedBuffer(Ordering ordering) : ordering_(ordering) {}

  // Appends a record read from the partition (offsets ascending). `key` is nullopt for a record
  // without a key.
  void push(std::int64_t offset, std::optional<std::string_view> key, T item) {
    ++buffered_;
    if (ordering_ != Ordering::kKey) {
      fifo_.push_back(Entry{offset, std::move(item)});
      return;
    }
    const std::string& name = lane(key);
    auto it = lanes_.find(std::string_view(name));
    if (it == lanes_.end()) {
      it = lanes_.emplace(name, Lane{}).first;
    }
    Lane& lane = it->second;
    lane.entries.push_back(Entry{offset, std::move(item)});
    if (lane.entries.size() == 1 && !lane.busy) {
      ready_.push_back(name);
    }
  }

  // Takes up to `max` records that may be dispatched now, marks them in flight and appends them
  // to `out`. Returns how many it took.
  std::size_t take_ready(std::size_t max, std::vector<T>& out) {
    if (max == 0 || buffered_ == 0) {
      return 0;
    }
    if (ordering_ == Ordering::kPartition && in_flight_ > 0) {
      return 0;
    }
    std::size_t taken = 0;
    if (ordering_ != Ordering::kKey) {
      while (!fifo_.empty() && taken < max) {
        out.push_back(std::move(fifo_.front().item));
        fifo_.pop_front();
        ++taken;
      }
      in_flight_ += taken;
      buffered_ -= taken;
      return taken;
    }
    // Each ready lane gives its head record and becomes busy until that record finishes.
    while (!ready_.empty() && taken < max) {
      auto it = lanes_.find(std::string_view(ready_.front()));
      ready_.pop_front();
      if (it == lanes_.end() || it->second.busy || it->second.entries.empty()) {
        continue;
      }
      Lane& lane = it->second;
      out.push_back(std::move(lane.entries.front().item));
      lane.entries.pop_front();
      lane.busy = true;
      ++taken;
    }
    in_flight_ += taken;
    buffered_ -= taken;
    return taken;
  }

  std::vector<T> take_ready(std::size_t max) {
    std::vector<T> out;
    take_ready(max, out);
    return out;
  }

  // Marks a record taken by take_ready() as finished, freeing its key's lane.
  void finish(std::optional<std::string_view> key) {
    if (in_flight_ > 0) {
      --in_flight_;
    }
    if (ordering_ != Ordering::kKey) {
      return;
    }
    const std::string& name = lane(key);
    auto it = lanes_.find(std::string_view(name));
    if (it == lanes_.end()) {
      return;
    }
    it->second.busy = false;
    if (it->second.entries.empty()) {
      lanes_.erase(it);  // Keys come and go: only lanes with work are kept.
    } else {
      ready_.push_back(name);
    }
  }

  // Drops every buffered record (not the ones in flight): on revoke and stop.
  void clear() {
    fifo_.clear();
    ready_.clear();
    for (auto it = lanes_.begin(); it != lanes_.end();) {
      it->second.entries.clear();
      if (it->second.busy) {
        ++it;
      } else {
        it = lanes_.erase(it);
      }
    }
    buffered_ = 0;
  }

  std::size_t buffered() const { return buffered_; }
  std::size_t in_flight() const { return in_flight_; }

 private:
  struct Entry {
    std::int64_t offset;
    T item;
  };
  struct Lane {
    std::deque<Entry> entries;
    bool busy = false;  // A record of this key is in flight.
  };

  struct LaneHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  // Keyless records share one lane, distinct from every key (the prefix byte tells them apart).
  // Written into a buffer kept for the purpose: no allocation per record once it is grown.
  const std::string& lane(std::optional<std::string_view> key) {
    lane_name_.assign(key ? "k" : "n");
    if (key) {
      lane_name_.append(*key);
    }
    return lane_name_;
  }

  Ordering ordering_;
  std::size_t buffered_ = 0;
  std::size_t in_flight_ = 0;
  std::deque<Entry> fifo_;  // kPartition and kNone.
  // kKey: per key, in offset order.
  std::unordered_map<std::string, Lane, LaneHash, std::equal_to<>> lanes_;
  std::deque<std::string> ready_;  // kKey: lanes whose head may go now.
  std::string lane_name_;
};

}  // namespace switchyard::triggers::kafka
