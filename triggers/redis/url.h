#pragma once

// The Redis connection URL of the daemon config (redis.url), parsed once:
//   redis://[[user]:password@]host[:port][/db]     (host may be an [IPv6] literal)
//   unix:///path/to/redis.sock[?db=N]
// A user or password may be percent-encoded. Pure functions: any thread.

#include <string>
#include <string_view>

#include "core/error.h"

namespace switchyard::triggers::redis {

struct Endpoint {
  std::string host;  // Empty for a unix socket.
  int port = 6379;
  std::string unix_path;  // Set for unix://.
  std::string user;       // Empty: AUTH with the password alone (or no AUTH).
  std::string password;
  int db = 0;

  // "127.0.0.1:6379/0" or "unix:/run/redis.sock/0": for logs and event sources, never with the
  // password.
  std::string describe() const;
};

core::Result<Endpoint> parse_redis_url(std::string_view url);

}  // namespace switchyard::triggers::redis
