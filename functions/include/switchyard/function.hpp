#pragma once

// The header-only C++ layer over the switchyard function ABI (<switchyard/function.h>).
//
//   #include <switchyard/function.hpp>
//
//   switchyard::Response hello(const switchyard::Event& event, switchyard::Context& context) {
//     context.info("saying hello");
//     return "Hello, " + std::string(event.data()) + "!";
//   }
//   SWITCHYARD_HANDLER(hello);
//
// The handler returns a Response, or a Result when it wants to return an error without throwing.
// Any exception escaping it becomes an error result, never std::terminate: a switchyard::Error
// gives its own type and message, another std::exception gives its demangled type name
// ("std::runtime_error") and what(), anything else gives "UnknownException".
// SWITCHYARD_INIT(fn) and SWITCHYARD_SHUTDOWN(fn) add the optional init and shutdown hooks.
//
// Build a function with -fno-gnu-unique (switchyard_add_function in CMake does): otherwise g++
// makes the static variables of inline functions and templates process-wide "unique" symbols,
// which two versions of a library loaded side by side would share and which stop the old version
// from ever being unloaded.
//
// Thread rules are those of the C ABI: the handler may run on several threads at once, and an
// Event or Context is valid only during the call it was handed to.

#include <cxxabi.h>
#include <switchyard/function.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

namespace switchyard {

inline std::string_view to_string_view(sy_bytes bytes) {
  if (bytes.data == nullptr) {
    return {};
  }
  return {bytes.data, bytes.size};
}

inline sy_bytes to_bytes(std::string_view text) {
  return sy_bytes{text.data(), text.size()};
}

enum class LogLevel {
  kDebug = SY_LOG_DEBUG,
  kInfo = SY_LOG_INFO,
  kWarn = SY_LOG_WARN,
  kError = SY_LOG_ERROR
};

// A read-only view of the event.
class Event {
 public:
  explicit Event(const sy_event& raw) : raw_(raw) {}

  std::string_view id() const { return to_string_view(raw_.id); }
  std::string_view source() const { return to_string_view(raw_.source); }
  std::string_view type() const { return to_string_view(raw_.type); }
  std::string_view subject() const { return to_string_view(raw_.subject); }
  std::string_view datacontenttype() const { return to_string_view(raw_.datacontenttype); }
  std::string_view dataschema() const { return to_string_view(raw_.dataschema); }
  std::string_view data() const { return to_string_view(raw_.data); }
  // The source's time; the epoch when the source gave none.
  std::chrono::system_clock::time_point time() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(raw_.time_unix_ms));
  }

  // The value of the first source attribute named `name` ("http.method", "kafka.key"), if any.
  std::optional<std::string_view> attribute(std::string_view name) const {
    for (const sy_kv& kv : attributes()) {
      if (to_string_view(kv.key) == name) {
        return to_string_view(kv.value);
      }
    }
    return std::nullopt;
  }
  // Every source attribute, in the source's order; keys may repeat.
  std::span<const sy_kv> attributes() const {
    if (raw_.attributes == nullptr) {
      return {};
    }
    return {raw_.attributes, raw_.attribute_count};
  }

  const sy_event& raw() const { return raw_; }

 private:
  const sy_event& raw_;
};

// The invocation's request id, deadline, cancellation flag and logger.
class Context {
 public:
  explicit Context(const sy_context& raw) : raw_(raw) {}

  std::string_view request_id() const { return to_string_view(raw_.request_id); }
  std::string_view function_name() const { return to_string_view(raw_.function_name); }
  std::string_view trace_parent() const { return to_string_view(raw_.trace_parent); }

  // Time left before the deadline; negative once it has passed, milliseconds::max() when there
  // is no deadline.
  std::chrono::milliseconds remaining() const {
    return std::chrono::milliseconds(raw_.remaining_ms(&raw_));
  }
  bool has_deadline() const { return raw_.deadline_unix_ms != std::numeric_limits<int64_t>::max(); }
  // True once the host has given up on this invocation; return soon when it is.
  bool cancelled() const { return raw_.cancelled(&raw_) != 0; }

