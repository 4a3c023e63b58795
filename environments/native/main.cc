// switchyard-environment: the program an execution environment runs, a child of the daemon.
//
//   switchyard-environment [--parent-pid P] [--memory-bytes N] --exec PROGRAM [ARGS...]
//   switchyard-environment [--parent-pid P] [--memory-bytes N] --library PATH --name NAME
//                          [--config-json JSON] [--env K=V]...
//   switchyard-environment [--parent-pid P] --zygote
//
// Both modes first tie the process to the daemon (it is killed when the daemon dies; it exits
// 125 at once if the daemon died before that took effect) and cap its data memory (RLIMIT_DATA).
// Then
// --exec replaces it with PROGRAM (a runtime that speaks the Runtime API itself), and --library
// runs a native function library in this process, taking its invocations from the daemon's
// Runtime API (AWS_LAMBDA_RUNTIME_API) in the native envelope (environments/native/envelope.h).
// --zygote serves the daemon's requests on fd 3, starting each environment as a copy of this
// process that then runs as if started with that request's arguments
// (environments/native/zygote_server.h).
//
// Exit statuses: 125 the daemon is gone; 126 PROGRAM cannot be run, 127 it does not exist; 2 a
// bad command line; 1 anything else (the function could not load, the daemon closed the
// connection or answered unexpectedly), after one line on stderr.
//
// Every spawn of an environment waits for this program's start, so the command line is read by
// hand and the --exec path touches nothing but the system calls it needs.

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/sanitizers.h"
#include "environments/native/envelope.h"
#include "environments/native/runtime_client.h"
#include "environments/native/zygote_server.h"
#include "functions/loader.h"
#include "functions/native.h"

namespace {

namespace sy = switchyard;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitParentGone = 125;
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

constexpr std::string_view kDefaultErrorType = "Function.Error";
constexpr std::string_view kInvalidEventType = "Runtime.InvalidEvent";
constexpr std::string_view kAllocationFailedType = "std::bad_alloc";
constexpr std::string_view kArrayLengthType = "std::bad_array_new_length";  // A bad_alloc too.
constexpr std::string_view kOutOfMemoryType = "Runtime.OutOfMemory";

struct Options {
  long parent_pid = 0;             // 0: not checked.
  std::uint64_t memory_bytes = 0;  // 0: no limit.
  char** exec = nullptr;           // PROGRAM and its ARGS, ending in nullptr (argv's own end).
  const char* library = nullptr;
  const char* name = nullptr;
  const char* config_json = nullptr;
  std::vector<std::string_view> env;  // K=V.
  bool zygote = false;
};

int usage(const char* problem, const char* detail = "") {
  std::fprintf(stderr,
               "switchyard-environment: %s%s\n"
               "usage: switchyard-environment [--parent-pid P] [--memory-bytes N] --exec PROGRAM "
               "[ARGS...]\n"
               "       switchyard-environment [--parent-pid P] [--memory-bytes N] --library PATH "
               "--name NAME [--config-json JSON] [--env K=V]...\n"
               "       switchyard-environment [--parent-pid P] --zygote\n",
               problem, detail);
  return kExitUsage;
}

template <typename Number>
bool parse_number(const char* text, Number& out) {
  std::string_view view(text);
  auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), out);
  return ec == std::errc() && end == view.data() + view.size();
}

