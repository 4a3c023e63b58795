#include "core/ids.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <thread>

using namespace switchyard;

TEST_CASE("request ids: a label, a per-process prefix and a counter, written out on demand") {
  core::IdGenerator ids("test");
  std::string first;
  ids.next(first);
  REQUIRE(first.size() == std::string("test-01234567-").size() + 16);
  CHECK(first.starts_with("test-"));
  CHECK(first.ends_with("0000000000000001"));

  // A number taken now and written out later, on another thread, is the id next() would give.
  const std::uint64_t number = ids.take();
  std::string later;
  std::thread([&] { ids.format(number, later); }).join();
  CHECK(later.substr(0, later.size() - 16) == first.substr(0, first.size() - 16));
  CHECK(later.ends_with("0000000000000002"));

  // Writing into a string that holds an earlier id rewrites it whole; ids do not repeat.
  std::set<std::string> seen{first, later};
  std::string reused = "something else entirely, longer than an id";
  for (int i = 0; i < 1000; ++i) {
    ids.next(reused);
    CHECK(reused.size() == first.size());
    CHECK(seen.insert(reused).second);
  }
  CHECK(reused.ends_with("00000000000003ea"));  // 1002
}
