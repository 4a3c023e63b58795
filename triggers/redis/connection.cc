#include "triggers/redis/connection.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <random>

#include "triggers/redis/hiredis_reply.h"

namespace switchyard::triggers::redis {

using std::chrono::milliseconds;

namespace {

// How often a server that is loading its dataset is asked again.
constexpr milliseconds kLoadingPoll(100);

}  // namespace

// What a hiredis context points back to (ac->data). It outlives its context: it is deleted at
// a safe point after the context is freed, so hiredis' last callbacks can still read it.
struct Connection::Session {
  Connection* owner = nullptr;  // Null once the connection has let go of this context.
  redisAsyncContext* context = nullptr;
  std::deque<std::uint64_t> deadlines;  // Loop time (ms) by which each pending command is late.
  std::string reason;                   // Why the connection dropped the context, for callbacks.
  bool ready = false;                   // The handshake succeeded.
  bool loading = false;                 // The server answered LOADING at least once.
  bool silent = false;                  // The owner is gone: call no callback.
};

struct Connection::Pending {
  ReplyCallback callback;
};

Connection::Connection(core::Loop& loop, ConnectionOptions options, core::Counter* reconnects)
    : loop_(loop),
      options_(std::move(options)),
      reconnects_(reconnects),
      connect_timer_(loop,
                     [this] {
                       if (session_ != nullptr && !ready_) {
                         drop(session_,
                              "no connection within connect_timeout (" +
                                  std::to_string(options_.connect_timeout.count()) + "ms)",
                              true);
                       }
                     }),
      reconnect_timer_(loop, [this] { connect(); }),
      deadline_timer_(loop, [this] { check_deadlines(); }),
      loading_timer_(loop, [this] {
        if (session_ != nullptr && !ready_) {
          wait_until_loaded(session_);
        }
      }) {}

Connection::~Connection() {
  closed_ = true;
  if (session_ == nullptr) {
    return;
  }
  Session* session = session_;
  session_ = nullptr;
  session->silent = true;
  session->owner = nullptr;
  bool in_callback = (session->context->c.flags & REDIS_IN_CALLBACK) != 0;
  redisAsyncFree(session->context);
  if (in_callback) {
    // hiredis frees the context when the running callback returns.
    loop_.defer([session] { delete session; });
  } else {
    delete session;
  }
}

milliseconds Connection::backoff(int attempt, double random01) {
  double base = 100.0 * static_cast<double>(1ull << std::min(attempt, 16));
  double capped = std::min(base, 5000.0);
  return milliseconds(static_cast<milliseconds::rep>(capped * (0.5 + 0.5 * random01)));
}

void Connection::start() {
  if (started_ || closed_) {
    return;
  }
  started_ = true;
  connect();
}

std::size_t Connection::pending() const {
  return session_ == nullptr ? 0 : session_->deadlines.size();
}

void Connection::connect() {
  if (closed_ || session_ != nullptr) {
    return;
  }
  const Endpoint& endpoint = options_.endpoint;
  redisAsyncContext* context = endpoint.unix_path.empty()
                                   ? redisAsyncConnect(endpoint.host.c_str(), endpoint.port)
                                   : redisAsyncConnectUnix(endpoint.unix_path.c_str());
  if (context == nullptr || context->err != 0) {
    std::string reason = context == nullptr ? "out of memory" : context->errstr;
    if (context != nullptr) {
      redisAsyncFree(context);
    }
    last_error_ = reason;
    if (attempt_ < 3 || attempt_ % 20 == 0) {
      spdlog::warn("{}: cannot connect to {}: {}", options_.name, endpoint.describe(), reason);
    }
    schedule_reconnect();
    return;
  }
  auto* session = new Session;
  session->owner = this;
  session->context = context;
  context->data = session;
  if (redisLibuvAttach(context, loop_.raw()) != REDIS_OK) {
    // The adapter failed before taking over the socket: free the context without it.
    context->data = nullptr;
    redisAsyncFree(context);
    delete session;
    spdlog::error("{}: cannot watch the redis socket on the loop", options_.name);
    schedule_reconnect();
    return;
  }
  if (endpoint.unix_path.empty()) {
    // Notices a peer that vanished without closing (a dead host) on an idle connection. Not on
    // a unix socket: hiredis would mark the context as failed ("Operation not supported").
    redisEnableKeepAlive(&context->c);
  }
  redisAsyncSetConnectCallback(context, &Connection::on_connect);
  redisAsyncSetDisconnectCallback(context, &Connection::on_disconnect);
  session_ = session;
  connect_timer_.start(options_.connect_timeout);
  auto interval = std::clamp(options_.command_timeout / 4, milliseconds(10), milliseconds(250));
  deadline_timer_.start(interval, interval);
  handshake();
}

void Connection::handshake() {
  Session* session = session_;
  auto fail = [this, session](const std::string& step, const core::Result<Reply>& reply) {
    if (session != session_) {
      return;  // Already dropped: the reason is logged.
    }
    std::string why = reply.ok() ? reply.value().str : reply.error().message();
    drop(session, step + " failed: " + why, true);
  };
  const Endpoint& endpoint = options_.endpoint;
  if (!endpoint.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint.user.empty()) {
      auth.push_back(endpoint.user);
    }
    auth.push_back(endpoint.password);
    send_raw(
        auth,
        [fail](core::Result<Reply> reply) {
          if (!reply.ok() || reply.value().is_error()) {
            fail("AUTH", reply);
          }
        },
        options_.connect_timeout);
  }
  send_raw(
      {"SELECT", std::to_string(endpoint.db)},
      [this, session, fail](core::Result<Reply> reply) {
        if (!reply.ok() || reply.value().is_error()) {
          fail("SELECT " + std::to_string(options_.endpoint.db), reply);
          return;
        }
        if (session != session_) {
          return;
        }
        wait_until_loaded(session);
      },
      options_.connect_timeout);
}

