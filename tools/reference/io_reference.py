#!/usr/bin/env python3
"""Reference files for bijgan's readers, written by independent code (Python's struct/json and
NumPy), so the C++ readers are tested against the formats, not against our own writers.

Writes tests/data/reference.safetensors (F32, F64, F16 and BF16 tensors and metadata, laid out
as the safetensors specification says) and tests/data/reference_{f4,f8}.npy.
Rerun:  /usr/bin/python3 tools/reference/io_reference.py
"""
import json
import pathlib
import struct

import numpy as np

out = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"

tensors = {
    "block.weight": ("F32", [2, 3], np.arange(6, dtype="<f4") * 0.5 - 1),
    "block.bias": ("F64", [3], np.array([1.0 / 3, -2.5, 1e-300], dtype="<f8")),
    "half": ("F16", [4], np.array([1.0, -2.0, 0.099975586, 65504.0], dtype="<f2")),
}
bf16_values = np.array([1.0, -3.140625, 0.5], dtype="<f4")
bf16_bits = (bf16_values.view("<u4") >> 16).astype("<u2")

header, blobs, offset = {"__metadata__": {"format": "pt", "written_by": "tools/reference/io_reference.py"}}, [], 0
for name, (dtype, shape, arr) in tensors.items():
    raw = arr.tobytes()
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
raw = bf16_bits.tobytes()
header["brain"] = {"dtype": "BF16", "shape": [3], "data_offsets": [offset, offset + len(raw)]}
blobs.append(raw)
text = json.dumps(header).encode()
(out / "reference.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
np.save(out / "reference_f4.npy", (np.arange(24, dtype="<f4") / 7).reshape(2, 3, 4))
np.save(out / "reference_f8.npy", np.array([[1.5, -2.25], [1e-10, 3e10]], dtype="<f8"))
print("wrote", out / "reference.safetensors", "and the .npy files")
