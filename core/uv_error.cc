// Error::from_uv, apart from the rest of core/error.cc so that a program that never calls libuv
// (switchyard-environment, whose start-up every cold start waits for) does not load it.

#include <uv.h>

#include "core/error.h"

namespace switchyard::core {

Error Error::from_uv(int status, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += uv_strerror(status);
  ErrorCode code = ErrorCode::kIo;
  if (status == UV_ENOENT) {
    code = ErrorCode::kNotFound;
  } else if (status == UV_ETIMEDOUT) {
    code = ErrorCode::kTimeout;
  } else if (status == UV_EINVAL) {
    code = ErrorCode::kInvalidArgument;
  }
  return Error(code, std::move(message));
}

}  // namespace switchyard::core
