#include "async/queue_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "async/event_codec.h"
#include "async/queue_database.h"
#include "config/units.h"

namespace switchyard::async {

// A change waiting for the writer thread, with its sequence number (call order) and, for an
// append, the callback that hears how its commit ended.
struct QueueStore::Pending {
  WriteOp op;
  Done done;
  std::uint64_t seq = 0;
  bool refused = false;  // An append refused before writing: it would eat into the reserve.
};

std::string_view to_string(Admission admission) {
  switch (admission) {
    case Admission::kQueued:
      return "queued";
    case Admission::kFull:
      return "full";
    case Admission::kDuplicate:
      return "duplicate";
    case Admission::kClosed:
      return "closed";
  }
  return "unknown";
}

core::Result<std::unique_ptr<QueueStore>> QueueStore::open(const std::filesystem::path& file,
                                                           Options options) {
  auto db = QueueDatabase::open(file, options.max_file_bytes);
  if (!db) {
    return db.error();
  }
  std::unique_ptr<QueueStore> store(new QueueStore(std::move(*db), options));
  // What a previous run left counts against the limits from the start.
  auto status = store->db_->scan(false, [&](StoredRow& row) {
    store->next_position_ = std::max(store->next_position_, row.position + 1);
    store->count_in(row.id,
                    Entry{std::move(row.function), row.size, row.enqueued_at_ms, row.position});
  });
  if (!status) {
    return status.error();
  }
  store->writer_ = std::thread([raw = store.get()] { raw->run_writer(); });
  return store;
}

QueueStore::QueueStore(std::unique_ptr<QueueDatabase> db, Options options)
    : options_(options), db_(std::move(db)) {}

QueueStore::~QueueStore() {
  close();
}

bool QueueStore::queue_locked(Pending&& pending) {
  pending.seq = next_seq_++;
  // A writer that is busy looks at pending_ again before it waits: only the first change of a
  // batch needs to wake it.
  bool wake = pending_.empty();
  pending_.push_back(std::move(pending));
  return wake;
}

Admission QueueStore::append(const Record& record, Done done) {
  Pending pending;
  pending.op.kind = WriteOp::Kind::kInsert;
  pending.op.id = record.id;
  pending.op.function = record.function;
  pending.op.enqueued_at_ms = record.enqueued_at_ms;
  pending.op.next_attempt_at_ms = record.next_attempt_at_ms;
  pending.op.attempts = record.attempts;
  pending.op.event = encode_event(record.event);
  pending.op.size = pending.op.event.size();
  pending.done = std::move(done);

  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != State::kOpen) {
      return Admission::kClosed;
    }
    if (entries_.contains(record.id)) {
      return Admission::kDuplicate;
    }
    FunctionState& function = functions_[record.function];
    const Limits& limits = function.has_limits ? function.limits : options_.default_limits;
    if (function.events + 1 > limits.max_events ||
        function.bytes + pending.op.size > limits.max_bytes) {
      ++stats_.appends_refused;
      return Admission::kFull;
    }
    pending.op.position = next_position_++;
    count_in(record.id,
             Entry{record.function, pending.op.size, record.enqueued_at_ms, pending.op.position});
    wake = queue_locked(std::move(pending));
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return Admission::kQueued;
}

bool QueueStore::remove(std::string_view id) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(std::string(id));
    if (state_ != State::kOpen || found == entries_.end()) {
      return false;
    }
    Pending pending;
    pending.op.kind = WriteOp::Kind::kDelete;
    pending.op.position = found->second.position;
    pending.op.id = id;
    count_out(id);
    wake = queue_locked(std::move(pending));
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return true;
}

bool QueueStore::update_attempt(std::string_view id, int attempts,
                                std::int64_t next_attempt_at_ms) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(std::string(id));
    if (state_ != State::kOpen || found == entries_.end()) {
      return false;
    }
    Pending pending;
    pending.op.kind = WriteOp::Kind::kUpdateAttempt;
    pending.op.position = found->second.position;
    pending.op.id = id;
    pending.op.attempts = attempts;
    pending.op.next_attempt_at_ms = next_attempt_at_ms;
    wake = queue_locked(std::move(pending));
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return true;
}

void QueueStore::set_batch_done(BatchDone batch_done) {
  // The writer reads it after taking mutex_ for its batch: set under it, it is seen.
  std::lock_guard<std::mutex> lock(mutex_);
  batch_done_ = std::move(batch_done);
}

