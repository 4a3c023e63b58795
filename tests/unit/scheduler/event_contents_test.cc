#include "scheduler/event_contents.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

using switchyard::core::Event;
using switchyard::core::EventView;
using switchyard::core::PendingContent;
using switchyard::core::ViewScratch;
using switchyard::scheduler::EventContents;
using State = EventContents::State;
using Pin = EventContents::Pin;

namespace {

// What a source keeps of an event until it is built: its id and data, and a count of what was
// done with them.
struct Item {
  std::string id;
  std::string data;
  std::atomic<int>* built;
  std::atomic<int>* released;
};

struct Counts {
  std::atomic<int> built{0};
  std::atomic<int> released{0};
  std::atomic<int> copied{0};
};

const PendingContent::Ops kBuildOnly{[](void* raw, Event& event) {
                                       std::unique_ptr<Item> item(static_cast<Item*>(raw));
                                       event.id = item->id;
                                       event.data = item->data;
                                       ++*item->built;
                                     },
                                     [](void* raw) {
                                       std::unique_ptr<Item> item(static_cast<Item*>(raw));
                                       ++*item->released;
                                     }};

const PendingContent::Ops kViewable{kBuildOnly.build, kBuildOnly.release,
                                    [](void* raw, ViewScratch&, EventView& view) {
                                      const auto* item = static_cast<const Item*>(raw);
                                      view = EventView{};
                                      view.id = item->id;
                                      view.data = item->data;
                                      return true;
                                    },
                                    [](const void* raw, Event& event) {
                                      const auto* item = static_cast<const Item*>(raw);
                                      event.id = item->id;
                                      event.data = item->data;
                                    }};

Event pending(Counts& counts, const std::string& id, const PendingContent::Ops& ops = kBuildOnly,
              std::string data = "data") {
  Event event;
  event.pending =
      PendingContent(&ops, new Item{id, std::move(data), &counts.built, &counts.released});
  return event;
}

}  // namespace

TEST_CASE("an event that came built has nothing to guard") {
  Event event;
  event.id = "given";
  event.data = "data";
  EventContents contents;
  contents.reset(event);
  CHECK(contents.state() == State::kGiven);
  CHECK_FALSE(contents.came_pending());
  contents.build(event);
  contents.trim(event);
  CHECK(contents.state() == State::kGiven);
  CHECK(contents.pin(event) == Pin::kPinned);
  CHECK(contents.state() == State::kGiven);
  CHECK_FALSE(contents.unbuilt(event));
  CHECK(event.data == "data");
}

TEST_CASE("pending contents are built once, then trimmed after a success") {
  Counts counts;
  Event event = pending(counts, "e1", kBuildOnly, std::string(8192, 'x'));
  event.subject = "an earlier event's";  // Storage kept from the event before.
  EventContents contents;
  contents.reset(event);
  CHECK(contents.state() == State::kPending);
  CHECK(contents.came_pending());
  CHECK(contents.unbuilt(event));
  contents.build(event);
  CHECK(contents.state() == State::kBuilt);
  CHECK_FALSE(contents.unbuilt(event));
  CHECK(event.id == "e1");
  CHECK(event.subject.empty());  // Nothing of the event before.
  contents.build(event);
  CHECK(counts.built == 1);
  CHECK(contents.came_pending());
  contents.trim(event);
  CHECK(contents.state() == State::kTrimmed);
  CHECK(event.data.capacity() < 8192);  // Large: freed.
  CHECK(event.id == "e1");              // Small: kept.
  CHECK(contents.pin(event) == Pin::kFinished);
  CHECK(counts.released == 0);
}

TEST_CASE("a success on a view lets the contents go unbuilt; the event keeps the view's id") {
  Counts counts;
  Event event = pending(counts, "viewed", kViewable);
  event.data = "an earlier event's";
  EventContents contents;
  contents.reset(event);
  ViewScratch scratch;
  EventView view;
  REQUIRE(contents.start_view(event, scratch, view));
  CHECK(contents.state() == State::kViewed);
  CHECK(view.id == "viewed");
  const std::atomic<bool> cancelled{false};
  contents.end_view(event, view.id, /*failed=*/false, cancelled);
  CHECK(contents.state() == State::kReleased);
  CHECK(event.id == "viewed");
  CHECK_FALSE(event.pending);
  CHECK(contents.unbuilt(event));  // Its data is still the earlier event's.
  CHECK(counts.built == 0);
  CHECK(counts.released == 1);
  CHECK(contents.pin(event) == Pin::kFinished);
}

TEST_CASE("a failure on a view builds the contents, unless the loop went on without them") {
  Counts counts;
  EventContents contents;
  ViewScratch scratch;
  EventView view;
  Event failed = pending(counts, "failed", kViewable);
  contents.reset(failed);
  REQUIRE(contents.start_view(failed, scratch, view));
  const std::atomic<bool> running{false};
  contents.end_view(failed, view.id, /*failed=*/true, running);
  CHECK(contents.state() == State::kBuilt);
  CHECK(failed.data == "data");
  CHECK(counts.built == 1);

  Event cancelled_event = pending(counts, "cancelled", kViewable);
  cancelled_event.id = "kept";
  contents.reset(cancelled_event);
  REQUIRE(contents.start_view(cancelled_event, scratch, view));
  const std::atomic<bool> cancelled{true};
  contents.end_view(cancelled_event, view.id, /*failed=*/true, cancelled);
  CHECK(contents.state() == State::kReleased);
  CHECK(cancelled_event.id == "kept");  // The loop answered it already: nothing is written.
  CHECK(counts.built == 1);
  CHECK(counts.released == 1);
}

