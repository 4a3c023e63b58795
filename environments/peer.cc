#include "environments/peer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace switchyard::environments {
namespace {

// Closes a descriptor at scope exit.
struct ScopedFd {
  int fd;
  ~ScopedFd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

// The pids of `pid`'s children, from /proc/<pid>/task/<tid>/children of each of its threads.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) {
    return children;
  }
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::ifstream file(tasks + "/" + entry->d_name + "/children");
    pid_t child = 0;
    while (file >> child) {
      children.push_back(child);
    }
  }
  ::closedir(dir);
  return children;
}

bool holds_socket(pid_t pid, ino_t inode) {
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(fds.c_str());
  if (dir == nullptr) {
    return false;
  }
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  std::array<char, 64> target{};
  bool found = false;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::string path = fds + "/" + entry->d_name;
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n > 0 && std::string_view(target.data(), static_cast<std::size_t>(n)) == wanted) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

std::optional<ino_t> peer_socket_inode(int fd) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_length = sizeof(local);
  socklen_t peer_length = sizeof(peer);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0 ||
      local.ss_family != peer.ss_family ||
      (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
    return std::nullopt;
  }

  // The peer's socket, named from its side: its address and port are the source.
  inet_diag_req_v2 request{};
  request.sdiag_family = static_cast<std::uint8_t>(peer.ss_family);
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_states = ~0U;
  request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  if (peer.ss_family == AF_INET) {
    const auto* from = reinterpret_cast<const sockaddr_in*>(&peer);
    const auto* to = reinterpret_cast<const sockaddr_in*>(&local);
    request.id.idiag_sport = from->sin_port;
    request.id.idiag_dport = to->sin_port;
    std::memcpy(request.id.idiag_src, &from->sin_addr, sizeof(from->sin_addr));
    std::memcpy(request.id.idiag_dst, &to->sin_addr, sizeof(to->sin_addr));
  } else {
    const auto* from = reinterpret_cast<const sockaddr_in6*>(&peer);
    const auto* to = reinterpret_cast<const sockaddr_in6*>(&local);
    request.id.idiag_sport = from->sin6_port;
    request.id.idiag_dport = to->sin6_port;
    std::memcpy(request.id.idiag_src, &from->sin6_addr, sizeof(from->sin6_addr));
    std::memcpy(request.id.idiag_dst, &to->sin6_addr, sizeof(to->sin6_addr));
  }

  ScopedFd netlink{::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
  if (netlink.fd < 0) {
    return std::nullopt;
  }
  struct {
    nlmsghdr header;
    inet_diag_req_v2 body;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.body = request;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(netlink.fd, &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    return std::nullopt;
  }
  alignas(nlmsghdr) char buffer[8192];
  ssize_t n = 0;
  do {
    n = ::recv(netlink.fd, buffer, sizeof(buffer), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    return std::nullopt;
  }
  for (auto* header = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(header, n);
       header = NLMSG_NEXT(header, n)) {
    if (header->nlmsg_type == NLMSG_ERROR || header->nlmsg_type == NLMSG_DONE) {
      return std::nullopt;
    }
    if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        header->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      const auto* diag = static_cast<const inet_diag_msg*>(NLMSG_DATA(header));
      if (diag->idiag_inode == 0) {
        return std::nullopt;
      }
      return static_cast<ino_t>(diag->idiag_inode);
    }
  }
  return std::nullopt;
}

bool process_tree_holds_socket(pid_t root, ino_t inode) {
  std::vector<pid_t> pending{root};
  // A tree is small (a runtime and the odd curl); the bound only stops a fork bomb from making
  // the daemon walk for ever.
  for (std::size_t visited = 0; !pending.empty() && visited < 4096; ++visited) {
    pid_t pid = pending.back();
    pending.pop_back();
    if (holds_socket(pid, inode)) {
      return true;
    }
    for (pid_t child : children_of(pid)) {
      pending.push_back(child);
    }
  }
  return false;
}

}  // namespace switchyard::environments