void QueueStore::set_limits(const std::string& function, Limits limits) {
  std::lock_guard<std::mutex> lock(mutex_);
  FunctionState& state = functions_[function];
  state.has_limits = true;
  state.limits = limits;
}

FunctionUsage QueueStore::usage_of(const FunctionState& state) {
  FunctionUsage usage;
  usage.events = state.events;
  usage.bytes = state.bytes;
  if (!state.enqueued_at_ms.empty()) {
    usage.oldest_enqueued_at_ms = *state.enqueued_at_ms.begin();
  }
  return usage;
}

FunctionUsage QueueStore::usage(std::string_view function) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = functions_.find(function);
  return found == functions_.end() ? FunctionUsage{} : usage_of(found->second);
}

std::map<std::string, FunctionUsage> QueueStore::usage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, FunctionUsage> all;
  for (const auto& [name, state] : functions_) {
    if (state.events > 0) {
      all.emplace(name, usage_of(state));
    }
  }
  return all;
}

QueueStats QueueStore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

core::Result<std::vector<Record>> QueueStore::load() {
  std::vector<Record> records;
  std::string unreadable;
  std::lock_guard<std::mutex> lock(db_mutex_);
  if (db_ == nullptr) {
    return core::Error(core::ErrorCode::kInternal, "async queue: load() after close()");
  }
  core::Status status = db_->scan(true, [&](StoredRow& row) {
    if (!unreadable.empty()) {
      return;
    }
    Record& record = records.emplace_back();
    if (auto decoded = decode_event(row.event, record.event); !decoded) {
      unreadable = "async queue: record " + row.id + " cannot be read (" +
                   decoded.error().message() +
                   "); an operator may remove it with: " + "DELETE FROM async_events WHERE id = '" +
                   row.id + "'";
      return;
    }
    record.id = std::move(row.id);
    record.function = std::move(row.function);
    record.attempts = row.attempts;
    record.enqueued_at_ms = row.enqueued_at_ms;
    record.next_attempt_at_ms = row.next_attempt_at_ms;
    record.size = row.size;
  });
  if (!status) {
    return status.error();
  }
  if (!unreadable.empty()) {
    return core::Error(core::ErrorCode::kInvalidArgument, unreadable);
  }
  return records;
}

void QueueStore::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::uint64_t target = next_seq_ - 1;
  written_.wait(lock, [&] { return written_seq_ >= target || state_ == State::kClosed; });
}

void QueueStore::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != State::kOpen) {
      return;
    }
    state_ = State::kClosing;
  }
  wake_writer_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  }
  {
    std::lock_guard<std::mutex> lock(db_mutex_);
    db_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = State::kClosed;
  }
  written_.notify_all();
}

void QueueStore::run_writer() {
  std::vector<Pending> batch;
  // The removes and updates of a failed transaction, written again before anything newer.
  std::vector<WriteOp> carried;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto ready = [&] { return !pending_.empty() || state_ != State::kOpen; };
      if (carried.empty()) {
        wake_writer_.wait(lock, ready);
      } else {
        wake_writer_.wait_for(lock, options_.retry_interval, ready);
      }
      if (pending_.empty() && carried.empty() && state_ != State::kOpen) {
        return;
      }
      batch.swap(pending_);
    }
    commit_batch(batch, carried);
    batch.clear();
  }
}

std::size_t QueueStore::refuse_past_reserve(std::vector<Pending>& batch, std::string& why) {
  if (options_.reserve_bytes == 0) {
    return 0;
  }
  // What an append takes: its row in the WAL now, and in the file at the next checkpoint.
  auto cost = [](const WriteOp& op) { return 2 * (op.size + op.id.size() + 64); };
  std::uint64_t wanted = 0;
  for (const Pending& pending : batch) {
    if (pending.op.kind == WriteOp::Kind::kInsert) {
      wanted += cost(pending.op);
    }
  }
  if (wanted == 0) {
    return 0;
  }
  core::Result<std::uint64_t> room = [&] {
    std::lock_guard<std::mutex> lock(db_mutex_);
    return db_->room(options_.reserve_bytes, wanted);
  }();
  if (!room.ok()) {
    // Cannot tell: write, and let the filesystem say.
    spdlog::warn("{}", room.error().message());
    return 0;
  }
  if (*room >= wanted) {
    if (short_of_room_) {
      short_of_room_ = false;
      spdlog::info("async queue: its filesystem has room again; appends are written");
    }
    return 0;
  }
  std::uint64_t left = *room;
  std::size_t refused = 0;
  for (Pending& pending : batch) {
    if (pending.op.kind != WriteOp::Kind::kInsert) {
      continue;
    }
    if (cost(pending.op) <= left) {
      left -= cost(pending.op);
    } else {
      pending.refused = true;
      ++refused;
    }
  }
  why = fmt::format(
      "state_dir's filesystem is nearly full: {} may still be written, and {} is kept free "
      "(limits.async_queue_reserve) so that finished invocations can always be removed",
      config::format_size(*room), config::format_size(options_.reserve_bytes));
  if (!short_of_room_) {
    short_of_room_ = true;
    spdlog::error("async queue: {}; asynchronous invocations are refused (503) until there is room",
                  why);
  }
  return refused;
}

