/*
 * echo: answers with the event it received, as JSON:
 *
 *   {"id": "...", "source": "...", "type": "...", "subject": "...", "datacontenttype": "...",
 *    "dataschema": "...", "time": "2024-05-01T12:00:00.000Z", "data": "...",
 *    "attributes": {"http.method": "GET", ...},
 *    "context": {"function_name": "echo", "request_id": "...", "trace_parent": "..."}}
 *
 * "time" is null when the source gave none. Repeated attribute keys (repeated HTTP headers) are
 * joined with ", " as HTTP does, so that "attributes" stays a JSON object with unique keys.
 * Written in plain C against <switchyard/function.h> alone, to show the bare ABI.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <switchyard/function.h>
#include <time.h>

SWITCHYARD_DECLARE_ABI();

/* A growable byte buffer. `failed` is set once an allocation fails; later appends do nothing. */
typedef struct Buffer {
  char* data;
  size_t size;
  size_t capacity;
  int failed;
} Buffer;

static void buffer_append(Buffer* buffer, const char* bytes, size_t size) {
  if (buffer->failed || size == 0) {
    return;
  }
  if (buffer->size + size > buffer->capacity) {
    size_t capacity = buffer->capacity == 0 ? 256 : buffer->capacity;
    char* grown;
    while (capacity < buffer->size + size) {
      capacity *= 2;
    }
    grown = realloc(buffer->data, capacity);
    if (grown == NULL) {
      buffer->failed = 1;
      return;
    }
    buffer->data = grown;
    buffer->capacity = capacity;
  }
  memcpy(buffer->data + buffer->size, bytes, size);
  buffer->size += size;
}

static void buffer_append_cstr(Buffer* buffer, const char* text) {
  buffer_append(buffer, text, strlen(text));
}

/* The length of the valid UTF-8 sequence starting at `bytes`, or 0 if it is not valid (a stray
 * continuation byte, a truncated sequence, an overlong form, a surrogate, or past U+10FFFF). */
static size_t utf8_sequence_length(const unsigned char* bytes, size_t size) {
  unsigned char lead = bytes[0];
  size_t length;
  size_t i;
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
  } else {
    return 0;
  }
  if (size < length) {
    return 0;
  }
  for (i = 1; i < length; ++i) {
    if ((bytes[i] & 0xC0) != 0x80) {
      return 0;
    }
  }
  if ((lead == 0xE0 && bytes[1] < 0xA0) || (lead == 0xED && bytes[1] > 0x9F) ||
      (lead == 0xF0 && bytes[1] < 0x90) || (lead == 0xF4 && bytes[1] > 0x8F)) {
    return 0;
  }
  return length;
}

/* Appends `bytes` as a JSON string. Data may be binary, and a JSON text must be valid UTF-8, so
 * each invalid byte becomes U+FFFD. */
static void append_json_string(Buffer* buffer, sy_bytes bytes) {
  const unsigned char* text = (const unsigned char*)bytes.data;
  size_t i = 0;
  buffer_append(buffer, "\"", 1);
  while (i < bytes.size) {
    unsigned char c = text[i];
    char escape[8];
    size_t length;
    switch (c) {
      case '"':
        buffer_append(buffer, "\\\"", 2);
        ++i;
        continue;
      case '\\':
        buffer_append(buffer, "\\\\", 2);
        ++i;
        continue;
      case '\n':
        buffer_append(buffer, "\\n", 2);
        ++i;
        continue;
      case '\r':
        buffer_append(buffer, "\\r", 2);
        ++i;
        continue;
      case '\t':
        buffer_append(buffer, "\\t", 2);
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
      snprintf(escape, sizeof(escape), "\\u%04x", (unsigned)c);
      buffer_append(buffer, escape, 6);
      ++i;
      continue;
    }
    length = utf8_sequence_length(text + i, bytes.size - i);
    if (length == 0) {
      buffer_append_cstr(buffer, "\\ufffd");
      ++i;
      continue;
    }
    buffer_append(buffer, (const char*)text + i, length);
    i += length;
  }
  buffer_append(buffer, "\"", 1);
}

static void append_member(Buffer* buffer, const char* name, sy_bytes value) {
  buffer_append(buffer, "\"", 1);
  buffer_append_cstr(buffer, name);
  buffer_append(buffer, "\":", 2);
  append_json_string(buffer, value);
  buffer_append(buffer, ",", 1);
}

