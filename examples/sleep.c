/*
 * sleep: sleeps for the number of milliseconds in the event's data ("250" or {"ms":250}) and
 * answers "slept 250 ms".
 *
 * It deliberately ignores cancellation, so that tests can watch a timed-out invocation keep its
 * concurrency slot until its thread really returns.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <switchyard/function.h>
#include <time.h>

SWITCHYARD_DECLARE_ABI();

/* A longer request is refused rather than holding a worker for hours. */
static const long long kMaxSleepMs = 600000;

/* Reads the duration from "250", " 250 " or {"ms": 250}. Returns 0 on success. */
static int parse_ms(sy_bytes data, long long* ms) {
  char text[128];
  const char* number;
  char* end;
  if (data.size == 0 || data.size >= sizeof(text)) {
    return -1;
  }
  memcpy(text, data.data, data.size);
  text[data.size] = '\0';

  number = text;
  while (*number == ' ' || *number == '\t' || *number == '\n' || *number == '\r') {
    ++number;
  }
  if (*number == '{') {
    number = strstr(number, "\"ms\"");
    if (number == NULL) {
      return -1;
    }
    number += 4;
    while (*number == ' ' || *number == '\t' || *number == '\n' || *number == '\r') {
      ++number;
    }
    if (*number != ':') {
      return -1;
    }
    ++number;
  }
  errno = 0;
  *ms = strtoll(number, &end, 10);
  if (end == number || errno != 0) {
    return -1;
  }
  while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') {
    ++end;
  }
  if (*end != '\0' && *end != '}') {
    return -1;
  }
  return 0;
}

int switchyard_handle(const sy_event* event, const sy_context* context, sy_response* response) {
  long long ms = 0;
  struct timespec left;
  char body[64];
  (void)context;

  if (parse_ms(event->data, &ms) != 0 || ms < 0 || ms > kMaxSleepMs) {
    response->set_error(response, sy_bytes_from_cstr("InvalidInput"),
                        sy_bytes_from_cstr("data must be a number of milliseconds from 0 to "
                                           "600000, or {\"ms\": N}"));
    return 1;
  }

  left.tv_sec = (time_t)(ms / 1000);
  left.tv_nsec = (long)(ms % 1000) * 1000000L;
  /* nanosleep leaves the time still to sleep in `left` when a signal interrupts it. */
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }

  snprintf(body, sizeof(body), "slept %lld ms", ms);
  response->set_body(response, sy_bytes_from_cstr(body));
  return 0;
}
