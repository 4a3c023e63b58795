// ChildProcess with real child processes on a real loop: output read into lines per stream, how
// a child ended, what it is given (environment, working directory, descriptors, signals), its
// process group, and that none outlives its holder.

#include "environments/process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/proc.h"
#include "support/process.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using environments::ChildProcess;
using environments::ExitStatus;
using environments::OutputStream;
using environments::SpawnOptions;
using switchyard::testing::open_descriptors;
using switchyard::testing::run_until;

namespace {

// One child on its own loop, with everything it wrote and how it ended.
struct Run {
  core::Loop loop;
  std::vector<std::string> out;
  std::vector<std::string> err;
  std::optional<ExitStatus> exit;
  int exits = 0;
  std::unique_ptr<ChildProcess> child;

  void start(SpawnOptions options) {
    auto spawned = ChildProcess::spawn(
        loop, options,
        [this](OutputStream stream, std::string_view line) {
          (stream == OutputStream::kStdout ? out : err).emplace_back(line);
        },
        [this](ExitStatus status) {
          exit = status;
          ++exits;
        });
    REQUIRE(spawned.ok());
    child = std::move(spawned).value();
  }
  void bash(const std::string& script) {
    SpawnOptions options;
    options.program = "/bin/bash";
    options.arguments = {"-c", script};
    options.environment = {"PATH=/usr/bin:/bin"};
    start(std::move(options));
  }
  bool wait_exit() {
    return run_until(
        loop, [this] { return exit.has_value(); }, 10s);
  }
  bool wait_out(std::size_t lines) {
    return run_until(
        loop, [&] { return out.size() >= lines; }, 10s);
  }
  ~Run() { child.reset(); }
};

// The state letter of /proc/<pid>/stat; 0 when the process is gone.
char process_state(pid_t pid) {
  return switchyard::testing::proc_stat(pid).state;
}

// Gone, or a zombie that is no longer ours to reap (its parent died and init has it).
bool dead(pid_t pid) {
  char state = process_state(pid);
  return state == 0 || state == 'Z';
}

// The bit mask of a "SigIgn:"-style line of /proc/self/status as printed by the child.
unsigned long long status_mask(const std::vector<std::string>& lines, const std::string& name) {
  for (const std::string& line : lines) {
    if (line.rfind(name + ":", 0) == 0) {
      return std::stoull(line.substr(name.size() + 1), nullptr, 16);
    }
  }
  FAIL("no " << name << " line");
  return ~0ULL;
}

}  // namespace

TEST_CASE("stdout and stderr come line by line, each stream in its order") {
  Run run;
  run.bash(
      "printf 'one\\ntwo\\n'; printf 'err one\\n' >&2; printf 'three\\n'; "
      "printf 'err two\\nerr three\\n' >&2; printf 'four\\n'");
  REQUIRE(run.wait_exit());
  REQUIRE(run.wait_out(4));
  REQUIRE(run_until(run.loop, [&] { return run.err.size() >= 3; }));
  CHECK(run.out == std::vector<std::string>{"one", "two", "three", "four"});
  CHECK(run.err == std::vector<std::string>{"err one", "err two", "err three"});
}

TEST_CASE("a line longer than kMaxLine comes in pieces of kMaxLine bytes") {
  constexpr std::size_t kMax = ChildProcess::kMaxLine;
  Run run;
  // Two full pieces, then the rest of the line, then a short line.
  run.bash("head -c " + std::to_string(2 * kMax + 100) +
           " /dev/zero | tr '\\0' x; echo; echo after");
  REQUIRE(run.wait_exit());
  REQUIRE(run.wait_out(4));
  CHECK(run.out.size() == 4);
  CHECK(run.out[0] == std::string(kMax, 'x'));
  CHECK(run.out[1] == std::string(kMax, 'x'));
  CHECK(run.out[2] == std::string(100, 'x'));
  CHECK(run.out[3] == "after");
}

