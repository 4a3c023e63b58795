#pragma once

// The durable queue of asynchronous invocations (issue #19): every event answered 202 (an HTTP
// request with X-Amz-Invocation-Type: Event, the Invoke API's InvocationType Event) is written
// here before the 202 is sent, and removed only when it has succeeded or been dead-lettered. At
// start-up, load() gives back what a crash left, attempts included.
//
// Storage: one SQLite file in state_dir, one table an operator can read with the sqlite3 CLI:
//
//   async_events (position INTEGER PRIMARY KEY, -- the order accepted in (the rowid)
//                 id TEXT,                    -- the request id
//                 function TEXT,              -- the function it invokes
//                 enqueued_at INTEGER,        -- unix ms, when it was accepted
//                 next_attempt_at INTEGER,    -- unix ms, when it may run next
//                 attempts INTEGER,           -- attempts already made
//                 event BLOB,                 -- the event as JSON text (async/event_codec.h)
//                 size INTEGER)               -- bytes of `event`, counted against the limits
//   PRAGMA user_version = 2 (a file of version 1, keyed by id with an index by function, is
//   migrated when opened). No index besides the rowid: appends go to the right end of the table
//   and removals mostly to the left, so a commit of N appends and removals writes a few pages
//   (each index would add pages, random ones for a request id, to every commit's fsync).
//
//   sqlite3 queue.db "SELECT function, count(*), sum(size) FROM async_events GROUP BY 1"
//   sqlite3 queue.db "SELECT id, json_extract(event, '$.type') FROM async_events LIMIT 10"
//
// Why SQLite rather than LMDB: an operator inspects and repairs it with the sqlite3 CLI in plain
// SQL; WAL mode gives group commit for free (one append to one file and one fsync per
// transaction, however many rows it holds) and lets readers run beside the writer; PRAGMA
// integrity_check verifies it after a crash; it is on every host (Debian's libsqlite3).
//
// Why synchronous=FULL: in WAL mode, NORMAL fsyncs the WAL only at checkpoints. A commit then
// survives kill -9 (its frames are in the kernel's page cache) but not a power loss or kernel
// panic, which may drop frames written since the last checkpoint; checkpointing more often only
// narrows that window. FULL fsyncs the WAL at every commit, so a record reported durable is on
// disk. Group commit pays that fsync once per batch, not once per record. A batch of only
// removes and updates is committed without its own fsync (QueueDatabase::write): the next
// batch with an append syncs it along, and losing it in a power loss only runs a finished
// invocation again.
//
// Group commit: append(), remove() and update_attempt() queue their change and return; one
// writer thread takes everything queued since its last commit and writes it in ONE transaction,
// in the order the calls were made (a remove or an update is always applied after the append of
// the same id). Then it calls each append's `done`.
//
// Limits: each function has a bound on its records and their bytes (set_limits(), else
// Options::default_limits). append() checks it exactly, counting records accepted but not yet
// committed, and refuses with kFull when the record does not fit (the caller answers 429).
//
// Failures: a transaction that fails (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, ...) is rolled
// back whole: every append in it is reported kFailed (the caller answers 503) and stops counting
// against its limits; its removes and updates are kept and tried again with the next commit. The
// store stays usable: a later transaction succeeds once there is room. Nothing is reported
// durable that was not committed. The reverse is possible: a commit whose final fsync fails is
// reported kFailed even though the OS may have written it, so the record may run after a restart
// (at least once, never lost).
//
// A full disk: a removal needs a few free pages in the WAL, so on a filesystem filled to the
// last block finished invocations could not be removed and the queue would never have room
// again. Options::reserve_bytes keeps free space for them: before a transaction, appends that
// would leave less free (QueueDatabase::room: the filesystem's free space, the file's free
// pages, the WAL checkpointed and truncated when short) are refused without being written
// (kFailed: 503), and its removes and updates are written.
//
// One store at a time may have a queue file open (a flock on `<file>-lock`: a second daemon on
// the same state_dir is refused rather than running the same records); the sqlite3 CLI may read
// it at any time. A reader that keeps a transaction open holds back checkpoints (the WAL grows).
//
// Thread rules: every public method is safe from any thread (one mutex guards the accounting).
// `done` (and the BatchDone after a transaction's `done`s) runs on the writer thread, never
// inside append(): it must be quick (the next commit waits for it) and may call append(),
// remove() and update_attempt(), but not flush(), close() or the destructor, which wait for the
// writer. A loop-thread caller collects what its `done`s hear and posts it to its loop in the
// BatchDone (core::LoopQueue). close() is called from one thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/event.h"

