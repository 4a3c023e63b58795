// The environment zygote with the real switchyard-environment: what a process it starts is
// given (the daemon as its parent, a process group of its own, exactly the stdout, stderr,
// fd 3, environment and working directory asked for), how it ends, that it outlives the
// zygote, and that a zygote that cannot serve leaves environments to be spawned directly.

#include "environments/zygote.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/sanitizers.h"
#include "environments/process.h"
#include "support/proc.h"
#include "support/process.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using environments::ChildProcess;
using environments::ExitStatus;
using environments::OutputStream;
using environments::SpawnOptions;
using environments::Zygote;
using switchyard::testing::open_descriptors;
using switchyard::testing::proc_stat;
using switchyard::testing::ProcStat;
using switchyard::testing::run_until;
using switchyard::testing::TempDir;

namespace {

constexpr const char* kProgram = SWITCHYARD_ENVIRONMENT_PROGRAM;

std::vector<std::string> environment_of(pid_t pid) {
  std::string text = switchyard::testing::read_proc_file(pid, "environ");
  std::vector<std::string> entries;
  std::istringstream in(text);
  for (std::string entry; std::getline(in, entry, '\0');) {
    entries.push_back(entry);
  }
  return entries;
}

// switchyard-environment running `program args...` for this process (its "daemon").
SpawnOptions environment(std::vector<std::string> command) {
  SpawnOptions options;
  options.program = kProgram;
  options.arguments = {"--parent-pid", std::to_string(::getpid()), "--exec"};
  options.arguments.insert(options.arguments.end(), command.begin(), command.end());
  options.environment = {"PATH=/usr/bin:/bin", "FROM_REQUEST=yes"};
  return options;
}

struct Child {
  std::vector<std::string> out;
  std::optional<ExitStatus> exit;
  std::unique_ptr<ChildProcess> process;

  core::Status try_start(core::Loop& loop, const SpawnOptions& options, Zygote* zygote) {
    auto spawned = ChildProcess::spawn(
        loop, options,
        [this](OutputStream stream, std::string_view line) {
          if (stream == OutputStream::kStdout) {
            out.emplace_back(line);
          }
        },
        [this](ExitStatus status) { exit = status; }, zygote);
    if (!spawned.ok()) {
      return spawned.error();
    }
    process = std::move(spawned).value();
    return core::Status::ok_status();
  }
  void start(core::Loop& loop, const SpawnOptions& options, Zygote* zygote) {
    core::Status started = try_start(loop, options, zygote);
    REQUIRE_MESSAGE(started.ok(), started.error().message());
  }
};

}  // namespace

TEST_CASE("a process the zygote starts is this process's child with exactly what it asked for") {
  core::Loop loop;
  Zygote zygote(loop, kProgram);
  TempDir dir;
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  SpawnOptions options = environment({"/bin/sleep", "30"});
  options.working_directory = dir.path();
  options.inherit_fd = pair[1];
  REQUIRE(zygote.serves(options) == !core::kShadowMemorySanitizer);

  Child child;
  child.start(loop, options, &zygote);
  ::close(pair[1]);
  ::close(pair[0]);
  pid_t pid = child.process->pid();
  if (!core::kShadowMemorySanitizer) {
    REQUIRE(zygote.pid() > 0);
    CHECK(pid != zygote.pid());
  }
  // Once it runs sleep, it has exactly these descriptors and this environment. (Checked in
  // one go, until true: /proc shows the new executable a moment before the exec has closed the
  // old one's descriptors and laid out the new environment, and sleep's dynamic loader opens
  // files of its own for a moment; a descriptor that leaked would be there throughout.)
  const std::set<std::string> descriptors{"0", "1", "2", "3"};
  CHECK(run_until(
      loop,
      [&] {
        std::error_code error;
        return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error) ==
                   "/usr/bin/sleep" &&
               open_descriptors(pid) == descriptors && environment_of(pid) == options.environment;
      },
      10s));
  ProcStat stat = proc_stat(pid);
  CHECK(stat.ppid == ::getpid());
  CHECK(stat.pgid == pid);
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd") == dir.path());

  // It is this process's to stop and reap, as one it spawned itself.
  child.process->signal_group(SIGTERM);
  REQUIRE(run_until(
      loop, [&] { return child.exit.has_value(); }, 10s));
  CHECK(child.exit->signaled);
  CHECK(child.exit->signal == SIGTERM);
}