void Connection::wait_until_loaded(Session* session) {
  send_raw(
      {"PING"},
      [this, session](core::Result<Reply> reply) {
        if (session != session_) {
          return;
        }
        if (reply.ok() && reply->error_code() == "LOADING") {
          // It answers, so connect_timeout is met; loading a large dataset can take minutes.
          connect_timer_.stop();
          if (!session->loading) {
            session->loading = true;
            spdlog::info("{}: {} is loading its dataset; waiting", options_.name,
                         options_.endpoint.describe());
          }
          loading_timer_.start(kLoadingPoll);
          return;
        }
        if (!reply.ok() || reply->is_error()) {
          drop(session, "PING failed: " + (reply.ok() ? reply->str : reply.error().message()),
               true);
          return;
        }
        connect_timer_.stop();
        session->ready = true;
        ready_ = true;
        if (attempt_ > 0 || session->loading) {
          spdlog::info("{}: connected to {} again", options_.name, options_.endpoint.describe());
        }
        attempt_ = 0;
        if (on_ready_) {
          on_ready_();
        }
      },
      options_.connect_timeout);
}

bool Connection::send(const std::vector<std::string>& argv, ReplyCallback callback,
                      milliseconds extra) {
  if (!ready_) {
    return false;
  }
  return send_raw(argv, std::move(callback), options_.command_timeout + extra);
}

bool Connection::send_raw(const std::vector<std::string>& argv, ReplyCallback callback,
                          milliseconds timeout) {
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& arg : argv) {
    args.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto pending = std::make_unique<Pending>();
  pending->callback = std::move(callback);
  if (redisAsyncCommandArgv(session_->context, &Connection::on_reply, pending.get(),
                            static_cast<int>(args.size()), args.data(),
                            lengths.data()) != REDIS_OK) {
    return false;
  }
  pending.release();  // Owned by hiredis until on_reply.
  session_->deadlines.push_back(loop_.now_ms() + static_cast<std::uint64_t>(timeout.count()));
  return true;
}

