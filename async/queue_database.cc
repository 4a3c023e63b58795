#include "async/queue_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace switchyard::async {

namespace {

// Schema 2: a queue table. `position` (the rowid) is given by the store in the order invocations
// are accepted, so an append goes to the right end of the table's b-tree and a removal (of the
// oldest, mostly) to the left end, and removals and updates name a row by it. No other index:
// each one would add pages (random ones, for a request id) to every commit's fsync; an operator
// looking a row up by `id` scans a table that is small.
constexpr const char* kCreateTable =
    "CREATE TABLE async_events ("
    "  position INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  enqueued_at INTEGER NOT NULL,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  event BLOB NOT NULL,"
    "  size INTEGER NOT NULL);";

// Schema 1 (id TEXT PRIMARY KEY and an index by function) to 2: the rows keep their order.
constexpr const char* kMigrateFrom1 =
    "ALTER TABLE async_events RENAME TO async_events_v1;"
    "DROP INDEX IF EXISTS async_events_by_function;"
    "CREATE TABLE async_events ("
    "  position INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  enqueued_at INTEGER NOT NULL,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  event BLOB NOT NULL,"
    "  size INTEGER NOT NULL);"
    "INSERT INTO async_events (position, id, function, enqueued_at, next_attempt_at, attempts, "
    "event, "
    "size) SELECT rowid, id, function, enqueued_at, next_attempt_at, attempts, event, size FROM "
    "async_events_v1 ORDER BY rowid;"
    "DROP TABLE async_events_v1;";

constexpr const char* kScanRows =
    "SELECT position, id, function, enqueued_at, next_attempt_at, attempts, size FROM async_events "
    "ORDER BY position";
constexpr const char* kScanRowsWithEvent =
    "SELECT position, id, function, enqueued_at, next_attempt_at, attempts, size, event FROM "
    "async_events ORDER BY position";

std::string text_column(sqlite3_stmt* statement, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_blob(statement, column));
  int size = sqlite3_column_bytes(statement, column);
  return text == nullptr ? std::string() : std::string(text, static_cast<std::size_t>(size));
}

// The new database file and its WAL are directory entries: fsync the directory so that a power
// loss cannot lose the files themselves (SQLite syncs the file contents, not the folder).
core::Status sync_directory(const std::filesystem::path& file) {
  std::filesystem::path folder = file.parent_path();
  if (folder.empty()) {
    folder = ".";
  }
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return core::Error::from_errno(errno, "async queue: open " + folder.string());
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return core::Error::from_errno(err, "async queue: fsync " + folder.string());
  }
  return {};
}

// Creates `file` if missing and sets it, and its WAL and shared-memory files if they exist, to
// mode 0600.
core::Status restrict_to_owner(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return core::Error::from_errno(errno, "async queue: open " + file.string());
  }
  int rc = ::fchmod(fd, 0600);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return core::Error::from_errno(err, "async queue: chmod " + file.string());
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string companion = file.string() + suffix;
    if (::chmod(companion.c_str(), 0600) != 0 && errno != ENOENT) {
      return core::Error::from_errno(errno, "async queue: chmod " + companion);
    }
  }
  return {};
}

}  // namespace

void QueueDatabase::StatementDeleter::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

