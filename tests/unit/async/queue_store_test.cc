#include "async/queue_store.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "async/event_codec.h"
#include "support/process.h"

using namespace std::chrono_literals;
using namespace std::string_literals;
using switchyard::async::Admission;
using switchyard::async::AppendResult;
using switchyard::async::QueueStore;
using switchyard::async::Record;
using switchyard::testing::Child;
using switchyard::testing::TempDir;

namespace {

std::unique_ptr<QueueStore> open_store(const std::string& file, QueueStore::Options options = {}) {
  auto store = QueueStore::open(file, options);
  REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message()));
  return std::move(store).value();
}

Record make_record(int i, const std::string& function = "thumbnail") {
  Record record;
  record.id = "req-" + std::to_string(i);
  record.function = function;
  record.attempts = i % 3;
  record.enqueued_at_ms = 1'700'000'000'000 + i;
  record.next_attempt_at_ms = 1'700'000'000'500 + i;
  record.event.id = "event-" + std::to_string(i);
  record.event.source = "switchyard/http";
  record.event.type = "com.example.async";
  record.event.subject = "s" + std::to_string(i);
  record.event.datacontenttype = i % 2 == 0 ? "application/json" : "application/octet-stream";
  record.event.time =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(record.enqueued_at_ms));
  record.event.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  record.event.data =
      i % 2 == 0 ? "{\"n\":" + std::to_string(i) + "}" : "\x00\xff payload "s + std::to_string(i);
  record.event.attributes = {{"http.method", "POST"},
                             {"http.header.x-n", std::to_string(i)},
                             {"http.header.x-n", "again"}};
  return record;
}

void check_same(const Record& got, const Record& want) {
  INFO("record " << want.id);
  CHECK(got.id == want.id);
  CHECK(got.function == want.function);
  CHECK(got.attempts == want.attempts);
  CHECK(got.enqueued_at_ms == want.enqueued_at_ms);
  CHECK(got.next_attempt_at_ms == want.next_attempt_at_ms);
  CHECK(got.size > 0);
  CHECK(got.event.id == want.event.id);
  CHECK(got.event.source == want.event.source);
  CHECK(got.event.type == want.event.type);
  CHECK(got.event.subject == want.event.subject);
  CHECK(got.event.datacontenttype == want.event.datacontenttype);
  CHECK(got.event.time == want.event.time);
  CHECK(got.event.traceparent == want.event.traceparent);
  CHECK(got.event.data == want.event.data);
  REQUIRE(got.event.attributes.size() == want.event.attributes.size());
  for (std::size_t i = 0; i < want.event.attributes.size(); ++i) {
    CHECK(got.event.attributes[i].key == want.event.attributes[i].key);
    CHECK(got.event.attributes[i].value == want.event.attributes[i].value);
  }
}

// The outcomes `done` reported, by id.
struct Outcomes {
  std::mutex mutex;
  std::map<std::string, AppendResult> by_id;
  int calls = 0;

  QueueStore::Done done_for(const std::string& id) {
    return [this, id](const AppendResult& result) {
      std::lock_guard<std::mutex> lock(mutex);
      ++calls;
      by_id[id] = result;
    };
  }
  int durable() {
    std::lock_guard<std::mutex> lock(mutex);
    int n = 0;
    for (const auto& [id, result] : by_id) {
      n += result.durable() ? 1 : 0;
    }
    return n;
  }
};

