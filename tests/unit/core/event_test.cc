#include "core/event.h"

#include <doctest/doctest.h>

#include <string>

namespace switchyard::core {
namespace {

TEST_CASE("AttributeWriter appends to an empty list") {
  Attributes attributes;
  {
    AttributeWriter writer(attributes);
    writer.add("kafka.topic", "orders");
    writer.add("kafka.partition") += "3";
    Attribute& header = writer.next();
    header.key.append("kafka.header.").append("trace");
    header.value = "abc";
  }
  REQUIRE(attributes.size() == 3);
  CHECK(attributes[0].key == "kafka.topic");
  CHECK(attributes[0].value == "orders");
  CHECK(find_attribute(attributes, "kafka.partition")->value == "3");
  CHECK(find_attribute(attributes, "kafka.header.trace")->value == "abc");
}

TEST_CASE("AttributeWriter overwrites an earlier list in place and drops what it did not write") {
  Attributes attributes;
  const std::string long_value(200, 'v');
  for (int i = 0; i < 5; ++i) {
    attributes.push_back({"old.key." + std::to_string(i) + std::string(40, 'k'), long_value});
  }
  const char* first_key = attributes[0].key.data();
  const char* second_value = attributes[1].value.data();
  {
    AttributeWriter writer(attributes);
    writer.add("a", "1");
    writer.add("b", "two");
  }
  REQUIRE(attributes.size() == 2);
  CHECK(attributes[0].key == "a");
  CHECK(attributes[0].value == "1");
  CHECK(attributes[1].key == "b");
  CHECK(attributes[1].value == "two");
  // The entries' storage was reused, not allocated again.
  CHECK(attributes[0].key.data() == first_key);
  CHECK(attributes[1].value.data() == second_value);
  {
    AttributeWriter writer(attributes);  // Nothing written: nothing left.
  }
  CHECK(attributes.empty());
}

TEST_CASE("materialize empties the content fields before the build, keeping their storage") {
  Event event;
  event.id = std::string(64, 'i');
  event.subject = "stale subject";
  event.data = std::string(500, 'd');
  event.traceparent = "00-stale";
  const char* data = event.data.data();
  static const PendingContent::Ops ops{[](void* item, Event& built) {
                                         CHECK(built.subject.empty());
                                         CHECK(built.traceparent.empty());
                                         CHECK(built.data.empty());
                                         built.id = "fresh";
                                         built.data.assign(static_cast<const char*>(item));
                                       },
                                       [](void*) {}};
  static const char payload[] = "new payload";
  event.pending = PendingContent(&ops, const_cast<char*>(payload));
  event.materialize();
  CHECK(!event.pending);
  CHECK(event.id == "fresh");
  CHECK(event.subject.empty());
  CHECK(event.data == "new payload");
  CHECK(event.data.data() == data);  // Built into the buffer the earlier data left.
}

TEST_CASE("pending contents move with their item and prefetch hint, and are released once") {
  static int released = 0;
  static const PendingContent::Ops ops{[](void*, Event&) {}, [](void*) { ++released; }};
  static char item = 'x';
  static const char hint = 'h';
  released = 0;
  PendingContent first(&ops, &item, &hint);
  PendingContent second(std::move(first));
  CHECK(!first);
  CHECK(first.also_read() == nullptr);
  CHECK(second.item() == &item);
  CHECK(second.also_read() == &hint);
  PendingContent third;
  third = std::move(second);
  CHECK(!second);
  CHECK(third.ops() == &ops);
  CHECK(third.also_read() == &hint);
  CHECK(released == 0);
  third = PendingContent();  // Assigning over it releases what it held.
  CHECK(released == 1);
  CHECK(!third);
}

}  // namespace
}  // namespace switchyard::core
