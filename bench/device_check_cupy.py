"""CuPy's kernel calls without a GPU, for bench/device_check.py: its checks, its code, NVRTC.

CuPy imports without a CUDA driver; what it cannot do is ask the device for its compute
capability, load a module or launch one. :func:`offline` answers the first with ``arch`` and
ends every compile after NVRTC by raising :class:`Compiled` (the outcome, cached per source).
:func:`replay` follows ``ElementwiseKernel.__call__`` and ``ReductionKernel.__call__`` of CuPy 14
(``cupy/_core/_kernel.pyx``, ``_reduction.pyx``, ``_cub_reduction.pyx``) on NumPy arrays up to the
launch: CuPy's own type decisions (``_decide_params_type``), scalar casts (``CScalar``) and code
generation (``_get_elementwise_kernel``, ``_ReductionKernel_get_cached_function``,
``_SimpleCubReductionKernel_get_cached_function``); what is written here again is only what
CuPy keeps in Cython (broadcasting, the dimension reduction of a launch, the choice of CUB).
"""
import hashlib

import numpy as np

CUB_THRESHOLD = 128  # CuPy's CUB_REDUCE_SIZE_THRESHOLD: shorter reductions take the plain kernel
_compiled = {}  # sha256 of (source, options) -> Compiled


class Compiled(Exception):
    """Raised where CuPy would load the module it compiled: the outcome of one NVRTC compile."""

    def __init__(self, ok, source, options, log):
        super().__init__("compiled" if ok else log)
        self.ok, self.source, self.options, self.log = ok, source, options, log


def offline(arch):
    """Import CuPy with its compiler set for ``sm_<arch>`` and no device; returns cupy."""
    import cupy
    from cupy.cuda import compiler
    compiler._get_arch = lambda: arch
    compiler._get_arch_for_options_for_nvrtc = lambda a=None: (f"-arch=sm_{a or arch}", "cubin")

    def compile_only(source, options=(), *, jitify=False, **unused):
        options = tuple(options) + ("-ftz=true",)  # as compiler._compile_with_cache_cuda adds
        key = hashlib.sha256(repr((source, options)).encode()).hexdigest()
        if key not in _compiled:
            try:
                compiler._compile_using_nvrtc_no_warning(source, options, arch, "tinygan.cu", None, None, True,
                                                         jitify)
                _compiled[key] = Compiled(True, source, options, "")
            except compiler.CompileException as err:
                _compiled[key] = Compiled(False, source, options, str(err))
        raise _compiled[key]

    compiler._compile_module_with_cache = compile_only
    return cupy


def compiled_sources():
    """Every distinct source compiled so far (Compiled outcomes)."""
    return list(_compiled.values())


class View:
    """An array as a CuPy launch sees it: the host data, shape, strides and the C-contiguity flag
    (kept from the array a view was reduced from, as CuPy keeps it)."""

    def __init__(self, data, shape=None, strides=None, c_contiguous=None):
        self.data, self.dtype = data, data.dtype
        self.shape = tuple(data.shape if shape is None else shape)
        self.strides = tuple(data.strides if strides is None else strides)
        self.c = data.flags.c_contiguous or data.size <= 1 if c_contiguous is None else c_contiguous
        self.size = int(np.prod(self.shape, dtype=np.int64))

    def array(self):
        """The host array this view describes."""
        return np.lib.stride_tricks.as_strided(self.data, self.shape, self.strides)


class Launch:
    """One kernel call as CuPy would launch it: ``compile()`` runs CuPy's code generation and NVRTC
    (a list of Compiled), ``host`` holds what the host run needs, ``notes`` what looks wrong."""

    def __init__(self, kernel, path, host, notes=(), thunks=()):
        self.kernel, self.path, self.host, self.notes, self.thunks = kernel, path, host, list(notes), thunks

    def compile(self):
        outcomes = []
        for thunk in self.thunks:
            try:
                thunk()
            except Compiled as done:
                outcomes.append(done)
            else:
                raise RuntimeError(f"{self.kernel.name}: CuPy's code generation did not reach the compiler")
        return outcomes


