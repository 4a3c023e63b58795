// kafka_mock: librdkafka's mock cluster as a process, for bench/kafka.sh (and by hand).
//
//   kafka_mock TOPIC PARTITIONS RECORDS [VALUE_BYTES]
//
// Starts a 3-broker mock cluster, creates TOPIC with PARTITIONS partitions, produces RECORDS
// records (key "k<i % 1000>", a value of VALUE_BYTES bytes, default 100), prints
// "bootstrap <host:port,...>" on stdout once they are all acknowledged, and stays up until its
// stdin closes or it gets SIGTERM/SIGINT.

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kafka_mock.h"

namespace {

volatile sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
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
  // Until stdin closes (EOF) or a signal.
  while (stop_requested == 0) {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    int ready = poll(&input, 1, 200);
    if (ready > 0) {
      char buffer[256];
      if (read(STDIN_FILENO, buffer, sizeof(buffer)) <= 0) {
        break;
      }
    }
  }
  return 0;
}
