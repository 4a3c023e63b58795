#pragma once

// A short-lived blocking Redis client for the checks a trigger makes in start(), before the
// daemon reports ready: that the server answers, that AUTH and SELECT work, that a key has the
// expected type, that a consumer group exists. A configuration error is then a clear start
// error instead of a log line repeated forever. Every call is bounded by the connect and command
// timeouts.
//
// Thread rules: any one thread at a time; it blocks that thread.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "triggers/redis/reply.h"
#include "triggers/redis/url.h"

struct redisContext;

namespace switchyard::triggers::redis {

class BlockingClient {
 public:
  static core::Result<BlockingClient> connect(const Endpoint& endpoint,
                                              std::chrono::milliseconds connect_timeout,
                                              std::chrono::milliseconds command_timeout);

  // The reply (possibly a Redis error reply), or an error when the connection fails.
  core::Result<Reply> command(const std::vector<std::string>& argv);

  // TYPE of `key`: "none", "string", "list", "stream"...
  core::Result<std::string> type_of(const std::string& key);

 private:
  struct Free {
    void operator()(redisContext* context) const;
  };
  BlockingClient(std::unique_ptr<redisContext, Free> context, std::string where)
      : context_(std::move(context)), where_(std::move(where)) {}

  std::unique_ptr<redisContext, Free> context_;
  std::string where_;
};

// Checks that `key` is missing or of type `expected` ("stream", "list"); the error names the key,
// its actual type and what it is used for.
core::Status expect_type(BlockingClient& client, const std::string& key, std::string_view expected,
                         std::string_view used_for);

}  // namespace switchyard::triggers::redis
