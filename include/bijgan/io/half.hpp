// IEEE 754 binary16 (half) and bfloat16 to float, for the file formats that store them
// (safetensors F16/BF16, TF.js float16-quantised weights).
#pragma once

#include <bit>
#include <cstdint>

namespace bijgan::io::detail {

/// The float that the binary16 bit pattern h holds (subnormals, infinities and NaN included).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
  if (exp == 0) {
    if (man == 0)
      bits = sign;
    else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400u)) {
        man <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((man & 0x3FFu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (man << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

/// The float that the bfloat16 bit pattern b holds.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

}  // namespace bijgan::io::detail
