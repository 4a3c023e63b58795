#pragma once

// Loading function libraries and calling them.
//
// A Function is one loaded version of a function. The scheduler holds it through a FunctionPtr
// (shared) so that a hot swap can point new events at a new version while invocations in flight
// keep the old one alive; the old library is closed when the last reference goes.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/error.h"
#include "core/event.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "switchyard/function.h"

namespace switchyard::environments {
class Zygote;  // environments/zygote.h
}  // namespace switchyard::environments

namespace switchyard::functions {

// What the scheduler tells one invocation. Every view must outlive the invoke() call.
struct InvocationContext {
  std::string_view request_id;
  std::string_view function_name;
  std::string_view trace_parent;
  // time_point::max() means no deadline.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // The wall clock minus the steady clock when the caller read them (wall_offset(); the deadline
  // plus this is the function's wall-clock deadline); zero: read them at the call.
  std::chrono::system_clock::duration wall_offset{0};
  // Set by the scheduler on timeout or shutdown; nullptr means never cancelled.
  const std::atomic<bool>* cancelled = nullptr;
  // For a function that finishes later, set by the scheduler: the function calls it, on the loop
  // thread and before it finishes, with a new deadline when the invocation has to wait for an
  // execution environment to start (at most until the environment's init must be done) and again
  // when it begins; Lambda counts a function's timeout from its invoke phase, apart from an
  // on-demand init. Empty: the deadline stays.
  std::function<void(std::chrono::steady_clock::time_point deadline)> move_deadline;

  bool is_cancelled() const {
    return cancelled != nullptr && cancelled->load(std::memory_order_relaxed);
  }
  // Time left before the deadline (negative once passed; milliseconds::max() without one).
  std::chrono::milliseconds remaining() const;
};

// The wall clock minus the steady clock, with `now` the steady clock's reading: a deadline kept
// on the steady clock plus this is the wall-clock deadline a function is told.
std::chrono::system_clock::duration wall_offset(std::chrono::steady_clock::time_point now);

// One loaded version of a function. It is called in one of two ways, which finishes_later() says:
// - invoke(), thread-safe and noexcept, runs the function to completion on the calling thread (a
//   worker, or the loop for `execution: inline`) and returns its outcome. Every failure,
//   including an exception, comes back as an Outcome of kind kFunctionError. Timeouts are the
//   scheduler's business: the thread is held until the function returns.
// - start() begins an invocation on the loop thread and returns at once; the outcome comes back
//   later through its callback, on the loop thread, and no thread waits meanwhile (a function
//   in an execution environment waits on I/O the loop serves). At its deadline the scheduler
//   calls cancel(), and the function stops it at once, so its slot is free again.
class Function {
 public:
  using Finish = std::function<void(core::Outcome outcome)>;

  virtual ~Function() = default;
  virtual const std::string& name() const = 0;
  virtual core::Outcome invoke(const core::Event& event, const InvocationContext& ctx) noexcept = 0;
  // The same on a view of the event's contents (core::EventView), valid for the call. The
  // default copies it into an Event for the overload above.
  virtual core::Outcome invoke(const core::EventView& event, const InvocationContext& ctx) noexcept;

  // Whether the scheduler calls start() and cancel() instead of invoke().
  virtual bool finishes_later() const { return false; }
  // Begins an invocation; loop thread, finishes_later() functions only. `event` stays valid until
  // `finish` is called or cancel() returns; `ctx` only during the call (copy what is needed).
  // `finish` is called exactly once, on the loop thread, never from inside start(), and never
  // after cancel(). Returns a number that names the invocation to cancel().
  virtual std::uint64_t start(const core::Event& event, const InvocationContext& ctx,
                              Finish finish) noexcept;
  // Ends an invocation that passed its deadline or that shutdown gives up on; loop thread. It
  // frees what the invocation held (stops its environment) before it returns.
  virtual void cancel(std::uint64_t invocation) noexcept;

  using Ready = std::function<void(core::Status status)>;
  // Gets the function ready for its first event (an execution environment's init, and the
  // environments kept warm); loop thread, once, before any start(). `ready` is called once on
  // the loop thread, possibly from inside prepare(); an error (the init's failure) refuses
  // the function. The default is ready at once.
  virtual void prepare(Ready ready) { ready(core::Status::ok_status()); }