  void log(LogLevel level, std::string_view message) const {
    raw_.log(&raw_, static_cast<int>(level), message.data(), message.size());
  }
  void debug(std::string_view message) const { log(LogLevel::kDebug, message); }
  void info(std::string_view message) const { log(LogLevel::kInfo, message); }
  void warn(std::string_view message) const { log(LogLevel::kWarn, message); }
  void error(std::string_view message) const { log(LogLevel::kError, message); }

  const sy_context& raw() const { return raw_; }

 private:
  const sy_context& raw_;
};

// What a handler returns on success.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  Response() = default;
  Response(std::string body_text) : body(std::move(body_text)) {}  // NOLINT: implicit on purpose.
  Response(const char* body_text) : body(body_text) {}             // NOLINT: implicit on purpose.
  Response(int status_code, std::string body_text)
      : status(status_code), body(std::move(body_text)) {}

  Response& header(std::string key, std::string value) {
    headers.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  static Response json(std::string body_text, int status_code = 200) {
    Response response(status_code, std::move(body_text));
    response.header("content-type", "application/json");
    return response;
  }
};

// An error with a type (like Lambda's errorType) and a message. Throw it, or return it in a
// Result.
class Error : public std::runtime_error {
 public:
  Error(std::string type, const std::string& message)
      : std::runtime_error(message), type_(std::move(type)) {}
  const std::string& type() const { return type_; }

 private:
  std::string type_;
};

// A Response or an Error, for handlers that report errors without throwing.
class Result {
 public:
  Result(Response response) : value_(std::move(response)) {}       // NOLINT: implicit on purpose.
  Result(std::string body) : value_(Response(std::move(body))) {}  // NOLINT: implicit on purpose.
  Result(const char* body) : value_(Response(body)) {}             // NOLINT: implicit on purpose.
  Result(Error error) : value_(std::move(error)) {}                // NOLINT: implicit on purpose.

  bool ok() const { return value_.index() == 0; }
  const Response& response() const { return std::get<0>(value_); }
  const Error& error() const { return std::get<1>(value_); }

 private:
  std::variant<Response, Error> value_;
};

// What an init hook receives: the manifest's env and config.
class InitArgs {
 public:
  explicit InitArgs(const sy_init_args& raw) : raw_(raw) {}

  std::string_view function_name() const { return to_string_view(raw_.function_name); }
  // The manifest's `config` map as a JSON object ("{}" when absent).
  std::string_view config_json() const { return to_string_view(raw_.config_json); }
  // The value of the manifest's env entry `name`, if any.
  std::optional<std::string_view> env(std::string_view name) const {
    for (const sy_kv& kv : env()) {
      if (to_string_view(kv.key) == name) {
        return to_string_view(kv.value);
      }
    }
    return std::nullopt;
  }
  std::span<const sy_kv> env() const {
    if (raw_.env == nullptr) {
      return {};
    }
    return {raw_.env, raw_.env_count};
  }
  void log(LogLevel level, std::string_view message) const {
    raw_.log(&raw_, static_cast<int>(level), message.data(), message.size());
  }
  void info(std::string_view message) const { log(LogLevel::kInfo, message); }
  void error(std::string_view message) const { log(LogLevel::kError, message); }

  const sy_init_args& raw() const { return raw_; }

 private:
  const sy_init_args& raw_;
};

namespace detail {

// The demangled name of a type ("std::runtime_error"), or its mangled name if that fails.
inline std::string type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  if (demangled == nullptr) {
    return type.name();
  }
  std::string name(demangled);
  std::free(demangled);
  return name;
}

