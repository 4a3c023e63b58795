// The dispatch path, end to end: admission, the invocation (on a worker or inline), and the
// completion back on the loop thread, with a function that does nothing. What is measured is
// the router's own cost per event, the floor under every trigger.
//
// Both benchmarks report items_per_second over wall-clock time (UseRealTime): the loop thread
// sleeps in epoll while workers run, so its CPU time would overstate the rate.

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/event.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "functions/loader.h"
#include "scheduler/dead_letter.h"
#include "scheduler/scheduler.h"
#include "scheduler/worker_pool.h"

namespace {

using namespace switchyard;
using namespace std::chrono_literals;
using scheduler::Admission;

constexpr char kFunction[] = "noop";
// Events per iteration of BM_DispatchPooled: enough to keep every worker busy, well below the
// function's capacity so that nothing throttles.
constexpr int kBatch = 1024;
constexpr int kConcurrency = 256;
constexpr int kQueue = 100000;
// A small payload, as a webhook or a queue message would carry. 16 bytes is one more than
// std::string's small buffer, so it costs the allocation a real payload costs.
const core::Bytes kPayload(16, 'x');

// Context switches of the whole process (every thread) so far. Each one is a worker or the loop
// going to sleep or being preempted: the cost of wake-ups that items_per_second alone hides.
double context_switches() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw);
}

// The pieces the daemon wires together (as in the scheduler's unit tests), with one no-op
// function. Members are destroyed in reverse order; the pool is stopped first so that no worker
// hands a result to a dead scheduler.
struct Rig {
  Rig(int threads, config::Execution execution)
      : pool(scheduler::PoolOptions{threads, kConcurrency, 5ms, 30s}),
        sched(loop, pool, metrics, dead_letters, "bench") {
    config::FunctionManifest manifest;
    manifest.name = kFunction;
    manifest.concurrency = kConcurrency;
    manifest.queue = kQueue;
    manifest.execution = execution;
    sched.upsert(manifest,
                 std::make_shared<functions::CallableFunction>(
                     kFunction, [](const core::Event&, const functions::InvocationContext&) {
                       return core::Outcome::success(core::Response{});
                     }));
  }
  ~Rig() { pool.stop(); }

  // What a trigger builds for each message: a short id, the payload, and a completion. The
  // completion counts (and checks the outcome, so that a failing path cannot look fast).
  core::Event make_event(std::uint64_t n) {
    core::Event event;
    // The digits go in reverse: still unique, and cheaper than formatting. The id stays within
    // std::string's small buffer, as short source ids do.
    char id[16] = "ev-";
    int length = 3;
    do {
      id[length++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0 && length < 15);
    event.id.assign(id, static_cast<std::size_t>(length));
    event.data = kPayload;
    event.completion = [this](core::Event&, core::Outcome& outcome) {
      ++completed;
      failed += outcome.ok() ? 0 : 1;
    };
    return event;
  }

  core::Loop loop;
  core::MetricsRegistry metrics;
  scheduler::LoggingDeadLetterSink dead_letters;
  scheduler::WorkerPool pool;
  scheduler::Scheduler sched;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t throttled = 0;
};

// Pooled execution: each iteration dispatches a batch and runs the loop until every completion
// has been called. Arg: the pool's core threads.
void BM_DispatchPooled(benchmark::State& state) {
  Rig rig(static_cast<int>(state.range(0)), config::Execution::kPool);
  std::uint64_t next_id = 0;
  double switches_before = context_switches();
  for (auto _ : state) {
    std::uint64_t target = rig.completed + kBatch;
    for (int i = 0; i < kBatch; ++i) {
      core::Event event = rig.make_event(next_id++);
      Admission admission;
      while ((admission = rig.sched.dispatch(kFunction, std::move(event))) ==
             Admission::kThrottled) {
        // The event is still ours: let completions free room, then offer it again.
        ++rig.throttled;
        uv_run(rig.loop.raw(), UV_RUN_NOWAIT);
      }
      if (admission == Admission::kRejected) {
        state.SkipWithError("the scheduler rejected an event");
        return;
      }
    }
    while (rig.completed < target) {
      uv_run(rig.loop.raw(), UV_RUN_ONCE);
    }
  }
  if (rig.failed != 0) {
    state.SkipWithError("some events did not complete ok");
    return;
  }
  double events = static_cast<double>(state.iterations()) * kBatch;
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
  state.counters["csw_per_event"] = (context_switches() - switches_before) / events;
  state.counters["threads_started"] = static_cast<double>(rig.pool.threads_started());
  state.counters["throttled"] = static_cast<double>(rig.throttled);
}
BENCHMARK(BM_DispatchPooled)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

// Inline execution: the function runs on the loop thread and the completion is called before
// dispatch() returns, so events go one at a time.
void BM_DispatchInline(benchmark::State& state) {
  Rig rig(1, config::Execution::kInline);
  std::uint64_t next_id = 0;
  for (auto _ : state) {
    if (rig.sched.dispatch(kFunction, rig.make_event(next_id++)) != Admission::kStarted) {
      state.SkipWithError("an inline event was not started");
      return;
    }
  }
  if (rig.completed != next_id || rig.failed != 0) {
    state.SkipWithError("some events did not complete ok before dispatch returned");
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DispatchInline)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