  // Stops what the function keeps running between invocations (its execution environments:
  // SIGTERM, then SIGKILL after a grace period, as Lambda's shutdown phase); loop thread, once
  // nothing is in flight (the daemon drained). `stopped` is called once on the loop thread,
  // possibly from inside. The default has nothing to stop.
  virtual void stop(std::function<void()> stopped) { stopped(); }

  // What /functions shows of how it runs, as a JSON object ("" for nothing): the execution
  // environments of a function that has them. Loop thread.
  virtual std::string status_json() const { return {}; }
};

using FunctionPtr = std::shared_ptr<Function>;

struct LoadOptions {
  // Where private copies of libraries are written before dlopen (they are unlinked right after).
  // Empty means std::filesystem::temp_directory_path(). It must not be mounted noexec.
  std::filesystem::path scratch_dir;
  // What a function in execution environments needs (environments/): the loop that serves
  // their Runtime API and the registry of their metrics. Without them (`switchyard validate`)
  // such a function cannot be loaded.
  core::Loop* loop = nullptr;
  core::MetricsRegistry* metrics = nullptr;
  // AWS_REGION for environments, and with the account their function's ARN.
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // The program that starts an environment (switchyard-environment); empty: the one next to
  // the running executable.
  std::filesystem::path environment_program;
  // The python3 runtime's client (the folder holding bootstrap.py); empty: the one installed
  // with the running executable (environments/python_runtime.h).
  std::filesystem::path python_runtime;
  // Where functions keep files between runs: unpacked .zip packages (code/) and each
  // function's scratch folder (tmp/<name>, its TMPDIR). Empty: a folder in the temp directory.
  std::filesystem::path state_dir;
  // Starts environments as copies of one already started (environments/zygote.h); null: each
  // is spawned.
  std::shared_ptr<environments::Zygote> zygote;
};

// A function in a shared object speaking the C ABI of <switchyard/function.h>.
class LibraryFunction final : public Function {
 public:
  // Loads a private copy of the library the manifest names (functions/native.h) (so that a changed
  // file can later be loaded beside this one: dlopen caches by path), checks the ABI version, looks
  // up the symbols, and calls switchyard_init with the manifest's env and config. Every failure is
  // a kLoad error naming the function and the library. Call from any thread; loads may run
  // concurrently.
  static core::Result<std::shared_ptr<LibraryFunction>> load(
      const config::FunctionManifest& manifest, const LoadOptions& options = {});

  // Calls switchyard_shutdown (if exported), then closes the library. Runs on whichever thread
  // drops the last reference, which must not be inside an invocation of this function.
  ~LibraryFunction() override;

  LibraryFunction(const LibraryFunction&) = delete;
  LibraryFunction& operator=(const LibraryFunction&) = delete;

  const std::string& name() const override { return name_; }
  const std::filesystem::path& library() const { return library_; }
  core::Outcome invoke(const core::Event& event, const InvocationContext& ctx) noexcept override;
  core::Outcome invoke(const core::EventView& event,
                       const InvocationContext& ctx) noexcept override;

 private:
  // Calls the library with an event already in the ABI's shape.
  core::Outcome call(const sy_event& raw_event, const InvocationContext& ctx) noexcept;

  // Owns a dlopen handle: closes it with dlclose.
  struct LibraryCloser {
    void operator()(void* handle) const noexcept;
  };
  using LibraryHandle = std::unique_ptr<void, LibraryCloser>;

  LibraryFunction(std::string name, std::filesystem::path library, LibraryHandle handle,
                  sy_handle_fn handle_fn, sy_shutdown_fn shutdown_fn)
      : name_(std::move(name)),
        library_(std::move(library)),
        handle_(std::move(handle)),
        handle_fn_(handle_fn),
        shutdown_fn_(shutdown_fn) {}

  std::string name_;
  std::filesystem::path library_;
  LibraryHandle handle_;
  sy_handle_fn handle_fn_;
  sy_shutdown_fn shutdown_fn_;  // nullptr when the library exports none.
};

// A function implemented in-process by a callable, for tests and benchmarks. An exception
// escaping the callable becomes a kFunctionError outcome, as for a library.
class CallableFunction final : public Function {
 public:
  using Callable = std::function<core::Outcome(const core::Event&, const InvocationContext&)>;

  CallableFunction(std::string name, Callable callable)
      : name_(std::move(name)), callable_(std::move(callable)) {}

  const std::string& name() const override { return name_; }
  using Function::invoke;
  core::Outcome invoke(const core::Event& event, const InvocationContext& ctx) noexcept override;

 private:
  std::string name_;
  Callable callable_;
};

}  // namespace switchyard::functions
