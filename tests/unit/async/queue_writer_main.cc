// The child of queue_store_test's kill -9 test: appends records to the queue at argv[1] from
// four threads without end, and writes the id of each record reported durable to stdout, one
// line each, as soon as it is reported; its counters go to stderr every half second. The test
// kills it with SIGKILL at a random moment.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "async/queue_store.h"

namespace {

void write_line(const std::string& text) {
  std::string line = text + "\n";
  // One write(2) per line, unbuffered: a line written is in the pipe when the kill comes.
  const char* at = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, at, left);
    if (n <= 0) {
      return;
    }
    at += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using switchyard::async::QueueStore;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s QUEUE_FILE\n", argv[0]);
    return 2;
  }
  QueueStore::Options options;
  options.default_limits = {1'000'000, 1ull << 34};
  auto store = QueueStore::open(argv[1], options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 1;
  }
  std::atomic<int> in_flight{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0;; ++n) {
        // Enough in flight to make batches, not so much that memory grows without bound.
        while (in_flight.load() > 2000) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        switchyard::async::Record record;
        record.id = "w" + std::to_string(t) + "-" + std::to_string(n);
        record.function = "fn" + std::to_string(t % 2);
        record.event.id = record.id;
        record.event.source = "test";
        record.event.data.assign(512 + (n % 7) * 100, static_cast<char>('a' + t));
        record.enqueued_at_ms = n;
        ++in_flight;
        std::string id = record.id;
        (*store)->append(record, [&in_flight, id](const switchyard::async::AppendResult& result) {
          if (result.durable()) {
            write_line(id);
          }
          --in_flight;
        });
      }
    });
  }
  // Its counters on stderr, for a person watching how many records a commit carries.
  threads.emplace_back([&] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto stats = (*store)->stats();
      std::fprintf(stderr, "records %llu commits %llu\n",
                   static_cast<unsigned long long>(stats.records_written),
                   static_cast<unsigned long long>(stats.commits));
    }
  });
  for (auto& thread : threads) {
    thread.join();
  }
  return 0;
}
