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

  // The lane a record went into: handed back to finish() when the record is done (kKey; the
  // other modes have one lane, kNoLane).
  using LaneId = std::uint32_t;
  static constexpr LaneId kNoLane = UINT32_MAX;

  // Appends the next record read from the partition (records arrive in offset order). `key` is
  // nullopt for a record without a key.
  LaneId push(std::optional<std::string_view> key, T item) {
    ++buffered_;
    if (ordering_ != Ordering::kKey) {
      fifo_.push_back(std::move(item));
      return kNoLane;
    }
    const std::string& name = lane_name(key);
    LaneId id;
    if (auto it = index_.find(std::string_view(name)); it != index_.end()) {
      id = it->second;
      if (lanes_[id].tail == kNil && !lanes_[id].busy) {
        --idle_lanes_;
      }
    } else {
      id = new_lane(name);
    }
    Lane& lane = lanes_[id];
    const std::uint32_t node = allocate(std::move(item));
    if (lane.tail == kNil) {
      lane.head = node;
      if (!lane.busy) {
        ready_.push_back(id);
      }
    } else {
      nodes_[lane.tail].next = node;
    }
    lane.tail = node;
    return id;
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
        out.push_back(std::move(fifo_.front()));
        fifo_.pop_front();
        ++taken;
      }
      in_flight_ += taken;
      buffered_ -= taken;
      return taken;
    }
    // Each ready lane gives its head record and becomes busy until that record finishes.
    while (!ready_.empty() && taken < max) {
      Lane& lane = lanes_[ready_.front()];
      ready_.pop_front();
      Node& head = nodes_[lane.head];
      out.push_back(std::move(head.item));
      const std::uint32_t next = head.next;
      release(lane.head);
      lane.head = next;
      if (next == kNil) {
        lane.tail = kNil;
      }
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

  // Marks a record taken by take_ready() as finished, freeing its lane (what push() returned
  // for it).
  void finish(LaneId id) {
    if (in_flight_ > 0) {
      --in_flight_;
    }
    if (ordering_ != Ordering::kKey || id >= lanes_.size() || !lanes_[id].busy) {
      return;  // Not taken: nothing to free (and a lane is never queued twice in ready_).
    }
    Lane& lane = lanes_[id];
    lane.busy = false;
    if (lane.head != kNil) {
      ready_.push_back(id);
    } else if (idle_lanes_ >= kKeptIdleLanes) {
      free_lane(id);
    } else {
      // Kept for the next record of its key (no allocation per record), but only so many idle
      // lanes: keys come and go.
      ++idle_lanes_;
    }
  }

  // Drops every buffered record (not the ones in flight): on revoke and stop.
  void clear() {
    fifo_.clear();
    ready_.clear();
    nodes_.clear();
    free_ = kNil;
    for (LaneId id = 0; id < lanes_.size(); ++id) {
      Lane& lane = lanes_[id];
      lane.head = lane.tail = kNil;
      if (lane.used && !lane.busy) {
        free_lane(id);
      }
    }
    buffered_ = 0;
    idle_lanes_ = 0;
  }

  std::size_t buffered() const { return buffered_; }
  std::size_t in_flight() const { return in_flight_; }
  // kKey: lanes held, busy, waiting or idle (for tests of the bound).
  std::size_t lanes() const { return index_.size(); }

 private:
  static constexpr std::uint32_t kNil = UINT32_MAX;
  // Lanes with nothing buffered or in flight kept for their keys' next records.
  static constexpr std::size_t kKeptIdleLanes = 1024;

  // kKey: a buffered record, linked into its lane; slots are reused through a free list.
  struct Node {
    T item;
    std::uint32_t next;
  };
  struct Lane {
    std::uint32_t head = kNil;  // Oldest buffered record of the key.
    std::uint32_t tail = kNil;
    bool busy = false;  // A record of this key is in flight.
    bool used = false;  // Holds a key (false: on the free list).
    std::string name;   // Its key in index_ (lane_name()).
  };

  struct LaneHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::uint32_t allocate(T item) {
    if (free_ != kNil) {
      const std::uint32_t node = free_;
      free_ = nodes_[node].next;
      nodes_[node].item = std::move(item);
      nodes_[node].next = kNil;
      return node;
    }
    nodes_.push_back(Node{std::move(item), kNil});
    return static_cast<std::uint32_t>(nodes_.size() - 1);
  }
  void release(std::uint32_t node) {
    nodes_[node].next = free_;
    free_ = node;
  }

  LaneId new_lane(const std::string& name) {
    LaneId id;
    if (!free_lanes_.empty()) {
      id = free_lanes_.back();
      free_lanes_.pop_back();
    } else {
      id = static_cast<LaneId>(lanes_.size());
      lanes_.emplace_back();
    }
    Lane& lane = lanes_[id];
    lane = Lane{};
    lane.used = true;
    lane.name = name;
    index_.emplace(name, id);
    return id;
  }
  void free_lane(LaneId id) {
    Lane& lane = lanes_[id];
    index_.erase(lane.name);
    lane.used = false;
    lane.busy = false;
    free_lanes_.push_back(id);
  }

  // Keyless records share one lane, distinct from every key (the prefix byte tells them apart).
  // Written into a buffer kept for the purpose: no allocation per record once it is grown.
  const std::string& lane_name(std::optional<std::string_view> key) {
    lane_name_.clear();
    lane_name_.push_back(key ? 'k' : 'n');
    if (key) {
      lane_name_.append(*key);
    }
    return lane_name_;
  }

  Ordering ordering_;
  std::size_t buffered_ = 0;
  std::size_t in_flight_ = 0;
  std::deque<T> fifo_;  // kPartition and kNone.
  // kKey: per key, its records in offset order (linked through nodes_). Lanes are slots reused
  // through a free list, found by key through index_; a lane is freed only while idle and empty,
  // never while it is in ready_ or a record of it is in flight (its id is then still held).
  std::vector<Lane> lanes_;
  std::vector<LaneId> free_lanes_;
  std::unordered_map<std::string, LaneId, LaneHash, std::equal_to<>> index_;
  std::vector<Node> nodes_;
  std::uint32_t free_ = kNil;
  std::size_t idle_lanes_ = 0;
  std::deque<LaneId> ready_;  // kKey: lanes whose head may go now.
  std::string lane_name_;
};

}  // namespace switchyard::triggers::kafka