TEST_CASE("contents without a view, or that the loop built first, are not viewed") {
  Counts counts;
  EventContents contents;
  ViewScratch scratch;
  EventView view;
  Event build_only = pending(counts, "build-only");
  contents.reset(build_only);
  CHECK_FALSE(contents.start_view(build_only, scratch, view));
  CHECK(contents.state() == State::kPending);

  Event viewable = pending(counts, "viewable", kViewable);
  contents.reset(viewable);
  CHECK(contents.pin(viewable) == Pin::kPinned);  // A timeout before the worker started.
  CHECK(contents.state() == State::kPinned);
  CHECK(counts.built == 1);
  CHECK_FALSE(contents.start_view(viewable, scratch, view));
  contents.build(viewable);  // The worker runs it built.
  contents.trim(viewable);   // Pinned: left as it is for the loop's copy.
  CHECK(contents.state() == State::kPinned);
  CHECK(viewable.data == "data");
  CHECK(counts.built == 1);
}

TEST_CASE("the loop pins built contents, and copies viewed ones while the worker waits") {
  Counts counts;
  EventContents contents;
  Event built = pending(counts, "built");
  contents.reset(built);
  contents.build(built);
  CHECK(contents.pin(built) == Pin::kPinned);
  CHECK(contents.state() == State::kPinned);
  CHECK(contents.pin(built) == Pin::kPinned);

  Event viewed = pending(counts, "viewed", kViewable);
  contents.reset(viewed);
  ViewScratch scratch;
  EventView view;
  REQUIRE(contents.start_view(viewed, scratch, view));
  REQUIRE(contents.pin(viewed) == Pin::kCopy);
  CHECK(contents.state() == State::kCopying);
  std::atomic<bool> ended{false};
  const std::atomic<bool> cancelled{true};
  std::thread worker([&] {
    contents.end_view(viewed, view.id, /*failed=*/false, cancelled);
    ended = true;
  });
  // The worker may not let the contents go while the loop copies them.
  for (int i = 0; i < 1000; ++i) {
    std::this_thread::yield();
  }
  CHECK_FALSE(ended.load());
  Event copy;
  viewed.pending.ops()->copy(viewed.pending.item(), copy);
  contents.end_copy();
  worker.join();
  CHECK(ended.load());
  CHECK(copy.id == "viewed");
  CHECK(contents.state() == State::kReleased);
  CHECK(counts.released == 1);
}

TEST_CASE("a worker and the loop racing to build build once") {
  Counts counts;
  for (int round = 0; round < 200; ++round) {
    Event event = pending(counts, "raced");
    EventContents contents;
    contents.reset(event);
    std::thread worker([&] { contents.build(event); });
    const Pin pin = contents.pin(event);
    worker.join();
    CHECK(pin == Pin::kPinned);
    CHECK(contents.state() == State::kPinned);
    CHECK(event.id == "raced");
  }
  CHECK(counts.built == 200);
  CHECK(counts.released == 0);
}

TEST_CASE("a completion sees an event never built with its identity alone") {
  Counts counts;
  EventContents contents;
  Event event = pending(counts, "unused");
  event.id = "mine";
  event.source_tag = 7;
  event.source = "an earlier event's";
  event.data = "an earlier event's";
  contents.reset(event);
  switchyard::core::Outcome outcome;
  int calls = 0;
  bool pending_kept = false;
  int released_before = 0;
  auto record = [&](Event& done, switchyard::core::Outcome&) {
    ++calls;
    CHECK(done.id == "mine");
    CHECK(done.source_tag == 7);
    CHECK(done.source.empty());
    CHECK(done.data.empty());
    pending_kept = static_cast<bool>(done.pending);
    released_before = counts.released;
  };
  contents.complete(event, record, outcome, /*keep_pending=*/true);
  CHECK(pending_kept);  // Handed back for its source to offer again (then let go with the copy).
  CHECK(released_before == 0);
  CHECK(counts.released == 1);
  CHECK(event.id == "mine");  // The id's storage came back.

  Event again = pending(counts, "unused");
  again.id = "mine";
  again.source_tag = 7;
  again.source = "an earlier event's";
  contents.reset(again);
  contents.complete(again, record, outcome);
  CHECK_FALSE(pending_kept);
  CHECK(released_before == 2);  // Let go before the completion ran.
  CHECK(counts.released == 2);

  Event built;
  built.id = "built";
  built.data = "its own";
  contents.reset(built);
  contents.complete(
      built, [&](Event& done, switchyard::core::Outcome&) { CHECK(done.data == "its own"); },
      outcome);
  CHECK(calls == 2);
}
