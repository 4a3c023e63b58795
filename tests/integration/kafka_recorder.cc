// kafka_recorder: the test function of tests/integration/kafka_test.cc and bench/kafka.sh.
//
// For every Kafka record it processes it appends one line to the file named by the manifest's
// env OUT_FILE, with one write(2) (atomic for O_APPEND, and in the kernel before the function
// returns, so a kill -9 of the daemon loses no line of a record whose offset was committed):
//
//   R <topic> <partition> <offset> <key or -> <value>
//
// A record whose value equals env FAIL_VALUE fails (error type PoisonRecord) and appends
// "F <topic> <partition> <offset>" instead. It handles single records (kafka.* attributes),
// native batches (a JSON array of CloudEvents) and the lambda-kafka payload, and reports failed
// batch items in batchItemFailures. With OUT_FILE empty or unset it records nothing (bench).
// env SLEEP_US makes every invocation take that long (a slow function, for backpressure and
// rebalance tests). With env DONE_AFTER=N and DONE_FILE=path it writes the wall-clock time
// ("<seconds>.<nanoseconds>") to path once N records have been handled (bench/kafka.sh's clock,
// read without asking the daemon anything).

#include <fcntl.h>
#include <rapidjson/document.h>
#include <switchyard/function.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

SWITCHYARD_DECLARE_ABI();

namespace {

int out_fd = -1;
std::string fail_value;
bool have_fail_value = false;
long sleep_us = 0;
long long done_after = 0;
std::string done_file;
std::atomic<long long> handled{0};

// Counts `records` handled; the call that reaches DONE_AFTER writes the time to DONE_FILE.
void count_handled(long long records) {
  if (done_after <= 0) {
    return;
  }
  long long before = handled.fetch_add(records);
  if (before < done_after && before + records >= done_after) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (FILE* file = std::fopen(done_file.c_str(), "w")) {
      std::fprintf(file, "%lld.%09ld\n", static_cast<long long>(now.tv_sec), now.tv_nsec);
      std::fclose(file);
    }
  }
}

std::string_view view(sy_bytes bytes) {
  return bytes.data == nullptr ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

std::string base64_decode(std::string_view text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned value = 0;
  int bits = -8;
  for (char c : text) {
    auto position = alphabet.find(c);
    if (position == std::string::npos) {
      break;
    }
    value = (value << 6) + static_cast<unsigned>(position);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

struct Item {
  std::string topic, partition, offset, key, value, id;
  bool has_key = false;
};

void record(const Item& item, bool failed, std::string& lines) {
  if (failed) {
    lines += "F " + item.topic + " " + item.partition + " " + item.offset + "\n";
  } else {
    lines += "R " + item.topic + " " + item.partition + " " + item.offset + " " +
             (item.has_key ? item.key : std::string("-")) + " " + item.value + "\n";
  }
}

std::string member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) {
    return {};
  }
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) {
    return {};
  }
  if (it->value.IsString()) {
    return std::string(it->value.GetString(), it->value.GetStringLength());
  }
  if (it->value.IsInt64()) {
    return std::to_string(it->value.GetInt64());
  }
  return {};
}

std::vector<Item> batch_items(std::string_view data) {
  std::vector<Item> items;
  rapidjson::Document document;
  document.Parse(data.data(), data.size());
  if (document.HasParseError()) {
    return items;
  }
  if (document.IsObject() && document.HasMember("records")) {
    // lambda-kafka
    for (auto& group : document["records"].GetObject()) {
      for (auto& entry : group.value.GetArray()) {
        Item item;
        item.topic = member(entry, "topic");
        item.partition = member(entry, "partition");
        item.offset = member(entry, "offset");
        if (entry.HasMember("key")) {
          item.has_key = true;
          item.key = base64_decode(member(entry, "key"));
        }
        item.value = base64_decode(member(entry, "value"));
        item.id = item.topic + "-" + item.partition + "-" + item.offset;
        items.push_back(std::move(item));
      }
    }
  } else if (document.IsArray()) {
    // The native batch: CloudEvents with the kafka.* attributes.
    for (auto& entry : document.GetArray()) {
      Item item;
      const auto& attributes = entry["attributes"];
      item.topic = member(attributes, "kafka.topic");
      item.partition = member(attributes, "kafka.partition");
      item.offset = member(attributes, "kafka.offset");
      if (attributes.HasMember("kafka.key")) {
        item.has_key = true;
        item.key = member(attributes, "kafka.key");
      }
      item.value = member(entry, "data");
      item.id = member(entry, "id");
      items.push_back(std::move(item));
    }
  }
  return items;
}

