#include "environments/zygote.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/sanitizers.h"
#include "environments/native/zygote_protocol.h"

namespace switchyard::environments {
namespace {

// How long a reply may take: a clone takes well under a millisecond, and the first request
// also waits for the zygote's own start-up (a few milliseconds).
constexpr timeval kReplyTimeout{1, 0};

// What one message on the control socket may hold, well inside its default send buffer
// (net.core.wmem_default); a larger request (a huge config or environment) is spawned directly.
constexpr std::size_t kMaxRequestBytes = 128 * 1024;

// How much of an environment's command line ps and /proc/PID/cmdline show.
constexpr std::size_t kTitleRoom = 4096;

core::Error zygote_error(std::string what, int error) {
  return core::Error(core::ErrorCode::kUnavailable,
                     "environment zygote: " + what + ": " + std::strerror(error));
}

}  // namespace

Zygote::Zygote(core::Loop& loop, std::filesystem::path program)
    : loop_(loop), program_(std::move(program)) {}

Zygote::~Zygote() {
  stop();
}

bool Zygote::serves(const SpawnOptions& options) const {
  // A sanitizer's runtime keeps its own books on threads, which a clone made by hand would
  // leave wrong: those builds spawn every environment.
  return !core::kShadowMemorySanitizer && failures_ < kMaxFailures && options.program == program_;
}

pid_t Zygote::pid() const {
  return process_ && process_->running() ? process_->pid() : 0;
}

core::Result<pid_t> Zygote::start(const SpawnOptions& options, int stdout_fd, int stderr_fd) {
  core::Result<pid_t> started = core::Error(core::ErrorCode::kInternal, "");
  if (core::Status running = ensure_running(); !running.ok()) {
    started = running.error();
  } else {
    started = request(options, stdout_fd, stderr_fd);
  }
  if (started.ok()) {
    failures_ = 0;
    return started;
  }
  if (started.error().code() == core::ErrorCode::kInvalidArgument) {
    return started;  // Too large a request: this one is spawned directly; the zygote is fine.
  }
  stop();
  if (++failures_ == kMaxFailures) {
    spdlog::warn("{}; failed {} times in a row, so environments are spawned directly from now on",
                 started.error().message(), kMaxFailures);
  } else {
    spdlog::warn(
        "{}; that environment is spawned directly, and the zygote started again for "
        "the next",
        started.error().message());
  }
  return started;
}

core::Status Zygote::ensure_running() {
  if (process_ && process_->running() && control_ >= 0) {
    return core::Status::ok_status();
  }
  stop();
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return zygote_error("socketpair", errno);
  }
  control_ = ends[0];
  ::setsockopt(control_, SOL_SOCKET, SO_RCVTIMEO, &kReplyTimeout, sizeof(kReplyTimeout));
  ::setsockopt(control_, SOL_SOCKET, SO_SNDTIMEO, &kReplyTimeout, sizeof(kReplyTimeout));
  SpawnOptions spawn;
  spawn.program = program_;
  spawn.arguments = {"--parent-pid", std::to_string(::getpid()), "--zygote"};
  // Room for each copy's command line (environments/native/zygote_server.h).
  spawn.environment = {"SWITCHYARD_ZYGOTE_TITLE_ROOM=" + std::string(kTitleRoom, '.')};
  spawn.inherit_fd = ends[1];
  auto spawned = ChildProcess::spawn(
      loop_, spawn,
      [](OutputStream, std::string_view line) { spdlog::warn("environment zygote: {}", line); },
      [this](ExitStatus status) {
        spdlog::warn("environment zygote (pid {}) ended: {}; the environments it started go on",
                     process_->pid(), status.describe());
        ::close(std::exchange(control_, -1));
        process_.reset();
      });
  ::close(ends[1]);
  if (!spawned.ok()) {
    ::close(std::exchange(control_, -1));
    return spawned.error();
  }
  process_ = std::move(spawned).value();
  spdlog::info("environment zygote started (pid {})", process_->pid());
  return core::Status::ok_status();
}

core::Result<pid_t> Zygote::request(const SpawnOptions& options, int stdout_fd, int stderr_fd) {
  ZygoteRequest request;
  request.working_directory = options.working_directory.string();
  request.arguments.push_back(options.program.string());
  request.arguments.insert(request.arguments.end(), options.arguments.begin(),
                           options.arguments.end());
  request.environment = options.environment;
  std::string encoded = encode_zygote_request(request);
  if (encoded.size() > kMaxRequestBytes) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "environment zygote: a request of " + std::to_string(encoded.size()) +
                           " bytes is more than its socket takes");
  }

  int fds[kZygoteMaxFds] = {stdout_fd, stderr_fd, options.inherit_fd};
  std::size_t fd_count = options.inherit_fd >= 0 ? 3 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kZygoteMaxFds)] = {};
  iovec iov{encoded.data(), encoded.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
  std::memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
  ssize_t sent;
  do {
    sent = ::sendmsg(control_, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return zygote_error("cannot send a request", errno);
  }
  ZygoteReply reply;
  ssize_t got;
  do {
    got = ::recv(control_, &reply, sizeof(reply), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    return zygote_error("no answer", errno == EAGAIN ? ETIMEDOUT : errno);
  }
  if (got != sizeof(reply)) {
    return zygote_error("no answer", got == 0 ? EPIPE : EPROTO);
  }
  if (reply.pid <= 0) {
    return zygote_error("cannot start " + options.program.string(), reply.error);
  }
  // The copy moves to a process group of its own first thing, but until it has, it is in the
  // zygote's, which a stop of the zygote kills: its parent sets it too, as shells do for their
  // jobs (EACCES once the copy has run a program: it had set it by then).
  ::setpgid(reply.pid, reply.pid);
  return static_cast<pid_t>(reply.pid);
}

void Zygote::stop() {
  if (control_ >= 0) {
    ::close(std::exchange(control_, -1));
  }
  process_.reset();  // Killed and reaped.
}

}  // namespace switchyard::environments