def replay(kernel, args, kwargs):
    """The Launch of ``kernel(*args, **kwargs)`` (NumPy arrays and scalars), or the error CuPy raises."""
    from cupy._core._kernel import ElementwiseKernel
    from cupy._core._reduction import ReductionKernel
    if isinstance(kernel, ElementwiseKernel):
        return _elementwise(kernel, list(args), dict(kwargs))
    if isinstance(kernel, ReductionKernel):
        return _reduction(kernel, list(args), dict(kwargs))
    raise TypeError(f"no replay for {type(kernel).__name__}")


def _as_item(arg):
    """CuPy's _preprocess_arg: arrays stay (a NumPy scalar stands for the 0-d array CuPy would
    have returned), Python scalars become CScalars."""
    from cupy._core._scalar import CScalar
    if isinstance(arg, (np.ndarray, np.generic)):
        return View(np.asarray(arg))
    return CScalar(arg)


def _broadcast(items, params):
    """The broadcast shape of the arrays among ``items`` (raw ones aside) and the items broadcast."""
    shapes = [a.shape for a, p in zip(items, params) if isinstance(a, View) and not p.raw]
    if not shapes:
        raise ValueError("Loop size is undecided.")
    shape = np.broadcast_shapes(*shapes)
    return shape, [View(np.broadcast_to(a.array(), shape)) if isinstance(a, View) and not p.raw
                   and a.shape != shape else a for a, p in zip(items, params)]


def _info(a):
    """CuPy's _ArgInfo of a View or CScalar."""
    from cupy import ndarray
    from cupy._core import _kernel
    from cupy._core._scalar import CScalar
    if isinstance(a, View):
        return _kernel._ArgInfo(1, ndarray, a.dtype, len(a.shape), a.c, a.size * a.dtype.itemsize <= 1 << 31)
    return _kernel._ArgInfo(3, CScalar, a.dtype, 0, True, True)


def _indexer_info(shape):
    from cupy._core import _kernel
    from cupy._core._carray import Indexer
    return _kernel._ArgInfo(2, Indexer, None, len(shape), True, int(np.prod(shape, dtype=np.int64)) <= 1 << 31)


def _elementwise(k, args, kwargs):
    from cupy._core import _kernel
    from cupy._core._scalar import CScalar
    size = kwargs.pop("size", -1)
    if set(kwargs) - {"stream", "block_size"}:
        raise TypeError(f"Wrong arguments {kwargs}")
    nin, nout = len(k.in_params), len(k.out_params)
    if len(args) not in (nin, nin + nout):
        raise TypeError(f"Wrong number of arguments for {k.name!r}. It must be either {nin} or {nin + nout} "
                        f"(with outputs), but given {len(args)}.")
    params = k.params[:nin + nout]
    items = [_as_item(a) for a in args]
    given = items[nin:]  # the outputs as passed: their shapes must be the loop's
    if size != -1:
        if any(isinstance(a, View) and not p.raw for a, p in zip(items, params)):
            raise ValueError("Specified 'size' can be used only if all of the ndarray are 'raw'.")
        shape = (size,)
    else:
        shape, items = _broadcast(items, params)
    ins = items[:nin]
    if not all(isinstance(a, View) for a in given):
        raise TypeError("Output arguments type must be cupy.ndarray")
    in_t, out_t, type_map = k._decide_params_type(tuple(a.dtype if isinstance(a, View) else None for a in ins),
                                                  tuple(a.dtype for a in given))
    for a, p in zip(given, k.out_params):
        if not p.raw and a.shape != tuple(shape):
            raise ValueError(f"Out shape is mismatched: output {p.name} {a.shape}, broadcast {tuple(shape)}")
    if not given and any(p.raw for p in k.out_params) and size == -1:
        raise ValueError("Output array size is Undecided")
    outs = given or [View(np.zeros(shape, t)) for t in out_t]
    for a, t in zip(ins, in_t):
        if isinstance(a, CScalar):
            a.apply_dtype(t)
    notes = [f"input {p.name} overlaps output {q.name} at other positions: a race on the GPU "
             "(an ElementwiseKernel does not copy its inputs)"
             for p, a in zip(k.in_params, ins) for q, o in zip(k.out_params, outs)
             if isinstance(a, View) and np.may_share_memory(a.data, o.data) and
             (a.shape, a.strides, a.array().ctypes.data) != (o.shape, o.strides, o.array().ctypes.data)]
    host = dict(shape=tuple(shape), ins=list(ins), outs=list(outs), in_t=in_t, out_t=out_t, type_map=type_map)
    if 0 in shape:
        return Launch(k, "elementwise", host, notes)
    launched = ins + outs
    loop = _reduce_dims(launched, params, tuple(shape))
    infos = tuple(_info(a) for a in launched) + (_indexer_info(loop),)
    generate = _kernel._get_elementwise_kernel.__wrapped__
    return Launch(k, "elementwise", host, notes, [lambda: generate(infos, type_map, k.params, k.operation, k.name,
                                                                    k.preamble, **k.kwargs)])


