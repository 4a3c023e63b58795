#pragma once

// The one event envelope every trigger produces and every function receives.
//
// It carries the CloudEvents 1.0 attributes, the payload as owned bytes (moved, never copied on
// the hot path), the source's own attributes as an ordered list of key/value pairs (duplicates
// allowed, e.g. repeated HTTP headers), and a completion through which the trigger answers its
// source. Thread rules: an Event is owned by one thread at a time; the completion is called
// exactly once, on the loop thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::core {

// Owned bytes. std::string is used for its small-buffer optimisation and cheap moves; it holds
// arbitrary binary data, not only text.
using Bytes = std::string;

struct Attribute {
  std::string key;
  std::string value;
};
using Attributes = std::vector<Attribute>;

// Returns the first attribute named `key`, or nullptr.
const Attribute* find_attribute(const Attributes& attributes, std::string_view key);

struct EventView;
struct Event;
// Copies a view's contents into `event` (id through traceparent and attributes).
void assign_contents(const EventView& view, Event& event);
// Copies `from`'s contents (id through traceparent, attributes and data) into `to`; its
// completion, source tag and flags are left alone.
void copy_contents(const Event& from, Event& to);

// Writes a list of attributes over `attributes` from its start, reusing the storage of the
// entries already there (an event built again and again into the same memory allocates nothing
// once its strings are large enough); the entries not overwritten are removed when the writer
// goes. On an empty list it simply appends.
class AttributeWriter {
 public:
  explicit AttributeWriter(Attributes& attributes) : attributes_(attributes) {}
  ~AttributeWriter() {
    attributes_.erase(attributes_.begin() + static_cast<std::ptrdiff_t>(count_), attributes_.end());
  }
  AttributeWriter(const AttributeWriter&) = delete;
  AttributeWriter& operator=(const AttributeWriter&) = delete;

  // Appends an attribute with an empty key and value, to fill in.
  Attribute& next() {
    if (count_ < attributes_.size()) {
      Attribute& attribute = attributes_[count_++];
      attribute.key.clear();
      attribute.value.clear();
      return attribute;
    }
    ++count_;
    return attributes_.emplace_back();
  }
  // Appends an attribute named `key` and returns its (empty) value to fill in.
  std::string& add(std::string_view key) {
    Attribute& attribute = next();
    attribute.key.assign(key);
    return attribute.value;
  }
  void add(std::string_view key, std::string_view value) { add(key).assign(value); }

 private:
  Attributes& attributes_;
  std::size_t count_ = 0;
};

// The same, writing the view's attributes through `attributes` (over `event.attributes`), which
// the caller may go on adding to.
void assign_contents(const EventView& view, Event& event, AttributeWriter& attributes);

// What a function returned: a status (HTTP semantics; 200 when the function does not set one),
// headers or metadata, and a body.
struct Response {
  int status = 200;
  Attributes headers;
  Bytes body;
};

enum class OutcomeKind {
  kOk,             // The function returned a response.
  kFunctionError,  // The function returned an error, threw, or could not be called.
  kTimeout,        // The function did not return before its deadline.
  kThrottled,      // The event was not admitted: concurrency and queue were full.
  kRejected,       // The event was not admitted: unknown function, or the daemon is draining.
};

std::string_view to_string(OutcomeKind kind);

// The final result of an event, handed to its completion.
struct Outcome {
  OutcomeKind kind = OutcomeKind::kOk;
  Response response;          // Meaningful when kind == kOk.
  std::string error_type;     // Like Lambda's errorType, when kind != kOk.
  std::string error_message;  // Like Lambda's errorMessage, when kind != kOk.
  // The error as the function's runtime posted it, when it posted a JSON object (Lambda's
  // {"errorMessage", "errorType", "requestId", "stackTrace"}): the Invoke API answers with it
  // as Lambda does. Empty otherwise.
  std::string error_document;
  int attempts = 0;  // How many times the function was invoked for this event.
  // The request id its last attempt ran under (Lambda's context.aws_request_id); set only for
  // an event with wants_request_id.
  std::string request_id;
  bool dead_lettered = false;  // The event was handed to its function's dead-letter destination.
  // The end (up to 4 KiB) of what the function wrote during its last attempt, when it ran in
  // an execution environment (the Invoke API's LogType: Tail); empty otherwise.
  std::string log_tail;
  // The init (cold start) of the execution environment its last attempt ran in, when that
  // attempt was the environment's first (Lambda's REPORT "Init Duration"); zero otherwise.
  std::chrono::microseconds init_duration{0};

