#include "environments/environment.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "environments/peer.h"

namespace switchyard::environments {

std::string_view to_string(EnvironmentState state) {
  switch (state) {
    case EnvironmentState::kStarting:
      return "starting";
    case EnvironmentState::kIdle:
      return "idle";
    case EnvironmentState::kBusy:
      return "busy";
    case EnvironmentState::kReturning:
      return "returning";
    case EnvironmentState::kStopping:
      return "stopping";
    case EnvironmentState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kInitFailure:
      return "init_failure";
    case StopReason::kTimeout:
      return "timeout";
    case StopReason::kCrash:
      return "crash";
    case StopReason::kOutOfMemory:
      return "out_of_memory";
    case StopReason::kIdle:
      return "idle";
    case StopReason::kRecycled:
      return "recycled";
    case StopReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

Environment::Environment(core::Loop& loop, core::MetricsRegistry& metrics, EnvironmentOwner& owner,
                         std::uint64_t number)
    : loop_(loop),
      owner_(owner),
      number_(number),
      api_(std::make_unique<RuntimeApi>(loop, metrics, static_cast<RuntimeApiHandler&>(*this),
                                        [this](int fd) { return admit(fd); })),
      timer_(loop, [this] {
        if (state_ == EnvironmentState::kStarting) {
          begin_stop(
              StopReason::kInitFailure,
              RuntimeError{"Runtime.InitError",
                           fmt::format("Init timed out after {:.2f} seconds",
                                       std::chrono::duration<double>(init_timeout_).count())});
        } else if (state_ == EnvironmentState::kStopping && process_) {
          process_->signal_group(SIGKILL);
        }
      }) {}

Environment::~Environment() {
  // Closed first: a slot dropped after its server closed answers nothing.
  if (api_) {
    api_->close();
  }
  next_ = http::ResponseSlot();
  // The process goes with its group (SIGKILL) and is reaped here.
  process_.reset();
}

core::Status Environment::start(SpawnOptions spawn, std::chrono::milliseconds init_timeout,
                                bool socket_pair, Zygote* zygote) {
  int child_end = -1;
  if (socket_pair) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      return core::Error::from_errno(errno, "cannot create the runtime API's socket pair");
    }
    child_end = ends[1];
    if (auto adopted = api_->adopt(ends[0]); !adopted.ok()) {
      ::close(child_end);
      return adopted;
    }
    address_ = "fd 3";
    spawn.inherit_fd = child_end;
    spawn.environment.push_back("SWITCHYARD_RUNTIME_API_FD=3");
  } else {
    if (auto listening = api_->listen(); !listening.ok()) {
      return listening;
    }
    address_ = api_->address();
    spawn.environment.push_back("AWS_LAMBDA_RUNTIME_API=" + address_);
  }
  spawned_ = std::chrono::steady_clock::now();
  auto spawned = ChildProcess::spawn(
      loop_, spawn,
      [this](OutputStream stream, std::string_view line) {
        owner_.environment_output(*this, stream, line);
      },
      [this](ExitStatus status) { on_exit(status); }, zygote);
  if (child_end >= 0) {
    ::close(child_end);  // The child has its copy; the daemon keeps only its own end.
  }
  if (!spawned.ok()) {
    state_ = EnvironmentState::kStopped;
    api_->close();
    return spawned.error();
  }
  process_ = std::move(spawned).value();
  init_timeout_ = init_timeout;
  timer_.start(init_timeout);
  return core::Status::ok_status();
}

void Environment::keep_output(std::string_view line) {
  tail_.append(line);
  tail_.push_back('\n');
  if (tail_.size() > kTailBytes) {
    tail_.erase(0, tail_.size() - kTailBytes);
  }
}

bool Environment::admit(int fd) const {
  if (!process_ || !process_->running()) {
    return false;
  }
  std::optional<ino_t> inode = peer_socket_inode(fd);
  if (inode && process_tree_holds_socket(process_->pid(), *inode)) {
    return true;
  }
  spdlog::warn(
      "runtime API {}: refused a connection from a process outside environment {} (pid {})",
      address_, number_, process_->pid());
  return false;
}

bool Environment::invoke(Assignment assignment) {
  if (state_ != EnvironmentState::kIdle) {
    return false;
  }
  if (!next_.connected()) {
    // Its runtime gave up on that `next`; it has to ask again.
    next_ = http::ResponseSlot();
    state_ = EnvironmentState::kReturning;
    return false;
  }
  tail_.clear();
  assignment_ = std::move(assignment);
  state_ = EnvironmentState::kBusy;
  in_flight_ = true;
  ++invocations_;
  next_.respond(invocation_response(assignment_));
  return true;
}

http::Response Environment::invocation_response(const Assignment& assignment) {
  http::Response response;
  response.status = 200;
  response.headers.reserve(7);
  response.headers.push_back({"Content-Type", assignment.content_type});
  response.headers.push_back({"Lambda-Runtime-Aws-Request-Id", assignment.request_id});
  response.headers.push_back(
      {"Lambda-Runtime-Deadline-Ms", std::to_string(assignment.deadline_ms)});
  response.headers.push_back({"Lambda-Runtime-Invoked-Function-Arn", assignment.function_arn});
  response.headers.push_back({"Lambda-Runtime-Trace-Id", assignment.trace_id});
  if (!assignment.client_context.empty()) {
    response.headers.push_back({"Lambda-Runtime-Client-Context", assignment.client_context});
  }
  if (!assignment.cognito_identity.empty()) {
    response.headers.push_back({"Lambda-Runtime-Cognito-Identity", assignment.cognito_identity});
  }
  // A copy: a `next` before the answer gets the same invocation again.
  response.body = assignment.payload;
  return response;
}

void Environment::kill(StopReason reason) {
  if (state_ == EnvironmentState::kStopped) {
    return;
  }
  in_flight_ = false;
  begin_stop(reason, RuntimeError{});
}

void Environment::stop(StopReason reason, std::chrono::milliseconds grace) {
  if (state_ == EnvironmentState::kStopped || state_ == EnvironmentState::kStopping) {
    return;
  }
  stop_reason_ = reason;
  state_ = EnvironmentState::kStopping;
  api_->close();
  next_ = http::ResponseSlot();
  if (process_) {
    process_->signal_group(SIGTERM);
  }
  timer_.start(grace);
}

void Environment::begin_stop(StopReason reason, RuntimeError failure) {
  stop_reason_ = reason;
  failure_ = std::move(failure);
  state_ = EnvironmentState::kStopping;
  timer_.stop();
  api_->close();
  next_ = http::ResponseSlot();
  if (process_) {
    process_->signal_group(SIGKILL);
  }
}

void Environment::on_next(http::ResponseSlot slot) {
  switch (state_) {
    case EnvironmentState::kStarting:
      init_duration_ = std::chrono::steady_clock::now() - spawned_;
      timer_.stop();
      break;
    case EnvironmentState::kReturning:
      break;
    case EnvironmentState::kIdle:
      if (!next_.connected()) {
        next_ = std::move(slot);  // The earlier `next` was given up: this one replaces it.
        return;
      }
      return RuntimeApi::invalid_state(slot);
    case EnvironmentState::kBusy:
      if (in_flight_) {
        // As AWS's runtime API does (its running state accepts `next` and renders the
        // invocation in progress): the same invocation, same id and deadline, again.
        slot.respond(invocation_response(assignment_));
        return;
      }
      return RuntimeApi::invalid_state(slot);
    case EnvironmentState::kStopping:
    case EnvironmentState::kStopped:
      return RuntimeApi::invalid_state(slot);
  }
  next_ = std::move(slot);
  state_ = EnvironmentState::kIdle;
  idle_since_ = std::chrono::steady_clock::now();
  owner_.environment_idle(*this);
}

bool Environment::answerable(std::string_view request_id, http::ResponseSlot& slot) {
  if (request_id == assignment_.request_id && !assignment_.request_id.empty()) {
    if (state_ == EnvironmentState::kBusy && in_flight_) {
      return true;
    }
    RuntimeApi::invalid_state(slot);
    return false;
  }
  RuntimeApi::unknown_request(slot);
  return false;
}

void Environment::answer(Answer&& answer) {
  state_ = EnvironmentState::kReturning;
  in_flight_ = false;
  assignment_.payload = std::string();  // Only a `next` in flight would send it again.
  owner_.environment_answered(*this, assignment_, std::move(answer));
}

void Environment::on_response(std::string_view request_id, std::string&& body,
                              std::string_view content_type, http::ResponseSlot slot) {
  if (!answerable(request_id, slot)) {
    return;
  }
  RuntimeApi::accepted(slot);
  Answer result;
  result.ok = true;
  result.body = std::move(body);
  result.content_type = std::string(content_type);
  answer(std::move(result));
}

void Environment::on_error(std::string_view request_id, RuntimeError&& error,
                           http::ResponseSlot slot) {
  if (!answerable(request_id, slot)) {
    return;
  }
  RuntimeApi::accepted(slot);
  Answer result;
  result.error = std::move(error);
  answer(std::move(result));
}

void Environment::on_init_error(RuntimeError&& error, http::ResponseSlot slot) {
  if (state_ != EnvironmentState::kStarting) {
    return RuntimeApi::invalid_state(slot);
  }
  RuntimeApi::accepted(slot);
  // Lambda does not keep an environment whose init failed.
  begin_stop(StopReason::kInitFailure, std::move(error));
}

void Environment::on_response_too_large(std::string_view request_id) {
  if (state_ != EnvironmentState::kBusy || !in_flight_ || request_id != assignment_.request_id) {
    return;
  }
  Answer result;
  result.error = RuntimeError{
      "Function.ResponseSizeTooLarge",
      fmt::format("Response payload size exceeded maximum allowed payload size ({} bytes).",
                  kMaxResponseBytes)};
  answer(std::move(result));
}

void Environment::on_exit(ExitStatus status) {
  const EnvironmentState was = state_;
  state_ = EnvironmentState::kStopped;
  timer_.stop();
  api_->close();
  next_ = http::ResponseSlot();
  StopReason reason = stop_reason_;
  RuntimeError failure = std::move(failure_);
  if (was == EnvironmentState::kStarting) {
    reason = StopReason::kInitFailure;
    failure = RuntimeError{"Runtime.ExitError", "Runtime exited with error: " + status.describe()};
  } else if (was != EnvironmentState::kStopping) {
    reason = StopReason::kCrash;
    failure = RuntimeError{"Runtime.ExitError",
                           (in_flight_ ? "RequestId: " + assignment_.request_id + " Error: " : "") +
                               "Runtime exited with error: " + status.describe()};
  } else if (failure.type.empty()) {
    failure = RuntimeError{"Runtime.ExitError", "Runtime exited with error: " + status.describe()};
  }
  const bool in_flight = std::exchange(in_flight_, false);
  owner_.environment_stopped(*this, reason, in_flight ? &assignment_ : nullptr, std::move(failure));
}

}  // namespace switchyard::environments
