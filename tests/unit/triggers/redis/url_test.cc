#include "triggers/redis/url.h"

#include <doctest/doctest.h>

using switchyard::triggers::redis::parse_redis_url;

TEST_CASE("redis URLs: host, port, database, credentials") {
  auto plain = parse_redis_url("redis://localhost");
  REQUIRE(plain.ok());
  CHECK(plain->host == "localhost");
  CHECK(plain->port == 6379);
  CHECK(plain->db == 0);
  CHECK(plain->password.empty());

  auto full = parse_redis_url("redis://app:s%40cret@10.0.0.5:6380/3");
  REQUIRE(full.ok());
  CHECK(full->user == "app");
  CHECK(full->password == "s@cret");
  CHECK(full->host == "10.0.0.5");
  CHECK(full->port == 6380);
  CHECK(full->db == 3);
  CHECK(full->describe() == "10.0.0.5:6380/3");

  auto password_only = parse_redis_url("redis://:pw@h:1/0");
  REQUIRE(password_only.ok());
  CHECK(password_only->user.empty());
  CHECK(password_only->password == "pw");

  auto legacy = parse_redis_url("redis://pw@h");
  REQUIRE(legacy.ok());
  CHECK(legacy->password == "pw");

  auto v6 = parse_redis_url("redis://[::1]:7000/2");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 7000);
  CHECK(v6->describe() == "[::1]:7000/2");

  auto sock = parse_redis_url("unix:///run/redis/redis.sock?db=4");
  REQUIRE(sock.ok());
  CHECK(sock->unix_path == "/run/redis/redis.sock");
  CHECK(sock->db == 4);
  CHECK(sock->describe() == "unix:/run/redis/redis.sock/4");
}

TEST_CASE("bad redis URLs are refused with a reason and never echo a password") {
  auto check_error = [](const char* url, const char* reason) {
    auto parsed = parse_redis_url(url);
    REQUIRE_FALSE(parsed.ok());
    CHECK_MESSAGE(parsed.error().message().find(reason) != std::string::npos,
                  parsed.error().message());
    CHECK(parsed.error().message().find("hunter2") == std::string::npos);
  };
  check_error("redis://h:notaport/0", "the port must be a number from 1 to 65535");
  check_error("redis://h:70000", "the port must be a number");
  check_error("redis://h:", "empty port");
  check_error("redis://h:6379/x", "the database must be a number");
  check_error("redis://:6379/0", "no host");
  check_error("redis://user:hunter2@h:bad/0", "the port must be a number");
  check_error("http://h:6379", "unknown scheme");
  check_error("unix://relative.sock", "absolute path");
  check_error("unix:///a.sock?database=1", "db=<number>");
  check_error("redis://[::1:6379", "unterminated");
  check_error("redis://u:%zz@h", "percent-encoding");
}