void Connection::check_deadlines() {
  if (session_ == nullptr || session_->deadlines.empty()) {
    return;
  }
  uv_update_time(loop_.raw());
  if (session_->deadlines.front() <= loop_.now_ms()) {
    spdlog::warn("{}: a command to {} got no reply within command_timeout ({}ms); reconnecting",
                 options_.name, options_.endpoint.describe(), options_.command_timeout.count());
    drop(session_,
         "no reply within command_timeout (" + std::to_string(options_.command_timeout.count()) +
             "ms)",
         true);
  }
}

void Connection::drop(Session* session, const std::string& reason, bool free_context) {
  if (session == nullptr || session != session_) {
    return;
  }
  bool was_ready = session->ready;
  session_ = nullptr;
  ready_ = false;
  connect_timer_.stop();
  deadline_timer_.stop();
  loading_timer_.stop();
  session->reason = reason;
  last_error_ = reason;
  if (free_context) {
    // Calls every pending callback with no reply (now, or when the running callback returns).
    redisAsyncFree(session->context);
  }
  session->owner = nullptr;
  loop_.defer([session] { delete session; });
  if (closed_) {
    return;
  }
  if (was_ready) {
    if (reconnects_ != nullptr) {
      reconnects_->inc_unshared();
    }
    spdlog::warn("{}: lost the connection to {}: {}; reconnecting", options_.name,
                 options_.endpoint.describe(), reason);
  } else if (attempt_ < 3 || attempt_ % 20 == 0) {
    spdlog::warn("{}: cannot connect to {}: {}", options_.name, options_.endpoint.describe(),
                 reason);
  }
  schedule_reconnect();
  if (was_ready && on_lost_) {
    on_lost_();
  }
}

void Connection::schedule_reconnect() {
  if (closed_) {
    return;
  }
  static thread_local std::minstd_rand random(std::random_device{}());
  double random01 = std::uniform_real_distribution<double>(0.0, 1.0)(random);
  reconnect_timer_.start(backoff(attempt_, random01));
  ++attempt_;
}

void Connection::close() {
  closed_ = true;
  reconnect_timer_.stop();
  if (session_ != nullptr) {
    drop(session_, "the connection was closed", true);
  }
}

void Connection::on_connect(const redisAsyncContext* context, int status) {
  auto* session = static_cast<Session*>(context->data);
  if (session == nullptr || session->owner == nullptr || status == REDIS_OK) {
    // Readiness waits for the SELECT reply.
    return;
  }
  // hiredis frees the context when this callback returns.
  session->owner->drop(session, context->errstr, false);
}

void Connection::on_disconnect(const redisAsyncContext* context, int /*status*/) {
  auto* session = static_cast<Session*>(context->data);
  if (session == nullptr || session->owner == nullptr) {
    return;
  }
  std::string reason = context->err != 0 ? context->errstr : "the server closed the connection";
  session->owner->drop(session, reason, false);
}

void Connection::on_reply(redisAsyncContext* context, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  auto* session = static_cast<Session*>(context->data);
  if (session == nullptr) {
    return;
  }
  if (!session->deadlines.empty()) {
    session->deadlines.pop_front();
  }
  if (session->silent || !pending->callback) {
    return;
  }
  if (reply == nullptr) {
    // hiredis fails every pending command because the context is going away.
    if (session->owner != nullptr && session->owner->session_ == session) {
      session->owner->ready_ = false;
    }
    std::string reason = !session->reason.empty() ? session->reason
                         : context->err != 0      ? std::string(context->errstr)
                                                  : std::string("the connection closed");
    pending->callback(core::Error(core::ErrorCode::kUnavailable, "redis: " + reason));
    return;
  }
  pending->callback(copy_reply(static_cast<const redisReply*>(reply)));
}

}  // namespace switchyard::triggers::redis
