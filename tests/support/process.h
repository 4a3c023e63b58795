#pragma once

// Runs real child processes for integration tests: the switchyard binary, redis-server.
// Output is captured through pipes; waits have deadlines.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace switchyard::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or when the deadline passed.
  int signal = 0;      // The signal that ended it, if any.
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `argv` to completion (killing it with SIGKILL after `timeout`), with `env` added to this
// process' environment and `input` on its stdin.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          const std::string& input = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A child process that runs in the background; killed (SIGKILL) on destruction if still alive.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int pid() const { return pid_; }
  void signal(int signum);
  // Waits for the child to exit; returns its result (output read so far included).
  ProcessResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Reads whatever stderr/stdout the child wrote so far (non-blocking).
  const std::string& err();
  const std::string& out();
  // Waits until `needle` appears in the child's stderr, or the deadline.
  bool wait_for_err(const std::string& needle,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  void pump(int timeout_ms);

  int pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  ProcessResult result_;
};

// The directory of a fresh temporary folder, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Whether `condition` became true within `timeout`, checking every `step`.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10));

// The state letters (/proc/<pid>/stat: 'S', 'R', 'Z'...) of the processes whose parent is
// `parent`.
std::vector<char> child_states(int parent);

// The non-empty lines of `file` (none when it does not exist).
std::vector<std::string> file_lines(const std::string& file);

}  // namespace switchyard::testing
