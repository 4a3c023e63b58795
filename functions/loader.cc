#include "functions/loader.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <switchyard/function.hpp>
#include <system_error>
#include <typeinfo>
#include <vector>

#include "functions/native.h"

namespace switchyard::functions {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kGenericErrorType = "FunctionError";
constexpr std::string_view kUnknownExceptionType = "UnknownException";
// Invocations with at most this many source attributes build their sy_kv array on the stack.
constexpr std::size_t kInlineAttributes = 32;

std::string_view view(sy_bytes bytes) {
  if (bytes.data == nullptr) {
    return {};
  }
  return {bytes.data, bytes.size};
}

sy_bytes bytes_of(std::string_view text) {
  return sy_bytes{text.data(), text.size()};
}

// The error type and message of the exception being handled. Call only inside a catch block.
std::pair<std::string, std::string> describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& exception) {
    return {switchyard::detail::type_name(typeid(exception)), exception.what()};
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return {std::string(kUnknownExceptionType),
            "the function threw a value of type " +
                (type ? switchyard::detail::type_name(*type) : "unknown")};
  }
}

// describe_current_exception() as an Outcome; never throws, even when out of memory.
core::Outcome failure_from_current_exception() noexcept {
  try {
    auto [type, message] = describe_current_exception();
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, std::move(type),
                                  std::move(message));
  } catch (...) {
    // Out of memory: an error without a type or message still tells the caller it failed.
    core::Outcome outcome;
    outcome.kind = core::OutcomeKind::kFunctionError;
    return outcome;
  }
}

void log_line(spdlog::level::level_enum level, std::string_view request_id,
              std::string_view function, std::string_view message) {
  spdlog::log(level, "[{}] {}: {}", request_id, function, message);
}

spdlog::level::level_enum to_spdlog_level(int level) {
  switch (level) {
    case SY_LOG_DEBUG:
      return spdlog::level::debug;
    case SY_LOG_WARN:
      return spdlog::level::warn;
    case SY_LOG_ERROR:
      return spdlog::level::err;
    default:
      return spdlog::level::info;
  }
}

