#pragma once

// One asynchronous Redis connection on the loop (hiredis' async API with its libuv adapter),
// with what hiredis 0.14 lacks: a connect timeout, a per-command timeout, and reconnection with
// exponential backoff and jitter.
//
// After connecting it authenticates (AUTH), selects the database (SELECT) and waits until the
// server has loaded its dataset (a restarted Redis accepts connections, AUTH and SELECT while it
// loads, but answers every other command with LOADING); only then is it ready() and on_ready is
// called. When anything goes wrong (the server closes the connection, a
// command or the connect times out, AUTH fails) every pending command's callback is called with
// an error, on_lost is called, and a new connection is attempted after a backoff
// (100ms doubling to 5s, with jitter), forever, until close().
//
// A timed-out command means the connection is unusable (replies come in order), so a timeout
// drops the connection rather than the one command.
//
// Thread rules: loop thread only. Ownership: owns its hiredis context. Callbacks are never
// called after the Connection is destroyed; destroying it from inside one of its own callbacks
// is not allowed (use Loop::defer).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "triggers/redis/reply.h"
#include "triggers/redis/url.h"

struct redisAsyncContext;

namespace switchyard::triggers::redis {

struct ConnectionOptions {
  Endpoint endpoint;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
  std::string name;  // For logs: "redis jobs (resize) reader".
};

class Connection {
 public:
  using ReplyCallback = std::function<void(core::Result<Reply>)>;

  // `reconnects` (may be null) counts connections lost after having been ready.
  Connection(core::Loop& loop, ConnectionOptions options, core::Counter* reconnects = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_ready(std::function<void()> handler) { on_ready_ = std::move(handler); }
  void on_lost(std::function<void()> handler) { on_lost_ = std::move(handler); }

  // Starts connecting (and reconnecting) until close().
  void start();
  bool ready() const { return ready_; }
  // Commands sent and not answered yet.
  std::size_t pending() const;

  // Sends a command. `extra` lengthens its timeout (a blocking command's BLOCK time). Returns
  // false, without calling `callback`, when the connection is not ready. Otherwise `callback`
  // is called exactly once: with the reply (which may be a Redis error reply), or with an error
  // when the connection is lost or times out first.
  bool send(const std::vector<std::string>& argv, ReplyCallback callback,
            std::chrono::milliseconds extra = std::chrono::milliseconds(0));

  // Disconnects for good: pending callbacks are called with an error, nothing reconnects.
  void close();

  const ConnectionOptions& options() const { return options_; }

  // The delay before reconnection attempt `attempt` (0-based): 100ms * 2^attempt, capped at 5s,
  // then scaled by a random factor in [0.5, 1]. Exposed for tests.
  static std::chrono::milliseconds backoff(int attempt, double random01);

 private:
  struct Session;
  struct Pending;

  void connect();
  void handshake();
  // PINGs until the server answers PONG rather than LOADING, then makes the connection ready.
  void wait_until_loaded(Session* session);
  bool send_raw(const std::vector<std::string>& argv, ReplyCallback callback,
                std::chrono::milliseconds timeout);
  // Forgets `session`; frees its context when `free_context` (otherwise hiredis is already
  // freeing it) and schedules a reconnection unless closed.
  void drop(Session* session, const std::string& reason, bool free_context);
  void schedule_reconnect();
  void check_deadlines();

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);

  core::Loop& loop_;
  ConnectionOptions options_;
  core::Counter* reconnects_;
  std::function<void()> on_ready_;
  std::function<void()> on_lost_;
  Session* session_ = nullptr;
  bool ready_ = false;
  bool started_ = false;
  bool closed_ = false;
  int attempt_ = 0;
  std::string last_error_;
  core::Timer connect_timer_;
  core::Timer reconnect_timer_;
  core::Timer deadline_timer_;
  core::Timer loading_timer_;
};

}  // namespace switchyard::triggers::redis
