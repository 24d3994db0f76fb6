// Whole-file reads and atomic file writes: data goes to a temporary file beside the target, is
// flushed to disk (fsync), then renamed over the target, so an interrupted run never leaves a
// half-written file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "bijgan/config/errors.hpp"

namespace bijgan::io {

/// Replaces `path` with `bytes` atomically (temp file + fsync + rename). Throws io_error naming
/// the file and the system error; the temporary file is removed on failure.
inline void write_file_atomic(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail<io_error>("write_file_atomic", "cannot create ", tmp, ": ", std::strerror(errno));
  auto abort_with = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail<io_error>("write_file_atomic", what, " ", path, ": ", std::strerror(err));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abort_with("cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abort_with("cannot flush");
  if (::close(fd) != 0) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail<io_error>("write_file_atomic", "cannot close ", tmp, ": ", std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail<io_error>("write_file_atomic", "cannot rename ", tmp, " to ", path, ": ", std::strerror(err));
  }
}

/// The whole of a file; io_error naming the file when it cannot be opened or read.
inline std::vector<unsigned char> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<io_error>("read_file", "cannot open ", path);
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size < 0) fail<io_error>("read_file", "cannot size ", path);
  in.seekg(0, std::ios::beg);
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) fail<io_error>("read_file", "cannot read ", path);
  return bytes;
}

}  // namespace bijgan::io
