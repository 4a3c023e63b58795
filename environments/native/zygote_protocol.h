#pragma once

// What the daemon and its environment zygote say to each other (environments/zygote.h), over a
// SOCK_SEQPACKET socket pair, one request and then its reply at a time:
//
//   request  the working directory, the number of arguments, the arguments (argv[0] first),
//            then the environment ("NAME=value"), each ending in a NUL byte; with it, as
//            SCM_RIGHTS, the descriptors the new environment gets as its stdout, stderr and,
//            when there is a third, fd 3.
//   reply    a ZygoteReply: the new process's pid, or the errno that kept it from starting.
//
// Only the daemon holds the other end; still, a request that does not decode is refused with
// EINVAL rather than acted on.
// Thread rules: none; every function may run on any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::environments {

struct ZygoteRequest {
  std::string working_directory;       // Empty: the zygote's.
  std::vector<std::string> arguments;  // argv, argv[0] first.
  std::vector<std::string> environment;
};

struct ZygoteReply {
  std::int32_t pid = 0;    // > 0: started.
  std::int32_t error = 0;  // errno, when pid <= 0.
};

// The most descriptors a request carries.
inline constexpr int kZygoteMaxFds = 3;

std::string encode_zygote_request(const ZygoteRequest& request);
// False when `message` is not a request encode_zygote_request made.
bool decode_zygote_request(std::string_view message, ZygoteRequest& request);

}  // namespace switchyard::environments
