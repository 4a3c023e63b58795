#pragma once

// A child process of the daemon, the way an execution environment runs: started with
// posix_spawn or cloned from the environment zygote (never a fork of the multi-threaded
// daemon) in a process group of its own, with
// stdin from /dev/null, stdout and stderr read line by line on the loop, and no other
// descriptor of the daemon's (every one from 3 up is closed in the child, whatever its
// CLOEXEC flag, but the one it is given as fd 3). It is tracked by a pidfd, so that its exit wakes
// the loop and its pid can never name another process while the daemon holds it.
//
// Thread rules: loop thread only.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/loop.h"

namespace switchyard::environments {

class Zygote;

struct SpawnOptions {
  std::filesystem::path program;            // Run as is (no PATH search).
  std::vector<std::string> arguments;       // argv[1..]; argv[0] is the program.
  std::vector<std::string> environment;     // "NAME=value": the whole environment.
  std::filesystem::path working_directory;  // Empty: the daemon's.
  // A descriptor the child gets as its fd 3 (the Runtime API's socket); -1: none.
  int inherit_fd = -1;
};

// How a child ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    // The exit status, when !signaled.
  int signal = 0;  // The signal that ended it, when signaled.

  // "exit status 3", "signal: segmentation fault" (the wording Lambda's "Runtime exited with
  // error: ..." uses).
  std::string describe() const;
};

enum class OutputStream { kStdout, kStderr };

class ChildProcess {
 public:
  // One line the child wrote (without its newline; a line longer than kMaxLine comes in pieces
  // of kMaxLine bytes, a last line without a newline when the stream ends).
  using OnLine = std::function<void(OutputStream stream, std::string_view line)>;
  // The child ended; it has been reaped, and every other process left in its group was sent
  // SIGKILL. Called once, never from inside spawn() or the destructor; it may destroy the
  // ChildProcess. OnLine may not.
  using OnExit = std::function<void(ExitStatus status)>;

  static constexpr std::size_t kMaxLine = 16 * 1024;

  // Through `zygote` when it serves `options` (environments/zygote.h), else (and when the
  // zygote was not asked or could not clone) with posix_spawn; the child is the daemon's either
  // way. Fails without a fallback when the zygote took the descriptors and gave no answer.
  static core::Result<std::unique_ptr<ChildProcess>> spawn(core::Loop& loop,
                                                           const SpawnOptions& options,
                                                           OnLine on_line, OnExit on_exit,
                                                           Zygote* zygote = nullptr);

  // A child still running has its whole group killed (SIGKILL) and is reaped before this
  // returns, so that none outlives its holder and none is left a zombie.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return running_; }
  // Sends `signum` to every process of the child's group (the child and what it started that
  // stayed in its group). Nothing once it has ended.
  void signal_group(int signum);

 private:
  struct Output;

  ChildProcess(core::Loop& loop, pid_t pid, int pidfd, OnLine on_line, OnExit on_exit);
  bool watch(int stdout_fd, int stderr_fd);
  void on_pidfd_readable();
  // Reaps the child once it has ended (waiting for it when `block`); its status then.
  std::optional<ExitStatus> reap(bool block);

  core::Loop& loop_;
  pid_t pid_;
  int pidfd_;
  bool running_ = true;
  OnLine on_line_;
  OnExit on_exit_;
  core::Handle<uv_poll_t> exit_poll_;
  std::unique_ptr<Output> stdout_;
  std::unique_ptr<Output> stderr_;
};

}  // namespace switchyard::environments
