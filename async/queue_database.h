#pragma once

// The SQLite side of the durable queue (async/queue_store.h): the connection, the schema, the
// prepared statements, and one write transaction per batch of operations. QueueStore decides
// what goes into a batch and when; this unit only turns a batch into one committed transaction
// or an error, with nothing of it left behind.
//
// Thread rules: none of its own. A QueueDatabase is used by one thread at a time (QueueStore
// holds a mutex around every call); the connection is opened without SQLite's own mutexes.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace switchyard::async {

// The schema version kept in PRAGMA user_version. A file of a newer version is refused; an older
// one is migrated when opened.
inline constexpr int kSchemaVersion = 2;

// One change to the table, in the order the store was asked for it.
struct WriteOp {
  enum class Kind { kInsert, kDelete, kUpdateAttempt };
  Kind kind = Kind::kInsert;
  std::int64_t position = 0;  // The row: its place in the queue, given by the store.
  std::string id;             // The request id, for errors.
  // kInsert only.
  std::string function;
  std::int64_t enqueued_at_ms = 0;
  std::string event;  // async/event_codec.h
  std::uint64_t size = 0;
  // kInsert and kUpdateAttempt.
  int attempts = 0;
  std::int64_t next_attempt_at_ms = 0;
};

// One row as it is stored.
struct StoredRow {
  std::int64_t position = 0;
  std::string id;
  std::string function;
  std::int64_t enqueued_at_ms = 0;
  std::int64_t next_attempt_at_ms = 0;
  int attempts = 0;
  std::string event;
  std::uint64_t size = 0;
};

class QueueDatabase {
 public:
  // Opens (creating it if needed) the queue at `file`: WAL, synchronous=FULL, the schema. Holds
  // an exclusive flock on `<file>-lock` while open: a second process (or a second open) is
  // refused, since both would run what they load. (Not on the database itself: closing any
  // descriptor of it would drop SQLite's own POSIX locks.)
  // `max_file_bytes` > 0 caps the database (PRAGMA max_page_count): a write past it fails as
  // SQLITE_FULL does on a full disk.
  static core::Result<std::unique_ptr<QueueDatabase>> open(const std::filesystem::path& file,
                                                           std::uint64_t max_file_bytes);
  ~QueueDatabase();
  QueueDatabase(const QueueDatabase&) = delete;
  QueueDatabase& operator=(const QueueDatabase&) = delete;

  // Applies `ops` in one transaction (BEGIN IMMEDIATE ... COMMIT). On an error the transaction
  // is rolled back and the error returned (kIo, with SQLite's message).
  //
  // A transaction with an insert fsyncs the WAL before it returns (synchronous=FULL): the caller
  // is then told its invocation is durable. One with only removes and attempt updates does not
  // (synchronous=NORMAL): it is made durable by the next fsync of the WAL (every frame before
  // it goes with it), a checkpoint or the close. A crash before that may undo it, which runs a
  // finished invocation again or recounts an attempt: at least once, as a crash during a run
  // does anyway; never a lost invocation. This halves the fsyncs of a steady load, each
  // invocation being one insert and one remove.
  core::Status write(std::span<const WriteOp> ops);

  // The bytes writes may still take without leaving less than `reserve` free: the free space of
  // the file's filesystem (statvfs f_bavail), less `reserve`, 0 when under it. When that is
  // less than `wanted` it looks further: it checkpoints the WAL and truncates it to nothing
  // (a WAL never shrinks by itself; this gives its space back unless a reader holds it), and
  // counts the file's own free pages too, which SQLite fills before growing the file.
  core::Result<std::uint64_t> room(std::uint64_t reserve, std::uint64_t wanted);
  // Checkpoints the WAL and truncates it to nothing; an error says why it could not: a reader
  // holds the WAL, or the file cannot grow to take the WAL's pages.
  core::Status truncate_wal();

  // Calls `row` for every stored row in the order they were inserted. With `with_event` false
  // the event column is not read (StoredRow::event stays empty).
  core::Status scan(bool with_event, const std::function<void(StoredRow&)>& row);

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

  QueueDatabase(int lock_fd, sqlite3* db, std::string path)
      : lock_fd_(lock_fd), db_(db), path_(std::move(path)) {}
  core::Status exec(const char* sql);
  core::Status prepare(const char* sql, Statement& statement);
  // Steps a statement that returns no row; `what` (and `id`) name it in an error.
  core::Status step_done(sqlite3_stmt* statement, const char* what, std::string_view id = {});
  core::Status apply(const WriteOp& op);
  core::Error error(std::string_view what) const;
  // The value of a PRAGMA that returns one integer.
  core::Result<std::int64_t> pragma_value(const char* sql);

  int lock_fd_ = -1;              // flock()ed `<file>-lock`: one process at a time.
  bool synchronous_full_ = true;  // PRAGMA synchronous now: FULL, or NORMAL.
  sqlite3* db_ = nullptr;
  std::string path_;
  Statement begin_;
  Statement commit_;
  Statement rollback_;
  Statement insert_;
  Statement delete_;
  Statement update_attempt_;
  Statement scan_rows_;
  Statement scan_rows_with_event_;
};

}  // namespace switchyard::async
