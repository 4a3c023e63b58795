// Who is at the other end of a loopback connection: the peer's socket inode from the kernel's
// socket diagnostics, and whether a process tree holds that socket, with real processes.

#include "environments/peer.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/process.h"

using namespace std::chrono_literals;
using switchyard::environments::peer_socket_inode;
using switchyard::environments::process_tree_holds_socket;
using switchyard::testing::Child;
using switchyard::testing::eventually;

namespace {

// A listening socket on 127.0.0.1 (or ::1) on a free port.
struct Listener {
  int fd = -1;
  int port = 0;
  explicit Listener(int family = AF_INET) {
    fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_storage address{};
    socklen_t length = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&address);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(sockaddr_in);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      length = sizeof(sockaddr_in6);
    }
    ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 && ::listen(fd, 16) == 0;
    if (ok) {
      socklen_t bound = sizeof(address);
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &bound);
      port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
    }
  }
  ~Listener() { ::close(fd); }
  // The next connection, within a deadline; -1 when none came.
  int accept_one(std::chrono::milliseconds timeout = 10s) {
    pollfd wait{fd, POLLIN, 0};
    if (::poll(&wait, 1, static_cast<int>(timeout.count())) != 1) {
      return -1;
    }
    return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  bool ok = false;
};

// A client socket of this process connected to `listener`.
int connect_to(const Listener& listener, int family = AF_INET) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_storage address{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(listener.port));
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(listener.port));
    in6->sin6_addr = in6addr_loopback;
    length = sizeof(sockaddr_in6);
  }
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
  return fd;
}

ino_t inode_of(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

// A bash script that connects to `port` itself and holds the connection open (in bash itself,
// no child of its own) until the other end closes it.
std::string hold_connection(int port) {
  return "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
         " && echo connected >&2 && read -r line <&3";
}

}  // namespace

TEST_CASE("peer_socket_inode names the client's socket of an accepted loopback connection") {
  Listener listener;
  REQUIRE(listener.ok);
  int client = connect_to(listener);
  int server = listener.accept_one();
  REQUIRE(server >= 0);
  auto inode = peer_socket_inode(server);
  REQUIRE(inode.has_value());
  CHECK(*inode == inode_of(client));
  CHECK(std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(client)).string() ==
        "socket:[" + std::to_string(*inode) + "]");
  // Not its own socket: the other end's.
  CHECK(*inode != inode_of(server));
  // Asked from the client's side, it names the server's accepted socket.
  auto back = peer_socket_inode(client);
  REQUIRE(back.has_value());
  CHECK(*back == inode_of(server));
  ::close(client);
  ::close(server);
}

TEST_CASE("peer_socket_inode works over IPv6 loopback") {
  Listener listener(AF_INET6);
  if (!listener.ok) {
    MESSAGE("no IPv6 loopback here; skipped");
    return;
  }
  int client = connect_to(listener, AF_INET6);
  int server = listener.accept_one();
  REQUIRE(server >= 0);
  auto inode = peer_socket_inode(server);
  REQUIRE(inode.has_value());
  CHECK(*inode == inode_of(client));
  ::close(client);
  ::close(server);
}

TEST_CASE("peer_socket_inode knows nothing of what is not a connected TCP socket") {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  CHECK_FALSE(peer_socket_inode(pipe_fds[0]).has_value());
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  int unix_pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair) == 0);
  CHECK_FALSE(peer_socket_inode(unix_pair[0]).has_value());
  ::close(unix_pair[0]);
  ::close(unix_pair[1]);
  Listener listener;
  REQUIRE(listener.ok);
  CHECK_FALSE(peer_socket_inode(listener.fd).has_value());
}

TEST_CASE("process_tree_holds_socket finds the socket in the process or a descendant") {
  Listener listener;
  REQUIRE(listener.ok);

  SUBCASE("a child that connected itself") {
    Child child({"/bin/bash", "-c", hold_connection(listener.port)});
    REQUIRE(child.wait_for_err("connected"));
    int server = listener.accept_one();
    REQUIRE(server >= 0);
    auto inode = peer_socket_inode(server);
    REQUIRE(inode.has_value());
    CHECK(process_tree_holds_socket(child.pid(), *inode));
    // Once the process has gone, nothing holds it.
    child.signal(SIGKILL);
    child.wait(10s);
    CHECK_FALSE(process_tree_holds_socket(child.pid(), *inode));
    ::close(server);
  }

  SUBCASE("a grandchild (the child itself holds nothing)") {
    // The trailing `:` keeps the outer bash from exec'ing the inner one.
    Child child({"/bin/bash", "-c", "/bin/bash -c '" + hold_connection(listener.port) + "'; :"});
    REQUIRE(child.wait_for_err("connected"));
    int server = listener.accept_one();
    REQUIRE(server >= 0);
    auto inode = peer_socket_inode(server);
    REQUIRE(inode.has_value());
    CHECK(process_tree_holds_socket(child.pid(), *inode));
    ::close(server);
  }
}

TEST_CASE("process_tree_holds_socket is false for a process that does not hold the socket") {
  Listener listener;
  REQUIRE(listener.ok);
  // This test process holds the client's end.
  int client = connect_to(listener);
  int server = listener.accept_one();
  REQUIRE(server >= 0);
  auto inode = peer_socket_inode(server);
  REQUIRE(inode.has_value());
  CHECK(process_tree_holds_socket(::getpid(), *inode));

  // A child of this process that does not hold it: the walk goes down the tree, never up.
  Child unrelated({"/bin/bash", "-c", "echo started >&2; exec sleep 60"});
  REQUIRE(unrelated.wait_for_err("started"));
  CHECK_FALSE(process_tree_holds_socket(unrelated.pid(), *inode));

  // Another process that holds a different connection to the same port.
  Child other({"/bin/bash", "-c", hold_connection(listener.port)});
  REQUIRE(other.wait_for_err("connected"));
  int other_server = listener.accept_one();
  REQUIRE(other_server >= 0);
  CHECK_FALSE(process_tree_holds_socket(other.pid(), *inode));
  auto other_inode = peer_socket_inode(other_server);
  REQUIRE(other_inode.has_value());
  CHECK(process_tree_holds_socket(other.pid(), *other_inode));
  CHECK_FALSE(process_tree_holds_socket(unrelated.pid(), *other_inode));

  ::close(other_server);
  ::close(client);
  ::close(server);
}
