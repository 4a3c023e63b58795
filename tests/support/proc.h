#pragma once

// What /proc says of a process, for tests that check the processes they (or the daemon) started.

#include <sys/types.h>

#include <set>
#include <string>

namespace switchyard::testing {

struct ProcStat {
  pid_t pid = 0;   // 0: no such process.
  char state = 0;  // R, S, Z, ...
  pid_t ppid = 0;  // Its parent.
  pid_t pgid = 0;  // Its process group.
};

// The whole of /proc/<pid>/<name> ("cmdline", "environ", "stat"); empty when the process is
// gone, also when it goes while being read (where std::ifstream would throw).
std::string read_proc_file(pid_t pid, const std::string& name);

// /proc/<pid>/stat; pid 0 and state 0 when the process is gone.
ProcStat proc_stat(pid_t pid);

// The numbers of its open descriptors (/proc/<pid>/fd); empty when it is gone.
std::set<std::string> open_descriptors(pid_t pid);

}  // namespace switchyard::testing