// Reads argv into `options`; returns 0 or the usage status after its message.
int parse_arguments(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--exec") {
      if (i + 1 >= argc) {
        return usage("--exec needs a PROGRAM");
      }
      options.exec = argv + i + 1;
      break;
    }
    if (arg == "--zygote") {
      options.zygote = true;
      continue;
    }
    if (i + 1 >= argc) {
      return usage("missing value or unknown option: ", argv[i]);
    }
    const char* value = argv[++i];
    if (arg == "--parent-pid") {
      if (!parse_number(value, options.parent_pid) || options.parent_pid <= 0) {
        return usage("--parent-pid must be a process id, got ", value);
      }
    } else if (arg == "--memory-bytes") {
      if (!parse_number(value, options.memory_bytes)) {
        return usage("--memory-bytes must be a number of bytes, got ", value);
      }
    } else if (arg == "--library") {
      options.library = value;
    } else if (arg == "--name") {
      options.name = value;
    } else if (arg == "--config-json") {
      options.config_json = value;
    } else if (arg == "--env") {
      if (std::strchr(value, '=') == nullptr || value[0] == '=') {
        return usage("--env must be KEY=VALUE, got ", value);
      }
      options.env.emplace_back(value);
    } else {
      return usage("unknown option: ", argv[i - 1]);
    }
  }
  if (options.zygote) {
    if (options.exec != nullptr || options.library != nullptr || options.memory_bytes != 0) {
      return usage("--zygote goes with --parent-pid alone");
    }
    return 0;
  }
  if ((options.exec == nullptr) == (options.library == nullptr)) {
    return usage("give either --exec or --library");
  }
  if (options.exec != nullptr &&
      (options.name != nullptr || options.config_json != nullptr || !options.env.empty())) {
    return usage("--name, --config-json and --env go with --library, not --exec");
  }
  if (options.library != nullptr && (options.name == nullptr || options.name[0] == '\0')) {
    return usage("--library needs --name");
  }
  return 0;
}

int run_program(char** argv) {
  ::execv(argv[0], argv);
  int err = errno;
  std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(err));
  return err == ENOENT ? kExitNotFound : kExitCannotRun;
}

int fail(std::string_view what, const sy::core::Error& error) {
  std::fprintf(stderr, "switchyard-environment: %.*s%s\n", static_cast<int>(what.size()),
               what.data(), error.message().c_str());
  return kExitFailure;
}

