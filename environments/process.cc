#include "environments/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "environments/zygote.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace switchyard::environments {
namespace {

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

core::Error spawn_error(const SpawnOptions& options, int error, std::string_view what) {
  return core::Error(core::ErrorCode::kIo, "cannot start " + options.program.string() + ": " +
                                               std::string(what) + ": " + std::strerror(error));
}

// Owns the spawn attribute objects for the duration of one spawn.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// Closes a descriptor unless released.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() { return std::exchange(fd, -1); }
};

}  // namespace

std::string ExitStatus::describe() const {
  if (!signaled) {
    return "exit status " + std::to_string(code);
  }
  const char* name = ::strsignal(signal);
  std::string text = name != nullptr ? name : "signal " + std::to_string(signal);
  if (!text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return "signal: " + text;
}

// One of the child's output pipes, read into lines.
struct ChildProcess::Output {
  ChildProcess* owner = nullptr;
  OutputStream stream = OutputStream::kStdout;
  core::Handle<uv_pipe_t> pipe;
  std::string pending;  // The start of a line whose newline has not come yet.
  // The last piece was cut at kMaxLine: a newline right after it ends that line, and is no
  // empty line of its own.
  bool cut = false;
  char buffer[16 * 1024];

  void deliver(std::string_view line) {
    if (owner->on_line_) {
      owner->on_line_(stream, line);
    }
  }
  void take(std::string_view bytes) {
    while (!bytes.empty()) {
      if (std::exchange(cut, false) && bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
      std::size_t newline = bytes.find('\n');
      std::size_t room = kMaxLine - pending.size();
      if (newline == std::string_view::npos || newline > room) {
        std::size_t take = std::min(bytes.size(), room);
        pending.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (pending.size() == kMaxLine) {
          deliver(pending);
          pending.clear();
          cut = true;
        }
        continue;
      }
      if (pending.empty()) {
        deliver(bytes.substr(0, newline));
      } else {
        pending.append(bytes.substr(0, newline));
        deliver(pending);
        pending.clear();
      }
      bytes.remove_prefix(newline + 1);
    }
  }
  void finish() {
    if (!pending.empty()) {
      deliver(pending);
      pending.clear();
    }
    pipe.close();
  }
};

ChildProcess::ChildProcess(core::Loop& loop, pid_t pid, int pidfd, OnLine on_line, OnExit on_exit)
    : loop_(loop),
      pid_(pid),
      pidfd_(pidfd),
      on_line_(std::move(on_line)),
      on_exit_(std::move(on_exit)) {}

namespace {

// Starts `options` with posix_spawn, with `stdout_fd` and `stderr_fd` as its stdout and stderr.
core::Result<pid_t> spawn_directly(const SpawnOptions& options, int stdout_fd, int stderr_fd) {
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, stdout_fd, 1);
  posix_spawn_file_actions_adddup2(&setup.actions, stderr_fd, 2);
  // Whatever the daemon opened without CLOEXEC (a library's socket) stays out of the child: a
  // second environment holding the first one's socket would keep it from ever seeing EOF.
  int first_closed = 3;
  Fd inherited;
  if (options.inherit_fd >= 0) {
    // A copy above 3, so that the dup2 below always makes a new descriptor without CLOEXEC.
    inherited.fd = ::fcntl(options.inherit_fd, F_DUPFD_CLOEXEC, 10);
    if (inherited.fd < 0) {
      return spawn_error(options, errno, "dup");
    }
    posix_spawn_file_actions_adddup2(&setup.actions, inherited.fd, 3);
    first_closed = 4;
  }
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, first_closed);
  if (!options.working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(&setup.actions, options.working_directory.c_str());
  }
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&setup.attributes, &none);
  // The daemon ignores SIGPIPE; the child starts with every signal at its default.
  posix_spawnattr_setsigdefault(&setup.attributes, &all);
  posix_spawnattr_setpgroup(&setup.attributes, 0);
  posix_spawnattr_setflags(&setup.attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv;
  std::string program = options.program.string();
  argv.push_back(program.data());
  std::vector<std::string> arguments = options.arguments;
  for (std::string& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> environment = options.environment;
  std::vector<char*> envp;
  for (std::string& entry : environment) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attributes, argv.data(),
                         envp.data());
  if (rc != 0) {
    return spawn_error(options, rc, "posix_spawn");
  }
  return pid;
}

}  // namespace

