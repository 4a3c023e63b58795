// The pull-source base against a dispatcher the test controls: staged events go in order, a
// batch window flushes a partial batch, refused events are put back in front and go again in
// order, rejected ones are handed back, and completions after the source is gone do nothing (but
// let go of their unbuilt contents before what the guard kept).

#include "triggers/pull_source.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "support/run_until.h"

// Counts allocations, so that a test can check that a path makes none.
namespace {
std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::run_until;
using triggers::PullSource;

namespace {

// Admits what the test says and holds the admitted events, so that the test completes them.
class FakeDispatcher final : public scheduler::Dispatcher {
 public:
  scheduler::Admission dispatch(std::string_view, core::Event&& event) override {
    offered.push_back(event.id);
    if (next != scheduler::Admission::kStarted) {
      return next;  // The event is left as it was.
    }
    held.push_back(std::move(event));
    return next;
  }
  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&& items,
                                      scheduler::BatchEncoder) override {
    std::string ids;
    for (const auto& item : items) {
      ids += (ids.empty() ? "" : ",") + item.id;
    }
    offered.push_back(ids);
    if (next != scheduler::Admission::kStarted) {
      return next;
    }
    for (auto& item : items) {
      held.push_back(std::move(item));
    }
    items.clear();
    return next;
  }
  std::size_t dispatch_run(std::string_view, std::span<core::Event> events, RunOrder) override {
    std::size_t taken = std::min(events.size(), run_takes);
    for (std::size_t i = 0; i < taken; ++i) {
      offered.push_back(events[i].id);
      held.push_back(std::move(events[i]));
    }
    return taken;
  }
  std::size_t run_room(std::string_view) const override { return 32; }
  std::size_t capacity(std::string_view) const override { return free; }
  std::chrono::seconds retry_after(std::string_view) const override { return 1s; }
  std::size_t watch_capacity(std::string_view, std::function<void()> on_capacity) override {
    watcher = std::move(on_capacity);
    return 7;
  }
  void unwatch_capacity(std::size_t id) override {
    CHECK(id == 7);
    watcher = nullptr;
  }

  // As the scheduler does, every admitted event is answered once: those a test left are answered
  // rejected as it ends, after their source is gone.
  ~FakeDispatcher() override {
    while (!held.empty()) {
      complete(core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown", "test over"));
    }
  }

  // Completes the oldest held event.
  void complete(core::Outcome outcome = core::Outcome()) {
    core::Event event = std::move(held.front());
    held.pop_front();
    event.completion(event, outcome);
  }

  scheduler::Admission next = scheduler::Admission::kStarted;
  std::size_t run_takes = 1000;
  std::size_t free = 10;
  std::vector<std::string> offered;
  std::deque<core::Event> held;
  std::function<void()> watcher;
};

// Records what the PullSource hands back.
class FakeOwner final : public PullSource::Owner {
 public:
  void completed(core::Event& event, core::Outcome&, void* context) override {
    done.push_back(event.id);
    contexts.push_back(context);
  }
  void rejected(std::vector<core::Event> events) override {
    for (auto& event : events) {
      given_back.push_back(event.id);
    }
  }
  void throttled() override { ++throttles; }
  void capacity_returned() override { ++capacity_calls; }

  std::vector<std::string> done;
  std::vector<void*> contexts;
  std::vector<std::string> given_back;
  int throttles = 0;
  int capacity_calls = 0;
};

core::Event event(std::string id) {
  core::Event event;
  event.id = std::move(id);
  return event;
}

using Ids = std::vector<std::string>;

struct Fixture {
  std::unique_ptr<PullSource> make(PullSource::Options options) {
    options.function = function;
    auto source = std::make_unique<PullSource>(loop, dispatcher, std::move(options), owner);
    source->start();
    return source;
  }

  const std::string function = "f";
  core::Loop loop;
  FakeDispatcher dispatcher;
  FakeOwner owner;
};

}  // namespace

TEST_CASE("staged events are dispatched in order and complete through the owner") {
  Fixture f;
  auto source = f.make({});
  int context = 0;
  for (const char* id : {"a", "b", "c"}) {
    source->stage(event(id), &context);
  }
  CHECK(source->staged() == 3);
  CHECK(f.dispatcher.offered.empty());  // Nothing goes before a flush.
  source->flush(false);
  CHECK(f.dispatcher.offered == Ids{"a", "b", "c"});
  CHECK(source->staged() == 0);
  CHECK(source->in_flight() == 3);
  CHECK(source->state() == PullSource::State::kIdle);

  f.dispatcher.complete();
  f.dispatcher.complete();
  CHECK(f.owner.done == Ids{"a", "b"});
  CHECK(f.owner.contexts.front() == &context);
  CHECK(source->in_flight() == 1);
}

TEST_CASE("a batch window flushes a partial batch") {
  Fixture f;
  PullSource::Options options;
  options.mode = PullSource::Mode::kBatch;
  options.batch = 3;
  options.batch_window = 20ms;
  auto source = f.make(options);
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    source->stage(event(id));
  }
  source->flush(false);
  // The whole batch goes at once; the partial one waits for its window.
  CHECK(f.dispatcher.offered == Ids{"a,b,c"});
  CHECK(source->state() == PullSource::State::kWindow);
  CHECK(source->staged() == 2);

