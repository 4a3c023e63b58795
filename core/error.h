#pragma once

// One error type for the whole daemon. Third-party return codes (libuv's negative ints,
// librdkafka's error codes, hiredis' error strings) are turned into an Error at the boundary,
// with a message a user can act on.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace switchyard::core {

enum class ErrorCode {
  kInvalidArgument,  // Bad input from a user: a config value, a CLI flag, a request.
  kNotFound,         // A file, a function, a route that does not exist.
  kIo,               // A system call or network operation failed.
  kLoad,             // A function library could not be loaded or initialised.
  kTimeout,          // Something did not finish before its deadline.
  kUnavailable,      // A dependency (broker, server) cannot be reached right now.
  kInternal,         // A broken invariant that was caught rather than asserted.
};

std::string_view to_string(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // Wraps a negative libuv status: "what: <uv_strerror(status)>".
  static Error from_uv(int status, std::string_view what);
  // Wraps errno: "what: <strerror(err)>".
  static Error from_errno(int err, std::string_view what);

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_;
  std::string message_;
};

// A value or an Error. Small on purpose: std::expected is C++23.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design.
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design.
  static Status ok_status() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, {}};
  bool ok_ = true;
};

}  // namespace switchyard::core