sy::config::FunctionManifest manifest_of(const Options& options) {
  sy::config::FunctionManifest manifest;
  manifest.name = options.name;
  auto code = std::make_shared<sy::functions::NativeSettings>();
  code->library = options.library;
  manifest.code = std::move(code);
  manifest.config_json = options.config_json != nullptr ? options.config_json : "{}";
  for (std::string_view entry : options.env) {
    std::size_t eq = entry.find('=');
    manifest.env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  return manifest;
}

// The invocation's deadline, given in Unix epoch milliseconds, on the steady clock.
void set_deadline(const sy::environments::Invocation& invocation,
                  sy::functions::InvocationContext& ctx) {
  using namespace std::chrono;
  ctx.deadline = steady_clock::time_point::max();
  ctx.wall_offset = system_clock::duration::zero();
  if (!invocation.deadline) {
    return;
  }
  steady_clock::time_point now = steady_clock::now();
  ctx.wall_offset = sy::functions::wall_offset(now);
  auto wall_deadline = duration_cast<system_clock::duration>(milliseconds(*invocation.deadline));
  ctx.deadline = steady_clock::time_point(
      duration_cast<steady_clock::duration>(wall_deadline - ctx.wall_offset));
}

int run_library(const Options& options) {
  // The daemon hands its own program the Runtime API as an inherited Unix socket (cheaper than
  // loopback TCP, and no other process can reach it); a TCP address otherwise.
  const char* api_fd = std::getenv("SWITCHYARD_RUNTIME_API_FD");
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if ((api_fd == nullptr || api_fd[0] == '\0') && (api == nullptr || api[0] == '\0')) {
    std::fprintf(stderr, "switchyard-environment: AWS_LAMBDA_RUNTIME_API is not set\n");
    return kExitFailure;
  }
  // The function's log lines (and the loader's) go to stderr, which the daemon collects.
  if (auto logging = sy::core::configure_logging({}); !logging) {
    return fail("", logging.error());
  }
  auto loaded = sy::functions::LibraryFunction::load(manifest_of(options));

  sy::environments::RuntimeClient client;
  if (api_fd != nullptr && api_fd[0] != '\0') {
    if (auto adopted = client.adopt(std::atoi(api_fd)); !adopted) {
      return fail("", adopted.error());
    }
  } else if (auto connected = client.connect(api); !connected) {
    return fail("", connected.error());
  }
  if (!loaded) {
    const std::string& message = loaded.error().message();
    if (auto posted = client.init_error("Runtime.InitError", message); !posted) {
      fail("cannot report the init error: ", posted.error());
    }
    std::fprintf(stderr, "switchyard-environment: %s\n", message.c_str());
    return kExitFailure;
  }
  std::shared_ptr<sy::functions::LibraryFunction> function = std::move(loaded).value();

  sy::environments::Invocation invocation;
  sy::core::Event event;
  std::string response;
  if (auto got = client.next(invocation); !got) {
    return fail("", got.error());
  }
  // Each answer carries the request for the next invocation (pipelined), which fills in
  // `invocation` again.
  for (;;) {
    sy::core::Status posted;
    if (auto decoded = sy::environments::decode_event(invocation.body, event); !decoded) {
      posted = client.fail(invocation.request_id, kInvalidEventType, decoded.error().message(),
                           &invocation);
    } else {
      sy::functions::InvocationContext ctx;
      ctx.request_id = invocation.request_id;
      ctx.function_name = function->name();
      ctx.trace_parent = event.traceparent;
      set_deadline(invocation, ctx);
      sy::core::Outcome outcome = function->invoke(event, ctx);
      if (outcome.ok()) {
        sy::environments::encode_response(outcome.response, response);
        posted = client.respond(invocation.request_id, response,
                                sy::environments::kResponseContentType, &invocation);
      } else {
        std::string type = outcome.error_type.empty() ? std::string(kDefaultErrorType)
                                                      : std::move(outcome.error_type);
        std::string message = std::move(outcome.error_message);
        if ((type == kAllocationFailedType || type == kArrayLengthType) &&
            options.memory_bytes != 0) {
          // An allocation failed at the limit: Lambda's name for a function over its memory.
          // The daemon replaces this environment (what the function holds stays held).
          message = "RequestId: " + invocation.request_id +
                    " Error: Runtime out of memory: an allocation failed at the function's " +
                    "memory limit (" + std::to_string(options.memory_bytes >> 20) +
                    " MB): " + message;
          type = kOutOfMemoryType;
        }
        posted = client.fail(invocation.request_id, type, message, &invocation);
      }
    }
    if (!posted) {
      return fail("", posted.error());
    }
  }
}

// The whole program; a zygote's copies run it again with their own arguments.
int environment_main(int argc, char** argv) {
  // Die with the daemon. If it died before this took effect, this process was re-parented
  // already: no one would ever stop it, so leave at once.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // A batch task (inherited by the runtime --exec starts and by a zygote's copies): when it
  // wakes (its next invocation arrived) it does not preempt the daemon, which goes on serving
  // every function until it waits; it still gets its fair share of the CPU. Not fatal if
  // refused.
  sched_param batch{};
  ::sched_setscheduler(0, SCHED_BATCH, &batch);
  Options options;
  if (int status = parse_arguments(argc, argv, options); status != 0) {
    return status;
  }
  if (options.parent_pid != 0 && ::getppid() != options.parent_pid) {
    return kExitParentGone;
  }
  if (options.memory_bytes != 0 && !sy::core::kShadowMemorySanitizer) {
    // The data limit (since Linux 4.7: the heap and every private writable mapping, thread
    // stacks included) is what a function's memory is; the address space limit would also
    // count the 64 MiB each malloc arena reserves, and kill multi-threaded runtimes for no use.
    // A sanitizer build goes without (core/sanitizers.h).
    rlimit limit{options.memory_bytes, options.memory_bytes};
    if (::setrlimit(RLIMIT_DATA, &limit) != 0) {
      std::fprintf(stderr, "switchyard-environment: cannot limit memory to %llu bytes: %s\n",
                   static_cast<unsigned long long>(options.memory_bytes), std::strerror(errno));
      return kExitFailure;
    }
  }
  if (options.zygote) {
    // Set up once here rather than in each copy (a copy configures it again, cheaply).
    if (auto logging = sy::core::configure_logging({}); !logging) {
      return fail("", logging.error());
    }
    return sy::environments::serve_zygote(3, &environment_main, argc, argv);
  }
  if (options.exec != nullptr) {
    return run_program(options.exec);
  }
  return run_library(options);
}

}  // namespace

int main(int argc, char** argv) {
  return environment_main(argc, argv);
}