def _reduction(k, args, kwargs):
    from cupy._core import _accelerator, _kernel, _reduction
    from cupy._core._scalar import CScalar
    out, axis, keepdims = kwargs.pop("out", None), kwargs.pop("axis", None), kwargs.pop("keepdims", False)
    if set(kwargs) - {"stream"}:
        raise TypeError(f"Wrong arguments {kwargs}")
    if len(args) not in (k.nin, k.nin + k.nout):
        raise TypeError(f"Wrong number of arguments for {k.name}")
    given = [_as_item(a) for a in args[k.nin:] + ([out] if out is not None else [])]
    shape, ins = _broadcast([_as_item(a) for a in args[:k.nin]], k.in_params)
    in_t, out_t, type_map = _kernel._decide_params_type(
        k.in_params, k.out_params, tuple(a.dtype.type if isinstance(a, View) else None for a in ins),
        tuple(a.dtype.type for a in given if isinstance(a, View)))
    reduce_axis, out_axis = _reduction._get_axis(axis, len(shape))
    if len(ins) == 1 and len(out_axis) <= 1 and not ins[0].c:
        reduce_axis = tuple(sorted(reduce_axis, key=lambda i: -abs(ins[0].strides[i])))
        out_axis = tuple(sorted(out_axis, key=lambda i: -abs(ins[0].strides[i])))
    out_shape = (tuple(1 if i in reduce_axis else n for i, n in enumerate(shape)) if keepdims
                 else tuple(shape[i] for i in out_axis))
    for a in given:
        if not isinstance(a, View):
            raise TypeError("Output arguments type must be cupy.ndarray")
        if a.shape != out_shape:
            raise ValueError(f"Out shape is mismatched: {a.shape} vs {out_shape}")
    outs = given or [View(np.zeros(out_shape, t)) for t in out_t]
    host = dict(shape=tuple(shape), ins=list(ins), outs=list(outs), reduce_axis=reduce_axis, out_axis=out_axis,
                in_t=in_t, out_t=out_t, type_map=type_map)
    if outs[0].size == 0:
        return Launch(k, "reduction", host)
    if k.identity == "" and 0 in shape:
        raise ValueError(f"zero-size array to reduction operation {k.name} which has no identity")
    index_t = "int64" if np.prod(shape) / max(np.prod(out_shape), 1) > 0x7FFFFFFF else "int32"
    type_map = _kernel._TypeMap(type_map._pairs + (("IndexT", index_t),))
    for a, t in zip(ins, in_t):
        if isinstance(a, CScalar):
            a.apply_dtype(t)
    cub = None
    if _accelerator.ACCELERATOR_CUB in _accelerator.get_reduction_accelerators():
        cub = _cub_segment(ins, outs, reduce_axis, out_axis)
    if cub is not None:
        return _cub_launch(k, host, ins[0], outs[0], type_map, *cub)
    permuted = tuple(reduce_axis) + tuple(out_axis)
    if permuted != tuple(range(len(permuted))):
        if any(p.raw for p in k.in_params):
            raise NotImplementedError("Illegal conditions")
        ins = [View(np.transpose(a.array(), permuted)) if isinstance(a, View) else a for a in ins]
    in_shape = _reduce_dims(ins, k.in_params, tuple(shape[i] for i in permuted))
    outs = list(outs)
    out_shape = _reduce_dims(outs, k.out_params, out_shape)
    contiguous = 1  # _get_contiguous_size
    for a, p in zip(ins, k.in_params):
        if isinstance(a, View) and not p.raw:
            run = 1
            for j in range(len(out_shape)):
                if a.strides[len(in_shape) - j - 1] != run * a.dtype.itemsize:
                    break
                run *= out_shape[len(out_shape) - j - 1]
            contiguous = max(contiguous, run)
    block_size, block_stride, _ = _reduction._get_block_specs(int(np.prod(in_shape)), int(np.prod(out_shape)),
                                                              contiguous, -1)
    infos = (tuple(_info(a) for a in ins + outs) + (_indexer_info(in_shape), _indexer_info(out_shape),
                                                     _info(CScalar(np.int32(block_stride)))))
    generate = _reduction._ReductionKernel_get_cached_function.__wrapped__
    return Launch(k, "reduction", host, (), [lambda: generate(
        k.nin, k.nout, k._params, infos, type_map, k.name, block_size, k.reduce_type, k.identity, k.map_expr,
        k.reduce_expr, k.post_map_expr, k.preamble, k.options)])