  bool ok() const { return kind == OutcomeKind::kOk; }

  static Outcome success(Response response) {
    Outcome outcome;
    outcome.response = std::move(response);
    return outcome;
  }
  static Outcome failure(OutcomeKind kind, std::string type, std::string message) {
    Outcome outcome;
    outcome.kind = kind;
    outcome.error_type = std::move(type);
    outcome.error_message = std::move(message);
    return outcome;
  }
};

struct Event;

// A read-only view of an event's contents for one call, pointing into storage its maker keeps
// alive until the call returns: what a function is given. A source's pending contents may give
// one without the event being built (PendingContent::Ops::view).
struct AttributeView {
  std::string_view key;
  std::string_view value;
};
struct EventView {
  std::string_view id;
  std::string_view source;
  std::string_view type;
  std::string_view subject;
  std::string_view datacontenttype;
  std::string_view dataschema;
  std::chrono::system_clock::time_point time{};
  std::string_view data;
  std::span<const AttributeView> attributes;
  std::string_view traceparent;
};

// Storage a view may point into (numbers, composed names), owned by the thread that makes the
// view and reused from call to call: no allocation once its strings are large enough.
struct ViewScratch {
  std::array<std::string, 8> strings;
  std::vector<AttributeView> attributes;
};

// The contents of an event its source has not built yet: what the source kept (`item`, e.g. a
// Kafka consumer's message) and how to build the event from it. A source hands such an event over
// when building it costs more than the hand-off, so that the thread that runs the function (a
// worker) builds it instead of the loop thread that received it. Move-only; `release` runs for
// an item that is never built, in the destructor.
class PendingContent {
 public:
  struct Ops {
    // Fills in `event` from `item` and frees `item`. Called at most once, on whichever thread
    // holds the event then. The event's content fields are empty but may keep the storage of
    // an earlier event, and `attributes` may still hold that event's entries: write them with
    // an AttributeWriter (or clear them first).
    void (*build)(void* item, Event& event);
    // Frees `item` unbuilt.
    void (*release)(void* item);
    // Optional (nullptr: not offered). Fills `view` from `item`, neither building nor freeing
    // it, with `scratch` for what it must compose; false when it cannot (the event is then
    // built). The view is valid while `item` and `scratch` are. A function that runs on a view
    // costs no copy of the contents; they are built only if it fails (a retry, a dead letter).
    bool (*view)(void* item, ViewScratch& scratch, EventView& view) = nullptr;
    // Required with `view`: fills in `event` from `item` without freeing it (a copy for the
    // retry of a timed-out invocation whose function may still be reading the view). The event
    // is as build() gets it.
    void (*copy)(const void* item, Event& event) = nullptr;
    // How many bytes at `item` view() and build() read first (0: unknown). A worker about to
    // run several events prefetches them for the next one while it runs the one before.
    std::uint16_t prefetch_bytes = 0;
  };

