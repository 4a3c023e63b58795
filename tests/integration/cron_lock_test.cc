// `lock: redis` against a real redis-server: three daemons share a per-second schedule, and
// every tick of the run fires exactly once across the three (each records the tick's event id
// in one shared file). Without the lock each tick would fire three times.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;

// The value of a counter line `name{labels} N` in /metrics; 0 when absent.
long long counter(int admin_port, const std::string& series) {
  HttpReply reply = http_request(admin_port, "GET", "/metrics");
  auto pos = reply.body.find(series + " ");
  if (pos == std::string::npos) {
    return 0;
  }
  return std::stoll(reply.body.substr(pos + series.size() + 1));
}

}  // namespace

TEST_CASE("three daemons with lock: redis fire every tick exactly once between them") {
  RedisServer redis;
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/functions.d");
  const std::string record = dir.path() + "/ticks";
  dir.write("switchyard.yaml",
            "workers: 1\n"
            "manifests: functions.d\n"
            "state_dir: ${SWITCHYARD_STATE_DIR}\n"
            "http: { enabled: false }\n"
            "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
            "redis: { url: \"" +
                redis.url() +
                "\" }\n"
                "logging: { level: info, format: text }\n");
  dir.write("functions.d/tick.yaml",
            "name: tick\n"
            "library: " RECORD_ID_LIBRARY
            "\n"
            "env:\n  RECORD_FILE: \"" +
                record +
                "\"\n"
                "triggers:\n  - cron: { schedule: \"* * * * * *\", lock: redis }\n");

  std::vector<std::unique_ptr<RunningDaemon>> daemons;
  for (int i = 0; i < 3; ++i) {
    daemons.push_back(std::make_unique<RunningDaemon>(kBin, dir.path() + "/switchyard.yaml"));
    REQUIRE(daemons.back()->ready());
  }
  // Six ticks after all three are up.
  std::size_t at_start = file_lines(record).size();
  CHECK(eventually([&] { return file_lines(record).size() >= at_start + 6; }, 20s, 50ms));
  long long fires = 0;
  long long locked = 0;
  for (auto& daemon : daemons) {
    fires += counter(daemon->admin_port(), "switchyard_cron_fires_total{function=\"tick\"}");
    locked += counter(daemon->admin_port(),
                      "switchyard_cron_skips_total{function=\"tick\",reason=\"locked\"}");
  }
  for (auto& daemon : daemons) {
    CHECK(daemon->stop().exit_code == 0);
  }

  std::vector<std::string> ids = file_lines(record);
  REQUIRE(ids.size() >= at_start + 6);
  std::map<std::string, int> seen;
  for (const auto& id : ids) {
    ++seen[id];
  }
  for (const auto& [id, times] : seen) {
    CAPTURE(id);
    CHECK(times == 1);
  }
  // Ticks are consecutive seconds: none was lost while the three competed for it.
  std::vector<long long> seconds;
  for (const auto& [id, times] : seen) {
    seconds.push_back(std::stoll(id.substr(id.rfind('-') + 1)) / 1000);
  }
  std::sort(seconds.begin(), seconds.end());
  for (std::size_t i = 1; i < seconds.size(); ++i) {
    CHECK(seconds[i] - seconds[i - 1] == 1);
  }
  // Each tick that fired on one daemon was refused to the two others (a daemon that had not
  // started yet when a tick passed did not ask for it).
  CHECK(fires >= static_cast<long long>(at_start + 6) - 1);
  CHECK(locked >= 2 * 6);
  // The leases are in Redis, keyed by function and scheduled time.
  auto client = redis.client();
  auto keys = client.command({"KEYS", "switchyard:cron:tick:*"});
  REQUIRE(keys.ok());
  CHECK(keys.value().elements.size() >= seen.size());
}
