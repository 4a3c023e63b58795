// Execution environments, measured through the EnvironmentFunction the daemon uses, with a
// native library in switchyard-environment (`isolation: process`) and with the python3 runtime
// (bench/python/app.py, the handler of the Python benchmark):
// - BM_ColdStart: spawn to ready (answered:0: the Init Duration the daemon reports with the
//   first invocation, from the spawn to the runtime's first `next`, as Lambda's REPORT line) or
//   load to the answer of the first invocation (answered:1), one environment at a time (manual
//   time); each environment spawned (zygote:0) or, as the daemon starts them, cloned from the
//   environment zygote (zygote:1).
// - BM_RoundTrip: one warm environment, one invocation at a time: start() to finish, the
//   Runtime API's next answer, the function, and its POST back; what isolation costs an
//   invocation over the in-process call, and for Python what switchyard and its runtime client
//   add around the handler.
// - BM_SocketPairRoundTrip: the floor under BM_RoundTrip on this machine: two processes passing
//   as many bytes as a `next` answer and a pipelined POST + GET over a Unix socketpair, with
//   nothing else (no HTTP, no loop, no function). BM_RoundTrip minus this is what the Runtime
//   API itself costs an invocation; this is what the kernel's two wake-ups cost.
//
// Usage: environment_bench [--benchmark_repetitions=N]; run by bench/environments.sh.

#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/event.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "environments/isolated_native.h"
#include "environments/python_runtime.h"
#include "environments/zygote.h"
#include "functions/loader.h"
#include "functions/native.h"
#include "functions/runtime.h"