  REQUIRE(run_until(
      f.loop, [&] { return f.dispatcher.offered.size() == 2; }, 2s));
  CHECK(f.dispatcher.offered == Ids{"a,b,c", "d,e"});
  CHECK(source->state() == PullSource::State::kIdle);
  CHECK(source->in_flight() == 5);
}

TEST_CASE("a throttled event is put back in front and offered again in order on capacity") {
  Fixture f;
  auto source = f.make({});
  source->stage(event("a"));
  source->stage(event("b"));
  f.dispatcher.next = scheduler::Admission::kThrottled;
  source->flush(false);
  CHECK(f.dispatcher.offered == Ids{"a"});  // It stops at the first refusal.
  CHECK(source->state() == PullSource::State::kThrottled);
  CHECK(f.owner.throttles == 1);
  CHECK(source->staged() == 2);
  CHECK(source->in_flight() == 0);

  source->stage(event("c"));  // Read meanwhile: it goes after those put back.
  f.dispatcher.next = scheduler::Admission::kStarted;
  REQUIRE(f.dispatcher.watcher);
  f.dispatcher.watcher();  // The function has capacity again.
  CHECK(f.dispatcher.offered == Ids{"a", "a", "b", "c"});
  CHECK(source->state() == PullSource::State::kIdle);
  CHECK(f.owner.capacity_calls == 1);
  CHECK(source->in_flight() == 3);
}

TEST_CASE("a run the function takes in part leaves the rest in front, in order") {
  Fixture f;
  PullSource::Options options;
  options.mode = PullSource::Mode::kRun;
  options.batch = 32;
  auto source = f.make(options);
  for (const char* id : {"a", "b", "c", "d"}) {
    source->stage(event(id));
  }
  f.dispatcher.run_takes = 2;
  source->flush(false);
  CHECK(f.dispatcher.offered == Ids{"a", "b"});
  CHECK(source->state() == PullSource::State::kThrottled);
  CHECK(source->in_flight() == 2);

  f.dispatcher.run_takes = 1000;
  f.dispatcher.watcher();
  CHECK(f.dispatcher.offered == Ids{"a", "b", "c", "d"});
  CHECK(source->in_flight() == 4);
}

TEST_CASE("an owner with its own staging offers a run and keeps what was not taken") {
  // As Kafka would: a buffer per partition, the partition as the completions' context.
  Fixture f;
  PullSource::Options options;
  options.mode = PullSource::Mode::kRun;
  options.batch = 32;
  auto source = f.make(options);
  int partition = 0;
  std::vector<core::Event> buffer;
  for (const char* id : {"a", "b", "c"}) {
    buffer.push_back(event(id));
    buffer.back().completion = source->completion(&partition);
  }
  f.dispatcher.run_takes = 2;
  const PullSource::Offered offered = source->offer(buffer);
  CHECK(offered.taken == 2);
  CHECK(offered.admission == scheduler::Admission::kThrottled);
  CHECK(buffer[2].id == "c");  // Left as it was.
  CHECK(source->in_flight() == 2);
  CHECK(source->staged() == 0);

  f.dispatcher.complete();
  CHECK(f.owner.done == Ids{"a"});
  REQUIRE(f.owner.contexts.size() == 1);
  CHECK(f.owner.contexts[0] == &partition);
  CHECK(source->in_flight() == 1);
}

TEST_CASE("rejected events are handed back to the owner, in order, and not offered again") {
  Fixture f;
  auto source = f.make({});
  for (const char* id : {"a", "b", "c"}) {
    source->stage(event(id));
  }
  f.dispatcher.next = scheduler::Admission::kRejected;
  source->flush(false);
  CHECK(f.owner.given_back == Ids{"a", "b", "c"});
  CHECK(source->staged() == 0);
  CHECK(source->in_flight() == 0);
  f.dispatcher.next = scheduler::Admission::kStarted;
  source->flush(true);
  CHECK(f.dispatcher.offered == Ids{"a"});
}

