#include "environments/zygote.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
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
  if (core::kShadowMemorySanitizer || failures_ >= kMaxFailures || options.program != program_) {
    return false;
  }
  const bool library = std::find(options.arguments.begin(), options.arguments.end(), "--library") !=
                       options.arguments.end();
  if (!library) {
    return true;  // A runtime program is executed by the copy, and starts up as spawned.
  }
  for (const std::string& entry : options.environment) {
    if (entry.starts_with("LD_") || entry.starts_with("GLIBC_TUNABLES=") ||
        entry.starts_with("MALLOC_")) {
      return false;
    }
  }
  return true;
}

pid_t Zygote::pid() const {
  return process_ && process_->running() ? process_->pid() : 0;
}

Zygote::Started Zygote::start(const SpawnOptions& options, int stdout_fd, int stderr_fd) {
  Started started;
  if (core::Status running = ensure_running(); !running.ok()) {
    started.error = running.error().message();
  } else {
    started = request(options, stdout_fd, stderr_fd);
  }
  bool zygote_fine = false;
  switch (started.outcome) {
    case Outcome::kStarted:
      failures_ = 0;
      return started;
    case Outcome::kRefused:
      // It answered; a clone that failed for want of a process or memory may work next time,
      // one the kernel refuses outright (ENOSYS, EPERM: a seccomp filter) never will.
      zygote_fine = started.refused != ENOSYS && started.refused != EPERM;
      break;
    case Outcome::kTooLarge:
      zygote_fine = true;
      break;
    case Outcome::kNotSent:
      break;
    case Outcome::kHandedOver:
      break;
  }
  if (zygote_fine) {
    return started;
  }
  stop();
  if (++failures_ == kMaxFailures) {
    spdlog::warn("{}; failed {} times in a row, so environments are spawned directly from now on",
                 started.error, kMaxFailures);
  } else {
    spdlog::warn("{}; the zygote is started again for the next environment", started.error);
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

Zygote::Started Zygote::request(const SpawnOptions& options, int stdout_fd, int stderr_fd) {
  Started started;
  ZygoteRequest request;
  request.working_directory = options.working_directory.string();
  request.arguments.push_back(options.program.string());
  request.arguments.insert(request.arguments.end(), options.arguments.begin(),
                           options.arguments.end());
  request.environment = options.environment;
  std::string encoded = encode_zygote_request(request);
  if (encoded.size() > kMaxRequestBytes) {
    started.outcome = Outcome::kTooLarge;
    started.error = "environment zygote: a request of " + std::to_string(encoded.size()) +
                    " bytes is more than its socket takes";
    return started;
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
    if (errno == EMSGSIZE) {
      // A smaller send buffer than the usual: this request only.
      started.outcome = Outcome::kTooLarge;
      started.error = "environment zygote: a request of " + std::to_string(encoded.size()) +
                      " bytes is more than its socket takes";
      return started;
    }
    started.error = zygote_error("cannot send a request", errno).message();
    return started;
  }
  // From here a copy may be running with these descriptors.
  started.outcome = Outcome::kHandedOver;
  ZygoteReply reply;
  ssize_t got;
  do {
    got = ::recv(control_, &reply, sizeof(reply), 0);
  } while (got < 0 && errno == EINTR);
  if (got != sizeof(reply)) {
    const int error = got < 0 ? (errno == EAGAIN ? ETIMEDOUT : errno) : got == 0 ? EPIPE : EPROTO;
    started.error = zygote_error("no answer", error).message();
    return started;
  }
  if (reply.pid <= 0) {
    started.outcome = Outcome::kRefused;
    started.refused = reply.error;
    started.error = zygote_error("cannot start " + options.program.string(), reply.error).message();
    return started;
  }
  // The copy moves to a process group of its own first thing, but until it has, it is in the
  // zygote's, which a stop of the zygote kills: its parent sets it too, as shells do for their
  // jobs (EACCES once the copy has run a program: it had set it by then).
  ::setpgid(reply.pid, reply.pid);
  started.outcome = Outcome::kStarted;
  started.pid = static_cast<pid_t>(reply.pid);
  return started;
}

void Zygote::renew() {
  stop();
  failures_ = 0;
}

void Zygote::stop() {
  if (control_ >= 0) {
    ::close(std::exchange(control_, -1));
  }
  process_.reset();  // Killed and reaped.
}

}  // namespace switchyard::environments