namespace {

using namespace switchyard;

config::FunctionManifest manifest() {
  config::FunctionManifest manifest;
  manifest.name = "hello";
  auto settings = std::make_shared<functions::NativeSettings>();
  settings->library = std::string(SWITCHYARD_EXAMPLES_LIB) + "/libhello.so";
  settings->isolation = functions::Isolation::kProcess;
  manifest.code = settings;
  manifest.config_json = "{}";
  return manifest;
}

enum Runtime : int { kNative = 0, kPython = 1 };

config::FunctionManifest python_manifest() {
  config::FunctionManifest manifest;
  manifest.name = "greet";
  manifest.runtime = "python3";
  auto settings = std::make_shared<environments::PythonSettings>();
  settings->interpreter = "/usr/bin/python3";
  settings->handler = "app.lambda_handler";
  settings->code = SWITCHYARD_PYTHON_BENCH_CODE;
  manifest.code = settings;
  return manifest;
}

functions::FunctionPtr load(core::Loop& loop, core::MetricsRegistry& metrics, Runtime runtime,
                            std::shared_ptr<environments::Zygote> zygote = nullptr) {
  functions::LoadOptions options;
  options.loop = &loop;
  options.metrics = &metrics;
  options.zygote = std::move(zygote);
  options.environment_program = SWITCHYARD_ENVIRONMENT_PROGRAM;
  options.python_runtime = SWITCHYARD_PYTHON_RUNTIME;
  core::Result<functions::FunctionPtr> loaded = core::Error(core::ErrorCode::kInternal, "");
  if (runtime == kNative) {
    loaded = environments::load_isolated_native(manifest(), options);
  } else {
    config::Kinds kinds;
    functions::RuntimeRegistry runtimes(kinds);
    environments::register_python_runtime(runtimes);
    loaded = functions::load(runtimes, python_manifest(), options);
  }
  if (!loaded.ok()) {
    return nullptr;
  }
  return std::move(loaded).value();
}

bool prepare(core::Loop& loop, functions::Function& function) {
  std::optional<core::Status> ready;
  function.prepare([&](core::Status status) { ready = std::move(status); });
  while (!ready && loop.run_once()) {
  }
  return ready && ready->ok();
}

core::Event bench_event() {
  core::Event event;
  event.id = "bench";
  event.source = "bench";
  event.type = "bench";
  event.data = R"({"name":"Ada"})";
  return event;
}

// One invocation of `function`, run to its end on `loop`; its outcome (none if the loop
// stopped first).
std::optional<core::Outcome> invoke_once(core::Loop& loop, functions::Function& function,
                                         const core::Event& event) {
  functions::InvocationContext ctx;
  ctx.request_id = "bench-request";
  ctx.function_name = "hello";
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::optional<core::Outcome> result;
  function.start(event, ctx, [&](core::Outcome outcome) { result = std::move(outcome); });
  while (!result && loop.run_once()) {
  }
  return result;
}

// Spawn to ready (answered 0) or load to the answer of the first invocation (answered 1: a
// handler's first call also pays for what Python imports lazily).
void BM_ColdStart(benchmark::State& state) {
  core::Loop loop;
  core::MetricsRegistry metrics;
  const auto runtime = Runtime(state.range(0));
  const bool to_first_answer = state.range(1) != 0;
  std::shared_ptr<environments::Zygote> zygote;
  if (state.range(2) != 0) {
    // The daemon's way: started once, before the first environment (not measured).
    zygote = std::make_shared<environments::Zygote>(loop, SWITCHYARD_ENVIRONMENT_PROGRAM);
    functions::FunctionPtr first = load(loop, metrics, runtime, zygote);
    if (first == nullptr || !prepare(loop, *first) || zygote->pid() == 0) {
      state.SkipWithError("the zygote did not start");
      return;
    }
  }
  const core::Event event = bench_event();
  for (auto _ : state) {
    auto started = std::chrono::steady_clock::now();
    functions::FunctionPtr function = load(loop, metrics, runtime, zygote);
    if (function == nullptr || !prepare(loop, *function)) {
      state.SkipWithError("the environment did not start");
      return;
    }
    std::optional<core::Outcome> first = invoke_once(loop, *function, event);
    auto answered = std::chrono::steady_clock::now();
    if (!first || !first->ok()) {
      state.SkipWithError("the first invocation failed");
      return;
    }
    // Ready: the Init Duration the daemon reports with the first invocation (spawn to the
    // runtime's first `next`). Answered: from load() to the first answer, on this loop.
    state.SetIterationTime(to_first_answer
                               ? std::chrono::duration<double>(answered - started).count()
                               : std::chrono::duration<double>(first->init_duration).count());
    function.reset();  // Killed and reaped: not measured.
    loop.run_nowait();
  }
}
BENCHMARK(BM_ColdStart)
    ->ArgNames({"python", "answered", "zygote"})
    ->ArgsProduct({{kNative, kPython}, {0, 1}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(100);

void BM_RoundTrip(benchmark::State& state) {
  core::Loop loop;
  core::MetricsRegistry metrics;
  functions::FunctionPtr function = load(loop, metrics, Runtime(state.range(0)));
  if (function == nullptr || !prepare(loop, *function)) {
    state.SkipWithError("the environment did not start");
    return;
  }
  const core::Event event = bench_event();
  for (auto _ : state) {
    std::optional<core::Outcome> outcome = invoke_once(loop, *function, event);
    if (!outcome || !outcome->ok()) {
      state.SkipWithError("an invocation failed");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RoundTrip)
    ->ArgName("python")
    ->Arg(kNative)
    ->Arg(kPython)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Sizes as the daemon and switchyard-environment send them for the hello function: the answer
// to `next` (headers and the API Gateway event), and the POST of the result with the GET next
// pipelined behind it.
constexpr std::size_t kNextAnswerBytes = 925;
constexpr std::size_t kAnswerBytes = 340;

void BM_SocketPairRoundTrip(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  // The child only makes system calls (no allocation, no lock): safe after fork() in a process
  // that may have threads.
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    static char buffer[65536];
    for (;;) {
      ssize_t got = recv(fds[1], buffer, sizeof(buffer), 0);
      if (got <= 0 || send(fds[1], buffer, kAnswerBytes, MSG_NOSIGNAL) < 0) {
        _exit(0);
      }
    }
  }
  close(fds[1]);
  std::string out(kNextAnswerBytes, 'x');
  std::string in(65536, '\0');
  for (auto _ : state) {
    std::size_t got = 0;
    if (send(fds[0], out.data(), out.size(), MSG_NOSIGNAL) < 0) {
      state.SkipWithError("send failed");
      break;
    }
    while (got < kAnswerBytes) {
      ssize_t n = recv(fds[0], in.data(), in.size(), 0);
      if (n <= 0) {
        state.SkipWithError("recv failed");
        break;
      }
      got += static_cast<std::size_t>(n);
    }
  }
  close(fds[0]);
  waitpid(child, nullptr, 0);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SocketPairRoundTrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
