#pragma once

/*
 * The switchyard function ABI, version 1.
 *
 * A function is a shared object that exports these C symbols:
 *
 *   uint32_t switchyard_abi_version(void);       required; define it with SWITCHYARD_DECLARE_ABI()
 *   int switchyard_handle(const sy_event*, const sy_context*, sy_response*);   required
 *   int switchyard_init(const sy_init_args*);    optional; called once per load, before any event
 *   void switchyard_shutdown(void);              optional; called once before the library is closed
 *
 * The ABI is C so that any compiler, and C itself, can build a function. A function has no
 * link-time dependency on the daemon: everything the host offers (logging, the deadline, the
 * response builder) is handed in as function pointers inside the structs below. C++ authors
 * should prefer the header-only layer in <switchyard/function.hpp>.
 *
 * Compatibility: the host refuses a library whose switchyard_abi_version() differs from the
 * SWITCHYARD_ABI_VERSION it was built with. Within one ABI version, fields are only ever appended
 * to the structs, and each struct begins with its `struct_size`, so that a function built against
 * a newer header can tell whether a field it wants was provided.
 *
 * Threads and lifetimes:
 * - switchyard_init and switchyard_shutdown are called once each, never concurrently with
 *   anything else in the same loaded instance.
 * - switchyard_handle may run on several threads at once (up to the function's `concurrency`),
 *   so shared state in the function must be thread-safe.
 * - Every pointer handed to a call (event, context, response, init arguments, and every byte
 *   they point to) is valid only until that call returns. Copy what you need to keep.
 * - The host functions in sy_context and sy_response may be called from any thread, but only
 *   while the call they were handed to is still running.
 * - Each load of a library is independent: the host loads a private copy of the file, so a
 *   new version loaded beside an old one (hot swap) does not share its static variables.
 *
 * Errors: switchyard_handle returns 0 for success. It fails when it returns non-zero or when it
 * has called `set_error` (so that a helper deep inside the function can report an error); the
 * type and message given to `set_error` become the error's errorType and errorMessage. The same
 * rule holds for switchyard_init, whose failure fails the load.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SWITCHYARD_ABI_VERSION 1u

#if defined(__cplusplus)
#define SWITCHYARD_EXTERN_C extern "C"
#else
#define SWITCHYARD_EXTERN_C
#endif

/* Marks a symbol the host looks up with dlsym; it stays visible under -fvisibility=hidden. */
#define SWITCHYARD_EXPORT SWITCHYARD_EXTERN_C __attribute__((visibility("default")))

/* Defines the required ABI version symbol. Use it once, at file scope, in one source file. */
#define SWITCHYARD_DECLARE_ABI()                            \
  SWITCHYARD_EXPORT uint32_t switchyard_abi_version(void) { \
    return SWITCHYARD_ABI_VERSION;                          \
  }                                                         \
  typedef int switchyard_abi_declared_ /* Swallows the caller's semicolon. */

