#pragma once

// The real switchyard daemon as a child process, for integration tests: started on a config
// with every listener on port 0, and waited for until it logs that it is ready.

#include <map>
#include <memory>
#include <string>

#include "support/process.h"

namespace switchyard::testing {

class RunningDaemon {
 public:
  // `env` adds to the defaults: SWITCHYARD_HTTP_PORT=0, SWITCHYARD_ADMIN_PORT=0,
  // SWITCHYARD_EXAMPLES_LIB and a fresh SWITCHYARD_STATE_DIR.
  RunningDaemon(const std::string& binary, const std::string& config,
                std::map<std::string, std::string> env = {});

  bool ready() const { return ready_; }
  int admin_port() const { return admin_port_; }
  int http_port() const { return http_port_; }
  Child& process() { return *child_; }
  // SIGTERM, then waits for the exit.
  ProcessResult stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  TempDir state_;
  std::unique_ptr<Child> child_;
  bool ready_ = false;
  int admin_port_ = 0;
  int http_port_ = 0;
};

}  // namespace switchyard::testing