TEST_CASE("environments a zygote started go on without it, and a new zygote starts the next") {
  if (core::kShadowMemorySanitizer) {
    MESSAGE("skipped: a sanitizer build has no zygote");
    return;
  }
  core::Loop loop;
  Zygote zygote(loop, kProgram);
  Child first;
  first.start(loop, environment({"/bin/sleep", "30"}), &zygote);
  const pid_t old_zygote = zygote.pid();
  REQUIRE(old_zygote > 0);
  SUBCASE("the zygote was killed") {
    REQUIRE(::kill(old_zygote, SIGKILL) == 0);
    REQUIRE(run_until(
        loop, [&] { return zygote.pid() == 0; }, 10s));
  }
  SUBCASE("the zygote was renewed (a reload)") {
    zygote.renew();
    CHECK(zygote.pid() == 0);
    CHECK(proc_stat(old_zygote).pid == 0);  // Stopped and reaped.
  }
  // Given no fd 3, it has none: not the zygote's control socket either.
  CHECK(run_until(
      loop,
      [&] {
        return open_descriptors(first.process->pid()) == std::set<std::string>{"0", "1", "2"};
      },
      10s));
  // Still running, still this process's child.
  CHECK(first.process->running());
  CHECK_FALSE(first.exit.has_value());
  const char state = proc_stat(first.process->pid()).state;
  CHECK((state == 'R' || state == 'S'));
  CHECK(proc_stat(first.process->pid()).ppid == ::getpid());

  Child second;
  second.start(loop, environment({"/bin/sh", "-c", "echo second; exit 3"}), &zygote);
  CHECK(zygote.pid() > 0);
  CHECK(zygote.pid() != old_zygote);
  REQUIRE(run_until(
      loop, [&] { return second.exit.has_value(); }, 10s));
  CHECK(second.out == std::vector<std::string>{"second"});
  CHECK_FALSE(second.exit->signaled);
  CHECK(second.exit->code == 3);

  // The first is still there, and still this process's to stop.
  CHECK_FALSE(first.exit.has_value());
  first.process->signal_group(SIGTERM);
  REQUIRE(run_until(
      loop, [&] { return first.exit.has_value(); }, 10s));
  CHECK(first.exit->signaled);
  CHECK(first.exit->signal == SIGTERM);
}

TEST_CASE("a zygote that cannot serve leaves each environment to be spawned directly") {
  core::Loop loop;
  TempDir dir;
  // A "zygote" that ends at once without answering; spawned directly, it prints its arguments.
  std::string fake = dir.path() + "/fake-environment";
  {
    std::ofstream script(fake);
    script << "#!/bin/sh\necho \"$@\"\n";
  }
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  Zygote zygote(loop, fake);
  SpawnOptions options;
  options.program = fake;
  options.arguments = {"direct"};
  options.environment = {"PATH=/usr/bin:/bin"};
  auto spawn_directly = [&] {
    Child child;
    child.start(loop, options, &zygote);
    REQUIRE(run_until(
        loop, [&] { return child.exit.has_value() && !child.out.empty(); }, 10s));
    CHECK(child.out == std::vector<std::string>{"direct"});
    CHECK(child.exit->code == 0);
  };
  if (core::kShadowMemorySanitizer) {
    CHECK_FALSE(zygote.serves(options));
    spawn_directly();
    return;
  }
  for (int i = 0; i < Zygote::kMaxFailures; ++i) {
    CHECK(zygote.serves(options));
    // The fake took the request (its descriptors) and ended without an answer: this start
    // fails, as a copy might hold them; or it had ended before the request: spawned directly.
    Child child;
    if (core::Status started = child.try_start(loop, options, &zygote); !started.ok()) {
      CHECK(started.error().message().find("environment zygote: no answer") != std::string::npos);
      continue;
    }
    REQUIRE(run_until(
        loop, [&] { return child.exit.has_value() && !child.out.empty(); }, 10s));
    CHECK(child.out == std::vector<std::string>{"direct"});
  }
  // Given up on after kMaxFailures in a row: spawned directly from now on.
  CHECK_FALSE(zygote.serves(options));
  spawn_directly();
}