core::Result<std::unique_ptr<QueueDatabase>> QueueDatabase::open(const std::filesystem::path& file,
                                                                 std::uint64_t max_file_bytes) {
  std::string lock_path = file.string() + "-lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return core::Error::from_errno(errno, "async queue: open " + lock_path);
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return core::Error(core::ErrorCode::kUnavailable,
                         "async queue " + file.string() + " is in use by another process");
    }
    return core::Error::from_errno(err, "async queue: lock " + lock_path);
  }
  // The file is the daemon user's only: it holds the events' payloads, and removed ones linger
  // on freed pages (secure_delete=FAST, below). Set at every open, so that a file an earlier
  // switchyard created with SQLite's default mode (0644) is closed too; SQLite gives a WAL and a
  // shared-memory file it creates the database's mode, and one left from before is set here.
  if (auto status = restrict_to_owner(file); !status) {
    ::close(lock_fd);
    return status.error();
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    ::close(lock_fd);
    return core::Error(core::ErrorCode::kIo,
                       "async queue " + file.string() + ": cannot open: " + message);
  }
  std::unique_ptr<QueueDatabase> database(new QueueDatabase(lock_fd, db, file.string()));
  sqlite3_extended_result_codes(db, 1);
  // An operator's sqlite3 session may hold the write lock for a moment; wait rather than fail.
  sqlite3_busy_timeout(db, 5000);

  // WAL: a commit appends to one file and fsyncs it once, readers (the sqlite3 CLI) never block
  // the writer. synchronous=FULL: that fsync happens at every commit, so a committed transaction
  // survives a power loss, not only a crash (see queue_store.h).
  Statement pragma;
  if (auto status = database->prepare("PRAGMA journal_mode=WAL", pragma); !status) {
    return status.error();
  }
  if (sqlite3_step(pragma.get()) != SQLITE_ROW || text_column(pragma.get(), 0) != "wal") {
    return database->error("cannot switch to WAL mode");
  }
  pragma.reset();
  if (auto status = database->exec("PRAGMA synchronous=FULL"); !status) {
    return status.error();
  }
  // Debian's SQLite zeroes every page freed (SQLITE_SECURE_DELETE): removals from the front of
  // the queue then write their emptied pages again at every commit. FAST still overwrites a
  // removed invocation on the pages a commit writes anyway, and leaves freed pages as they were
  // until they are reused (the file is readable by switchyard's user only, above).
  if (auto status = database->exec("PRAGMA secure_delete=FAST"); !status) {
    return status.error();
  }
  if (auto status = database->exec("BEGIN IMMEDIATE"); !status) {
    return status.error();
  }
  if (auto status = database->prepare("PRAGMA user_version", pragma); !status) {
    return status.error();
  }
  int version = 0;
  if (sqlite3_step(pragma.get()) == SQLITE_ROW) {
    version = sqlite3_column_int(pragma.get(), 0);
  }
  pragma.reset();
  if (version > kSchemaVersion) {
    database->exec("ROLLBACK").ok();
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "async queue " + file.string() + " has schema version " +
                           std::to_string(version) + ", newer than this switchyard's (" +
                           std::to_string(kSchemaVersion) + ")");
  }
  if (version < kSchemaVersion) {
    std::string sql = std::string(version == 1 ? kMigrateFrom1 : kCreateTable) +
                      "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";";
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      core::Error error = database->error(
          version == 1 ? "migrating it from schema 1 to 2 (which needs room for a copy of its rows)"
                       : "creating its table");
      database->exec("ROLLBACK").ok();
      return error;
    }
  }
  if (auto status = database->exec("COMMIT"); !status) {
    database->exec("ROLLBACK").ok();
    return status.error();
  }
  if (auto status = sync_directory(file); !status) {
    return status.error();
  }
  // The cap applies once the schema is in place: a migration holds the old table and its copy
  // for a moment, and a queue filled to more than half its cap must still be migrated.
  if (max_file_bytes > 0) {
    if (auto status = database->prepare("PRAGMA page_size", pragma); !status) {
      return status.error();
    }
    std::uint64_t page_size = 4096;
    if (sqlite3_step(pragma.get()) == SQLITE_ROW) {
      page_size = static_cast<std::uint64_t>(sqlite3_column_int64(pragma.get(), 0));
    }
    pragma.reset();
    std::uint64_t pages = std::max<std::uint64_t>(1, max_file_bytes / page_size);
    std::string sql = "PRAGMA max_page_count=" + std::to_string(pages);
    if (auto status = database->exec(sql.c_str()); !status) {
      return status.error();
    }
  }

  struct {
    const char* sql;
    Statement* statement;
  } statements[] = {
      {"BEGIN IMMEDIATE", &database->begin_},
      {"COMMIT", &database->commit_},
      {"ROLLBACK", &database->rollback_},
      {"INSERT INTO async_events (position, id, function, enqueued_at, next_attempt_at, attempts, "
       "event, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
       &database->insert_},
      {"DELETE FROM async_events WHERE position = ?1", &database->delete_},
      {"UPDATE async_events SET attempts = ?2, next_attempt_at = ?3 WHERE position = ?1",
       &database->update_attempt_},
      {kScanRows, &database->scan_rows_},
      {kScanRowsWithEvent, &database->scan_rows_with_event_},
  };
  for (auto& entry : statements) {
    if (auto status = database->prepare(entry.sql, *entry.statement); !status) {
      return status.error();
    }
  }
  return database;
}