  PendingContent() = default;
  // `also_read`: another address a view or build reads first, besides `item`'s first
  // Ops::prefetch_bytes (nullptr: none), for a worker to prefetch with them. Only a hint: it is
  // never read through.
  PendingContent(const Ops* ops, void* item, const void* also_read = nullptr)
      : ops_(ops), item_(item), also_read_(also_read) {}
  PendingContent(PendingContent&& other) noexcept
      : ops_(std::exchange(other.ops_, nullptr)),
        item_(std::exchange(other.item_, nullptr)),
        also_read_(std::exchange(other.also_read_, nullptr)) {}
  PendingContent& operator=(PendingContent&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = std::exchange(other.ops_, nullptr);
      item_ = std::exchange(other.item_, nullptr);
      also_read_ = std::exchange(other.also_read_, nullptr);
    }
    return *this;
  }
  PendingContent(const PendingContent&) = delete;
  PendingContent& operator=(const PendingContent&) = delete;
  ~PendingContent() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  // What build() would use (nullptr when empty), for a view or a copy that leaves it in place.
  const Ops* ops() const { return ops_; }
  void* item() const { return item_; }
  const void* also_read() const { return also_read_; }

  // Builds `event` from the item (once: empty afterwards).
  void build(Event& event) {
    if (ops_ != nullptr) {
      const Ops* ops = std::exchange(ops_, nullptr);
      ops->build(std::exchange(item_, nullptr), event);
    }
  }
  // Drops the item unbuilt.
  void reset() {
    if (ops_ != nullptr) {
      std::exchange(ops_, nullptr)->release(std::exchange(item_, nullptr));
    }
  }

 private:
  const Ops* ops_ = nullptr;
  void* item_ = nullptr;
  const void* also_read_ = nullptr;
};

// Called exactly once per accepted event, on the loop thread, with its final outcome (after any
// retries and the dead-letter hand-off). The event is handed back so that the trigger can read
// its coordinates (offset, stream id, connection) without capturing them. An event its source
// handed over with pending contents (PendingContent) comes back with them built if they were
// (a failure built them for its retry or dead letter; after a success, fields whose storage was
// large may come back empty); if they never were (its function succeeded on a view, or it never
// ran), it comes back with id, synchronous and source_tag alone (and its pending contents when
// a sequence hands it back unrun), every other content field empty.
using Completion = std::function<void(Event& event, Outcome& outcome)>;

struct Event {
  // CloudEvents 1.0 context attributes. `id` is stable where the source gives one
  // (topic-partition-offset, the stream entry id) so that a redelivered event keeps its id.
  std::string id;
  std::string source;
  std::string type;
  std::string subject;
  std::string datacontenttype;
  std::string dataschema;
  std::chrono::system_clock::time_point time{};

  Bytes data;

  // Source attributes, named "<source>.<name>": http.method, http.path, http.query,
  // http.header.<lowercase name>, http.param.<name>, kafka.topic, kafka.partition, kafka.offset,
  // kafka.key, kafka.header.<name>, redis.key, redis.id, cron.scheduled_time, ...
  Attributes attributes;

  // W3C trace context of the request that caused this event, if any.
  std::string traceparent;

  // A synchronous event (an HTTP request awaiting its response) is not retried and not
  // dead-lettered: its caller sees the error. An asynchronous one goes through the function's
  // retry policy and dead-letter destination.
  bool synchronous = false;
  // Its completion reads Outcome::request_id (the Invoke API answers with it). Off by default:
  // writing the id out costs an allocation per event.
  bool wants_request_id = false;

  // The source's own value, carried untouched through dispatch, retries and completion (the
  // Kafka trigger keeps the record's offset here, so that its completion need not parse it).
  std::uint64_t source_tag = 0;

  // Set when the source left the rest of the event to be built later (see PendingContent): the
  // scheduler builds it on the thread that runs the function, or on the loop when it needs the
  // contents itself (a dead letter, the copy of a timed-out event). Until then only `id`,
  // `synchronous`, `source_tag` and `completion` may be relied on (`id` may be empty).
  PendingContent pending;

  // Builds what `pending` holds into this event (nothing when it is empty). The content fields
  // are emptied first, keeping their storage for the build (see PendingContent::Ops::build).
  void materialize() {
    if (pending) {
      clear_contents();
      pending.build(*this);
    }
  }

  // Empties every content field but `attributes` (id through traceparent), keeping storage.
  void clear_contents() {
    id.clear();
    source.clear();
    type.clear();
    subject.clear();
    datacontenttype.clear();
    dataschema.clear();
    time = {};
    data.clear();
    traceparent.clear();
  }

  Completion completion;
};

}  // namespace switchyard::core
