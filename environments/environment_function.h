#pragma once

// A function that runs in execution environments (Lambda's model): a pool of environments
// (environment.h), each a child process taking one invocation at a time, started on demand
// (a cold start), reused while warm, stopped when idle past idle_timeout above
// min_environments, replaced after max_invocations, killed at an invocation's deadline. It is a
// Function that finishes later (functions/loader.h): the scheduler starts invocations on the
// loop and no thread waits for them.
//
// Invocations wait in one FIFO until an environment is idle; an environment is started only
// when more invocations wait than environments are on their way (starting, or answering and
// about to ask for the next). The scheduler bounds invocations in flight by the function's
// concurrency, and so the environments by it too.
//
// An environment whose init fails fails the invocations waiting with the runtime's error; the
// next start is backed off (doubling, up to a minute) and invocations arriving meanwhile fail
// at once with that error, so that a runtime that cannot start is not respawned in a loop.
//
// Thread rules: loop thread only (the scheduler calls start() and cancel() there).

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"
#include "environments/codec.h"
#include "environments/environment.h"
#include "environments/process.h"
#include "functions/environment_settings.h"
#include "functions/loader.h"

namespace switchyard::environments {

// How every environment of a function starts and runs.
struct EnvironmentPlan {
  std::string function_name;
  std::string function_arn;  // Lambda-Runtime-Invoked-Function-Arn.
  // The program, its arguments, working directory and whole environment, but for
  // AWS_LAMBDA_RUNTIME_API and AWS_LAMBDA_LOG_STREAM_NAME, which each environment adds.
  SpawnOptions spawn;
  functions::EnvironmentSettings settings;
  std::shared_ptr<const Codec> codec;
  // The runtime is switchyard-environment, which takes the Runtime API on an inherited Unix
  // socket (cheaper than loopback TCP, and private to it) instead of a port.
  bool socket_pair = false;
  // SIGTERM to SIGKILL when an idle environment is stopped (Lambda's shutdown phase).
  std::chrono::milliseconds stop_grace{2000};
  // Starts environments as copies of one already started; null: each is spawned.
  std::shared_ptr<Zygote> zygote;
};

class EnvironmentFunction final : public functions::Function,
                                  private EnvironmentOwner,
                                  public std::enable_shared_from_this<EnvironmentFunction> {
 public:
  static std::shared_ptr<EnvironmentFunction> make(core::Loop& loop, core::MetricsRegistry& metrics,
                                                   EnvironmentPlan plan);
  // Every environment is killed and reaped.
  ~EnvironmentFunction() override;

  const std::string& name() const override { return plan_.function_name; }
  bool finishes_later() const override { return true; }
  core::Outcome invoke(const core::Event& event,
                       const functions::InvocationContext& ctx) noexcept override;
  std::uint64_t start(const core::Event& event, const functions::InvocationContext& ctx,
                      Finish finish) noexcept override;
  void cancel(std::uint64_t invocation) noexcept override;
  // Starts max(min_environments, 1) environments and is ready when they all are (or fails
  // with the first init failure).
  void prepare(Ready ready) override;
  // Every environment gets SIGTERM, and SIGKILL after stop_grace; `stopped` once all are gone.
  // No environment is started after it.
  void stop(std::function<void()> stopped) override;

  // For /functions and tests.
  struct Counts {
    int starting = 0;
    int idle = 0;  // Warm: waiting for an invocation.
    int busy = 0;  // Working on one, or answering it.
    int stopping = 0;
    std::size_t waiting = 0;  // Invocations waiting for an environment.
  };
  Counts counts() const;
  // {"warm", "busy", "starting", "stopping", "waiting", "cold_starts", "init_ms_last",
  // "stops": {<reason>: n}} for /functions.
  std::string status_json() const override;
  // The pids of the environments' processes (tests check them from /proc).
  std::vector<pid_t> pids() const;

 private:
  EnvironmentFunction(core::Loop& loop, core::MetricsRegistry& metrics, EnvironmentPlan plan);

  struct Waiting {
    Assignment assignment;
    Finish finish;
    // Set only for one that had to wait for an environment to start (its deadline moved):
    // when it began waiting, the caller's deadline, and its InvocationContext::move_deadline.
    std::chrono::steady_clock::time_point queued;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(std::chrono::steady_clock::time_point)> move_deadline;
  };

  // EnvironmentOwner.
  void environment_idle(Environment& environment) override;
  void environment_answered(Environment& environment, const Assignment& assignment,
                            Answer&& answer) override;
  void environment_stopped(Environment& environment, StopReason reason,
                           const Assignment* assignment, RuntimeError&& failure) override;
  void environment_output(Environment& environment, OutputStream stream,
                          std::string_view line) override;

  // Hands waiting invocations to idle environments; starts environments for the rest.
  void dispatch();
  // Starts one environment; false when it could not be spawned (the failure counts as an init
  // failure).
  bool spawn();
  void init_failed(const RuntimeError& failure);
  void fail_waiting(const RuntimeError& failure);
  void sweep_idle();
  void check_prepared();
  // Answers prepare() with `status`, from the loop.
  void answer_prepared(core::Status status);
  void retire(Environment& environment);
  std::string trace_id(std::string_view traceparent);
  // Calls `finish` with `outcome` from the loop, after the current callback.
  void finish_soon(Finish finish, core::Outcome outcome);
  void update_gauges();

  core::Loop& loop_;
  core::MetricsRegistry& metrics_;
  EnvironmentPlan plan_;
  std::vector<std::unique_ptr<Environment>> environments_;
  std::vector<std::unique_ptr<Environment>> retired_;  // Stopped; destroyed after the callback.
  std::deque<Waiting> waiting_;
  std::unordered_map<std::uint64_t, Finish> running_;  // By Assignment::number.
  std::uint64_t next_invocation_ = 0;
  std::uint64_t next_environment_ = 0;

  int init_failures_ = 0;  // In a row.
  std::chrono::steady_clock::duration last_init_{};
  std::array<std::uint64_t, kStopReasons> stops_{};  // By StopReason.
  std::chrono::steady_clock::time_point backoff_until_{};
  RuntimeError last_init_failure_;
  core::Timer backoff_timer_;
  core::Timer idle_timer_;

  Ready prepared_;                 // prepare() waiting for its environments.
  std::function<void()> stopped_;  // stop() waiting for its environments.
  bool stopping_ = false;

  std::mt19937_64 random_;

  Counts published_;  // What update_gauges() last added to the gauges.
  core::Gauge& starting_gauge_;
  core::Gauge& idle_gauge_;
  core::Gauge& busy_gauge_;
  core::Counter& cold_starts_;
  core::Histogram& init_seconds_;
};

}  // namespace switchyard::environments
