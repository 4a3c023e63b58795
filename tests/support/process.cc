#include "support/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/proc.h"

extern char** environ;

namespace switchyard::testing {

namespace {

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) {
      all[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  for (const auto& [key, value] : extra) {
    all[key] = value;
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : all) {
    out.push_back(key + "=" + value);
  }
  return out;
}

int spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  auto env_strings = merged_environment(env);
  std::vector<char*> envp;
  for (auto& entry : env_strings) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  return pid;
}

void read_available(int& fd, std::string& into) {
  char buffer[65536];
  while (fd >= 0) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      close(fd);
      fd = -1;
    } else {
      if (errno != EAGAIN && errno != EINTR) {
        close(fd);
        fd = -1;
      }
      return;
    }
  }
}

void fill_status(int status, ProcessResult& result) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_ = spawn(argv, env, devnull, out_pipe[1], err_pipe[1]);
  close(devnull);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

Child::~Child() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) {
    close(out_fd_);
  }
  if (err_fd_ >= 0) {
    close(err_fd_);
  }
}

void Child::signal(int signum) {
  if (!exited_) {
    kill(pid_, signum);
  }
}

void Child::pump(int timeout_ms) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) {
    fds[n++] = {out_fd_, POLLIN, 0};
  }
  if (err_fd_ >= 0) {
    fds[n++] = {err_fd_, POLLIN, 0};
  }
  if (n > 0) {
    poll(fds, static_cast<nfds_t>(n), timeout_ms);
  } else if (timeout_ms > 0) {
    usleep(static_cast<useconds_t>(timeout_ms) * 1000);
  }
  read_available(out_fd_, result_.out);
  read_available(err_fd_, result_.err);
}

const std::string& Child::err() {
  pump(0);
  return result_.err;
}

const std::string& Child::out() {
  pump(0);
  return result_.out;
}

bool Child::wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (result_.err.find(needle) == std::string::npos) {
    // Once stderr is closed (the child ended) nothing more can come.
    if (std::chrono::steady_clock::now() >= deadline || err_fd_ < 0) {
      return false;
    }
    pump(10);
  }
  return true;
}

ProcessResult Child::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited_) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      fill_status(status, result_);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      exited_ = true;
      result_.timed_out = true;
      break;
    }
    pump(10);
  }
  // Drain what is left in the pipes.
  for (int i = 0; i < 100 && (out_fd_ >= 0 || err_fd_ >= 0); ++i) {
    pump(10);
  }
  return result_;
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env, const std::string& input,
                          std::chrono::milliseconds timeout) {
  TempDir dir;
  std::string input_path = dir.write("stdin", input);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  int in_fd = open(input_path.c_str(), O_RDONLY | O_CLOEXEC);
  int pid = spawn(argv, env, in_fd, out_pipe[1], err_pipe[1]);
  close(in_fd);
  close(out_pipe[1]);
  close(err_pipe[1]);
  int out_fd = out_pipe[0];
  int err_fd = err_pipe[0];
  fcntl(out_fd, F_SETFL, O_NONBLOCK);
  fcntl(err_fd, F_SETFL, O_NONBLOCK);
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool exited = false;
  int status = 0;
  while (out_fd >= 0 || err_fd >= 0 || !exited) {
    pollfd fds[2];
    int n = 0;
    if (out_fd >= 0) {
      fds[n++] = {out_fd, POLLIN, 0};
    }
    if (err_fd >= 0) {
      fds[n++] = {err_fd, POLLIN, 0};
    }
    if (n > 0) {
      poll(fds, static_cast<nfds_t>(n), 10);
    } else {
      usleep(1000);
    }
    read_available(out_fd, result.out);
    read_available(err_fd, result.err);
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      fill_status(status, result);
    }
    if (!exited && std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      exited = true;
      result.timed_out = true;
    }
  }
  return result;
}

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "switchyard-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::filesystem::path file = std::filesystem::path(path_) / name;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << content;
  return file.string();
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(step);
  }
  return true;
}

std::vector<std::string> file_lines(const std::string& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

std::vector<char> child_states(int parent) {
  std::vector<char> states;
  DIR* dir = ::opendir("/proc");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') {
      continue;
    }
    ProcStat stat = proc_stat(std::atoi(entry->d_name));
    if (stat.pid != 0 && stat.ppid == parent) {
      states.push_back(stat.state);
    }
  }
  ::closedir(dir);
  return states;
}

}  // namespace switchyard::testing
