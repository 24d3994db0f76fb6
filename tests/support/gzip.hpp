// gzip-compresses bytes (one RFC 1952 member, zlib's deflate) for tests and fuzz seeds that
// need .gz inputs.
#pragma once

#include <zlib.h>

#include <vector>

namespace bijgan_test {

inline std::vector<unsigned char> gzip(const std::vector<unsigned char>& in, int level = 6) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::vector<unsigned char> out(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<unsigned char*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace bijgan_test
