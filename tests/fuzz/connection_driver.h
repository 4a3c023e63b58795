#pragma once

// What the HTTP fuzzers share: the fuzz input is sent as the bytes of one client connection to a
// server on loopback, whose loop runs until the server has answered and closed, or the client
// has read everything. A server that neither answers nor closes within 5 s is a hang (abort).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "core/loop.h"

namespace switchyard::fuzz {

inline void drive_connection(core::Loop& loop, int port, const std::uint8_t* data,
                             std::size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Closing with a reset leaves no TIME_WAIT behind on either side: hundreds of thousands of
  // runs would otherwise exhaust the ephemeral ports.
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  int attempts = 0;
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // A full accept backlog clears once the loop runs; anything else is the harness failing.
    if (++attempts > 1000 || (errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR)) {
      std::perror("fuzzer: connect");
      std::abort();
    }
    loop.run_nowait();
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::size_t sent = 0;
  bool eof = false;
  bool shut = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[65536];
  while (!eof) {
    if (sent < size) {
      ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN) {
        sent = size;  // The server closed on us: fine.
      }
    } else if (!shut) {
      shutdown(fd, SHUT_WR);
      shut = true;
    }
    loop.run_nowait();
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      eof = true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      // A server that neither answers nor closes within 5 s is a hang.
      std::abort();
    }
  }
  close(fd);
  // Let the server finish closing its side.
  for (int i = 0; i < 4; ++i) {
    loop.run_nowait();
  }
}

}  // namespace switchyard::fuzz