// Another connection holding the write lock (BEGIN IMMEDIATE), as an operator's sqlite3 session
// may: the store's writer waits for it, so that nothing commits until release().
class WriteLockHolder {
 public:
  explicit WriteLockHolder(const std::string& file) {
    REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~WriteLockHolder() {
    release();
    sqlite3_close(db_);
  }
  void release() {
    if (held_) {
      held_ = false;
      CHECK(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    }
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

std::string integrity_check(const std::string& file) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  std::string result;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        static_cast<std::string*>(out)->append(values[0] != nullptr ? values[0] : "NULL");
        return 0;
      },
      &result, nullptr);
  sqlite3_close(db);
  return result;
}

std::vector<Record> load_all(QueueStore& store) {
  auto records = store.load();
  REQUIRE_MESSAGE(records.ok(), (records.ok() ? "" : records.error().message()));
  return std::move(records).value();
}

// Writes `records` as switchyard wrote them before schema 2: keyed by id, with an index by
// function, in the order given.
void write_schema_1(const std::string& file, const std::vector<Record>& records) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db,
                       "PRAGMA journal_mode=WAL;"
                       "CREATE TABLE async_events (id TEXT PRIMARY KEY, function TEXT NOT NULL,"
                       " enqueued_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,"
                       " attempts INTEGER NOT NULL, event BLOB NOT NULL, size INTEGER NOT NULL);"
                       "CREATE INDEX async_events_by_function ON async_events (function,"
                       " enqueued_at);"
                       "PRAGMA user_version=1; BEGIN;",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_stmt* insert = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO async_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1,
                             &insert, nullptr) == SQLITE_OK);
  for (const Record& record : records) {
    std::string event = switchyard::async::encode_event(record.event);
    sqlite3_bind_text(insert, 1, record.id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, record.function.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, record.enqueued_at_ms);
    sqlite3_bind_int64(insert, 4, record.next_attempt_at_ms);
    sqlite3_bind_int(insert, 5, record.attempts);
    sqlite3_bind_text(insert, 6, event.data(), static_cast<int>(event.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 7, static_cast<sqlite3_int64>(event.size()));
    REQUIRE(sqlite3_step(insert) == SQLITE_DONE);
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  REQUIRE(sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("queue store: records come back after a reopen, in order, every field intact") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  std::vector<Record> want;
  {
    auto store = open_store(file);
    Outcomes outcomes;
    for (int i = 0; i < 60; ++i) {
      want.push_back(make_record(i, i % 2 == 0 ? "thumbnail" : "resize"));
      REQUIRE(store->append(want.back(), outcomes.done_for(want.back().id)) == Admission::kQueued);
    }
    store->flush();
    CHECK(outcomes.calls == 60);
    CHECK(outcomes.durable() == 60);
    // Every transaction with an append fsyncs before it is reported durable.
    CHECK(store->stats().fsyncs == store->stats().commits);
    store->close();
    CHECK(store->append(make_record(100), outcomes.done_for("late")) == Admission::kClosed);
  }
  CHECK(integrity_check(file) == "ok");
  {
    auto store = open_store(file);
    auto records = load_all(*store);
    REQUIRE(records.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      check_same(records[i], want[i]);
    }
    // open() counted what it found.
    auto usage = store->usage("thumbnail");
    CHECK(usage.events == 30);
    CHECK(usage.oldest_enqueued_at_ms == want[0].enqueued_at_ms);
    CHECK(store->usage().size() == 2);

    // Every third removed, every fifth (of those left) attempted again.
    std::vector<Record> left;
    for (Record& record : want) {
      int n = std::stoi(record.id.substr(4));
      if (n % 3 == 0) {
        CHECK(store->remove(record.id));
        continue;
      }
      if (n % 5 == 0) {
        record.attempts = 7;
        record.next_attempt_at_ms = 1'800'000'000'000 + n;
        CHECK(store->update_attempt(record.id, record.attempts, record.next_attempt_at_ms));
      }
      left.push_back(std::move(record));
    }
    CHECK_FALSE(store->remove("req-0"));
    CHECK_FALSE(store->update_attempt("no-such-id", 1, 0));
    CHECK(store->usage("thumbnail").events == 20);
    CHECK(store->usage("thumbnail").oldest_enqueued_at_ms == want[2].enqueued_at_ms);
    want = std::move(left);
    // Removes and updates only: committed without an fsync of their own, yet kept (below).
    store->flush();
    CHECK(store->stats().commits >= 1);
    CHECK(store->stats().fsyncs == 0);
  }
  {
    auto store = open_store(file);
    auto records = load_all(*store);
    REQUIRE(records.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      check_same(records[i], want[i]);
    }
    auto stats = store->stats();
    CHECK(stats.commits == 0);
  }
}

TEST_CASE("queue store: a file of schema 1 (keyed by id) is migrated, its rows kept in order") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  // What switchyard wrote before schema 2, rows inserted out of id order.
  std::vector<Record> want;
  want.push_back(make_record(7));
  want.push_back(make_record(3, "resize"));
  want.push_back(make_record(5));
  write_schema_1(file, want);
  {
    auto store = open_store(file);
    auto records = load_all(*store);
    REQUIRE(records.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      check_same(records[i], want[i]);
    }
    CHECK(store->usage("thumbnail").events == 2);
    // Removals and updates find migrated rows; a new append goes after all of them.
    CHECK(store->remove("req-7"));
    CHECK(store->update_attempt("req-5", 2, 42));
    want.erase(want.begin());
    want[1].attempts = 2;
    want[1].next_attempt_at_ms = 42;
    want.push_back(make_record(1));
    Outcomes outcomes;
    REQUIRE(store->append(want.back(), outcomes.done_for(want.back().id)) == Admission::kQueued);
    store->flush();
    CHECK(outcomes.durable() == 1);
  }
  CHECK(integrity_check(file) == "ok");
  {
    auto store = open_store(file);
    auto records = load_all(*store);
    REQUIRE(records.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      check_same(records[i], want[i]);
    }
    // After a reopen, appends still go after the last row, even when the first ones are gone.
    CHECK(store->remove("req-3"));
    Outcomes outcomes;
    Record last = make_record(0);
    REQUIRE(store->append(last, outcomes.done_for(last.id)) == Admission::kQueued);
    store->flush();
    records = load_all(*store);
    REQUIRE(records.size() == 3);
    CHECK(records[0].id == "req-5");
    CHECK(records[1].id == "req-1");
    CHECK(records[2].id == "req-0");
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &version, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(version) == SQLITE_ROW);
  CHECK(sqlite3_column_int(version, 0) == 2);
  sqlite3_finalize(version);
  sqlite3_close(db);
}

TEST_CASE("queue store: a schema 1 file filled past half of max_file_bytes is still migrated") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  std::vector<Record> want;
  for (int i = 0; i < 300; ++i) {
    want.push_back(make_record(i));
    want.back().event.data = std::string(2000, static_cast<char>('a' + i % 26));
  }
  write_schema_1(file, want);
  // The migration copies every row before the old table goes: more than this cap for a moment.
  QueueStore::Options options;
  options.max_file_bytes = std::filesystem::file_size(file) * 3 / 2;
  auto store = open_store(file, options);
  auto records = load_all(*store);
  REQUIRE(records.size() == want.size());
  CHECK(records.front().id == want.front().id);
  CHECK(records.back().event.data == want.back().event.data);
}