TEST_CASE("a line of exactly kMaxLine bytes comes whole, with no empty line after it") {
  constexpr std::size_t kMax = ChildProcess::kMaxLine;
  Run run;
  run.bash("head -c " + std::to_string(kMax) + " /dev/zero | tr '\\0' y; echo; echo after");
  REQUIRE(run.wait_exit());
  REQUIRE(run.wait_out(2));
  // Let any stray piece arrive before judging.
  run_until(
      run.loop, [&] { return run.out.size() > 2; }, 300ms);
  CHECK(run.out == std::vector<std::string>{std::string(kMax, 'y'), "after"});
}

TEST_CASE("a last line without a newline is delivered when the stream ends") {
  Run run;
  run.bash("printf 'first\\nlast'; printf 'no newline' >&2");
  REQUIRE(run.wait_exit());
  REQUIRE(run.wait_out(2));
  REQUIRE(run_until(run.loop, [&] { return !run.err.empty(); }));
  CHECK(run.out == std::vector<std::string>{"first", "last"});
  CHECK(run.err == std::vector<std::string>{"no newline"});
}

TEST_CASE("on_exit tells the exit status, once, never from inside spawn()") {
  Run run;
  run.bash("exit 3");
  CHECK(run.exits == 0);
  REQUIRE(run.wait_exit());
  CHECK_FALSE(run.exit->signaled);
  CHECK(run.exit->code == 3);
  CHECK(run.exit->describe() == "exit status 3");
  CHECK_FALSE(run.child->running());
  run_until(
      run.loop, [&] { return run.exits > 1; }, 100ms);
  CHECK(run.exits == 1);
}

TEST_CASE("on_exit tells the signal that ended the child") {
  SUBCASE("a segmentation fault") {
    Run run;
    run.bash("kill -SEGV $$");
    REQUIRE(run.wait_exit());
    CHECK(run.exit->signaled);
    CHECK(run.exit->signal == SIGSEGV);
    CHECK(run.exit->describe() == "signal: segmentation fault");
  }
  SUBCASE("killed through signal_group") {
    Run run;
    run.bash("echo started; exec sleep 60");
    REQUIRE(run.wait_out(1));
    run.child->signal_group(SIGKILL);
    REQUIRE(run.wait_exit());
    CHECK(run.exit->signaled);
    CHECK(run.exit->describe() == "signal: killed");
  }
}

TEST_CASE("a program that cannot be started is an error, not a child") {
  core::Loop loop;
  SpawnOptions options;
  options.program = "/nonexistent/switchyard-no-such-program";
  auto spawned = ChildProcess::spawn(loop, options, nullptr, nullptr);
  REQUIRE_FALSE(spawned.ok());
  CHECK(spawned.error().message().find("/nonexistent/switchyard-no-such-program") !=
        std::string::npos);
}

TEST_CASE("the environment given is the child's whole environment") {
  REQUIRE(::setenv("SWITCHYARD_PROCESS_TEST_SECRET", "leaked", 1) == 0);
  Run run;
  SpawnOptions options;
  options.program = "/usr/bin/env";
  options.environment = {"ONLY=this", "AND=that too"};
  run.start(options);
  REQUIRE(run.wait_exit());
  REQUIRE(run.wait_out(2));
  ::unsetenv("SWITCHYARD_PROCESS_TEST_SECRET");
  CHECK(run.out == std::vector<std::string>{"ONLY=this", "AND=that too"});
}

TEST_CASE("the child runs in the working directory given, else in the daemon's") {
  switchyard::testing::TempDir dir;
  const std::string expected = std::filesystem::canonical(dir.path()).string();
  {
    Run run;
    SpawnOptions options;
    options.program = "/bin/pwd";
    options.arguments = {"-P"};
    options.working_directory = dir.path();
    run.start(options);
    REQUIRE(run.wait_exit());
    REQUIRE(run.wait_out(1));
    CHECK(run.out.front() == expected);
  }
  {
    Run run;
    SpawnOptions options;
    options.program = "/bin/pwd";
    options.arguments = {"-P"};
    run.start(options);
    REQUIRE(run.wait_exit());
    REQUIRE(run.wait_out(1));
    CHECK(run.out.front() == std::filesystem::current_path().string());
  }
}

