#pragma once

// One partition driven as the consumer trigger drives it, for the Kafka trigger's unit tests:
// records read, runs offered to a fake dispatcher, and each answer settled by the partition (the
// completion the trigger sets calls Partition::settle()). No broker: a record is its offset (no
// librdkafka message).

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "tests/unit/triggers/kafka/fake_dispatcher.h"
#include "triggers/kafka/partition.h"

namespace switchyard::triggers::kafka::testing {

inline constexpr std::size_t kCost = 100;

struct PartitionDriver {
  explicit PartitionDriver(Ordering ordering, std::int32_t id = 0)
      : shared(std::make_shared<Partition>(id, ordering)), partition(*shared) {}
  PartitionDriver(const PartitionDriver&) = delete;
  PartitionDriver& operator=(const PartitionDriver&) = delete;

  bool read(std::int64_t offset, std::optional<std::string_view> key = std::nullopt) {
    return partition.take(key, BufferedRecord{MessageHolder(), offset, kCost, nullptr}, now_ms);
  }

  // Takes the partition's next run (at most dispatcher.room records) and offers it. Returns how
  // many the dispatcher took, or nullopt when none could go.
  std::optional<std::size_t> dispatch(scheduler::Dispatcher::RunOrder order) {
    if (!partition.take_run(dispatcher.room, now_ms, scratch, run)) {
      return std::nullopt;
    }
    for (auto& event : run) {
      event.completion = [this](core::Event& event, core::Outcome& outcome) {
        settled.push_back(partition.settle(event, outcome, stopping));
      };
    }
    const std::size_t taken = partition.offer_run(order, run, [this, order](auto events) {
      return dispatcher.dispatch_run("f", events, order);
    });
    return taken;
  }

  // Answers the running record `offset` with `outcome`. Returns how the partition settled it
  // (nullopt when no such record runs).
  std::optional<Settlement> answer(std::uint64_t offset, core::Outcome outcome) {
    if (!dispatcher.answer(offset, std::move(outcome))) {
      return std::nullopt;
    }
    return settled.back();
  }

  std::shared_ptr<Partition> shared;  // As the trigger keeps it (a PartitionMap entry).
  Partition& partition;
  FakeDispatcher dispatcher;
  std::uint64_t now_ms = 1000;
  bool stopping = false;
  std::vector<BufferedRecord> scratch;
  std::vector<core::Event> run;
  std::vector<Settlement> settled;
};

}  // namespace switchyard::triggers::kafka::testing