namespace switchyard::async {

class QueueDatabase;
struct WriteOp;

// One queued asynchronous invocation.
struct Record {
  std::string id;        // The request id; unique in the store.
  std::string function;  // The function it invokes.
  // Its contents (id through traceparent, attributes, data); completion and source tag are not
  // kept.
  core::Event event;
  int attempts = 0;                     // Attempts already made.
  std::int64_t enqueued_at_ms = 0;      // Unix ms.
  std::int64_t next_attempt_at_ms = 0;  // Unix ms.
  // Bytes of the stored event: set by the store (append() ignores it).
  std::uint64_t size = 0;
};

// A bound on one function's queued records.
struct Limits {
  std::uint64_t max_events = 0;
  std::uint64_t max_bytes = 0;
};

// What append() did with a record. Only for kQueued is `done` called.
enum class Admission {
  kQueued,     // Accepted; `done` will say whether it was committed.
  kFull,       // Its function's limits are reached (answer 429).
  kDuplicate,  // A record with this id is already queued.
  kClosed,     // close() was called.
};
std::string_view to_string(Admission admission);

// The end of an accepted append, given to its `done`.
struct AppendResult {
  enum class Kind {
    kDurable,  // Committed and fsynced: the 202 may be sent.
    kFailed,   // Not written (disk full, I/O error): `message` says why (answer 503).
  };
  Kind kind = Kind::kDurable;
  std::string message;

  bool durable() const { return kind == Kind::kDurable; }
};

// One function's queued records, accepted ones not yet committed included.
struct FunctionUsage {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::int64_t oldest_enqueued_at_ms = 0;  // 0 when there is none.
};

// Counters since open().
struct QueueStats {
  std::uint64_t records_written = 0;  // Appends committed.
  std::uint64_t removes_written = 0;  // Removes committed.
  std::uint64_t updates_written = 0;  // Attempt updates committed.
  // Transactions committed; those with an append fsync the WAL (synchronous=FULL): `fsyncs`.
  // Checkpoints, which SQLite runs every 1000 pages, add their own.
  std::uint64_t commits = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t failed_commits = 0;  // Transactions rolled back on an error.
  std::uint64_t appends_failed = 0;  // Appends reported kFailed.
  // Of those, the ones refused before writing: they would have eaten into Options::reserve_bytes.
  std::uint64_t appends_short_of_room = 0;
  std::uint64_t appends_refused = 0;  // Appends refused with kFull.
};

class QueueStore {
 public:
  struct Options {
    // The limits of a function set_limits() was not called for.
    Limits default_limits{10'000, 256ull << 20};
    // A cap on the database file (0: none), as SQLite's max_page_count: past it a write fails
    // as on a full disk.
    std::uint64_t max_file_bytes = 0;
    // Free space kept on the file's filesystem (0: none). An append that would leave less is
    // reported kFailed without being written, so that removes and attempt updates, which take
    // little, can still be written when the disk fills up: otherwise finished invocations could
    // not be removed, their space never freed, and the queue would stay stuck.
    std::uint64_t reserve_bytes = 0;
    // How long after a failed transaction its removes and updates are tried again when nothing
    // else comes to write.
    std::chrono::milliseconds retry_interval{1000};
  };
  using Done = std::function<void(const AppendResult& result)>;
  // Called on the writer thread once per transaction with an append, after the `done` of each
  // of its appends: a caller that collects what its `done`s were told hands it over here in one
  // go (one wake-up of its loop per transaction rather than one per append).
  using BatchDone = std::function<void()>;

