#include "triggers/kafka/client.h"

#include <doctest/doctest.h>

#include <string>

using namespace switchyard::triggers::kafka;

namespace {

std::string get(const ConfHolder& conf, const char* name) {
  char value[256];
  size_t size = sizeof(value);
  REQUIRE(rd_kafka_conf_get(conf.get(), name, value, &size) == RD_KAFKA_CONF_OK);
  return value;
}

}  // namespace

TEST_CASE("properties apply to the kind of client librdkafka's table gives them") {
  CHECK(applies_to(RD_KAFKA_CONSUMER, "fetch.wait.max.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_PRODUCER, "fetch.wait.max.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_PRODUCER, "session.timeout.ms"));
  CHECK(applies_to(RD_KAFKA_PRODUCER, "linger.ms"));
  CHECK_FALSE(applies_to(RD_KAFKA_CONSUMER, "linger.ms"));
  // Both kinds: global client properties.
  CHECK(applies_to(RD_KAFKA_PRODUCER, "security.protocol"));
  CHECK(applies_to(RD_KAFKA_CONSUMER, "security.protocol"));
  CHECK(applies_to(RD_KAFKA_PRODUCER, "client.id"));
  // Not in the table: left to librdkafka, which refuses it with its own message.
  CHECK(applies_to(RD_KAFKA_PRODUCER, "no.such.property"));
}

TEST_CASE("a client's configuration gets only the properties meant for its kind") {
  switchyard::config::KafkaConfig kafka;
  kafka.brokers = "localhost:9092";
  kafka.properties = {{"fetch.wait.max.ms", "123"}, {"linger.ms", "7"}, {"client.id", "sy"}};
  auto producer = make_conf(kafka, RD_KAFKA_PRODUCER, {}, {}, "test");
  REQUIRE(producer.ok());
  CHECK(get(*producer, "linger.ms") == "7");
  CHECK(get(*producer, "client.id") == "sy");
  CHECK(get(*producer, "fetch.wait.max.ms") != "123");  // librdkafka's default stays.
  auto consumer = make_conf(kafka, RD_KAFKA_CONSUMER, {}, {}, "test");
  REQUIRE(consumer.ok());
  CHECK(get(*consumer, "fetch.wait.max.ms") == "123");
  CHECK(get(*consumer, "client.id") == "sy");
  CHECK(get(*consumer, "linger.ms") != "7");
  // A bad value of a property that applies is still an error naming it.
  kafka.properties = {{"linger.ms", "soon"}};
  auto bad = make_conf(kafka, RD_KAFKA_PRODUCER, {}, {}, "test");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("kafka.properties.linger.ms") != std::string::npos);
}