void write_all(const std::string& lines) {
  if (out_fd >= 0 && !lines.empty()) {
    (void)!write(out_fd, lines.data(), lines.size());
  }
}

}  // namespace

SWITCHYARD_EXPORT int switchyard_init(const sy_init_args* args) {
  for (size_t i = 0; i < args->env_count; ++i) {
    std::string_view key = view(args->env[i].key);
    std::string value(view(args->env[i].value));
    if (key == "OUT_FILE" && !value.empty()) {
      out_fd = open(value.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    } else if (key == "DONE_AFTER") {
      done_after = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "DONE_FILE") {
      done_file = value;
    } else if (key == "SLEEP_US") {
      sleep_us = std::strtol(value.c_str(), nullptr, 10);
    } else if (key == "FAIL_VALUE") {
      fail_value = value;
      have_fail_value = true;
    }
  }
  return 0;
}

SWITCHYARD_EXPORT void switchyard_shutdown(void) {
  if (out_fd >= 0) {
    close(out_fd);
    out_fd = -1;
  }
}

SWITCHYARD_EXPORT int switchyard_handle(const sy_event* event, const sy_context*,
                                        sy_response* response) {
  if (sleep_us > 0) {
    usleep(static_cast<useconds_t>(sleep_us));
  }
  bool batch = false;
  for (size_t i = 0; i < event->attribute_count && !batch; ++i) {
    batch = view(event->attributes[i].key) == "batch.size";
  }
  if (!batch && out_fd < 0 && !have_fail_value) {
    count_handled(1);  // Nothing to record or check: the bench's no-op.
    return 0;
  }
  Item single;
  for (size_t i = 0; i < event->attribute_count; ++i) {
    std::string_view key = view(event->attributes[i].key);
    std::string_view value = view(event->attributes[i].value);
    if (key == "kafka.topic") {
      single.topic = value;
    } else if (key == "kafka.partition") {
      single.partition = value;
    } else if (key == "kafka.offset") {
      single.offset = value;
    } else if (key == "kafka.key") {
      single.key = value;
      single.has_key = true;
    }
  }
  std::string lines;
  if (!batch) {
    count_handled(1);
    single.value = std::string(view(event->data));
    bool failed = have_fail_value && single.value == fail_value;
    record(single, failed, lines);
    write_all(lines);
    if (failed) {
      std::string message = "poison record " + std::string(view(event->id));
      response->set_error(response, sy_bytes_from_cstr("PoisonRecord"),
                          sy_bytes{message.data(), message.size()});
      return 1;
    }
    return 0;
  }
  std::string failures;
  std::vector<Item> items = batch_items(view(event->data));
  count_handled(static_cast<long long>(items.size()));
  for (const Item& item : items) {
    bool failed = have_fail_value && item.value == fail_value;
    record(item, failed, lines);
    if (failed) {
      failures +=
          std::string(failures.empty() ? "" : ",") + "{\"itemIdentifier\":\"" + item.id + "\"}";
    }
  }
  write_all(lines);
  std::string body = "{\"batchItemFailures\":[" + failures + "]}";
  response->set_body(response, sy_bytes{body.data(), body.size()});
  return 0;
}