TEST_CASE("stop hands back what is staged and offers nothing more") {
  Fixture f;
  auto source = f.make({});
  source->stage(event("a"));
  source->flush(false);
  source->stage(event("b"));
  source->stage(event("c"));
  std::vector<core::Event> back = source->stop();
  REQUIRE(back.size() == 2);
  CHECK(back[0].id == "b");
  CHECK(back[1].id == "c");
  CHECK(source->state() == PullSource::State::kStopped);
  source->stage(event("d"));
  source->flush(true);
  CHECK(f.dispatcher.offered == Ids{"a"});
  // What is in the scheduler still completes.
  f.dispatcher.complete();
  CHECK(f.owner.done == Ids{"a"});
}

TEST_CASE("a completion arriving after the source is gone does nothing") {
  Fixture f;
  auto source = f.make({});
  source->stage(event("a"));
  source->stage(event("b"));
  source->flush(false);
  REQUIRE(f.dispatcher.held.size() == 2);
  f.dispatcher.complete();
  CHECK(f.owner.done == Ids{"a"});

  source.reset();
  CHECK(!f.dispatcher.watcher);  // It stopped watching capacity.
  f.dispatcher.complete();       // Must not reach the owner (nor crash).
  CHECK(f.owner.done == Ids{"a"});
}

TEST_CASE("a guarded completion costs no allocation, counts, keeps and detaches") {
  struct Probe final : triggers::CompletionGuard::Target {
    void completed(core::Event&, core::Outcome&, void*) override { ++calls; }
    int calls = 0;
  } probe;
  core::Completion completion;
  {
    triggers::CompletionGuard guard(probe);
    // The hot path makes one completion per event: neither making nor moving it allocates.
    const std::size_t before = allocations;
    completion = guard.completion(&probe);
    core::Completion moved = std::move(completion);
    completion = std::move(moved);
    CHECK(allocations == before);

    guard.expect(2);
    core::Event e;
    core::Outcome outcome;
    completion(e, outcome);
    CHECK(probe.calls == 1);
    CHECK(guard.outstanding() == 1);
    // What late completions point at lives until they are all in; forget() lets it go.
    auto kept = std::make_shared<int>(5);
    guard.keep(kept);
    std::weak_ptr<int> watch = kept;
    kept.reset();
    CHECK(!watch.expired());
    guard.forget(watch.lock().get());
    CHECK(watch.expired());
  }
  core::Event e;
  core::Outcome outcome;
  completion(e, outcome);  // The guard is gone: nothing reaches the target; the block is freed.
  CHECK(probe.calls == 1);
}

TEST_CASE("an owner's typed completion reaches it directly and costs no allocation") {
  Fixture f;
  PullSource::Options options;
  options.mode = PullSource::Mode::kRun;
  auto source = f.make(options);
  int partition = 0;
  std::vector<core::Event> run;
  run.push_back(event("a"));
  const std::size_t before = allocations;
  run.back().completion = source->completion<FakeOwner>(&partition);
  CHECK(allocations == before);
  CHECK(source->offer(run).taken == 1);
  f.dispatcher.complete();
  CHECK(f.owner.done == Ids{"a"});
  REQUIRE(f.owner.contexts.size() == 1);
  CHECK(f.owner.contexts[0] == &partition);
  CHECK(source->in_flight() == 0);
}

TEST_CASE("a late completion lets go of its event's unbuilt contents before what was kept") {
  // As a Kafka client torn down while records were in the scheduler: their unbuilt messages
  // must go before it does.
  static std::vector<std::string> order;
  order.clear();
  static const core::PendingContent::Ops ops{[](void*, core::Event&) {},
                                             [](void*) { order.push_back("message"); }};
  Fixture f;
  PullSource::Options options;
  options.mode = PullSource::Mode::kRun;
  auto source = f.make(options);
  std::vector<core::Event> run;
  for (const char* id : {"a", "b"}) {
    run.push_back(event(id));
    run.back().pending = core::PendingContent(&ops, nullptr);
    run.back().completion = source->completion<FakeOwner>();
  }
  REQUIRE(source->offer(run).taken == 2);
  source->keep(std::shared_ptr<void>(&order, [](void*) { order.push_back("client"); }));
  source.reset();
  CHECK(order.empty());
  f.dispatcher.complete();
  CHECK(order == std::vector<std::string>{"message"});
  f.dispatcher.complete();
  CHECK(order == std::vector<std::string>{"message", "message", "client"});
  CHECK(f.owner.done.empty());
}