int64_t to_unix_ms(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

// ---- Host state behind the C structs ----------------------------------------------------------

struct ContextState {
  const InvocationContext* invocation;
  const std::string* function_name;
};

struct ResponseState {
  core::Response response;
  bool error_set = false;
  std::string error_type;
  std::string error_message;
  // A host callback failed (out of memory); the invocation fails with this message.
  std::string host_failure;
};

struct InitState {
  const std::string* function_name;
  bool error_set = false;
  std::string error_type;
  std::string error_message;
};

// The callbacks handed to functions. They have C language linkage to match the function pointer
// types of function.h, and none of them lets an exception out.
extern "C" {

static int64_t context_remaining_ms(const sy_context* context) {
  const auto* state = static_cast<const ContextState*>(context->host);
  return state->invocation->remaining().count();
}

static int context_cancelled(const sy_context* context) {
  const auto* state = static_cast<const ContextState*>(context->host);
  return state->invocation->is_cancelled() ? 1 : 0;
}

static void context_log(const sy_context* context, int level, const char* message, size_t size) {
  const auto* state = static_cast<const ContextState*>(context->host);
  try {
    log_line(to_spdlog_level(level), state->invocation->request_id, *state->function_name,
             message != nullptr ? std::string_view(message, size) : std::string_view());
  } catch (...) {
    // A log line that cannot be written is dropped rather than failing the invocation.
  }
}

static void response_set_status(sy_response* response, int status) {
  static_cast<ResponseState*>(response->host)->response.status = status;
}

static void response_add_header(sy_response* response, sy_bytes key, sy_bytes value) {
  auto* state = static_cast<ResponseState*>(response->host);
  try {
    state->response.headers.push_back(
        core::Attribute{std::string(view(key)), std::string(view(value))});
  } catch (...) {
    state->host_failure = "out of memory while adding a response header";
  }
}

static void response_set_body(sy_response* response, sy_bytes body) {
  auto* state = static_cast<ResponseState*>(response->host);
  try {
    state->response.body.assign(view(body));
  } catch (...) {
    state->host_failure = "out of memory while setting the response body";
  }
}

static void response_append_body(sy_response* response, sy_bytes chunk) {
  auto* state = static_cast<ResponseState*>(response->host);
  try {
    state->response.body.append(view(chunk));
  } catch (...) {
    state->host_failure = "out of memory while appending to the response body";
  }
}

static void response_set_error(sy_response* response, sy_bytes type, sy_bytes message) {
  auto* state = static_cast<ResponseState*>(response->host);
  state->error_set = true;
  try {
    state->error_type.assign(view(type));
    state->error_message.assign(view(message));
  } catch (...) {
    state->error_type.clear();
    state->error_message.clear();
  }
}

static void init_log(const sy_init_args* args, int level, const char* message, size_t size) {
  const auto* state = static_cast<const InitState*>(args->host);
  try {
    log_line(to_spdlog_level(level), "init", *state->function_name,
             message != nullptr ? std::string_view(message, size) : std::string_view());
  } catch (...) {
    // A log line that cannot be written is dropped rather than failing the load.
  }
}

static void init_set_error(const sy_init_args* args, sy_bytes type, sy_bytes message) {
  auto* state = static_cast<InitState*>(args->host);
  state->error_set = true;
  try {
    state->error_type.assign(view(type));
    state->error_message.assign(view(message));
  } catch (...) {
    state->error_type.clear();
    state->error_message.clear();
  }
}

}  // extern "C"

// ---- Loading ----------------------------------------------------------------------------------

core::Error load_error(const config::FunctionManifest& manifest, std::string_view what) {
  std::string message =
      "function '" + manifest.name + "': " + native_library(manifest).string() + " ";
  message += what;
  return core::Error(core::ErrorCode::kLoad, std::move(message));
}

// Closes a file descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Copies `source` to a new, uniquely named file in `scratch_dir` and returns its path.
core::Result<std::string> make_private_copy(const config::FunctionManifest& manifest,
                                            const std::filesystem::path& scratch_dir) {
  FileDescriptor in(::open(native_library(manifest).c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    return load_error(manifest, std::string("cannot be opened: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(in.get(), &info) != 0) {
    return load_error(manifest, std::string("cannot be read: ") + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return load_error(manifest, "is not a regular file");
  }

  // The function's name is part of the copy's name so that a stray copy (after a crash between
  // copy and unlink) says where it came from; mkstemps makes it unique.
  std::string path = (scratch_dir / ("switchyard-" + manifest.name + "-XXXXXX.so")).string();
  FileDescriptor out(::mkostemps(path.data(), 3, O_CLOEXEC));
  if (out.get() < 0) {
    return load_error(
        manifest, "cannot be copied into " + scratch_dir.string() + ": " + std::strerror(errno));
  }
  off_t remaining = info.st_size;
  while (remaining > 0) {
    ssize_t sent = ::sendfile(out.get(), in.get(), nullptr, static_cast<size_t>(remaining));
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent <= 0) {
      int err = sent < 0 ? errno : EIO;
      ::unlink(path.c_str());
      return load_error(manifest, "cannot be copied to " + path + ": " + std::strerror(err));
    }
    remaining -= sent;
  }
  return path;
}

// dlerror() names the private copy; name the user's file instead.
std::string describe_dlerror(const std::string& copy, const std::filesystem::path& library) {
  const char* raw = ::dlerror();
  std::string message = raw != nullptr ? raw : "unknown dlopen error";
  for (std::size_t at = message.find(copy); at != std::string::npos; at = message.find(copy, at)) {
    message.replace(at, copy.size(), library.string());
    at += library.string().size();
  }
  return message;
}

}  // namespace

std::chrono::milliseconds InvocationContext::remaining() const {
  if (deadline == Clock::time_point::max()) {
    return std::chrono::milliseconds::max();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

void LibraryFunction::LibraryCloser::operator()(void* handle) const noexcept {
  if (handle != nullptr) {
    ::dlclose(handle);
  }
}

core::Result<std::shared_ptr<LibraryFunction>> LibraryFunction::load(
    const config::FunctionManifest& manifest, const LoadOptions& options) {
  std::error_code error;
  bool exists = std::filesystem::exists(native_library(manifest), error);
  if (error) {
    return load_error(manifest, "cannot be accessed: " + error.message());
  }
  if (!exists) {
    return load_error(manifest, "does not exist");
  }

  std::filesystem::path scratch_dir = options.scratch_dir;
  if (scratch_dir.empty()) {
    scratch_dir = std::filesystem::temp_directory_path(error);
    if (error) {
      scratch_dir = "/tmp";
    }
  }
  core::Result<std::string> copy = make_private_copy(manifest, scratch_dir);
  if (!copy.ok()) {
    return copy.error();
  }

  // RTLD_NOW reports unresolved symbols here rather than in the middle of an event; RTLD_LOCAL
  // keeps each function's symbols from resolving another's. The copy can be unlinked at once:
  // the mapping keeps its contents alive until dlclose.
  LibraryHandle handle(::dlopen(copy->c_str(), RTLD_NOW | RTLD_LOCAL));
  std::string dl_message =
      handle ? std::string() : describe_dlerror(*copy, native_library(manifest));
  ::unlink(copy->c_str());
  if (!handle) {
    return load_error(manifest, "is not a loadable shared object: " + dl_message);
  }

  auto version_fn =
      reinterpret_cast<sy_abi_version_fn>(::dlsym(handle.get(), "switchyard_abi_version"));
  if (version_fn == nullptr) {
    return load_error(manifest,
                      "does not export switchyard_abi_version; is it a switchyard function? "
                      "(SWITCHYARD_HANDLER(...) or SWITCHYARD_DECLARE_ABI() defines it)");
  }
  uint32_t version = 0;
  try {
    version = version_fn();
  } catch (...) {
    return load_error(manifest, "threw from switchyard_abi_version");
  }
  if (version != SWITCHYARD_ABI_VERSION) {
    return load_error(manifest, "was built for ABI version " + std::to_string(version) +
                                    ", this switchyard supports " +
                                    std::to_string(SWITCHYARD_ABI_VERSION) +
                                    "; rebuild it against this switchyard's headers");
  }

  auto handle_fn = reinterpret_cast<sy_handle_fn>(::dlsym(handle.get(), "switchyard_handle"));
  if (handle_fn == nullptr) {
    return load_error(manifest,
                      "does not export switchyard_handle; did you forget SWITCHYARD_HANDLER(...)?");
  }
  auto init_fn = reinterpret_cast<sy_init_fn>(::dlsym(handle.get(), "switchyard_init"));
  auto shutdown_fn = reinterpret_cast<sy_shutdown_fn>(::dlsym(handle.get(), "switchyard_shutdown"));

  if (init_fn != nullptr) {
    // The env entries point into the manifest, which outlives the call; std::map keeps them
    // sorted by key, as the ABI promises.
    std::vector<sy_kv> env;
    env.reserve(manifest.env.size());
    for (const auto& [key, value] : manifest.env) {
      env.push_back(sy_kv{bytes_of(key), bytes_of(value)});
    }
    InitState state{&manifest.name, false, {}, {}};
    sy_init_args args{};
    args.struct_size = sizeof(sy_init_args);
    args.function_name = bytes_of(manifest.name);
    args.env = env.data();
    args.env_count = env.size();
    args.config_json =
        bytes_of(manifest.config_json.empty() ? std::string_view("{}")
                                              : std::string_view(manifest.config_json));
    args.log = &init_log;
    args.set_error = &init_set_error;
    args.host = &state;

    int status = 0;
    try {
      status = init_fn(&args);
    } catch (...) {
      // The C++ layer maps exceptions itself; this catches functions written against the raw
      // ABI that let one escape.
      auto [type, message] = describe_current_exception();
      return load_error(manifest, "failed in switchyard_init: it threw " + type + ": " + message);
    }
    if (status != 0 || state.error_set) {
      std::string type = state.error_type.empty() ? std::string("InitError") : state.error_type;
      std::string message = state.error_message.empty()
                                ? "switchyard_init returned " + std::to_string(status)
                                : state.error_message;
      return load_error(manifest, "failed in switchyard_init: " + type + ": " + message);
    }
  }

  return std::shared_ptr<LibraryFunction>(new LibraryFunction(
      manifest.name, native_library(manifest), std::move(handle), handle_fn, shutdown_fn));
}

LibraryFunction::~LibraryFunction() {
  if (shutdown_fn_ != nullptr) {
    try {
      shutdown_fn_();
    } catch (...) {
      try {
        auto [type, message] = describe_current_exception();
        spdlog::error("function '{}': switchyard_shutdown threw {}: {}", name_, type, message);
      } catch (...) {
        // Nothing more can be done for a library that is being closed.
      }
    }
  }
  // handle_ closes the library after this body has run.
}

namespace {

// The event in the ABI's shape, for an Event or an EventView (the same field names): the sy_bytes
// point into what the event points into, nothing is copied. Calls `call` with it.
template <typename EventLike, typename Call>
core::Outcome with_raw_event(const EventLike& event, Call&& call) {
  std::array<sy_kv, kInlineAttributes> inline_attributes;
  std::vector<sy_kv> heap_attributes;
  sy_kv* attributes = inline_attributes.data();
  if (event.attributes.size() > inline_attributes.size()) {
    heap_attributes.resize(event.attributes.size());
    attributes = heap_attributes.data();
  }
  for (std::size_t i = 0; i < event.attributes.size(); ++i) {
    attributes[i] = sy_kv{bytes_of(event.attributes[i].key), bytes_of(event.attributes[i].value)};
  }
  sy_event raw_event{};
  raw_event.struct_size = sizeof(sy_event);
  raw_event.id = bytes_of(event.id);
  raw_event.source = bytes_of(event.source);
  raw_event.type = bytes_of(event.type);
  raw_event.subject = bytes_of(event.subject);
  raw_event.datacontenttype = bytes_of(event.datacontenttype);
  raw_event.dataschema = bytes_of(event.dataschema);
  raw_event.time_unix_ms =
      event.time == std::chrono::system_clock::time_point{} ? 0 : to_unix_ms(event.time);
  raw_event.data = bytes_of(event.data);
  raw_event.attributes = attributes;
  raw_event.attribute_count = event.attributes.size();
  return call(raw_event);
}

}  // namespace

core::Outcome LibraryFunction::invoke(const core::Event& event,
                                      const InvocationContext& ctx) noexcept {
  try {
    return with_raw_event(event, [&](const sy_event& raw) { return call(raw, ctx); });
  } catch (...) {
    return failure_from_current_exception();
  }
}

core::Outcome LibraryFunction::invoke(const core::EventView& event,
                                      const InvocationContext& ctx) noexcept {
  try {
    return with_raw_event(event, [&](const sy_event& raw) { return call(raw, ctx); });
  } catch (...) {
    return failure_from_current_exception();
  }
}

core::Outcome LibraryFunction::call(const sy_event& raw_event,
                                    const InvocationContext& ctx) noexcept {
  try {
    ContextState context_state{&ctx, &name_};
    sy_context raw_context{};
    raw_context.struct_size = sizeof(sy_context);
    raw_context.request_id = bytes_of(ctx.request_id);
    raw_context.function_name =
        bytes_of(ctx.function_name.empty() ? std::string_view(name_) : ctx.function_name);
    raw_context.trace_parent = bytes_of(ctx.trace_parent);
    if (ctx.deadline == Clock::time_point::max()) {
      raw_context.deadline_unix_ms = std::numeric_limits<int64_t>::max();
    } else {
      // The deadline is kept on the steady clock; functions get it as wall-clock time.
      std::chrono::system_clock::duration offset = ctx.wall_offset;
      if (offset == std::chrono::system_clock::duration::zero()) {
        offset = wall_offset(Clock::now());
      }
      raw_context.deadline_unix_ms = to_unix_ms(std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              ctx.deadline.time_since_epoch()) +
          offset));
    }
    raw_context.remaining_ms = &context_remaining_ms;
    raw_context.cancelled = &context_cancelled;
    raw_context.log = &context_log;
    raw_context.host = &context_state;

    ResponseState response_state;
    sy_response raw_response{};
    raw_response.struct_size = sizeof(sy_response);
    raw_response.set_status = &response_set_status;
    raw_response.add_header = &response_add_header;
    raw_response.set_body = &response_set_body;
    raw_response.append_body = &response_append_body;
    raw_response.set_error = &response_set_error;
    raw_response.host = &response_state;

    int status = 0;
    try {
      status = handle_fn_(&raw_event, &raw_context, &raw_response);
    } catch (...) {
      // The C++ layer maps exceptions itself; this catches functions written against the raw
      // ABI that let one escape.
      return failure_from_current_exception();
    }

    if (!response_state.host_failure.empty()) {
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, "HostError",
                                    std::move(response_state.host_failure));
    }
    if (status != 0 || response_state.error_set) {
      std::string type = response_state.error_type.empty() ? std::string(kGenericErrorType)
                                                           : std::move(response_state.error_type);
      std::string message = response_state.error_message;
      if (message.empty()) {
        message = "function '" + name_ + "' failed (switchyard_handle returned " +
                  std::to_string(status) + ") without an error message";
      }
      return core::Outcome::failure(core::OutcomeKind::kFunctionError, std::move(type),
                                    std::move(message));
    }
    return core::Outcome::success(std::move(response_state.response));
  } catch (...) {
    return failure_from_current_exception();
  }
}

std::chrono::system_clock::duration wall_offset(std::chrono::steady_clock::time_point now) {
  return std::chrono::system_clock::now().time_since_epoch() -
         std::chrono::duration_cast<std::chrono::system_clock::duration>(now.time_since_epoch());
}

core::Outcome Function::invoke(const core::EventView& event,
                               const InvocationContext& ctx) noexcept {
  try {
    core::Event copy;
    core::assign_contents(event, copy);
    return invoke(copy, ctx);
  } catch (...) {
    return failure_from_current_exception();
  }
}

std::uint64_t Function::start(const core::Event&, const InvocationContext&, Finish) noexcept {
  // The scheduler calls start() only when finishes_later() says so.
  spdlog::critical("function {}: start() called, but it does not finish later", name());
  std::abort();
}

void Function::cancel(std::uint64_t) noexcept {}

core::Outcome CallableFunction::invoke(const core::Event& event,
                                       const InvocationContext& ctx) noexcept {
  try {
    return callable_(event, ctx);
  } catch (...) {
    return failure_from_current_exception();
  }
}

}  // namespace switchyard::functions
