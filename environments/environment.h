#pragma once

// One execution environment: a child process running a Lambda runtime, the Runtime API it
// alone may use, and the one invocation it works on at a time. Its life is an explicit state
// machine:
//
//   kStarting --next--> kIdle --invoke()--> kBusy --response/error--> kReturning --next--> kIdle
//       |                 |                 |  ^                          |
//       |                 |            next (the same invocation again)   |
//       |                 |                   |                           |
//       +---- init error, exit, init_timeout, kill(), stop() ------------+--> kStopping
//                                                                              |
//                                                          the process ended --+--> kStopped
//
// The environment tells its owner (the function's pool, environment_pool.h) when it becomes
// idle, when its invocation is answered, and when it has stopped; the owner decides what runs
// where. Every callback comes from a libuv callback, never from inside a call the owner made,
// and none may destroy the environment: the owner destroys a stopped one later (Loop::defer).
//
// Thread rules: loop thread only.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/event.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "environments/process.h"
#include "environments/runtime_api.h"

namespace switchyard::environments {

enum class EnvironmentState { kStarting, kIdle, kBusy, kReturning, kStopping, kStopped };
std::string_view to_string(EnvironmentState state);

// Why an environment stopped: the label of switchyard_environment_stops_total.
enum class StopReason {
  kInitFailure,  // /init/error, an exit before the first `next`, or init_timeout.
  kTimeout,      // Its invocation passed its deadline (or shutdown gave up on it).
  kCrash,        // It exited on its own after init.
  kOutOfMemory,  // It went over its memory limit.
  kIdle,         // Idle longer than idle_timeout above min_environments.
  kRecycled,     // It served max_invocations.
  kShutdown,     // The daemon or the function's version is going away.
};
inline constexpr std::size_t kStopReasons = 7;
std::string_view to_string(StopReason reason);

// One invocation, in the form the Runtime API hands it over.
struct Assignment {
  std::uint64_t number = 0;  // The pool's name for it (Function::cancel()).
  std::string request_id;    // Lambda-Runtime-Aws-Request-Id.
  std::string payload;       // The `next` body.
  std::string content_type;
  std::int64_t deadline_ms = 0;  // Epoch milliseconds: Lambda-Runtime-Deadline-Ms.
  std::string function_arn;      // Lambda-Runtime-Invoked-Function-Arn.
  std::string trace_id;          // Lambda-Runtime-Trace-Id (X-Ray form).
  std::string client_context;    // Lambda-Runtime-Client-Context; "" when none.
  std::string cognito_identity;  // Lambda-Runtime-Cognito-Identity; "" when none.
};

// What a runtime answered for an invocation.
struct Answer {
  bool ok = false;
  std::string body;  // The response (ok).
  std::string content_type;
  RuntimeError error;  // The failure (!ok).
};

class Environment;

class EnvironmentOwner {
 public:
  virtual ~EnvironmentOwner() = default;
  // It waits in `next` (after init, or after answering).
  virtual void environment_idle(Environment& environment) = 0;
  // Its invocation was answered; the environment is kReturning.
  virtual void environment_answered(Environment& environment, const Assignment& assignment,
                                    Answer&& answer) = 0;
  // It has stopped; `assignment` is the invocation it was working on (number 0 when none): the
  // owner fails it with `failure` (unless it asked for the stop itself, kill()).
  virtual void environment_stopped(Environment& environment, StopReason reason,
                                   const Assignment* assignment, RuntimeError&& failure) = 0;
  // A line it wrote on stdout or stderr.
  virtual void environment_output(Environment& environment, OutputStream stream,
                                  std::string_view line) = 0;
};

class Environment final : private RuntimeApiHandler {
 public:
  Environment(core::Loop& loop, core::MetricsRegistry& metrics, EnvironmentOwner& owner,
              std::uint64_t number);
  ~Environment() override;
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // Opens its Runtime API and spawns `spawn` with AWS_LAMBDA_RUNTIME_API added to its
  // environment (with `socket_pair`: on an inherited Unix socket, fd 3, named by
  // SWITCHYARD_RUNTIME_API_FD, for switchyard-environment), through `zygote` when it serves
  // `spawn`; kStarting until its runtime first asks for an invocation or `init_timeout`.
  core::Status start(SpawnOptions spawn, std::chrono::milliseconds init_timeout,
                     bool socket_pair = false, Zygote* zygote = nullptr);