TEST_CASE("queue store: the queue file and its WAL are readable by the daemon's user only") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  SUBCASE("a new file") {}
  SUBCASE("a file an earlier version left with SQLite's default mode") {
    write_schema_1(file, {});
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
  }
  auto store = open_store(file);
  Outcomes outcomes;
  Record record = make_record(1);
  REQUIRE(store->append(record, outcomes.done_for(record.id)) == Admission::kQueued);
  store->flush();
  for (const std::string& path : {file, file + "-wal"}) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    INFO(path);
    CHECK((info.st_mode & 0777) == 0600);
  }
}

TEST_CASE("queue store: a queue file open in one store is refused to another") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  auto store = open_store(file);
  auto second = QueueStore::open(file);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message().find("in use") != std::string::npos);
  store.reset();
  CHECK(QueueStore::open(file).ok());
}

TEST_CASE("queue store: an append, then its update and remove, in one batch keep their order") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  auto store = open_store(file);
  Outcomes outcomes;
  {
    WriteLockHolder lock(file);
    for (int i = 0; i < 3; ++i) {
      Record record = make_record(i);
      REQUIRE(store->append(record, outcomes.done_for(record.id)) == Admission::kQueued);
    }
    CHECK(store->update_attempt("req-1", 4, 99));
    CHECK(store->remove("req-2"));
  }
  store->flush();
  CHECK(outcomes.durable() == 3);
  auto records = load_all(*store);
  REQUIRE(records.size() == 2);
  CHECK(records[0].id == "req-0");
  CHECK(records[1].id == "req-1");
  CHECK(records[1].attempts == 4);
  CHECK(records[1].next_attempt_at_ms == 99);
}

