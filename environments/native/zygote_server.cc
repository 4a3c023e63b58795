#include "environments/native/zygote_server.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "environments/native/zygote_protocol.h"

namespace switchyard::environments {
namespace {

// The largest request the zygote reads; the daemon sends at most 128 KiB.
constexpr std::size_t kMaxRequest = 256 * 1024;

// Where the zygote reads requests; a copy frees it (the request is decoded by then).
std::unique_ptr<char[]> request_buffer;

// clone3's argument (linux/sched.h's struct clone_args, its first version, a fixed ABI).
struct CloneArgs {
  std::uint64_t flags = 0;
  std::uint64_t pidfd = 0;
  std::uint64_t child_tid = 0;
  std::uint64_t parent_tid = 0;
  std::uint64_t exit_signal = 0;
  std::uint64_t stack = 0;
  std::uint64_t stack_size = 0;
  std::uint64_t tls = 0;
};

// Where a copy writes its command line: the whole room, and how much of it the zygote's own
// arguments took (the rest was its environment's strings).
struct TitleRoom {
  std::span<char> room;
  std::size_t arguments = 0;
};

// The zygote's argument strings and, when they follow them in memory (as the kernel lays them
// out), its environment's.
TitleRoom title_room(int argc, char** argv) {
  if (argc < 1) {
    return {};
  }
  char* begin = argv[0];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;
  TitleRoom title;
  title.arguments = static_cast<std::size_t>(end - begin);
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    if (*entry != end) {
      break;
    }
    end += std::strlen(*entry) + 1;
  }
  title.room = std::span<char>(begin, static_cast<std::size_t>(end - begin));
  return title;
}

// Where glibc caches the calling thread's id (struct pthread's `tid`), from the descriptor
// `_thread_db_pthread_tid` it exports for libthread_db: {size in bits, count, offset}. glibc's
// fork() has the kernel write the child's id there (CLONE_CHILD_SETTID); a clone made by hand
// must too, or the child's pthread_setaffinity_np(pthread_self(), ...) and the like would act
// on the zygote. nullptr when glibc does not say, or says something unexpected.
pid_t* cached_thread_id() {
  const auto* field =
      static_cast<const std::uint32_t*>(::dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
  if (field == nullptr || field[0] != 8 * sizeof(pid_t) || field[1] != 1) {
    return nullptr;
  }
  auto* id = reinterpret_cast<pid_t*>(reinterpret_cast<char*>(::pthread_self()) + field[2]);
  // The main thread of a single-threaded process: its id is the process id.
  return *id == ::getpid() ? id : nullptr;
}

// Shows `arguments` as this process's command line: as they are (NUL-separated) when they fit
// where the zygote's own arguments were, else joined by spaces over the environment's strings
// too (the kernel then reads the command line up to its first NUL: setproctitle's convention),
// cut to the room.
void set_title(std::span<char> room, std::size_t arguments_room,
               const std::vector<std::string>& arguments) {
  if (room.size() < 2) {
    return;
  }
  std::string title;
  for (const std::string& argument : arguments) {
    title.append(argument);
    title.push_back('\0');
  }
  if (title.size() > arguments_room) {
    for (std::size_t i = 0; i + 1 < title.size(); ++i) {
      if (title[i] == '\0') {
        title[i] = ' ';
      }
    }
  }
  std::size_t length = std::min(title.size(), room.size() - 1);
  std::memcpy(room.data(), title.data(), length);
  std::memset(room.data() + length, 0, room.size() - length);
}

// Closes every descriptor from `first` up (close_range, or one at a time on a kernel without
// it, Linux before 5.9).
void close_from(unsigned first) {
  if (::close_range(first, ~0U, 0) == 0) {
    return;
  }
  rlimit limit{};
  const rlim_t last = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                          ? limit.rlim_cur
                          : 65536;
  for (rlim_t fd = first; fd < last; ++fd) {
    ::close(static_cast<int>(fd));
  }
}

// In the new process: what posix_spawn's file actions and attributes do for an environment the
// daemon spawns itself (environments/process.cc), then the environment program proper.
[[noreturn]] void become_environment(ZygoteRequest& request, const std::vector<int>& fds,
                                     EnvironmentMain environment_main, const TitleRoom& title) {
  ::setpgid(0, 0);
  request_buffer.reset();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // stdin is the zygote's, /dev/null. The received descriptors are above 3 (0 to 3 are taken
  // in the zygote), so these dup2 calls never overwrite one another's source.
  ::dup2(fds[0], STDOUT_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  unsigned first_closed = 3;
  if (fds.size() == 3) {
    ::dup2(fds[2], 3);
    first_closed = 4;
  }
  // The zygote's control socket (fd 3, unless replaced above) and the received copies.
  close_from(first_closed);
  if (!request.working_directory.empty() && ::chdir(request.working_directory.c_str()) != 0) {
    std::fprintf(stderr, "switchyard-environment: cannot change to %s: %s\n",
                 request.working_directory.c_str(), std::strerror(errno));
    std::_Exit(126);
  }
  std::vector<char*> argv;
  for (std::string& argument : request.arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  // environ points into these for the rest of the process, exit handlers included: never freed.
  auto* entries = new std::vector<std::string>(std::move(request.environment));
  auto* envp = new std::vector<char*>();
  for (std::string& entry : *entries) {
    envp->push_back(entry.data());
  }
  envp->push_back(nullptr);
  environ = envp->data();
  set_title(title.room, title.arguments, request.arguments);
  std::exit(environment_main(static_cast<int>(argv.size() - 1), argv.data()));
}

// Starts one environment for `request`; its pid, or -errno. Returns only in the zygote.
long start(ZygoteRequest& request, const std::vector<int>& fds, pid_t* thread_id,
           EnvironmentMain environment_main, const TitleRoom& title) {
  std::fflush(nullptr);  // Nothing buffered in the zygote may come out of the child.
  CloneArgs args;
  args.flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
  args.child_tid = reinterpret_cast<std::uint64_t>(thread_id);
  long pid = ::syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) {
    become_environment(request, fds, environment_main, title);
  }
  return pid > 0 ? pid : -errno;
}

}  // namespace

int serve_zygote(int control_fd, EnvironmentMain environment_main, int argc, char** argv) {
  TitleRoom title = title_room(argc, argv);
  pid_t* thread_id = cached_thread_id();
  if (thread_id == nullptr) {
    std::fprintf(stderr,
                 "switchyard-environment: cannot serve as a zygote: this C library does "
                 "not say where it keeps a thread's id\n");
    return 1;
  }
  // Left uninitialised (a request touches only the pages it fills); a copy frees it first thing
  // (become_environment), so that it does not count against the function's memory limit.
  request_buffer.reset(new char[kMaxRequest]);
  char* buffer = request_buffer.get();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kZygoteMaxFds)];
  for (;;) {
    iovec iov{buffer, kMaxRequest};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ssize_t got = ::recvmsg(control_fd, &message, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      // The daemon closed its end (or is gone): nothing more to start.
      return got == 0 ? 0 : 1;
    }
    std::vector<int> fds;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
        std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
          fds.push_back(fd);
        }
      }
    }
    ZygoteReply reply;
    ZygoteRequest request;
    if ((message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || fds.size() < 2 ||
        fds.size() > kZygoteMaxFds ||
        !decode_zygote_request(std::string_view(buffer, static_cast<std::size_t>(got)), request)) {
      reply.error = EINVAL;
    } else {
      long started = start(request, fds, thread_id, environment_main, title);
      if (started > 0) {
        reply.pid = static_cast<std::int32_t>(started);
      } else {
        reply.error = static_cast<std::int32_t>(-started);
      }
    }
    for (int fd : fds) {
      ::close(fd);
    }
    if (::send(control_fd, &reply, sizeof(reply), MSG_NOSIGNAL) != sizeof(reply)) {
      return 1;
    }
  }
}

}  // namespace switchyard::environments