QueueDatabase::~QueueDatabase() {
  begin_.reset();
  commit_.reset();
  rollback_.reset();
  insert_.reset();
  delete_.reset();
  update_attempt_.reset();
  scan_rows_.reset();
  scan_rows_with_event_.reset();
  sqlite3_close(db_);
  ::close(lock_fd_);
}

core::Error QueueDatabase::error(std::string_view what) const {
  return core::Error(core::ErrorCode::kIo, "async queue " + path_ + ": " + std::string(what) +
                                               ": " + sqlite3_errmsg(db_));
}

core::Status QueueDatabase::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return error(sql);
  }
  return {};
}

core::Status QueueDatabase::prepare(const char* sql, Statement& statement) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return error(std::string("prepare ") + sql);
  }
  statement.reset(raw);
  return {};
}

core::Status QueueDatabase::step_done(sqlite3_stmt* statement, const char* what,
                                      std::string_view id) {
  int rc = sqlite3_step(statement);
  // The error is read before the reset, which may replace it.
  core::Status status;
  if (rc != SQLITE_DONE) {
    status = id.empty() ? error(what) : error(std::string(what) + " " + std::string(id));
  }
  sqlite3_reset(statement);
  return status;
}

core::Status QueueDatabase::apply(const WriteOp& op) {
  switch (op.kind) {
    case WriteOp::Kind::kInsert: {
      sqlite3_stmt* s = insert_.get();
      sqlite3_bind_int64(s, 1, op.position);
      sqlite3_bind_text(s, 2, op.id.data(), static_cast<int>(op.id.size()), SQLITE_STATIC);
      sqlite3_bind_text(s, 3, op.function.data(), static_cast<int>(op.function.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(s, 4, op.enqueued_at_ms);
      sqlite3_bind_int64(s, 5, op.next_attempt_at_ms);
      sqlite3_bind_int(s, 6, op.attempts);
      // Kept as text (valid UTF-8 JSON) so that the CLI's json_extract() reads it.
      sqlite3_bind_text64(s, 7, op.event.data(), op.event.size(), SQLITE_STATIC, SQLITE_UTF8);
      sqlite3_bind_int64(s, 8, static_cast<sqlite3_int64>(op.size));
      return step_done(s, "append", op.id);
    }
    case WriteOp::Kind::kDelete: {
      sqlite3_stmt* s = delete_.get();
      sqlite3_bind_int64(s, 1, op.position);
      return step_done(s, "remove", op.id);
    }
    case WriteOp::Kind::kUpdateAttempt: {
      sqlite3_stmt* s = update_attempt_.get();
      sqlite3_bind_int64(s, 1, op.position);
      sqlite3_bind_int(s, 2, op.attempts);
      sqlite3_bind_int64(s, 3, op.next_attempt_at_ms);
      return step_done(s, "update attempts of", op.id);
    }
  }
  return core::Error(core::ErrorCode::kInternal, "unknown write");
}

core::Status QueueDatabase::write(std::span<const WriteOp> ops) {
  const bool durable = std::any_of(
      ops.begin(), ops.end(), [](const WriteOp& op) { return op.kind == WriteOp::Kind::kInsert; });
  if (durable != synchronous_full_) {
    if (auto status = exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        !status) {
      return status;
    }
    synchronous_full_ = durable;
  }
  core::Status status = step_done(begin_.get(), "begin a transaction");
  if (!status) {
    return status;
  }
  for (const WriteOp& op : ops) {
    status = apply(op);
    if (!status) {
      break;
    }
  }
  if (status) {
    status = step_done(commit_.get(), "commit");
  }
  // SQLite may already have rolled back on SQLITE_FULL or SQLITE_IOERR; if not, roll back here so
  // that nothing of a failed batch is left to a later commit.
  if (!status && sqlite3_get_autocommit(db_) == 0) {
    step_done(rollback_.get(), "roll back").ok();
  }
  return status;
}

core::Result<std::int64_t> QueueDatabase::pragma_value(const char* sql) {
  Statement statement;
  if (auto status = prepare(sql, statement); !status) {
    return status.error();
  }
  if (sqlite3_step(statement.get()) != SQLITE_ROW) {
    return error(sql);
  }
  return sqlite3_column_int64(statement.get(), 0);
}

core::Result<std::uint64_t> QueueDatabase::room(std::uint64_t reserve, std::uint64_t wanted) {
  const std::string directory = std::filesystem::path(path_).parent_path().string();
  auto room_on_filesystem = [&]() -> core::Result<std::uint64_t> {
    struct statvfs stats {};
    if (::statvfs(directory.c_str(), &stats) != 0) {
      return core::Error(core::ErrorCode::kIo, "async queue " + path_ + ": statvfs " + directory +
                                                   ": " + std::strerror(errno));
    }
    const std::uint64_t free = static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
    return free > reserve ? free - reserve : 0;
  };
  auto room = room_on_filesystem();
  if (!room.ok() || *room >= wanted) {
    return room;
  }
  // When it cannot (a reader holds the WAL), the WAL's space stays in use.
  if (truncate_wal()) {
    room = room_on_filesystem();
    if (!room.ok()) {
      return room;
    }
  }
  auto free_pages = pragma_value("PRAGMA freelist_count");
  if (!free_pages.ok()) {
    return free_pages.error();
  }
  auto page_size = pragma_value("PRAGMA page_size");
  if (!page_size.ok()) {
    return page_size.error();
  }
  return *room + static_cast<std::uint64_t>(*free_pages) * static_cast<std::uint64_t>(*page_size);
}

core::Status QueueDatabase::truncate_wal() {
  Statement statement;
  if (auto status = prepare("PRAGMA wal_checkpoint(TRUNCATE)", statement); !status) {
    return status;
  }
  // One row: busy (1 when a reader kept it from finishing), WAL frames, frames checkpointed.
  if (sqlite3_step(statement.get()) != SQLITE_ROW) {
    return error("cannot truncate its WAL");
  }
  if (sqlite3_column_int(statement.get(), 0) != 0) {
    return core::Error(core::ErrorCode::kIo,
                       "async queue " + path_ + ": cannot truncate its WAL: a reader holds it");
  }
  return {};
}

core::Status QueueDatabase::scan(bool with_event, const std::function<void(StoredRow&)>& row) {
  sqlite3_stmt* s = with_event ? scan_rows_with_event_.get() : scan_rows_.get();
  StoredRow stored;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    stored.position = sqlite3_column_int64(s, 0);
    stored.id = text_column(s, 1);
    stored.function = text_column(s, 2);
    stored.enqueued_at_ms = sqlite3_column_int64(s, 3);
    stored.next_attempt_at_ms = sqlite3_column_int64(s, 4);
    stored.attempts = sqlite3_column_int(s, 5);
    stored.size = static_cast<std::uint64_t>(sqlite3_column_int64(s, 6));
    if (with_event) {
      stored.event = text_column(s, 7);
    }
    row(stored);
  }
  core::Status status;
  if (rc != SQLITE_DONE) {
    status = error("read async_events");
  }
  sqlite3_reset(s);
  return status;
}

}  // namespace switchyard::async