// Maps the exception being handled to an error type and message. Call only inside a catch block.
template <typename Report>
void report_current_exception(Report&& report) noexcept {
  try {
    try {
      throw;
    } catch (const Error& error) {
      report(error.type(), std::string_view(error.what()));
    } catch (const std::exception& exception) {
      report(type_name(typeid(exception)), std::string_view(exception.what()));
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      std::string message = "the function threw a value of type ";
      message += type != nullptr ? type_name(*type) : std::string("unknown");
      report(std::string("UnknownException"), std::string_view(message));
    }
  } catch (...) {
    // Building the message itself failed (out of memory): report without allocating.
    report(std::string_view("UnknownException"), std::string_view("the function threw"));
  }
}

inline void deliver(const Response& result, sy_response* out) {
  out->set_status(out, result.status);
  for (const auto& [key, value] : result.headers) {
    out->add_header(out, to_bytes(key), to_bytes(value));
  }
  out->set_body(out, to_bytes(result.body));
}

inline int deliver(const Result& result, sy_response* out) {
  if (!result.ok()) {
    out->set_error(out, to_bytes(result.error().type()), to_bytes(result.error().what()));
    return 1;
  }
  deliver(result.response(), out);
  return 0;
}

template <typename Handler>
int invoke_handler(Handler&& handler, const sy_event* raw_event, const sy_context* raw_context,
                   sy_response* out) noexcept {
  try {
    const Event event(*raw_event);
    Context context(*raw_context);
    using Returned = decltype(handler(event, context));
    if constexpr (std::is_convertible_v<Returned, Response> &&
                  !std::is_same_v<std::decay_t<Returned>, Result>) {
      deliver(Response(handler(event, context)), out);
      return 0;
    } else {
      return deliver(Result(handler(event, context)), out);
    }
  } catch (...) {
    report_current_exception([out](auto&& type, auto&& message) {
      out->set_error(out, to_bytes(type), to_bytes(message));
    });
    return 1;
  }
}

template <typename Init>
int invoke_init(Init&& init, const sy_init_args* raw_args) noexcept {
  try {
    const InitArgs args(*raw_args);
    init(args);
    return 0;
  } catch (...) {
    report_current_exception([raw_args](auto&& type, auto&& message) {
      raw_args->set_error(raw_args, to_bytes(type), to_bytes(message));
    });
    return 1;
  }
}

template <typename Shutdown>
void invoke_shutdown(Shutdown&& shutdown) noexcept {
  try {
    shutdown();
  } catch (...) {
    // There is no one left to tell: the library is about to be closed.
  }
}

}  // namespace detail
}  // namespace switchyard

// Defines the exported ABI symbols for `fn`, a function callable as
// `fn(const switchyard::Event&, switchyard::Context&)` returning a switchyard::Response, a
// switchyard::Result or anything convertible to them (a std::string body).
#define SWITCHYARD_HANDLER(fn)                                                              \
  SWITCHYARD_DECLARE_ABI();                                                                 \
  SWITCHYARD_EXPORT int switchyard_handle(const sy_event* event, const sy_context* context, \
                                          sy_response* response) {                          \
    return ::switchyard::detail::invoke_handler(fn, event, context, response);              \
  }                                                                                         \
  typedef int switchyard_handler_declared_ /* Swallows the caller's semicolon. */

// Defines switchyard_init for `fn`, callable as `fn(const switchyard::InitArgs&)`. Throwing fails
// the load with the exception's type and message.
#define SWITCHYARD_INIT(fn)                                         \
  SWITCHYARD_EXPORT int switchyard_init(const sy_init_args* args) { \
    return ::switchyard::detail::invoke_init(fn, args);             \
  }                                                                 \
  typedef int switchyard_init_declared_ /* Swallows the caller's semicolon. */

// Defines switchyard_shutdown for `fn`, callable as `fn()`. Exceptions are swallowed.
#define SWITCHYARD_SHUTDOWN(fn)                      \
  SWITCHYARD_EXPORT void switchyard_shutdown(void) { \
    ::switchyard::detail::invoke_shutdown(fn);       \
  }                                                  \
  typedef int switchyard_shutdown_declared_ /* Swallows the caller's semicolon. */
