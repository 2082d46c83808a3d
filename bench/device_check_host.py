"""A CuPy kernel's body compiled with g++ and run on host arrays, for bench/device_check.py.

The body is the kernel's own C (its ``operation``, or its map, reduce and post-map expressions),
with the types CuPy decided for the call; the loop around it is a plain C loop: one element after
another for an ElementwiseKernel, one output after another, summed in order, for a
ReductionKernel. Each distinct source is built once into a shared library (kept in the temporary
folder between runs).
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

import numpy as np

from device_check_cupy import View

BUILD = os.path.join(tempfile.gettempdir(), "tinygan_device_check")
C_TYPES = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long", "int8": "signed char",
           "uint8": "unsigned char", "bool": "bool", "uint32": "unsigned int", "uint64": "unsigned long long",
           "int16": "short", "uint16": "unsigned short"}
PRELUDE = """#include <cmath>
#include <cstddef>
using std::sqrt; using std::exp; using std::log; using std::abs; using std::min; using std::max; using std::tanh;
template <typename T> struct Raw { T* p; T& operator[](ptrdiff_t i) const { return p[i]; } };
"""
_libraries = {}


def run(launch):
    """Run the body of a replayed call (a device_check_cupy.Launch) over its host arrays; returns what
    the kernel call returns (its output array, a tuple of them, or None)."""
    outs = [view.array() for view in (_elementwise if launch.path == "elementwise" else _reduction)(
        launch.kernel, launch.host)]
    return None if not outs else outs[0] if len(outs) == 1 else tuple(outs)


def _c(dtype):
    return C_TYPES[np.dtype(dtype).name]


def _header(kernel, type_map):
    return PRELUDE + "".join(f"typedef {_c(t)} {name};\n" for name, t in type_map._pairs) + kernel.preamble + "\n"


def _input(p, a, t, index, shape):
    """(declaration, buffer) of input ``index``: a scalar, a raw array or one value per element."""
    c = _c(t)
    if not isinstance(a, View):
        return f"const {c} {p.name} = *(const {c}*)_a[{index}];", np.array(a.value, dtype=t)
    if p.raw:
        return f"Raw<{c}> {p.name}{{({c}*)_a[{index}]}};", np.ascontiguousarray(a.array())
    return f"const {c}* _{p.name} = (const {c}*)_a[{index}];", np.ascontiguousarray(np.broadcast_to(a.array(), shape))


def _elementwise(k, h):
    nin = len(k.in_params)
    declarations, buffers, loop = [], [], []
    for i, (p, a, t) in enumerate(zip(k.in_params, h["ins"], h["in_t"])):
        line, buffer = _input(p, a, t, i, h["shape"])
        declarations.append(line)
        buffers.append(buffer)
        if isinstance(a, View) and not p.raw:
            loop.append(f"const {p.ctype} &{p.name} = _{p.name}[i];")
    for j, (p, a, t) in enumerate(zip(k.out_params, h["outs"], h["out_t"])):
        c = _c(t)
        declarations.append(f"Raw<{c}> {p.name}{{({c}*)_a[{nin + j}]}};" if p.raw else
                            f"{c}* _{p.name} = ({c}*)_a[{nin + j}];")
        buffers.append(np.ascontiguousarray(a.array()))  # an output's old value is there to read
        if not p.raw:
            loop.append(f"{p.ctype} &{p.name} = _{p.name}[i];")
    source = (_header(k, h["type_map"]) + 'extern "C" void run(ptrdiff_t n, void** _a) {\n  '
              + "\n  ".join(declarations) + "\n  for (ptrdiff_t i = 0; i < n; ++i) {\n    " + "\n    ".join(loop)
              + f"\n    {k.operation};\n  }}\n}}\n")
    _call(source, [int(np.prod(h["shape"], dtype=np.int64))], buffers)
    for a, buffer in zip(h["outs"], buffers[nin:]):
        a.array()[...] = buffer.reshape(a.shape)
    return h["outs"]


def _reduction(k, h):
    kept, summed = tuple(sorted(h["out_axis"])), tuple(sorted(h["reduce_axis"]))
    n_out = int(np.prod([h["shape"][i] for i in kept], dtype=np.int64))
    n_sum = int(np.prod([h["shape"][i] for i in summed], dtype=np.int64))
    declarations, buffers, loop = [], [], []
    for i, (p, a, t) in enumerate(zip(k.in_params, h["ins"], h["in_t"])):
        line, buffer = _input(p, a, t, i, h["shape"])
        declarations.append(line)
        if isinstance(a, View):  # outputs first, then the summed positions
            buffer = np.ascontiguousarray(np.transpose(buffer, kept + summed))
            loop.append(f"const {p.ctype} {p.name} = _{p.name}[o * n_sum + r];")
        buffers.append(buffer)
    outs = [np.zeros(n_out, dtype=t) for t in h["out_t"]]
    for j, (p, t) in enumerate(zip(k.out_params, h["out_t"])):
        declarations.append(f"{_c(t)}* _{p.name} = ({_c(t)}*)_a[{len(k.in_params) + j}];")
    references = "\n    ".join(f"{p.ctype} &{p.name} = _{p.name}[o];" for p in k.out_params)
    source = (_header(k, h["type_map"]) + f"typedef {k.reduce_type} _type_reduce;\n"
              + 'extern "C" void run(ptrdiff_t n_out, ptrdiff_t n_sum, void** _a) {\n  ' + "\n  ".join(declarations)
              + f"\n  for (ptrdiff_t o = 0; o < n_out; ++o) {{\n    _type_reduce a = _type_reduce({k.identity});\n"
              + "    for (ptrdiff_t r = 0; r < n_sum; ++r) {\n      " + "\n      ".join(loop)
              + f"\n      _type_reduce b = static_cast<_type_reduce>({k.map_expr});"
              + f"\n      a = ({k.reduce_expr});\n    }}"
              + f"\n    {references}\n    {k.post_map_expr};\n  }}\n}}\n")
    _call(source, [n_out, n_sum], buffers + outs)
    for a, buffer in zip(h["outs"], outs):
        a.array()[...] = buffer.reshape(a.shape)
    return h["outs"]


def _call(source, sizes, buffers):
    """Build ``source`` (once) and call its ``run(*sizes, pointers to buffers)``."""
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    if key not in _libraries:
        os.makedirs(BUILD, exist_ok=True)
        path = os.path.join(BUILD, key)
        if not os.path.exists(path + ".so"):
            with open(path + ".cpp", "w") as f:
                f.write(source)
            built = subprocess.run(["g++", "-std=c++17", "-O1", "-fPIC", "-shared", "-w", "-o", path + ".so",
                                    path + ".cpp"], capture_output=True, text=True)
            if built.returncode:
                raise RuntimeError(f"g++ could not build the kernel body for the host:\n{built.stderr[:2000]}")
        _libraries[key] = ctypes.CDLL(path + ".so")
        _libraries[key].run.restype = None
    pointers = (ctypes.c_void_p * len(buffers))(*[b.ctypes.data for b in buffers])
    _libraries[key].run(*(ctypes.c_ssize_t(n) for n in sizes), pointers)