void QueueStore::commit_batch(std::vector<Pending>& batch, std::vector<WriteOp>& carried) {
  std::string short_of_room;
  const std::size_t refused = refuse_past_reserve(batch, short_of_room);
  std::vector<WriteOp> ops = std::move(carried);
  carried.clear();
  ops.reserve(ops.size() + batch.size());
  std::uint64_t inserts = 0, deletes = 0, updates = 0;
  for (Pending& pending : batch) {
    if (!pending.refused) {
      ops.push_back(std::move(pending.op));
    }
  }
  for (const WriteOp& op : ops) {
    switch (op.kind) {
      case WriteOp::Kind::kInsert:
        ++inserts;
        break;
      case WriteOp::Kind::kDelete:
        ++deletes;
        break;
      case WriteOp::Kind::kUpdateAttempt:
        ++updates;
        break;
    }
  }

  core::Status status;
  if (!ops.empty()) {
    std::lock_guard<std::mutex> lock(db_mutex_);
    status = db_->write(ops);
  }

  AppendResult result;
  if (!status) {
    result.kind = AppendResult::Kind::kFailed;
    result.message = status.error().message();
    spdlog::error("{} ({} append(s) refused, {} remove(s) and update(s) to write again)",
                  result.message, inserts, deletes + updates);
  }
  AppendResult no_room{AppendResult::Kind::kFailed, short_of_room};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (refused > 0) {
      stats_.appends_failed += refused;
      stats_.appends_short_of_room += refused;
      for (const Pending& pending : batch) {
        if (pending.refused) {
          count_out(pending.op.id);
        }
      }
    }
    if (ops.empty()) {
      // Nothing was written.
    } else if (status) {
      ++stats_.commits;
      stats_.fsyncs += inserts > 0 ? 1 : 0;
      stats_.records_written += inserts;
      stats_.removes_written += deletes;
      stats_.updates_written += updates;
    } else {
      ++stats_.failed_commits;
      stats_.appends_failed += inserts;
      for (WriteOp& op : ops) {
        if (op.kind == WriteOp::Kind::kInsert) {
          count_out(op.id);
        } else {
          carried.push_back(std::move(op));
        }
      }
      if (state_ != State::kOpen && !carried.empty()) {
        // Closing: they are not tried forever. Removed records then run again after a restart,
        // and attempts not written are made again: at least once, never lost.
        spdlog::error("async queue: closing with {} remove(s) and update(s) not written",
                      carried.size());
        carried.clear();
      }
    }
  }
  if (!status && !carried.empty()) {
    // A full disk: checkpointed, what the WAL holds is in the file and its space can be given
    // back, so that the removals and updates can be written at the next try.
    std::lock_guard<std::mutex> lock(db_mutex_);
    if (auto truncated = db_->truncate_wal(); !truncated) {
      spdlog::warn("{}", truncated.error().message());
    }
  }

  bool done = false;
  for (Pending& pending : batch) {
    if (pending.done) {
      pending.done(pending.refused ? no_room : result);
      done = true;
    }
  }
  if (done && batch_done_) {
    batch_done_();
  }
  if (!batch.empty()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      written_seq_ = batch.back().seq;
    }
    written_.notify_all();
  }
}

void QueueStore::count_in(const std::string& id, Entry entry) {
  FunctionState& function = functions_[entry.function];
  ++function.events;
  function.bytes += entry.size;
  function.enqueued_at_ms.insert(entry.enqueued_at_ms);
  entries_.emplace(id, std::move(entry));
}

bool QueueStore::count_out(std::string_view id) {
  auto found = entries_.find(std::string(id));
  if (found == entries_.end()) {
    return false;
  }
  FunctionState& function = functions_[found->second.function];
  --function.events;
  function.bytes -= found->second.size;
  function.enqueued_at_ms.erase(function.enqueued_at_ms.find(found->second.enqueued_at_ms));
  entries_.erase(found);
  return true;
}

}  // namespace switchyard::async
