/*
 * version: answers with the version it was built as (FUNCTION_VERSION), so that a test can see
 * which build of a library served a request after a reload.
 */

#include <switchyard/function.h>

SWITCHYARD_DECLARE_ABI();

int switchyard_handle(const sy_event* event, const sy_context* context, sy_response* response) {
  (void)event;
  (void)context;
  response->set_body(response, sy_bytes_from_cstr(FUNCTION_VERSION));
  return 0;
}
