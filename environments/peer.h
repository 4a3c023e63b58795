#pragma once

// Who is at the other end of a loopback TCP connection. A Runtime API port alone proves
// nothing: any local process can connect to it. The daemon asks the kernel's socket
// diagnostics (NETLINK_SOCK_DIAG) for the inode of the connecting socket, then looks for that
// socket among the open descriptors of an environment's processes (its process and every
// descendant) in /proc.
//
// Thread rules: pure functions of the system's state; any thread.

#include <sys/types.h>

#include <optional>

namespace switchyard::environments {

// The inode of the socket at the other end of `fd`, an accepted TCP connection whose two ends
// are on this host; nullopt when the kernel cannot say.
std::optional<ino_t> peer_socket_inode(int fd);

// Whether process `root`, or a process descended from it, has the socket `inode` open.
bool process_tree_holds_socket(pid_t root, ino_t inode);

}  // namespace switchyard::environments
