#include "triggers/kafka/client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>

#include "core/text.h"

namespace switchyard::triggers::kafka {

namespace {

// librdkafka logs from its own threads; spdlog is thread-safe.
void log_to_spdlog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  const char* name = rd_kafka_name(rk);
  if (level <= 3) {
    spdlog::error("librdkafka {} {}: {}", name, facility, message);
  } else if (level <= 4) {
    spdlog::warn("librdkafka {} {}: {}", name, facility, message);
  } else if (level <= 6) {
    spdlog::info("librdkafka {} {}: {}", name, facility, message);
  } else {
    spdlog::debug("librdkafka {} {}: {}", name, facility, message);
  }
}

// Scope bits of each property in librdkafka's table: consumer, producer (both for "*").
constexpr unsigned kConsumer = 1;
constexpr unsigned kProducer = 2;

// Read once from rd_kafka_conf_properties_show(): rows "name | C | range | default | ...".
// A name listed more than once (global and topic level) gets the union of its scopes.
const std::map<std::string, unsigned, std::less<>>& property_scopes() {
  static const std::map<std::string, unsigned, std::less<>> scopes = [] {
    std::map<std::string, unsigned, std::less<>> table;
    char* text = nullptr;
    size_t size = 0;
    FILE* out = open_memstream(&text, &size);
    if (out == nullptr) {
      return table;  // Nothing known: every property applies.
    }
    rd_kafka_conf_properties_show(out);
    std::fclose(out);
    std::string_view rest(text, size);
    while (!rest.empty()) {
      std::size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      std::size_t bar = line.find('|');
      if (bar == std::string_view::npos) {
        continue;
      }
      std::string_view name = core::trim(line.substr(0, bar));
      std::string_view after = line.substr(bar + 1);
      std::string_view scope = core::trim(after.substr(0, after.find('|')));
      unsigned bits = scope == "C"   ? kConsumer
                      : scope == "P" ? kProducer
                      : scope == "*" ? kConsumer | kProducer
                                     : 0;
      if (bits != 0 && !name.empty()) {
        table[std::string(name)] |= bits;
      }
    }
    std::free(text);
    return table;
  }();
  return scopes;
}

}  // namespace

bool applies_to(rd_kafka_type_t type, std::string_view property) {
  const auto& scopes = property_scopes();
  auto it = scopes.find(property);
  if (it == scopes.end()) {
    return true;  // Unknown here: librdkafka itself says what it thinks of it.
  }
  return (it->second & (type == RD_KAFKA_PRODUCER ? kProducer : kConsumer)) != 0;
}

std::string describe(rd_kafka_resp_err_t err) {
  return fmt::format("{} ({})", rd_kafka_err2str(err), rd_kafka_err2name(err));
}

core::Result<ConfHolder> make_conf(const config::KafkaConfig& kafka, rd_kafka_type_t type,
                                   const std::map<std::string, std::string>& defaults,
                                   const std::map<std::string, std::string>& forced,
                                   const std::string& who) {
  ConfHolder conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& origin, const std::string& name,
                 const std::string& value) -> core::Status {
    errstr[0] = '\0';
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         fmt::format("{}{}: {}", origin, name, errstr));
    }
    return {};
  };
  if (kafka.brokers.empty()) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "kafka.brokers is empty: name at least one broker (host:port)");
  }
  if (auto status = set("kafka.", "bootstrap.servers", kafka.brokers); !status.ok()) {
    return status.error();
  }
  for (const auto& [name, value] : defaults) {
    if (kafka.properties.count(name) == 0) {
      if (auto status = set("switchyard default ", name, value); !status.ok()) {
        return status.error();
      }
    }
  }
  for (const auto& [name, value] : kafka.properties) {
    if (forced.count(name) != 0 && forced.at(name) != value) {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         fmt::format("kafka.properties.{}: switchyard sets this property itself "
                                     "(to {}) and it cannot be overridden",
                                     name, forced.at(name)));
    }
    if (!applies_to(type, name)) {
      spdlog::debug("kafka.properties.{} is a {} property: not set on the {} client", name,
                    type == RD_KAFKA_PRODUCER ? "consumer" : "producer", who);
      continue;
    }
    if (auto status = set("kafka.properties.", name, value); !status.ok()) {
      return status.error();
    }
  }
  for (const auto& [name, value] : forced) {
    if (auto status = set("switchyard ", name, value); !status.ok()) {
      return status.error();
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), log_to_spdlog);
  return conf;
}

core::Result<rd_kafka_t*> make_client(rd_kafka_type_t type, ConfHolder conf,
                                      const std::string& who) {
  char errstr[512];
  errstr[0] = '\0';
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       fmt::format("cannot create the Kafka client for {}: {}", who, errstr));
  }
  conf.release();  // rd_kafka_new took it over.
  return rk;
}

std::string assign_partitions(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions,
                              bool cooperative) {
  rd_kafka_resume_partitions(rk, partitions);
  if (cooperative) {
    ErrorHolder error(rd_kafka_incremental_assign(rk, partitions));
    return error ? rd_kafka_error_string(error.get()) : std::string();
  }
  const rd_kafka_resp_err_t err = rd_kafka_assign(rk, partitions);
  return err != RD_KAFKA_RESP_ERR_NO_ERROR ? describe(err) : std::string();
}

QueueWatcher::QueueWatcher(core::Loop& loop, rd_kafka_queue_t* queue,
                           std::function<void()> on_ready)
    : loop_(loop), queue_(queue), on_ready_(std::move(on_ready)), kick_timer_(loop, [this] {
        kicked_ = false;
        on_ready_();
      }) {}

QueueWatcher::~QueueWatcher() {
  stop();
}

core::Status QueueWatcher::start() {
  if (pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
    return core::Error::from_errno(errno, "cannot create the Kafka queue wake-up pipe");
  }
  int rc = uv_poll_init(loop_.raw(), poll_.get(), fds_[0]);
  if (rc != 0) {
    return core::Error::from_uv(rc, "cannot watch the Kafka queue wake-up pipe");
  }
  poll_.get()->data = this;
  rc = uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* handle, int, int) {
    auto* self = static_cast<QueueWatcher*>(handle->data);
    if (self == nullptr) {
      return;
    }
    self->drain_pipe();
    self->on_ready_();
  });
  if (rc != 0) {
    return core::Error::from_uv(rc, "cannot watch the Kafka queue wake-up pipe");
  }
  rd_kafka_queue_io_event_enable(queue_, fds_[1], "1", 1);
  // Anything enqueued before the io event was enabled would not wake us.
  kick();
  return {};
}

void QueueWatcher::kick() {
  if (!kicked_ && fds_[0] >= 0) {
    kicked_ = true;
    kick_timer_.start(std::chrono::milliseconds(0));
  }
}

void QueueWatcher::stop() {
  if (fds_[0] < 0) {
    return;
  }
  if (queue_ != nullptr) {
    rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
  }
  kick_timer_.stop();
  poll_.close();
  close(fds_[0]);
  close(fds_[1]);
  fds_[0] = fds_[1] = -1;
}

void QueueWatcher::drain_pipe() {
  char buffer[256];
  while (read(fds_[0], buffer, sizeof(buffer)) > 0) {
  }
}

}  // namespace switchyard::triggers::kafka
