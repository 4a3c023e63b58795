#include "core/loop_queue.h"

#include <doctest/doctest.h>

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
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&queue, t] {
      std::vector<int> batch;
      for (int i = 0; i < 2500; ++i) {
        if (i % 2 == 0) {
          queue.push(t * 10000 + i);
        } else {
          batch.push_back(t * 10000 + i);
          queue.push_many(batch);
        }
      }
    });
  }
  for (auto& producer : producers) {
    producer.join();
  }
  REQUIRE(switchyard::testing::run_until(loop, [&] { return received.size() == 10000; }));
  CHECK(drained_on == std::this_thread::get_id());
  std::sort(received.begin(), received.end());
  CHECK(std::adjacent_find(received.begin(), received.end()) == received.end());
}
