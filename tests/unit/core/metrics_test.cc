#include "core/metrics.h"

#include <doctest/doctest.h>

#include <thread>

using namespace switchyard;

TEST_CASE("counters, gauges and histograms render as Prometheus text") {
  core::MetricsRegistry registry;
  auto& requests = registry.counter("demo_requests_total", "Requests served.",
                                    {{"code", "200"}, {"path", "/a\"b"}});
  requests.inc();
  requests.inc(2);
  registry.gauge("demo_depth", "Queue depth.").set(4.5);
  auto& latency = registry.histogram("demo_seconds", "Latency.", {{"fn", "x"}}, {0.1, 1});
  latency.observe(0.05);
  latency.observe(0.5);
  latency.observe(5);
  std::string text = registry.render();
  CHECK(text ==
        "# HELP demo_depth Queue depth.\n"
        "# TYPE demo_depth gauge\n"
        "demo_depth 4.5\n"
        "# HELP demo_requests_total Requests served.\n"
        "# TYPE demo_requests_total counter\n"
        "demo_requests_total{code=\"200\",path=\"/a\\\"b\"} 3\n"
        "# HELP demo_seconds Latency.\n"
        "# TYPE demo_seconds histogram\n"
        "demo_seconds_bucket{fn=\"x\",le=\"0.1\"} 1\n"
        "demo_seconds_bucket{fn=\"x\",le=\"1\"} 2\n"
        "demo_seconds_bucket{fn=\"x\",le=\"+Inf\"} 3\n"
        "demo_seconds_sum{fn=\"x\"} 5.55\n"
        "demo_seconds_count{fn=\"x\"} 3\n");
}

TEST_CASE("the same name and labels give the same metric") {
  core::MetricsRegistry registry;
  auto& a = registry.counter("c_total", "C.", {{"k", "v"}});
  auto& b = registry.counter("c_total", "C.", {{"k", "v"}});
  auto& other = registry.counter("c_total", "C.", {{"k", "w"}});
  CHECK(&a == &b);
  CHECK(&a != &other);
  CHECK_THROWS(registry.gauge("c_total", "C."));
}

TEST_CASE("counter updates from many threads are not lost") {
  core::MetricsRegistry registry;
  auto& counter = registry.counter("n_total", "N.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.inc();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(counter.value() == 40000);
}