  // Opens (or creates) the queue at `file` and counts what it holds; starts the writer thread.
  // Errors: the file cannot be opened or created, is not a queue, has a newer schema, or is open
  // in another store (kUnavailable).
  static core::Result<std::unique_ptr<QueueStore>> open(const std::filesystem::path& file,
                                                        Options options);
  static core::Result<std::unique_ptr<QueueStore>> open(const std::filesystem::path& file) {
    return open(file, Options{});
  }
  ~QueueStore();
  QueueStore(const QueueStore&) = delete;
  QueueStore& operator=(const QueueStore&) = delete;

  // Queues `record` for the next commit; `done` is called once, on the writer thread, when it
  // is committed or has failed. Refuses (without calling `done`) when its function is full,
  // its id is already queued or the store is closed. Reads `record.event`'s contents only.
  Admission append(const Record& record, Done done);

  // Removes a record (it succeeded or was dead-lettered), at the next commit; its room is free
  // at once. False (nothing done) when no record with this id is queued.
  bool remove(std::string_view id);
  // Records an attempt made, at the next commit. False when no record with this id is queued.
  bool update_attempt(std::string_view id, int attempts, std::int64_t next_attempt_at_ms);

  // Sets the BatchDone; before the first append.
  void set_batch_done(BatchDone batch_done);

  // Sets a function's limits for the appends that follow (records already queued stay).
  void set_limits(const std::string& function, Limits limits);

  FunctionUsage usage(std::string_view function) const;
  // Every function with queued records.
  std::map<std::string, FunctionUsage> usage() const;
  QueueStats stats() const;

  // The committed records, in the order they were appended: what start-up recovery runs.
  // Accepted appends not yet committed are not in it (flush() first to include them).
  core::Result<std::vector<Record>> load();

  // Waits until everything queued before the call has been written (or failed).
  void flush();
  // Writes what is queued, stops the writer thread and closes the file. Appends after it are
  // refused with kClosed. Idempotent.
  void close();

 private:
  enum class State { kOpen, kClosing, kClosed };
  struct Pending;
  struct Entry {
    std::string function;
    std::uint64_t size = 0;
    std::int64_t enqueued_at_ms = 0;
    std::int64_t position = 0;  // Its row (WriteOp::position).
  };
  struct FunctionState {
    bool has_limits = false;
    Limits limits;
    std::uint64_t events = 0;
    std::uint64_t bytes = 0;
    std::multiset<std::int64_t> enqueued_at_ms;
  };

  QueueStore(std::unique_ptr<QueueDatabase> db, Options options);
  void run_writer();
  // Writes `ops` (one transaction) and settles them; writer thread only.
  // Queues a change, in call order (mutex_ held). True when the writer must be woken.
  bool queue_locked(Pending&& pending);
  void commit_batch(std::vector<Pending>& batch, std::vector<WriteOp>& carried);
  // Marks the appends of `batch` that would eat into Options::reserve_bytes as refused, and
  // says why in `why`. Returns how many. Writer thread only.
  std::size_t refuse_past_reserve(std::vector<Pending>& batch, std::string& why);
  // Both require mutex_ (or, in open(), a store no other thread sees yet).
  void count_in(const std::string& id, Entry entry);
  bool count_out(std::string_view id);
  static FunctionUsage usage_of(const FunctionState& state);

  const Options options_;
  std::unique_ptr<QueueDatabase> db_;
  std::mutex db_mutex_;         // Guards db_ between the writer and load().
  BatchDone batch_done_;        // Set before the first append; then read by the writer only.
  bool short_of_room_ = false;  // Appends are refused for the reserve: writer thread only.

  mutable std::mutex mutex_;  // Guards everything below.
  std::condition_variable wake_writer_;
  std::condition_variable written_;
  State state_ = State::kOpen;
  std::vector<Pending> pending_;    // In call order.
  std::uint64_t next_seq_ = 1;      // Sequence number of the next queued change.
  std::uint64_t written_seq_ = 0;   // Every change up to it has been written or has failed.
  std::int64_t next_position_ = 1;  // The row of the next append: after every row in the file.
  std::unordered_map<std::string, Entry> entries_;  // Every record queued, committed or not.
  std::map<std::string, FunctionState, std::less<>> functions_;
  QueueStats stats_;

  std::thread writer_;
};

}  // namespace switchyard::async
