#include "support/proc.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>

namespace switchyard::testing {

std::string read_proc_file(pid_t pid, const std::string& name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      if (got < 0) {
        text.clear();  // ESRCH: it went meanwhile.
      }
      break;
    }
    text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return text;
}

ProcStat proc_stat(pid_t pid) {
  const std::string text = read_proc_file(pid, "stat");
  ProcStat stat;
  // The name in parentheses may hold anything: the fields follow the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return stat;
  }
  std::istringstream rest(text.substr(close + 2));
  rest >> stat.state >> stat.ppid >> stat.pgid;
  stat.pid = pid;
  return stat;
}

std::set<std::string> open_descriptors(pid_t pid) {
  std::set<std::string> fds;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    fds.insert(entry.path().filename().string());
  }
  return fds;
}

}  // namespace switchyard::testing