#if defined(__cplusplus)
extern "C" {
#endif

/* A view of bytes owned by someone else. Not NUL-terminated; may hold binary data. */
typedef struct sy_bytes {
  const char* data;
  size_t size;
} sy_bytes;

/* One key/value pair: a source attribute, a header, an environment variable. */
typedef struct sy_kv {
  sy_bytes key;
  sy_bytes value;
} sy_kv;

typedef enum sy_log_level {
  SY_LOG_DEBUG = 0,
  SY_LOG_INFO = 1,
  SY_LOG_WARN = 2,
  SY_LOG_ERROR = 3
} sy_log_level;

/* The event: its CloudEvents 1.0 attributes, its data and the attributes of its source. */
typedef struct sy_event {
  uint32_t struct_size;
  sy_bytes id;
  sy_bytes source;
  sy_bytes type;
  sy_bytes subject;
  sy_bytes datacontenttype;
  sy_bytes dataschema;
  int64_t time_unix_ms; /* 0 when the source gave no time. */
  sy_bytes data;
  /* Source attributes named "<source>.<name>" in the order the source gave them; a key may
   * repeat (repeated HTTP headers). Examples: http.method, http.path, http.query,
   * http.header.<lower-case name>, http.param.<name>, kafka.topic, kafka.partition,
   * kafka.offset, kafka.key, redis.key, redis.id, cron.scheduled_time. */
  const sy_kv* attributes;
  size_t attribute_count;
} sy_event;

/* What the host tells a handler about its invocation. */
typedef struct sy_context sy_context;
struct sy_context {
  uint32_t struct_size;
  sy_bytes request_id;
  sy_bytes function_name;
  sy_bytes trace_parent;    /* W3C traceparent, empty when there is none. */
  int64_t deadline_unix_ms; /* INT64_MAX when the invocation has no deadline. */
  /* Milliseconds left before the deadline; negative once it has passed. */
  int64_t (*remaining_ms)(const sy_context* context);
  /* Non-zero once the host has given up on this invocation (timeout, shutdown). The handler
   * should then return soon; its concurrency slot stays taken until it does. */
  int (*cancelled)(const sy_context* context);
  /* Writes one log line tagged with the request id and function name. `level` is a
   * sy_log_level. The message need not be NUL-terminated. */
  void (*log)(const sy_context* context, int level, const char* message, size_t size);
  void* host; /* Private to the host. */
};

/* The response builder, owned by the host. Every function copies what it is given. */
typedef struct sy_response sy_response;
struct sy_response {
  uint32_t struct_size;
  /* HTTP semantics; 200 unless set. */
  void (*set_status)(sy_response* response, int status);
  /* Appends a header (or message metadata); a key may repeat. */
  void (*add_header)(sy_response* response, sy_bytes key, sy_bytes value);
  /* Replaces the body. */
  void (*set_body)(sy_response* response, sy_bytes body);
  /* Appends to the body, for a body built in pieces. */
  void (*append_body)(sy_response* response, sy_bytes chunk);
  /* Fails the invocation with an error type (like Lambda's errorType, e.g. "ValidationError")
   * and a message for people. The last call wins. */
  void (*set_error)(sy_response* response, sy_bytes type, sy_bytes message);
  void* host; /* Private to the host. */
};

/* What switchyard_init receives: the manifest's `env` and `config`. */
typedef struct sy_init_args sy_init_args;
struct sy_init_args {
  uint32_t struct_size;
  sy_bytes function_name;
  const sy_kv* env; /* The manifest's `env` map, sorted by key. */
  size_t env_count;
  sy_bytes config_json; /* The manifest's `config` map as a JSON object; "{}" when absent. */
  void (*log)(const sy_init_args* args, int level, const char* message, size_t size);
  /* Fails the load with an error type and message. The last call wins. */
  void (*set_error)(const sy_init_args* args, sy_bytes type, sy_bytes message);
  void* host; /* Private to the host. */
};

/* The exported symbols, declared here so that the compiler checks a function's definitions. */
SWITCHYARD_EXPORT uint32_t switchyard_abi_version(void);
SWITCHYARD_EXPORT int switchyard_handle(const sy_event* event, const sy_context* context,
                                        sy_response* response);
SWITCHYARD_EXPORT int switchyard_init(const sy_init_args* args);
SWITCHYARD_EXPORT void switchyard_shutdown(void);

/* Their types, for the host's dlsym. */
typedef uint32_t (*sy_abi_version_fn)(void);
typedef int (*sy_handle_fn)(const sy_event*, const sy_context*, sy_response*);
typedef int (*sy_init_fn)(const sy_init_args*);
typedef void (*sy_shutdown_fn)(void);

/* Small conveniences for C authors. */

/* Views a NUL-terminated string (NULL gives empty bytes). */
static inline sy_bytes sy_bytes_from_cstr(const char* text) {
  sy_bytes bytes;
  bytes.data = text;
  bytes.size = text != NULL ? strlen(text) : 0;
  return bytes;
}

/* Non-zero when `bytes` holds exactly the NUL-terminated `text`. */
static inline int sy_bytes_equal(sy_bytes bytes, const char* text) {
  size_t size = strlen(text);
  return bytes.size == size && (size == 0 || memcmp(bytes.data, text, size) == 0);
}

/* The value of the first source attribute named `key`, or NULL. */
static inline const sy_bytes* sy_event_attribute(const sy_event* event, const char* key) {
  size_t i;
  for (i = 0; i < event->attribute_count; ++i) {
    if (sy_bytes_equal(event->attributes[i].key, key)) {
      return &event->attributes[i].value;
    }
  }
  return NULL;
}

#if defined(__cplusplus)
} /* extern "C" */
#endif