TEST_CASE("queue store: appends from several threads share commits") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  constexpr int kRecords = kThreads * kPerThread;

  auto run = [&](QueueStore& store, Outcomes& outcomes, int base) {
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int n = 0; n < kPerThread; ++n) {
          Record record = make_record(base + t * kPerThread + n, "fn" + std::to_string(t));
          CHECK(store.append(record, outcomes.done_for(record.id)) == Admission::kQueued);
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
  };

  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  auto store = open_store(file);

  SUBCASE("as they come") {
    // How many commits this takes depends on the disk's fsync time: only reported.
    Outcomes outcomes;
    run(*store, outcomes, 0);
    store->flush();
    CHECK(outcomes.durable() == kRecords);
    auto stats = store->stats();
    CHECK(stats.records_written == kRecords);
    CHECK(stats.commits <= kRecords);
    MESSAGE("1000 concurrent appends: " << stats.commits << " commits ("
                                        << static_cast<double>(stats.commits) / kRecords
                                        << " per record)");
    CHECK(load_all(*store).size() == kRecords);
  }
  SUBCASE("while a commit is in progress") {
    // The writer is held in its first transaction (another connection has the write lock) while
    // all 1000 are appended: whatever it did not take in its first batch it must take in one.
    Outcomes outcomes;
    // How many `done`s had been called at each BatchDone: once per transaction, after its dones.
    std::vector<int> dones_at_batch;
    store->set_batch_done([&] {
      std::lock_guard<std::mutex> lock(outcomes.mutex);
      dones_at_batch.push_back(outcomes.calls);
    });
    {
      WriteLockHolder lock(file);
      run(*store, outcomes, 0);
    }
    store->flush();
    CHECK(outcomes.durable() == kRecords);
    auto stats = store->stats();
    CHECK(stats.records_written == kRecords);
    CHECK(stats.commits <= 2);
    {
      std::lock_guard<std::mutex> lock(outcomes.mutex);
      CHECK(dones_at_batch.size() == stats.commits);
      REQUIRE_FALSE(dones_at_batch.empty());
      CHECK(dones_at_batch.front() > 0);
      CHECK(dones_at_batch.back() == kRecords);
    }
    CHECK(stats.commits < kRecords / 4);
    CHECK(load_all(*store).size() == kRecords);
  }
}