static int bytes_same(sy_bytes a, sy_bytes b) {
  return a.size == b.size && (a.size == 0 || memcmp(a.data, b.data, a.size) == 0);
}

/* Appends an RFC 3339 UTC time with milliseconds, or null when the source gave no time. */
static void append_time(Buffer* buffer, int64_t unix_ms) {
  char text[80];
  struct tm parts;
  time_t seconds;
  int64_t ms = unix_ms % 1000;
  if (unix_ms == 0) {
    buffer_append_cstr(buffer, "null");
    return;
  }
  if (ms < 0) {
    ms += 1000;
  }
  seconds = (time_t)((unix_ms - ms) / 1000);
  if (gmtime_r(&seconds, &parts) == NULL) {
    buffer_append_cstr(buffer, "null");
    return;
  }
  snprintf(text, sizeof(text), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", parts.tm_year + 1900,
           parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, (int)ms);
  buffer_append_cstr(buffer, text);
}

/* Appends the source attributes as one JSON object, joining the values of a repeated key. */
static void append_attributes(Buffer* buffer, const sy_event* event) {
  size_t i;
  size_t j;
  int first_member = 1;
  buffer_append_cstr(buffer, "{");
  for (i = 0; i < event->attribute_count; ++i) {
    int seen = 0;
    for (j = 0; j < i; ++j) {
      if (bytes_same(event->attributes[j].key, event->attributes[i].key)) {
        seen = 1;
        break;
      }
    }
    if (seen) {
      continue;
    }
    if (!first_member) {
      buffer_append(buffer, ",", 1);
    }
    first_member = 0;
    append_json_string(buffer, event->attributes[i].key);
    buffer_append(buffer, ":", 1);
    if (i + 1 < event->attribute_count) {
      /* Join every value of this key in order: build the joined bytes, then escape them once. */
      Buffer joined = {NULL, 0, 0, 0};
      sy_bytes value;
      buffer_append(&joined, event->attributes[i].value.data, event->attributes[i].value.size);
      for (j = i + 1; j < event->attribute_count; ++j) {
        if (bytes_same(event->attributes[j].key, event->attributes[i].key)) {
          buffer_append(&joined, ", ", 2);
          buffer_append(&joined, event->attributes[j].value.data, event->attributes[j].value.size);
        }
      }
      if (joined.failed) {
        buffer->failed = 1;
      }
      value.data = joined.data;
      value.size = joined.size;
      append_json_string(buffer, value);
      free(joined.data);
    } else {
      append_json_string(buffer, event->attributes[i].value);
    }
  }
  buffer_append_cstr(buffer, "}");
}

int switchyard_handle(const sy_event* event, const sy_context* context, sy_response* response) {
  Buffer body = {NULL, 0, 0, 0};
  sy_bytes content;

  buffer_append_cstr(&body, "{");
  append_member(&body, "id", event->id);
  append_member(&body, "source", event->source);
  append_member(&body, "type", event->type);
  append_member(&body, "subject", event->subject);
  append_member(&body, "datacontenttype", event->datacontenttype);
  append_member(&body, "dataschema", event->dataschema);
  buffer_append_cstr(&body, "\"time\":");
  append_time(&body, event->time_unix_ms);
  buffer_append_cstr(&body, ",");
  append_member(&body, "data", event->data);
  buffer_append_cstr(&body, "\"attributes\":");
  append_attributes(&body, event);
  /* From the context: what the function knows about this invocation besides the event. */
  buffer_append_cstr(&body, ",\"context\":{");
  append_member(&body, "function_name", context->function_name);
  append_member(&body, "request_id", context->request_id);
  buffer_append_cstr(&body, "\"trace_parent\":");
  append_json_string(&body, context->trace_parent);
  buffer_append_cstr(&body, "}}");

  if (body.failed) {
    free(body.data);
    response->set_error(response, sy_bytes_from_cstr("OutOfMemory"),
                        sy_bytes_from_cstr("echo could not allocate its response"));
    return 1;
  }
  content.data = body.data;
  content.size = body.size;
  response->add_header(response, sy_bytes_from_cstr("content-type"),
                       sy_bytes_from_cstr("application/json"));
  /* The host copies the body, so it can be freed right after. */
  response->set_body(response, content);
  free(body.data);
  return 0;
}