core::Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(core::Loop& loop,
                                                                const SpawnOptions& options,
                                                                OnLine on_line, OnExit on_exit,
                                                                Zygote* zygote) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return spawn_error(options, errno, "pipe");
  }
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return spawn_error(options, errno, "pipe");
  }
  Fd err_read(err_pipe[0]);
  Fd err_write(err_pipe[1]);

  std::optional<pid_t> started;
  if (zygote != nullptr && zygote->serves(options)) {
    Zygote::Started cloned = zygote->start(options, out_write.fd, err_write.fd);
    if (cloned.outcome == Zygote::Outcome::kStarted) {
      started = cloned.pid;
    } else if (cloned.outcome == Zygote::Outcome::kHandedOver) {
      // A copy may hold these descriptors (the Runtime API socket among them): a second
      // process must not get them too. This start fails; the next gets new ones.
      return core::Error(core::ErrorCode::kUnavailable,
                         "cannot start " + options.program.string() + ": " + cloned.error);
    } else {
      spdlog::debug("{}; spawning {} directly", cloned.error, options.program.string());
    }
  }
  if (!started) {
    core::Result<pid_t> spawned = spawn_directly(options, out_write.fd, err_write.fd);
    if (!spawned.ok()) {
      return spawned.error();
    }
    started = spawned.value();
  }
  pid_t pid = *started;
  ::close(out_write.release());
  ::close(err_write.release());
  int pidfd = pidfd_open(pid);
  if (pidfd < 0) {
    int error = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return spawn_error(options, error, "pidfd_open");
  }
  std::unique_ptr<ChildProcess> child(
      new ChildProcess(loop, pid, pidfd, std::move(on_line), std::move(on_exit)));
  if (!child->watch(out_read.release(), err_read.release())) {
    return core::Error(core::ErrorCode::kIo, "cannot watch " + options.program.string() + " (pid " +
                                                 std::to_string(pid) + ")");
  }
  return child;
}

bool ChildProcess::watch(int stdout_fd, int stderr_fd) {
  auto open = [this](std::unique_ptr<Output>& output, OutputStream stream, int fd) {
    output = std::make_unique<Output>();
    output->owner = this;
    output->stream = stream;
    if (uv_pipe_init(loop_.raw(), output->pipe.get(), 0) != 0 ||
        uv_pipe_open(output->pipe.get(), fd) != 0) {
      ::close(fd);
      return false;
    }
    output->pipe.get()->data = output.get();
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(output->pipe.get()),
        [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
          auto* self = static_cast<Output*>(handle->data);
          buf->base = self->buffer;
          buf->len = sizeof(self->buffer);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<Output*>(stream->data);
          if (self == nullptr) {
            return;
          }
          if (nread > 0) {
            self->take(std::string_view(buf->base, static_cast<std::size_t>(nread)));
          } else if (nread < 0) {
            self->finish();
          }
        });
    return true;
  };
  bool ok = open(stdout_, OutputStream::kStdout, stdout_fd);
  ok = open(stderr_, OutputStream::kStderr, stderr_fd) && ok;
  if (uv_poll_init(loop_.raw(), exit_poll_.get(), pidfd_) != 0) {
    return false;
  }
  exit_poll_.get()->data = this;
  uv_poll_start(exit_poll_.get(), UV_READABLE, [](uv_poll_t* poll, int, int) {
    if (auto* self = static_cast<ChildProcess*>(poll->data)) {
      self->on_pidfd_readable();
    }
  });
  return ok;
}

void ChildProcess::on_pidfd_readable() {
  std::optional<ExitStatus> status = reap(false);
  if (!status) {
    return;
  }
  exit_poll_.close();
  // Last: the callback may destroy this object.
  if (OnExit on_exit = std::move(on_exit_)) {
    on_exit(*status);
  }
}

std::optional<ExitStatus> ChildProcess::reap(bool block) {
  if (!running_) {
    return std::nullopt;
  }
  // The group goes before the child is reaped: while it is a zombie its pid (the group's id)
  // cannot be given to another process.
  ::kill(-pid_, SIGKILL);
  siginfo_t info{};
  int rc = 0;
  do {
    // The pidfd is non-blocking (libuv polls it), so a blocking wait names the pid, which
    // cannot have been reused: the child is not reaped yet.
    rc = block ? ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED)
               : ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info,
                          WEXITED | WNOHANG);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 || info.si_pid == 0) {
    if (rc != 0) {
      spdlog::warn("environment process {}: waitid: {}", pid_, std::strerror(errno));
    }
    return std::nullopt;  // Not ended yet (a spurious wake-up).
  }
  running_ = false;
  ::close(pidfd_);
  pidfd_ = -1;
  ExitStatus status;
  if (info.si_code == CLD_EXITED) {
    status.code = info.si_status;
  } else {
    status.signaled = true;
    status.signal = info.si_status;
  }
  return status;
}

void ChildProcess::signal_group(int signum) {
  if (running_) {
    ::kill(-pid_, signum);
  }
}

ChildProcess::~ChildProcess() {
  exit_poll_.close();
  if (running_) {
    reap(true);
  }
  if (pidfd_ >= 0) {
    ::close(pidfd_);
  }
  // Output still in the pipes is dropped: nobody is left to read it for.
  if (stdout_) {
    stdout_->owner = nullptr;
    stdout_->pipe.close();
  }
  if (stderr_) {
    stderr_->owner = nullptr;
    stderr_->pipe.close();
  }
}

}  // namespace switchyard::environments
