// Whole-file reads and atomic file writes. A write goes to a temporary file beside the target
// with a name no other writer uses (pid + a per-process counter, created exclusively), is
// flushed to disk (fsync), renamed over the target, and the directory is flushed so the rename
// itself survives a crash: an interrupted or concurrent run never leaves a half-written or torn
// file. Temporary files left by processes that died (kill -9) are removed by the next write to
// the same target.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "bijgan/config/errors.hpp"

namespace bijgan::io {

namespace detail {
/// An io_error whose message already names the file and the field: a loader that wraps the
/// errors of its helpers (JSON accessors, shape checks) with the file's name passes these
/// through as they are.
struct located_io_error : io_error {
  using io_error::io_error;
};

/// A closing file descriptor.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

/// When `name` is "<target>.tmp.<pid>" or "<target>.tmp.<pid>.<n>", that pid; else 0.
inline pid_t temp_owner(std::string_view name, std::string_view target) {
  const std::string prefix = std::string(target) + ".tmp.";
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return 0;
  const std::string_view rest = name.substr(prefix.size());
  long long pid = 0;
  const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || pid > 0x7fffffff) return 0;
  if (p != rest.data() + rest.size()) {  // ".<n>" must follow, digits only
    if (*p != '.' || p + 1 == rest.data() + rest.size()) return 0;
    for (const char* q = p + 1; q != rest.data() + rest.size(); ++q)
      if (*q < '0' || *q > '9') return 0;
  }
  return static_cast<pid_t>(pid);
}

/// Removes "<target>.tmp.<pid>[.<n>]" files of processes that no longer exist. Errors are
/// ignored: cleaning is best effort and never stops a write.
inline void remove_stale_temps(const std::filesystem::path& target) {
  std::error_code ec;
  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string name = target.filename().string();
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t pid = temp_owner(it->path().filename().string(), name);
    if (pid == 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to probe)
    std::error_code rm;
    std::filesystem::remove(it->path(), rm);
  }
}

/// fsync of the directory holding path (makes a rename durable); best effort on file systems
/// that refuse it.
inline void sync_parent_dir(const std::filesystem::path& path) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}
}  // namespace detail

/// Replaces `path` with `bytes` atomically (exclusive temp file + fsync + rename + directory
/// fsync). Safe when several threads or processes write the same path at once: each writes
/// its own temporary file and the last rename wins with a whole file. Throws io_error naming
/// the file and the system error; the temporary file is removed on failure.
inline void write_file_atomic(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
  static std::atomic<std::uint64_t> counter{0};
  detail::remove_stale_temps(path);
  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
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
    const int err = errno;
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail<io_error>("write_file_atomic", "cannot close ", tmp, ": ", std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail<io_error>("write_file_atomic", "cannot rename ", tmp, " to ", path, ": ", std::strerror(err));
  }
  detail::sync_parent_dir(path);
}

/// The whole of a regular file. io_error naming the file when it cannot be opened or read, is
/// a directory or another non-regular file, or is larger than max_bytes (checked before any
/// buffer is allocated).
inline std::vector<unsigned char> read_file(const std::filesystem::path& path,
                                            std::uint64_t max_bytes = std::uint64_t{1} << 40) {
  detail::fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail<io_error>("read_file", "cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail<io_error>("read_file", "cannot stat ", path, ": ", std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail<io_error>("read_file", path, " is a directory, not a file");
  if (!S_ISREG(st.st_mode)) fail<io_error>("read_file", path, " is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes)
    fail<io_error>("read_file", path, " holds ", size, " bytes, more than the limit of ", max_bytes);
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail<io_error>("read_file", "cannot read ", path, ": ", std::strerror(errno));
    }
    if (n == 0) fail<io_error>("read_file", path, " shrank while being read (", done, " of ", size, " bytes)");
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

}  // namespace bijgan::io