TEST_CASE("queue store: limits by count and bytes are exact, uncommitted appends included") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  auto store = open_store(file);
  Outcomes outcomes;

  // Every record of make_record() with an even two-digit number has the same size.
  REQUIRE(store->append(make_record(10, "probe"), outcomes.done_for("req-10")) ==
          Admission::kQueued);
  std::uint64_t size = store->usage("probe").bytes;
  REQUIRE(size > 0);
  store->flush();

  store->set_limits("count", {3, 1ull << 30});
  store->set_limits("bytes", {100, 3 * size});
  {
    // Nothing commits while the lock is held: the limits count accepted records.
    WriteLockHolder lock(file);
    for (int i = 11; i < 14; ++i) {
      CHECK(store->append(make_record(i, "count"), outcomes.done_for("")) == Admission::kQueued);
    }
    CHECK(store->append(make_record(14, "count"), outcomes.done_for("")) == Admission::kFull);
    for (int i = 20; i < 26; i += 2) {
      CHECK(store->append(make_record(i, "bytes"), outcomes.done_for("")) == Admission::kQueued);
    }
    CHECK(store->append(make_record(26, "bytes"), outcomes.done_for("")) == Admission::kFull);
    CHECK(store->usage("bytes").bytes == 3 * size);
    // Other functions have their own room; an id already queued is refused.
    CHECK(store->append(make_record(31, "other"), outcomes.done_for("")) == Admission::kQueued);
    CHECK(store->append(make_record(31, "other"), outcomes.done_for("")) == Admission::kDuplicate);
    CHECK(store->stats().commits == 1);

    // A removal makes room at once, before it is written.
    CHECK(store->remove("req-12"));
    CHECK(store->append(make_record(15, "count"), outcomes.done_for("")) == Admission::kQueued);
    CHECK(store->append(make_record(16, "count"), outcomes.done_for("")) == Admission::kFull);
    CHECK(store->remove("req-22"));
    CHECK(store->append(make_record(28, "bytes"), outcomes.done_for("")) == Admission::kQueued);
    CHECK(store->append(make_record(30, "bytes"), outcomes.done_for("")) == Admission::kFull);
  }
  store->flush();
  auto stats = store->stats();
  CHECK(stats.appends_refused == 4);
  CHECK(stats.appends_failed == 0);
  CHECK(store->usage("count").events == 3);
  CHECK(store->usage("bytes").events == 3);
  CHECK(load_all(*store).size() == 1 + 3 + 3 + 1);
}

TEST_CASE("queue store: a full disk refuses appends, reports nothing durable unwritten, recovers") {
  // The tests run as root, which ignores a read-only directory. A cap on the database (PRAGMA
  // max_page_count, Options::max_file_bytes) makes SQLite fail exactly as on a full disk:
  // SQLITE_FULL, "database or disk is full". (integration_async fills a real tmpfs.)
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  QueueStore::Options options;
  options.max_file_bytes = 64 << 10;
  auto store = open_store(file, options);
  Outcomes outcomes;

  std::vector<std::string> durable;
  std::string failed;
  for (int i = 0; i < 100 && failed.empty(); ++i) {
    Record record = make_record(i);
    record.event.data.assign(3000, static_cast<char>('a' + i % 26));
    REQUIRE(store->append(record, outcomes.done_for(record.id)) == Admission::kQueued);
    store->flush();
    std::lock_guard<std::mutex> lock(outcomes.mutex);
    const AppendResult& result = outcomes.by_id.at(record.id);
    if (result.durable()) {
      durable.push_back(record.id);
    } else {
      failed = record.id;
      CHECK(result.message.find("full") != std::string::npos);
      MESSAGE("failure reported: " << result.message);
    }
  }
  REQUIRE_FALSE(failed.empty());
  REQUIRE(durable.size() >= 3);
  CHECK(store->stats().failed_commits == 1);
  CHECK(store->stats().appends_failed == 1);
  // The failed record does not count against the function's limits.
  CHECK(store->usage("thumbnail").events == durable.size());

  auto ids = [&] {
    std::vector<std::string> out;
    for (const Record& record : load_all(*store)) {
      out.push_back(record.id);
    }
    return out;
  };
  CHECK(ids() == durable);

  // Room again: the store works without being reopened.
  for (int k = 0; k < 3; ++k) {
    CHECK(store->remove(durable.front()));
    durable.erase(durable.begin());
  }
  Record again = make_record(500);
  again.event.data.assign(3000, 'z');
  REQUIRE(store->append(again, outcomes.done_for(again.id)) == Admission::kQueued);
  store->flush();
  {
    std::lock_guard<std::mutex> lock(outcomes.mutex);
    CHECK(outcomes.by_id.at(again.id).durable());
  }
  durable.push_back(again.id);
  CHECK(ids() == durable);
  store.reset();

  CHECK(integrity_check(file) == "ok");
  auto reopened = open_store(file);
  std::vector<std::string> after;
  for (const Record& record : load_all(*reopened)) {
    after.push_back(record.id);
  }
  CHECK(after == durable);
}