TEST_CASE("the child has no descriptor of the parent's but 0, 1 and 2; stdin is /dev/null") {
  // Descriptors opened without CLOEXEC, low and high, of two kinds.
  int file = ::open("/dev/null", O_RDONLY);
  REQUIRE(file >= 0);
  int sockets[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) == 0);
  int high = ::dup2(sockets[0], 200);
  REQUIRE(high == 200);
  Run run;
  SpawnOptions options;
  options.program = "/bin/sleep";
  options.arguments = {"60"};
  run.start(options);
  const pid_t pid = run.child->pid();
  // sleep may open a file or two while it starts; what stays open is what it was given.
  CHECK(run_until(
      run.loop,
      [&] {
        return open_descriptors(pid) == std::set<std::string>{"0", "1", "2"};
      },
      5s));
  std::error_code error;
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/fd/0", error) ==
        "/dev/null");
  ::close(file);
  ::close(sockets[0]);
  ::close(sockets[1]);
  ::close(high);
}

TEST_CASE("the child leads a process group of its own") {
  Run run;
  run.bash("echo started; exec sleep 60");
  REQUIRE(run.wait_out(1));
  const pid_t pid = run.child->pid();
  CHECK(::getpgid(pid) == pid);
  CHECK(::getpgid(pid) != ::getpgid(0));
}

TEST_CASE("signal_group reaches a grandchild in the child's group") {
  Run run;
  run.bash(
      "trap 'echo child-usr1' USR1; "
      "( trap 'echo grandchild-usr1; exit 0' USR1; echo ready $BASHPID; "
      "while :; do sleep 0.05; done ) & "
      "wait; wait");
  REQUIRE(run.wait_out(1));
  REQUIRE(run.out[0].rfind("ready ", 0) == 0);
  const pid_t grandchild = std::stoi(run.out[0].substr(6));
  CHECK(::getpgid(grandchild) == run.child->pid());
  run.child->signal_group(SIGUSR1);
  REQUIRE(run.wait_exit());
  REQUIRE(run_until(run.loop, [&] { return run.out.size() >= 3; }));
  // The grandchild ran its own trap: the signal reached it, not the reaper's SIGKILL.
  CHECK(std::find(run.out.begin(), run.out.end(), "grandchild-usr1") != run.out.end());
  CHECK(std::find(run.out.begin(), run.out.end(), "child-usr1") != run.out.end());
  CHECK(run.exit->describe() == "exit status 0");
}

TEST_CASE("the destructor kills and reaps a running child and kills its group") {
  Run run;
  run.bash("sleep 60 & echo $!; wait");
  REQUIRE(run.wait_out(1));
  const pid_t pid = run.child->pid();
  const pid_t grandchild = std::stoi(run.out[0]);
  REQUIRE(process_state(pid) != 0);
  REQUIRE(process_state(grandchild) != 0);
  run.child.reset();
  // Reaped before the destructor returned: not even a zombie is left.
  CHECK(process_state(pid) == 0);
  CHECK(run.exits == 0);
  CHECK(run_until(
      run.loop, [&] { return dead(grandchild); }, 5s));
}

TEST_CASE("the child starts with every signal at its default and none blocked") {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous {};
  REQUIRE(::sigaction(SIGPIPE, &ignore, &previous) == 0);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigset_t previous_mask;
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &previous_mask) == 0);

  Run run;
  SpawnOptions options;
  options.program = "/bin/cat";
  options.arguments = {"/proc/self/status"};
  run.start(options);
  REQUIRE(run.wait_exit());
  REQUIRE(run_until(run.loop, [&] {
    return std::any_of(run.out.begin(), run.out.end(),
                       [](const std::string& line) { return line.rfind("SigCgt:", 0) == 0; });
  }));
  ::sigaction(SIGPIPE, &previous, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);

  CHECK((status_mask(run.out, "SigIgn") & (1ULL << (SIGPIPE - 1))) == 0);
  CHECK(status_mask(run.out, "SigBlk") == 0);
}
