#include "support/daemon.h"

#include <signal.h>

#include "support/http_client.h"

namespace switchyard::testing {

RunningDaemon::RunningDaemon(const std::string& binary, const std::string& config,
                             std::map<std::string, std::string> env) {
  env.emplace("SWITCHYARD_HTTP_PORT", "0");
  env.emplace("SWITCHYARD_ADMIN_PORT", "0");
  env.emplace("SWITCHYARD_EXAMPLES_LIB", SWITCHYARD_EXAMPLES_LIB);
  env.emplace("SWITCHYARD_STATE_DIR", state_.path());
  child_ =
      std::make_unique<Child>(std::vector<std::string>{binary, "run", "--config", config}, env);
  ready_ = child_->wait_for_err(" ready: ", std::chrono::seconds(20));
  admin_port_ = port_from_log(child_->err(), "admin listening on ");
  http_port_ = port_from_log(child_->err(), "http listening on ");
}

ProcessResult RunningDaemon::stop(std::chrono::milliseconds timeout) {
  child_->signal(SIGTERM);
  return child_->wait(timeout);
}

}  // namespace switchyard::testing
