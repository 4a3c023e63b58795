#pragma once

// Pending contents for the scheduler's tests: what a source would keep (a payload), and a record
// of who built, viewed, copied or released it. Shared by the contents and the sequence tests.

#include "scheduler_harness.h"

namespace {

// Pending contents for tests: what a source would keep (a payload), and a record of who built or
// released it.
struct PendingLog {
  std::mutex mutex;
  std::vector<std::thread::id> built_on;
  std::vector<std::thread::id> viewed_on;
  std::vector<std::thread::id> copied_on;
  int released = 0;
};

struct TestItem {
  std::string id;
  std::string payload;
  PendingLog* log;
};

core::PendingContent::Ops pending_ops{[](void* raw, core::Event& event) {
                                        std::unique_ptr<TestItem> item(static_cast<TestItem*>(raw));
                                        event.id = item->id;
                                        event.data = item->payload;
                                        std::lock_guard lock(item->log->mutex);
                                        item->log->built_on.push_back(std::this_thread::get_id());
                                      },
                                      [](void* raw) {
                                        std::unique_ptr<TestItem> item(static_cast<TestItem*>(raw));
                                        std::lock_guard lock(item->log->mutex);
                                        ++item->log->released;
                                      }};

// The same contents, offered as a view too (PendingContent::Ops::view and copy).
core::PendingContent::Ops viewable_ops{pending_ops.build, pending_ops.release,
                                       [](void* raw, core::ViewScratch&, core::EventView& view) {
                                         auto* item = static_cast<TestItem*>(raw);
                                         view = core::EventView{};
                                         view.id = item->id;
                                         view.data = item->payload;
                                         std::lock_guard lock(item->log->mutex);
                                         item->log->viewed_on.push_back(std::this_thread::get_id());
                                         return true;
                                       },
                                       [](const void* raw, core::Event& event) {
                                         const auto* item = static_cast<const TestItem*>(raw);
                                         event.id = item->id;
                                         event.data = item->payload;
                                         std::lock_guard lock(item->log->mutex);
                                         item->log->copied_on.push_back(std::this_thread::get_id());
                                       }};

// A function (timeout 100ms, 2 attempts) that blocks past its deadline the first time it gets
// "built-hang" (until `release`: its retry then runs on a copy), fails on "built-fail" (retried,
// then dead-lettered), and answers the data of anything else.
inline void add_hang_or_fail(Harness& h, const std::string& name, int concurrency,
                             std::atomic<bool>& release, std::atomic<int>& hang_calls) {
  auto m = h.manifest(name, concurrency, 10, 100ms);
  m.retry.attempts = 2;
  m.retry.backoff = 10ms;
  h.add(m, [&release, &hang_calls](const core::Event& ev, const auto&) {
    if (ev.data == "built-hang" && hang_calls.fetch_add(1) == 0) {
      while (!release.load()) {
        std::this_thread::sleep_for(1ms);
      }
    }
    if (ev.data == "built-fail") {
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Boom", "no");
    }
    return ok(ev.data);
  });
}

// The data built for `id`: "built-<id>", padded with dots to `size` bytes.
inline std::string built_payload(const std::string& id, std::size_t size = 0) {
  std::string payload = "built-" + id;
  if (payload.size() < size) {
    payload.resize(size, '.');
  }
  return payload;
}

// An event whose id and data are built later; its completion records the id it ends with.
inline core::Event pending_event(Harness& h, PendingLog& log, std::string id, std::uint64_t tag = 0,
                                 std::size_t size = 0, bool viewable = false) {
  core::Event ev = h.event("");
  ev.source_tag = tag;
  ev.pending = core::PendingContent(viewable ? &viewable_ops : &pending_ops,
                                    new TestItem{id, built_payload(id, size), &log});
  return ev;
}

}  // namespace
