// C11 <threads.h> for ThreadSanitizer builds.
//
// librdkafka makes its threads, mutexes and condition variables with C11 thrd_create, mtx_lock,
// cnd_wait... glibc implements those by calling its pthread functions internally, past the
// symbols ThreadSanitizer intercepts, so TSan never registers librdkafka's threads (they crash
// in its allocator) nor sees their locks (false races). Linked into every executable of a TSan
// build (see the top-level CMakeLists.txt), these definitions take precedence over glibc's for
// librdkafka and go through the intercepted pthread functions. glibc's mtx_t and cnd_t have the
// size and layout of pthread_mutex_t and pthread_cond_t, which is what its own C11 functions
// rely on too.

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

struct start {
  thrd_start_t func;
  void* arg;
};

static void* trampoline(void* p) {
  struct start s = *(struct start*)p;
  free(p);
  return (void*)(intptr_t)s.func(s.arg);
}

static int status(int rc) {
  switch (rc) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct start* s = malloc(sizeof *s);
  if (s == NULL) {
    return thrd_nomem;
  }
  s->func = func;
  s->arg = arg;
  int rc = pthread_create((pthread_t*)thr, NULL, trampoline, s);
  if (rc != 0) {
    free(s);
  }
  return status(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* ret = NULL;
  int rc = pthread_join((pthread_t)thr, &ret);
  if (rc == 0 && res != NULL) {
    *res = (int)(intptr_t)ret;
  }
  return status(rc);
}

int thrd_detach(thrd_t thr) {
  return status(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) {
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  }
  int rc = pthread_mutex_init((pthread_mutex_t*)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return status(rc);
}

int mtx_lock(mtx_t* m) {
  return status(pthread_mutex_lock((pthread_mutex_t*)m));
}
int mtx_trylock(mtx_t* m) {
  return status(pthread_mutex_trylock((pthread_mutex_t*)m));
}
int mtx_timedlock(mtx_t* restrict m, const struct timespec* restrict ts) {
  return status(pthread_mutex_timedlock((pthread_mutex_t*)m, ts));
}
int mtx_unlock(mtx_t* m) {
  return status(pthread_mutex_unlock((pthread_mutex_t*)m));
}
void mtx_destroy(mtx_t* m) {
  pthread_mutex_destroy((pthread_mutex_t*)m);
}

int cnd_init(cnd_t* c) {
  return status(pthread_cond_init((pthread_cond_t*)c, NULL));
}
int cnd_signal(cnd_t* c) {
  return status(pthread_cond_signal((pthread_cond_t*)c));
}
int cnd_broadcast(cnd_t* c) {
  return status(pthread_cond_broadcast((pthread_cond_t*)c));
}
int cnd_wait(cnd_t* c, mtx_t* m) {
  return status(pthread_cond_wait((pthread_cond_t*)c, (pthread_mutex_t*)m));
}
int cnd_timedwait(cnd_t* restrict c, mtx_t* restrict m, const struct timespec* restrict ts) {
  return status(pthread_cond_timedwait((pthread_cond_t*)c, (pthread_mutex_t*)m, ts));
}
void cnd_destroy(cnd_t* c) {
  pthread_cond_destroy((pthread_cond_t*)c);
}
