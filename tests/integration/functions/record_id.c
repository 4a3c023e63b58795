/*
 * record_id: appends each event's id, one per line, to the file named by the manifest's
 * env RECORD_FILE (one write per line with O_APPEND, so that several daemons can share a file).
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <switchyard/function.h>
#include <unistd.h>

SWITCHYARD_DECLARE_ABI();

static char g_file[4096];

int switchyard_init(const sy_init_args* args) {
  size_t i;
  for (i = 0; i < args->env_count; ++i) {
    if (args->env[i].key.size == 11 && memcmp(args->env[i].key.data, "RECORD_FILE", 11) == 0 &&
        args->env[i].value.size < sizeof(g_file)) {
      memcpy(g_file, args->env[i].value.data, args->env[i].value.size);
      g_file[args->env[i].value.size] = '\0';
    }
  }
  return g_file[0] == '\0' ? 1 : 0;
}

int switchyard_handle(const sy_event* event, const sy_context* context, sy_response* response) {
  char line[512];
  size_t size = event->id.size < sizeof(line) - 1 ? event->id.size : sizeof(line) - 1;
  int fd;
  (void)context;
  memcpy(line, event->id.data, size);
  line[size] = '\n';
  fd = open(g_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, size + 1) != (ssize_t)(size + 1)) {
    if (fd >= 0) {
      close(fd);
    }
    response->set_error(response, sy_bytes_from_cstr("RecordError"),
                        sy_bytes_from_cstr("cannot append to RECORD_FILE"));
    return 1;
  }
  close(fd);
  return 0;
}
