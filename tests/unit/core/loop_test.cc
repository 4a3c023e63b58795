#include "core/loop.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;

TEST_CASE("a timer fires once, then the loop ends and closes cleanly") {
  int fired = 0;
  {
    core::Loop loop;
    core::Timer timer(loop, [&] { ++fired; });
    timer.start(1ms);
    CHECK(timer.active());
    loop.run();
    CHECK(fired == 1);
    CHECK_FALSE(timer.active());
  }
  CHECK(fired == 1);
}

TEST_CASE("a repeating timer can stop itself") {
  core::Loop loop;
  int fired = 0;
  std::unique_ptr<core::Timer> timer;
  timer = std::make_unique<core::Timer>(loop, [&] {
    if (++fired == 3) {
      timer->stop();
    }
  });
  timer->start(1ms, 1ms);
  loop.run();
  CHECK(fired == 3);
}

TEST_CASE("a handle's owner may be destroyed inside the handle's own callback") {
  core::Loop loop;
  int fired = 0;
  std::unique_ptr<core::Timer> timer;
  timer = std::make_unique<core::Timer>(loop, [&] {
    ++fired;
    timer.reset();  // The uv handle is closed now and freed in its close callback.
  });
  timer->start(1ms);
  loop.run();
  CHECK(fired == 1);
  CHECK(timer == nullptr);
}

TEST_CASE("a timer destroyed before it fires never calls back") {
  core::Loop loop;
  int fired = 0;
  {
    core::Timer timer(loop, [&] { ++fired; });
    timer.start(1ms);
  }
  loop.run();
  CHECK(fired == 0);
}

TEST_CASE("async wake-ups from other threads coalesce and all arrive") {
  core::Loop loop;
  std::atomic<int> sent{0};
  int wakeups = 0;
  core::Async async(loop, [&] { ++wakeups; });
  std::thread sender([&] {
    for (int i = 0; i < 1000; ++i) {
      async.send();
      sent.fetch_add(1);
    }
  });
  sender.join();
  REQUIRE(switchyard::testing::run_until(loop, [&] { return wakeups > 0; }));
  CHECK(wakeups >= 1);
  CHECK(wakeups <= 1000);
}

TEST_CASE("deferred tasks run after the current callback, in order") {
  core::Loop loop;
  std::vector<int> order;
  core::Timer timer(loop, [&] {
    loop.defer([&] { order.push_back(2); });
    loop.defer([&] { order.push_back(3); });
    order.push_back(1);
  });
  timer.start(0ms);
  loop.run();
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("BeforeWait runs once for a turn's requests, again if asked, never when cancelled") {
  core::Loop loop;
  int ran = 0;
  core::BeforeWait once(loop, [&] { ++ran; });
  core::Timer timer(loop, [&] {
    once.request();
    once.request();
    once.request();
    CHECK(once.requested());
  });
  timer.start(1ms);
  loop.run();  // Ends: nothing is left once the request has run.
  CHECK(ran == 1);
  CHECK_FALSE(once.requested());

  // Requested again from its own callback: it runs again (in a later check or prepare phase).
  int again = 0;
  std::unique_ptr<core::BeforeWait> chained;
  chained = std::make_unique<core::BeforeWait>(loop, [&] {
    if (++again < 3) {
      chained->request();
    }
  });
  chained->request();
  REQUIRE(switchyard::testing::run_until(
      loop, [&] { return again == 3; }, 2s));

  // Cancelled before the loop turns: never runs.
  ran = 0;
  once.request();
  once.cancel();
  loop.run();
  CHECK(ran == 0);
}
