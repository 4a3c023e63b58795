#pragma once

// A real redis-server for tests: on a free port, in its own temp dir, with appendonly yes,
// stopped at the end. Header-only; used by tests/integration/redis_test.cc and the Redis unit
// tests that need a server.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/url.h"

namespace switchyard::testing {

using namespace std::chrono_literals;

// A port nothing listens on right now: bound to port 0, read back, closed.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Whether process `pid` (our child) has exited: it is a zombie until reaped.
inline bool exited(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_text, name, state;
  if (!(stat >> pid_text >> name >> state)) {
    return true;
  }
  return state == "Z";
}

struct RedisServerOptions {
  std::string password;       // requirepass.
  bool unix_socket = false;   // Also listen on <dir>/redis.sock.
  bool fsync_always = false;  // appendfsync always: survives SIGKILL without losing writes.
  // Loads each key of the append-only file's RDB base (see rewrite_aof()) 1ms at a time and
  // answers clients while it loads (with LOADING to all but a few commands), as a restarted
  // Redis with a large dataset does.
  bool slow_loading = false;
};

// A real redis-server in its own temp dir, append-only file on, killed at the end.
class RedisServer {
 public:
  using Options = RedisServerOptions;

  explicit RedisServer(RedisServerOptions options = RedisServerOptions())
      : options_(std::move(options)) {
    for (int attempt = 0; attempt < 5 && !child_; ++attempt) {
      port_ = free_port();
      if (!launch()) {
        child_.reset();
      }
    }
    REQUIRE_MESSAGE(child_ != nullptr, "redis-server did not start");
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  std::string socket_path() const { return dir_.path() + "/redis.sock"; }

  // What restart() waits for: the dataset loaded (PING answers PONG), or only a server that
  // answers (PONG, or LOADING while it loads).
  enum class Wait { kLoaded, kAnswering };

  // A restart on the same port and data: graceful (SIGTERM: the append-only file is written),
  // or a crash (SIGKILL: with appendfsync always, every acknowledged write survives).
  void restart(int signum = SIGTERM, Wait wait = Wait::kLoaded) {
    child_->signal(signum);
    auto result = child_->wait(20s);
    REQUIRE_MESSAGE(!result.timed_out, "redis-server did not stop");
    child_.reset();
    // The port is ours until something else takes it; retry briefly if the old socket lingers.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!launch(wait)) {
      child_.reset();
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                      "redis-server did not start again");
    }
  }

  // Rewrites the append-only file (BGREWRITEAOF), so that its base holds the whole dataset in
  // RDB form, and waits until that is done.
  void rewrite_aof() {
    auto client = this->client();
    auto started = client.command({"BGREWRITEAOF"});
    REQUIRE(started.ok());
    REQUIRE_MESSAGE(!started->is_error(), started->str);
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto info = client.command({"INFO", "persistence"});
      REQUIRE(info.ok());
      if (info->str.find("aof_rewrite_in_progress:0") != std::string::npos &&
          info->str.find("aof_rewrite_scheduled:0") != std::string::npos) {
        REQUIRE(info->str.find("aof_last_bgrewrite_status:ok") != std::string::npos);
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL("BGREWRITEAOF did not finish within 30s");
  }

  // Whether the server is still loading its dataset (INFO persistence says loading:1).
  bool loading() const {
    auto client = triggers::redis::BlockingClient::connect(endpoint(), 2000ms, 10000ms);
    REQUIRE(client.ok());
    auto info = client->command({"INFO", "persistence"});
    REQUIRE(info.ok());
    return info->str.find("loading:1") != std::string::npos;
  }

  // Freezes the server (SIGSTOP): connections stay open and nothing answers. resume() thaws it.
  void pause() { child_->signal(SIGSTOP); }
  void resume() { child_->signal(SIGCONT); }

  void stop() {
    if (child_) {
      child_->signal(SIGCONT);
      child_->signal(SIGTERM);
      (void)child_->wait(20s);
      child_.reset();
    }
  }

  ~RedisServer() { stop(); }

  triggers::redis::Endpoint endpoint() const {
    triggers::redis::Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = port_;
    endpoint.password = options_.password;
    return endpoint;
  }

  triggers::redis::BlockingClient client() const {
    auto endpoint = this->endpoint();
    auto client = triggers::redis::BlockingClient::connect(endpoint, 2000ms, 10000ms);
    REQUIRE_MESSAGE(client.ok(), (client.ok() ? "" : client.error().message()));
    return std::move(client).value();
  }

 private:
  bool launch(Wait wait = Wait::kLoaded) {
    std::vector<std::string> argv = {"/usr/bin/redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_.path(),
                                     "--appendonly",
                                     "yes",
                                     "--save",
                                     "",
                                     "--logfile",
                                     dir_.path() + "/redis.log",
                                     "--daemonize",
                                     "no"};
    if (!options_.password.empty()) {
      argv.insert(argv.end(), {"--requirepass", options_.password});
    }
    if (options_.fsync_always) {
      argv.insert(argv.end(), {"--appendfsync", "always"});
    }
    if (options_.unix_socket) {
      argv.insert(argv.end(), {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
    }
    if (options_.slow_loading) {
      argv.insert(argv.end(),
                  {"--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"});
    }
    child_ = std::make_unique<Child>(argv);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto client = triggers::redis::BlockingClient::connect(endpoint(), 200ms, 1000ms);
      if (client.ok()) {
        auto pong = client->command({"PING"});
        if (pong.ok() && (pong->str == "PONG" ||
                          (wait == Wait::kAnswering && pong->error_code() == "LOADING"))) {
          return true;
        }
      }
      // Exited (port taken): give up on this port.
      if (exited(child_->pid())) {
        return false;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  Options options_;
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Child> child_;
};

}  // namespace switchyard::testing
