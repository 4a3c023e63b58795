#include "daemon/kinds.h"

#include "environments/isolated_native.h"
#include "environments/provided.h"
#include "environments/python_runtime.h"
#include "functions/native.h"
#include "triggers/cron/cron_trigger.h"
#include "triggers/http/http_trigger.h"
#include "triggers/kafka/kafka_trigger.h"
#include "triggers/redis/redis_trigger.h"

namespace switchyard::daemon {

void register_builtin_kinds(Kinds& kinds) {
  triggers::http::register_http_trigger(kinds.triggers);
  triggers::kafka::register_kafka_trigger(kinds.triggers);
  triggers::redis::register_redis_trigger(kinds.triggers);
  triggers::cron::register_cron_trigger(kinds.triggers);
  functions::register_native_runtime(kinds.runtimes, environments::load_isolated_native);
  environments::register_provided_runtime(kinds.runtimes);
  environments::register_python_runtime(kinds.runtimes);
}

const Kinds& builtin_kinds() {
  static const Kinds* kinds = [] {
    auto* built = new Kinds();  // Never destroyed: read until the process exits.
    register_builtin_kinds(*built);
    return built;
  }();
  return *kinds;
}

}  // namespace switchyard::daemon
