#pragma once

// What the asynchronous-invocation tests share (async_test.cc: the local queue file;
// async_shared_test.cc: queues shared through Redis or Kafka): the daemon binary, a config with
// the function `slow` (fault_recorder), and what it recorded.

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "support/daemon.h"
#include "support/process.h"

namespace switchyard::testing {

inline const std::string kBin = SWITCHYARD_BIN;

inline std::string invoke_path(const std::string& function) {
  return "/2015-03-31/functions/" + function + "/invocations";
}

// Each event id recorded, with how many times ("<data> <event id>" lines).
inline std::map<std::string, int> recorded(const std::string& file) {
  std::map<std::string, int> ids;
  for (const std::string& line : file_lines(file)) {
    std::istringstream in(line);
    std::string data, id;
    if (in >> data >> id) {
      ++ids[id];
    }
  }
  return ids;
}

struct Setup {
  // `function` and `env` add to the manifest of `slow` (fault_recorder, POST /slow).
  Setup(const std::string& daemon, const std::string& function, const std::string& env = {}) {
    std::filesystem::create_directories(dir.path() + "/functions.d");
    std::filesystem::create_directories(state);
    dir.write("switchyard.yaml",
              "workers: 4\nmanifests: functions.d\n"
              "state_dir: ${SWITCHYARD_STATE_DIR}\n"
              "http:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_HTTP_PORT}\n"
              "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
              "logging: { level: info, format: text }\n" +
                  daemon);
    dir.write("functions.d/slow.yaml", "name: slow\nlibrary: " FAULT_RECORDER_LIB "\n" + function +
                                           "env:\n  RECORD_FILE: \"" + out + "\"\n" + env +
                                           "triggers:\n  - http: { path: /slow, methods: [POST] "
                                           "}\n");
  }

  std::unique_ptr<RunningDaemon> start() {
    auto daemon = std::make_unique<RunningDaemon>(
        kBin, dir.path() + "/switchyard.yaml",
        std::map<std::string, std::string>{{"SWITCHYARD_STATE_DIR", state}});
    REQUIRE_MESSAGE(daemon->ready(), daemon->process().err());
    return daemon;
  }

  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string queue_file = state + "/async-queue.db";
  const std::string out = dir.path() + "/recorded.txt";
};

}  // namespace switchyard::testing