  // Hands an invocation to an idle environment (kIdle -> kBusy). False when its runtime
  // turned out to have gone from `next` (its connection closed): it stays waiting for one.
  bool invoke(Assignment assignment);
  // Stops it now (SIGKILL to its process group). The invocation it works on, if any, is given
  // up: environment_stopped() reports it with no failure to pass on (the caller knows why).
  void kill(StopReason reason);
  // Stops it gracefully: SIGTERM to its group, SIGKILL after `grace`. Only when not kBusy.
  void stop(StopReason reason, std::chrono::milliseconds grace);

  EnvironmentState state() const { return state_; }
  std::uint64_t number() const { return number_; }
  pid_t pid() const { return process_ ? process_->pid() : 0; }
  const Assignment& assignment() const { return assignment_; }
  int invocations() const { return invocations_; }
  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  // Spawn to first `next`; zero until then.
  std::chrono::steady_clock::duration init_duration() const { return init_duration_; }
  const std::string& runtime_api_address() const { return address_; }
  // Keeps `line` among the last kTailBytes of output of the invocation in flight.
  void keep_output(std::string_view line);
  // The output kept since the invocation began (Invoke's LogType: Tail), emptied.
  std::string take_output() { return std::exchange(tail_, std::string()); }

  static constexpr std::size_t kTailBytes = 4096;

 private:
  // RuntimeApiHandler.
  void on_next(http::ResponseSlot slot) override;
  void on_response(std::string_view request_id, std::string&& body, std::string_view content_type,
                   http::ResponseSlot slot) override;
  void on_error(std::string_view request_id, RuntimeError&& error,
                http::ResponseSlot slot) override;
  void on_init_error(RuntimeError&& error, http::ResponseSlot slot) override;
  void on_response_too_large(std::string_view request_id) override;

  // What `next` answers with for `assignment`.
  static http::Response invocation_response(const Assignment& assignment);
  // Whether `request_id` names the invocation in flight; answers the slot when not.
  bool answerable(std::string_view request_id, http::ResponseSlot& slot);
  void answer(Answer&& answer);
  void on_exit(ExitStatus status);
  void begin_stop(StopReason reason, RuntimeError failure);
  bool admit(int fd) const;

  core::Loop& loop_;
  EnvironmentOwner& owner_;
  const std::uint64_t number_;
  EnvironmentState state_ = EnvironmentState::kStarting;
  std::unique_ptr<RuntimeApi> api_;
  std::string address_;
  std::unique_ptr<ChildProcess> process_;
  http::ResponseSlot next_;  // The runtime's pending `next` (kIdle).
  Assignment assignment_;    // kBusy: the invocation; kReturning: the one just answered.
  bool in_flight_ = false;   // assignment_ is unanswered (kill() gives it up).
  StopReason stop_reason_ = StopReason::kShutdown;
  RuntimeError failure_;     // Why it stops: passed on with the invocation in flight.
  RuntimeError init_error_;  // What /init/error said.
  int invocations_ = 0;
  std::string tail_;
  std::chrono::steady_clock::time_point spawned_{};
  std::chrono::steady_clock::time_point idle_since_{};
  std::chrono::steady_clock::duration init_duration_{};
  std::chrono::milliseconds init_timeout_{0};
  core::Timer timer_;  // init_timeout, then the stop grace period.
};

}  // namespace switchyard::environments