TEST_CASE("queue store: past the reserve, appends are refused unwritten and removes still go") {
  TempDir dir;
  std::string file = dir.path() + "/queue.db";
  Outcomes outcomes;
  {
    auto store = open_store(file);
    for (int i = 0; i < 3; ++i) {
      Record record = make_record(i);
      REQUIRE(store->append(record, outcomes.done_for(record.id)) == Admission::kQueued);
    }
    store->flush();
  }
  // More free space kept than any filesystem here has: every append is past the reserve.
  QueueStore::Options options;
  options.reserve_bytes = 1ull << 50;
  auto store = open_store(file, options);
  CHECK(store->remove("req-0"));
  Record refused = make_record(10);
  REQUIRE(store->append(refused, outcomes.done_for(refused.id)) == Admission::kQueued);
  store->flush();
  {
    std::lock_guard<std::mutex> lock(outcomes.mutex);
    const AppendResult& result = outcomes.by_id.at(refused.id);
    CHECK_FALSE(result.durable());
    CHECK_MESSAGE(result.message.find("limits.async_queue_reserve") != std::string::npos,
                  result.message);
  }
  CHECK(store->stats().appends_short_of_room == 1);
  CHECK(store->stats().appends_failed == 1);
  CHECK(store->stats().failed_commits == 0);
  CHECK(store->stats().removes_written == 1);
  // Neither counted against the function's limits nor stored.
  CHECK(store->usage("thumbnail").events == 2);
  std::vector<std::string> ids;
  for (const Record& record : load_all(*store)) {
    ids.push_back(record.id);
  }
  CHECK(ids == std::vector<std::string>{"req-1", "req-2"});

  // Without a reserve the same append is written.
  store.reset();
  auto unreserved = open_store(file);
  REQUIRE(unreserved->append(refused, outcomes.done_for(refused.id)) == Admission::kQueued);
  unreserved->flush();
  std::lock_guard<std::mutex> lock(outcomes.mutex);
  CHECK(outcomes.by_id.at(refused.id).durable());
}

TEST_CASE("queue store: kill -9 during group commit loses no record reported durable") {
  std::random_device device;
  unsigned seed = device();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    TempDir dir;
    std::string file = dir.path() + "/queue.db";
    int kill_after = std::uniform_int_distribution<int>(50, 3000)(random);
    Child child({SWITCHYARD_ASYNC_QUEUE_WRITER, file});
    auto lines = [&] {
      const std::string& out = child.out();
      return static_cast<int>(std::count(out.begin(), out.end(), '\n'));
    };
    REQUIRE_MESSAGE(
        switchyard::testing::eventually([&] { return lines() >= kill_after; }, 15s, 1ms),
        child.err());
    child.signal(SIGKILL);
    auto result = child.wait();
    CHECK(result.signal == SIGKILL);

    // Only whole lines: the last one may have been cut by the kill.
    std::set<std::string> reported;
    std::size_t start = 0;
    for (std::size_t end; (end = result.out.find('\n', start)) != std::string::npos;
         start = end + 1) {
      reported.insert(result.out.substr(start, end - start));
    }
    REQUIRE(reported.size() >= static_cast<std::size_t>(kill_after));

    CHECK(integrity_check(file) == "ok");
    auto store = open_store(file);
    std::set<std::string> stored;
    for (const Record& record : load_all(*store)) {
      stored.insert(record.id);
    }
    std::size_t missing = 0;
    for (const std::string& id : reported) {
      missing += stored.contains(id) ? 0 : 1;
    }
    CHECK(missing == 0);
    MESSAGE("round " << round << ": killed after " << reported.size() << " durable, "
                     << stored.size() << " in the file");
  }
}
