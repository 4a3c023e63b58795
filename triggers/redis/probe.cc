#include "triggers/redis/probe.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "triggers/redis/hiredis_reply.h"

namespace switchyard::triggers::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

}  // namespace

void BlockingClient::Free::operator()(redisContext* context) const {
  redisFree(context);
}

core::Result<BlockingClient> BlockingClient::connect(const Endpoint& endpoint,
                                                     std::chrono::milliseconds connect_timeout,
                                                     std::chrono::milliseconds command_timeout) {
  std::string where = "redis at " + endpoint.describe();
  timeval tv = to_timeval(connect_timeout);
  redisContext* raw = endpoint.unix_path.empty()
                          ? redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv)
                          : redisConnectUnixWithTimeout(endpoint.unix_path.c_str(), tv);
  std::unique_ptr<redisContext, Free> context(raw);
  if (context == nullptr) {
    return core::Error(core::ErrorCode::kUnavailable, "cannot connect to " + where);
  }
  if (context->err != 0) {
    return core::Error(core::ErrorCode::kUnavailable,
                       "cannot connect to " + where + ": " + context->errstr +
                           " (connect_timeout " + std::to_string(connect_timeout.count()) + "ms)");
  }
  if (redisSetTimeout(context.get(), to_timeval(command_timeout)) != REDIS_OK) {
    return core::Error(core::ErrorCode::kIo, "cannot set the command timeout on " + where);
  }
  BlockingClient client(std::move(context), where);
  if (!endpoint.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint.user.empty()) {
      auth.push_back(endpoint.user);
    }
    auth.push_back(endpoint.password);
    auto reply = client.command(auth);
    if (!reply.ok()) {
      return reply.error();
    }
    if (reply->is_error()) {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         where + " refused AUTH: " + reply->str + " (check redis.url)");
    }
  }
  auto reply = client.command({"SELECT", std::to_string(endpoint.db)});
  if (!reply.ok()) {
    return reply.error();
  }
  if (reply->is_error()) {
    std::string hint = reply->error_code() == "NOAUTH"
                           ? " (the server needs a password: redis://:password@host:port/db)"
                           : " (check the database number in redis.url)";
    return core::Error(
        core::ErrorCode::kInvalidArgument,
        where + " refused SELECT " + std::to_string(endpoint.db) + ": " + reply->str + hint);
  }
  return client;
}

core::Result<Reply> BlockingClient::command(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  for (const auto& arg : argv) {
    args.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_.get(), static_cast<int>(args.size()), args.data(), lengths.data()));
  if (reply == nullptr) {
    std::string why = context_->err != 0 ? context_->errstr : "no reply";
    return core::Error(core::ErrorCode::kUnavailable,
                       where_ + ": " + (argv.empty() ? "" : argv[0]) + " failed: " + why);
  }
  Reply copy = copy_reply(reply);
  freeReplyObject(reply);
  return copy;
}

core::Result<std::string> BlockingClient::type_of(const std::string& key) {
  auto reply = command({"TYPE", key});
  if (!reply.ok()) {
    return reply.error();
  }
  if (reply->is_error()) {
    return core::Error(core::ErrorCode::kUnavailable, where_ + ": TYPE " + key + ": " + reply->str);
  }
  return reply->str;
}

core::Status expect_type(BlockingClient& client, const std::string& key, std::string_view expected,
                         std::string_view used_for) {
  auto type = client.type_of(key);
  if (!type.ok()) {
    return type.error();
  }
  if (*type != "none" && *type != expected) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "redis key \"" + key + "\" (" + std::string(used_for) + ") holds a " +
                           *type + ", not a " + std::string(expected) +
                           " (WRONGTYPE): use another key or delete it");
  }
  return {};
}

}  // namespace switchyard::triggers::redis
