#include "core/loop_queue.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "support/run_until.h"

using namespace switchyard;

TEST_CASE("items pushed from many threads all reach the loop thread, each once") {
  core::Loop loop;
  std::vector<int> received;
  std::thread::id drained_on;
  core::LoopQueue<int> queue(loop, [&](std::vector<int>& items) {
    drained_on = std::this_thread::get_id();
    received.insert(received.end(), items.begin(), items.end());
  });
  std::atomic<std::size_t> kept{0};  // Items left in a producer's vector after a push.
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&queue, &kept, t] {
      // Batches of up to three: the queue takes them and empties the producer's vector.
      std::vector<int> batch;
      for (int i = 0; i < 2500; ++i) {
        batch.push_back(t * 10000 + i);
        if (i % 3 == t % 3 || i == 2499) {
          queue.push_many(batch);
          kept += batch.size();
        }
      }
    });
  }
  for (auto& producer : producers) {
    producer.join();
  }
  REQUIRE(switchyard::testing::run_until(loop, [&] { return received.size() == 10000; }));
  CHECK(kept == 0);
  CHECK(drained_on == std::this_thread::get_id());
  std::sort(received.begin(), received.end());
  CHECK(std::adjacent_find(received.begin(), received.end()) == received.end());
}
