#include "triggers/redis/url.h"

#include <charconv>

#include "core/codec.h"

namespace switchyard::triggers::redis {

namespace {

core::Error bad_url(std::string_view url, std::string_view why) {
  // The URL may hold a password: name only what is wrong, not the whole value.
  std::string shown(url.substr(0, url.find('@') == std::string_view::npos ? url.size() : 0));
  return core::Error(core::ErrorCode::kInvalidArgument,
                     "redis.url " +
                         (shown.empty() ? std::string("(with credentials)") : "\"" + shown + "\"") +
                         ": " + std::string(why) +
                         " (expected redis://[user:password@]host:port/db or unix:///path)");
}

bool parse_int(std::string_view text, int min, int max, int& out) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return false;
  }
  out = value;
  return true;
}

}  // namespace

std::string Endpoint::describe() const {
  if (!unix_path.empty()) {
    return "unix:" + unix_path + "/" + std::to_string(db);
  }
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port) + "/" + std::to_string(db);
}

core::Result<Endpoint> parse_redis_url(std::string_view url) {
  Endpoint endpoint;
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kRedis = "redis://";
  if (url.starts_with(kUnix)) {
    std::string_view rest = url.substr(kUnix.size());
    std::size_t query = rest.find('?');
    endpoint.unix_path = std::string(rest.substr(0, query));
    if (endpoint.unix_path.empty() || endpoint.unix_path[0] != '/') {
      return bad_url(url, "a unix socket needs an absolute path");
    }
    if (query != std::string_view::npos) {
      std::string_view params = rest.substr(query + 1);
      if (!params.starts_with("db=") || !parse_int(params.substr(3), 0, 1000000, endpoint.db)) {
        return bad_url(url, "the only unix socket parameter is db=<number>");
      }
    }
    return endpoint;
  }
  if (!url.starts_with(kRedis)) {
    return bad_url(url, "unknown scheme");
  }
  std::string_view rest = url.substr(kRedis.size());
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);

  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    std::string_view user = userinfo.substr(0, colon);
    std::string_view password =
        colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
    if (!core::percent_decode(user, endpoint.user) ||
        !core::percent_decode(password, endpoint.password)) {
      return bad_url(url, "bad percent-encoding in the user or password");
    }
    if (colon == std::string_view::npos) {
      // redis://secret@host: the common form of a password without a user.
      endpoint.password = endpoint.user;
      endpoint.user.clear();
    }
  }

  std::string_view port_text;
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return bad_url(url, "unterminated [IPv6] host");
    }
    endpoint.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return bad_url(url, "unexpected text after the [IPv6] host");
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        return bad_url(url, "empty port");
      }
    }
  } else {
    std::size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) {
        return bad_url(url, "empty port");
      }
    }
  }
  if (endpoint.host.empty()) {
    return bad_url(url, "no host");
  }
  if (!port_text.empty() && !parse_int(port_text, 1, 65535, endpoint.port)) {
    return bad_url(url, "the port must be a number from 1 to 65535");
  }
  if (!path.empty() && !parse_int(path, 0, 1000000, endpoint.db)) {
    return bad_url(url, "the database must be a number (redis://host:port/0)");
  }
  return endpoint;
}

}  // namespace switchyard::triggers::redis
