// kafka_mock: librdkafka's mock cluster as a process, for bench/kafka.sh, bench/resources.sh,
// bench/soak/soak.py (and by hand).
//
//   kafka_mock TOPIC PARTITIONS RECORDS [VALUE_BYTES]
//
// Starts a 3-broker mock cluster (broker ids 1-3), creates TOPIC with PARTITIONS partitions,
// produces RECORDS records (key "k<i % 1000>", a value of VALUE_BYTES bytes, default 100), prints
// "bootstrap <host:port,...>" on stdout once they are all acknowledged, and stays up until its
// stdin closes or it gets SIGTERM/SIGINT.
//
// Meanwhile it runs commands, one per line on stdin, one at a time; each answers with one line
// on stdout ("ok", or "error <why>" for a bad command), except where shown:
//
//   topic NAME PARTITIONS          creates a topic (replication 3)
//   produce TOPIC N PREFIX         produces N records, values (and keys) PREFIX0 .. PREFIX<N-1>,
//                                  and waits until all are acknowledged: "produced N"
//   read TOPIC PARTITIONS TIMEOUT_MS
//                                  reads every record up to the current end of each partition,
//                                  for at most TIMEOUT_MS: one line "record <partition> <offset>
//                                  <value>" per record (the value as it is), then "end <read>
//                                  <expected>" (read < expected: the timeout cut it short)
//   committed GROUP TOPIC PARTITIONS
//                                  "committed <partition>:<offset> ..." (-1001: none)
//   errors API_KEY COUNT ERR       fails the next COUNT requests of Kafka ApiKey API_KEY (1 Fetch,
//                                  8 OffsetCommit, 12 Heartbeat, ...) with rd_kafka_resp_err_t ERR
//   down ID / up ID                takes broker ID down / brings it back
//
// A produce blocks the command loop until it is acknowledged, so bring a broker back up before
// producing to partitions it leads.

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "kafka_mock.h"

namespace {

volatile sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
}

void answer(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Runs one command line; answers on stdout.
void run_command(switchyard::testing::KafkaMockCluster& cluster, const std::string& line) {
  std::istringstream in(line);
  std::string command;
  if (!(in >> command)) {
    return;  // An empty line.
  }
  if (command == "topic") {
    std::string name;
    int partitions = 0;
    if (in >> name >> partitions && partitions > 0) {
      cluster.create_topic(name, partitions);
      answer("ok");
      return;
    }
  } else if (command == "produce") {
    std::string topic;
    long long count = 0;
    std::string prefix;
    if (in >> topic >> count >> prefix && count >= 0) {
      bool acknowledged = cluster.produce(
          topic, count,
          [&](long long i) { return std::optional<std::string>(prefix + std::to_string(i)); },
          [&](long long i) { return prefix + std::to_string(i); });
      answer(acknowledged ? "produced " + std::to_string(count)
                          : std::string("error not all records were acknowledged"));
      return;
    }
  } else if (command == "read") {
    std::string topic;
    int partitions = 0;
    int timeout_ms = 0;
    if (in >> topic >> partitions >> timeout_ms && partitions > 0) {
      std::size_t expected = 0;
      for (const auto& [partition, end] : cluster.end_offsets(topic, partitions, timeout_ms)) {
        expected += end > 0 ? static_cast<std::size_t>(end) : 0;
      }
      auto records = cluster.read_all(topic, partitions, expected, timeout_ms);
      for (const auto& record : records) {
        answer("record " + std::to_string(record.partition) + " " + std::to_string(record.offset) +
               " " + record.value);
      }
      answer("end " + std::to_string(records.size()) + " " + std::to_string(expected));
      return;
    }
  } else if (command == "committed") {
    std::string group;
    std::string topic;
    int partitions = 0;
    if (in >> group >> topic >> partitions && partitions > 0) {
      std::string text = "committed";
      for (const auto& [partition, offset] : cluster.committed(group, topic, partitions)) {
        text += " " + std::to_string(partition) + ":" + std::to_string(offset);
      }
      answer(text);
      return;
    }
  } else if (command == "errors") {
    int api_key = 0;
    int count = 0;
    int error = 0;
    if (in >> api_key >> count >> error && count > 0) {
      cluster.push_request_errors(api_key, count, error);
      answer("ok");
      return;
    }
  } else if (command == "down" || command == "up") {
    int broker = 0;
    if (in >> broker) {
      if (command == "down") {
        cluster.set_broker_down(broker);
      } else {
        cluster.set_broker_up(broker);
      }
      answer("ok");
      return;
    }
  } else {
    answer("error unknown command " + command);
    return;
  }
  answer("error bad arguments: " + line);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s TOPIC PARTITIONS RECORDS [VALUE_BYTES]\n", argv[0]);
    return 2;
  }
  std::string topic = argv[1];
  int partitions = std::atoi(argv[2]);
  long long records = std::atoll(argv[3]);
  std::size_t value_bytes = argc > 4 ? static_cast<std::size_t>(std::atol(argv[4])) : 100;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  switchyard::testing::KafkaMockCluster cluster;
  if (!cluster.ok()) {
    std::fprintf(stderr, "kafka_mock: cannot start the mock cluster\n");
    return 1;
  }
  cluster.create_topic(topic, partitions);
  std::string padding(value_bytes, 'x');
  bool produced = cluster.produce(
      topic, records,
      [](long long i) { return std::optional<std::string>("k" + std::to_string(i % 1000)); },
      [&](long long i) {
        std::string value = std::to_string(i) + ":" + padding;
        value.resize(value_bytes);
        return value;
      });
  if (!produced) {
    std::fprintf(stderr, "kafka_mock: producing %lld records failed\n", records);
    return 1;
  }
  std::printf("bootstrap %s\n", cluster.bootstraps().c_str());
  std::fflush(stdout);
  // Commands until stdin closes (EOF) or a signal.
  std::string pending;
  while (stop_requested == 0) {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    int ready = poll(&input, 1, 200);
    if (ready > 0) {
      char buffer[4096];
      ssize_t got = read(STDIN_FILENO, buffer, sizeof(buffer));
      if (got <= 0) {
        break;
      }
      pending.append(buffer, static_cast<std::size_t>(got));
      for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, end);
        pending.erase(0, end + 1);
        run_command(cluster, line);
      }
    }
  }
  return 0;
}