def _cub_segment(ins, outs, reduce_axis, out_axis):
    """_can_use_cub_block_reduction: (contiguous size, whether the whole array is summed) where CuPy
    reduces with its CUB block kernels, else None."""
    from cupy.cuda import cub
    if len(ins) != 1 or len(outs) != 1 or not isinstance(ins[0], View):
        return None
    a, reduce_axis, out_axis = ins[0], tuple(sorted(reduce_axis)), tuple(sorted(out_axis))
    array = a.array()
    if array.flags.f_contiguous:
        order, permuted = "F", reduce_axis + out_axis
    elif a.c:
        order, permuted = "C", out_axis + reduce_axis
    else:
        return None
    if permuted != tuple(range(array.ndim)) or \
            not cub._cub_device_segmented_reduce_axis_compatible(reduce_axis, array.ndim, order):
        return None
    whole = not out_axis
    contiguous = int(np.prod([a.shape[i] for i in reduce_axis], dtype=np.int64))
    if (contiguous == 0 or (whole and contiguous > 0x1000000000) or (not whole and a.size // contiguous > 0x7FFFFFFF)
            or contiguous < CUB_THRESHOLD):
        return None
    return contiguous, whole


def _cub_launch(k, host, x, out, type_map, contiguous, whole):
    """The Launch of a reduction through CuPy's CUB block kernels (one pass, or two for a whole array)."""
    from cupy._core import _cub_reduction, _kernel
    from cupy._core._scalar import CScalar
    from cupy.cuda import memory
    per_thread = 4
    block_size = min(max(1 << max(0, int(np.ceil(np.log2(max(1, -(-contiguous // per_thread)))))), 32), 512)
    size_t = "uint64" if contiguous > 0x7FFFFFFF else "int32"
    type_map = _kernel._TypeMap(type_map._pairs + (("sizeT", size_t),))
    params = (k._params[0:2] + _kernel._get_param_info(size_t + " _segment_size", True)
              + _kernel._get_param_info(size_t + " _array_size", True))
    map_expr, post_map_expr, notes = k.map_expr, k.post_map_expr, []
    x_name, out_name = params[0].name, params[1].name
    if (x_name, out_name) != ("in0", "out0"):  # CuPy renames them by text replacement
        map_expr, post_map_expr = map_expr.replace(x_name, "in0"), post_map_expr.replace(out_name, "out0")
        params = _kernel._get_param_info("T in0", True) + _kernel._get_param_info("T out0", False) + params[2:]
        type_map = _kernel._TypeMap(type_map._pairs + (("type_in0_raw", x.dtype.type),
                                                       ("type_out0_raw", out.dtype.type)))
        if x_name != "in0":
            notes.append(f"the CUB path renames {x_name!r} by text: {k.map_expr!r} -> {map_expr!r}")

    def size(value):
        return CScalar(value) if contiguous > 0x7FFFFFFF else CScalar(np.int32(value))

    def generate(infos, name, first_map, options):
        return lambda: _cub_reduction._SimpleCubReductionKernel_get_cached_function.__wrapped__(
            first_map, k.reduce_expr, post_map_expr, k.reduce_type, params, infos, type_map, name, block_size,
            k.identity, k.preamble, options, per_thread)
    whole_x = View(x.data)
    if not whole:
        infos = tuple(_info(a) for a in (whole_x, out, size(contiguous), size(0)))
        return Launch(k, "cub", host, notes, [generate(infos, k.name, map_expr, ())])
    pointer = _kernel._ArgInfo(4, memory.MemoryPointer, None, 0, True, True)
    chunk = min(contiguous, block_size * per_thread)
    first = (_info(whole_x), pointer, _info(size(chunk)), _info(size(contiguous)))
    second = (pointer, _info(out), _info(size(-(-contiguous // chunk))), _info(size(contiguous)))
    return Launch(k, "cub-2pass", host, notes, [
        generate(first, k.name + "_pass1", map_expr, ("-DFIRST_PASS=1",)),
        generate(second, k.name + "_pass2", "in0", ("-DSECOND_PASS=1",))])


def _reduce_dims(views, params, shape):
    """cupy._core._kernel._reduce_dims: merges the loop's dimensions where every array allows it;
    replaces the Views in ``views`` and returns the new loop shape."""
    arrays = [i for i, (a, p) in enumerate(zip(views, params)) if isinstance(a, View) and not p.raw]
    if len(shape) <= 1 or not arrays:
        return shape
    if len(views) == 1:
        return _reduce_one(views, shape)
    strided = [i for i in arrays if not views[i].c]
    if strided and len(shape) == 2:
        return shape
    if not strided:
        total = views[arrays[0]].size
        for i in arrays:
            views[i] = View(views[i].data, (total,), (views[i].dtype.itemsize,), views[i].c)
        return (total,)
    merged, kept, last = list(shape), [], -1
    for ax in range(len(shape)):
        if merged[ax] == 1:
            continue
        if last >= 0:
            if all(views[i].strides[ax] * merged[ax] == views[i].strides[last] for i in strided):
                merged[ax] *= merged[last]
            else:
                kept.append(last)
        last = ax
    if last >= 0:
        kept.append(last)
    if len(kept) == len(shape):
        return shape
    for i in arrays:
        v = views[i]
        views[i] = View(v.data, tuple(merged[ax] for ax in kept), tuple(v.strides[ax] for ax in kept), v.c)
    return tuple(merged[ax] for ax in kept)


def _reduce_one(views, shape):
    """_reduce_dims for a single array: internal.get_reduced_dims."""
    a = views[0]
    if len(a.shape) <= 1:
        return shape
    if a.c:
        views[0] = View(a.data, (a.size,), (a.dtype.itemsize,), True)
        return views[0].shape
    dims, strides, previous = [], [], 0
    for n, stride in zip(a.shape, a.strides):
        if n == 0:
            dims, strides = [0], [a.dtype.itemsize]
            break
        if n == 1:
            continue
        if dims and previous == n * stride:
            dims[-1] *= n
            strides[-1] = stride
        else:
            dims.append(n)
            strides.append(stride)
        previous = stride
    if len(dims) == len(a.shape):
        return shape
    views[0] = View(a.data, tuple(dims), tuple(strides), a.c)
    return tuple(dims)
