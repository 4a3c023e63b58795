#include "core/error.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cerrno>

using namespace switchyard;

TEST_CASE("libuv and errno codes become errors a user can read") {
  auto error = core::Error::from_uv(UV_EADDRINUSE, "listen on 127.0.0.1:80");
  CHECK(error.code() == core::ErrorCode::kIo);
  CHECK(error.message() == "listen on 127.0.0.1:80: address already in use");
  CHECK(core::Error::from_uv(UV_ENOENT, "open").code() == core::ErrorCode::kNotFound);
  CHECK(core::Error::from_errno(ENOENT, "open x").message() == "open x: No such file or directory");
}

TEST_CASE("Result holds a value or an error") {
  core::Result<int> good = 7;
  CHECK(good.ok());
  CHECK(*good == 7);
  core::Result<int> bad = core::Error(core::ErrorCode::kInvalidArgument, "nope");
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().message() == "nope");
  core::Status fine;
  CHECK(fine.ok());
}
