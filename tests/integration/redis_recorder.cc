// redis_recorder: the test function of tests/integration/redis_test.cc. It records what it saw
// and misbehaves on request, configured by the manifest's `env`:
//   RECORD_FILE  one line per entry seen: the entry's data (for a batch, every item's data);
//   HWM_FILE     the highest number of invocations that ran at the same time;
//   SLEEP_MS     how long each invocation takes.
// An entry whose data starts with "poison" fails (PoisonError); in a batch, items whose data
// starts with "bad" are reported in batchItemFailures.

#include <fcntl.h>
#include <rapidjson/document.h>
#include <switchyard/function.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

SWITCHYARD_DECLARE_ABI();

namespace {

std::string g_record_file;
std::string g_hwm_file;
long g_sleep_ms = 0;
std::atomic<int> g_running{0};
std::atomic<int> g_high_water{0};

std::string_view view(sy_bytes bytes) {
  return {bytes.data, bytes.size};
}

void append_line(const std::string& text) {
  if (g_record_file.empty()) {
    return;
  }
  int fd = ::open(g_record_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return;
  }
  // One write per record: O_APPEND keeps concurrent lines whole.
  ssize_t written = ::write(fd, text.data(), text.size());
  (void)written;
  ::close(fd);
}

// Writes the highest value seen so far. Serialised, and reading the maximum under the lock: a
// writer that reached a lower mark but renamed its file last (a slow rename under I/O load)
// would otherwise leave that lower mark behind.
std::mutex g_hwm_mutex;

void write_high_water() {
  if (g_hwm_file.empty()) {
    return;
  }
  std::lock_guard<std::mutex> lock(g_hwm_mutex);
  int value = g_high_water.load();
  std::string tmp = g_hwm_file + ".tmp" + std::to_string(value);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return;
  }
  std::string text = std::to_string(value);
  ssize_t written = ::write(fd, text.data(), text.size());
  (void)written;
  ::close(fd);
  ::rename(tmp.c_str(), g_hwm_file.c_str());
}

struct Running {
  Running() {
    int now = ++g_running;
    int seen = g_high_water.load();
    while (now > seen) {
      if (g_high_water.compare_exchange_weak(seen, now)) {
        write_high_water();
        break;
      }
    }
  }
  ~Running() { --g_running; }
};

}  // namespace

SWITCHYARD_EXPORT int switchyard_init(const sy_init_args* args) {
  for (size_t i = 0; i < args->env_count; ++i) {
    std::string_view key = view(args->env[i].key);
    std::string value(view(args->env[i].value));
    if (key == "RECORD_FILE") {
      g_record_file = value;
    } else if (key == "HWM_FILE") {
      g_hwm_file = value;
    } else if (key == "SLEEP_MS") {
      g_sleep_ms = std::strtol(value.c_str(), nullptr, 10);
    }
  }
  return 0;
}

SWITCHYARD_EXPORT int switchyard_handle(const sy_event* event, const sy_context* context,
                                        sy_response* response) {
  (void)context;
  Running running;
  if (g_sleep_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_sleep_ms));
  }
  std::string_view type = view(event->type);
  if (type == "switchyard.batch") {
    rapidjson::Document batch;
    batch.Parse(event->data.data, event->data.size);
    if (batch.HasParseError() || !batch.IsArray()) {
      response->set_error(response, sy_bytes_from_cstr("BadBatch"),
                          sy_bytes_from_cstr("the batch is not a JSON array"));
      return 1;
    }
    std::string lines;
    std::string failures = "{\"batchItemFailures\":[";
    bool first = true;
    for (const auto& item : batch.GetArray()) {
      std::string data = item.HasMember("data") && item["data"].IsString()
                             ? std::string(item["data"].GetString(), item["data"].GetStringLength())
                             : std::string("<no data>");
      lines += data + "\n";
      if (data.rfind("bad", 0) == 0 && item.HasMember("id") && item["id"].IsString()) {
        failures += std::string(first ? "" : ",") + "{\"itemIdentifier\":\"" +
                    item["id"].GetString() + "\"}";
        first = false;
      }
    }
    failures += "]}";
    append_line(lines);
    response->set_body(response, sy_bytes{failures.data(), failures.size()});
    return 0;
  }
  std::string data(view(event->data));
  append_line(data + "\n");
  if (data.rfind("poison", 0) == 0) {
    response->set_error(response, sy_bytes_from_cstr("PoisonError"),
                        sy_bytes_from_cstr("cannot process a poison entry"));
    return 1;
  }
  response->set_body(response, sy_bytes_from_cstr("ok"));
  return 0;
}
