// libFuzzer target over the admin listener: the bytes a client sends go through the real server
// to the Lambda API's routes (names, qualifiers, paging parameters, the read operations, Invoke),
// /functions, /metrics and the health routes. The first byte picks the listener: one without
// keys (every route reached) or one with access keys (Signature Version 4 checks first). It must
// answer or close without crashing, leaking or hanging.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "config/config.h"
#include "connection_driver.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "daemon/admin.h"
#include "scheduler/dead_letter.h"
#include "scheduler/scheduler.h"
#include "scheduler/worker_pool.h"

using namespace switchyard;

namespace {

// A function whose code is one small file, so that GetFunction has a digest to compute.
struct FuzzRuntime final : config::SettingsOf<FuzzRuntime, config::RuntimeSettings> {
  std::filesystem::path file;
  std::vector<std::filesystem::path> code_files() const override { return {file}; }
  std::string describe() const override { return file.string(); }
  config::RuntimeSummary summary() const override { return {"app.handler", 128 << 20}; }
  bool operator==(const FuzzRuntime&) const = default;
};

struct NoDeadLetters final : scheduler::DeadLetterSink {
  void send(const scheduler::DeadLetter&, std::function<void(core::Status)> done) override {
    done(core::Status());
  }
};

struct Harness {
  core::Loop loop;
  core::MetricsRegistry metrics;
  NoDeadLetters dead_letters;
  scheduler::WorkerPool pool{scheduler::PoolOptions{1, 1}};
  scheduler::Scheduler scheduler{loop, pool, metrics, dead_letters};
  config::Snapshot open_snapshot;    // No keys.
  config::Snapshot signed_snapshot;  // Access keys.
  std::unique_ptr<daemon::AdminListener> open;
  std::unique_ptr<daemon::AdminListener> signed_only;
};

Harness* harness = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();
  std::filesystem::path code = std::filesystem::temp_directory_path() / "admin-fuzzer-code.py";
  std::ofstream(code) << "def handler(event, context):\n    return event\n";
  config::Snapshot& snapshot = harness->open_snapshot;
  snapshot.daemon.admin.address = "127.0.0.1";
  snapshot.daemon.admin.port = 0;
  snapshot.daemon.limits.max_body_bytes = 16384;
  snapshot.daemon.limits.header_timeout = std::chrono::milliseconds(200);
  snapshot.daemon.limits.idle_timeout = std::chrono::milliseconds(200);
  snapshot.daemon.state_dir = std::filesystem::temp_directory_path();
  for (const char* name : {"hello", "thumb", "a.b-c_d"}) {
    config::FunctionManifest manifest;
    manifest.name = name;
    auto runtime = std::make_shared<FuzzRuntime>();
    runtime->file = code;
    manifest.code = runtime;
    snapshot.functions.push_back(std::move(manifest));
  }
  harness->signed_snapshot = snapshot;
  harness->signed_snapshot.daemon.admin.keys.push_back({"ops", "ops-secret", {}});
  harness->signed_snapshot.daemon.admin.keys.push_back({"ci", "ci-secret", {"hello"}});
  // No durable queue: an asynchronous Invoke is refused (503) rather than written to disk.
  harness->open = std::make_unique<daemon::AdminListener>(
      harness->loop, harness->open_snapshot, harness->scheduler, harness->metrics, nullptr);
  harness->signed_only = std::make_unique<daemon::AdminListener>(
      harness->loop, harness->signed_snapshot, harness->scheduler, harness->metrics, nullptr);
  for (daemon::AdminListener* admin : {harness->open.get(), harness->signed_only.get()}) {
    if (!admin->listen().ok()) {
      std::abort();
    }
    admin->set_ready(true);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  daemon::AdminListener& admin = (data[0] & 1) != 0 ? *harness->signed_only : *harness->open;
  fuzz::drive_connection(harness->loop, admin.port(), data + 1, size - 1);
  return 0;
}
