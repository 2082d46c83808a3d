"""Data-parallel training: one process per device, gradients summed across processes.

As ChainerMN does for Chainer: ``mpiexec -n P python -m tinygan.train ...`` starts P
processes; each trains the same model on its own part of every batch, and after each
backward the gradients of a model are summed across processes in one call on its flat
gradient buffer (:meth:`tinygan.layers.Layer.flatten`), then divided by P. BatchNorm statistics
are summed across processes too (:func:`synchronise_batch_norms`), so P processes compute what
one process computes on the whole batch. NumPy arrays travel through MPI (mpi4py), CuPy arrays through
NCCL (``cupy.cuda.nccl``, installed by the extra ``cuda12-nccl`` or ``cuda13-nccl``), each process on
the GPU of its local rank.

:func:`connect` returns the processes of this run: :class:`SingleProcess` when tinygan was
not started by an MPI launcher (nothing to import, nothing to sum), else :class:`MPIProcesses`.
"""
import importlib
import os
import sys
import warnings

import numpy as np

from . import backend
from .layers import BatchNorm

# Variables by which MPI launchers (MPICH's and Intel's, Open MPI's, MVAPICH's) tell a
# process how many processes they started, and its rank.
LAUNCHER_VARIABLES = {"size": ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"),
                      "rank": ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")}


class SingleProcess:
    """The processes of a run started without MPI: one."""

    rank, size, local_rank, local_size = 0, 1, 0, 1

    def sum(self, array):
        return array



class MPIProcesses:
    """The processes an MPI launcher started. ``sum`` adds an array over all of them in place:
    NumPy arrays through MPI's Allreduce, CuPy arrays through NCCL (on the current stream)."""

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError as err:
            raise ValueError(f"tinygan was started by an MPI launcher with {launched_size()} processes, but "
                             f"mpi4py does not import ({err}); install it with: pip install -e \".[mpi]\"") from None
        self.mpi, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        self.nccl = None

    def sum(self, array):
        """``array`` summed over all processes, in place (contiguous NumPy or CuPy array); returns it."""
        if isinstance(array, np.ndarray):
            self.comm.Allreduce(self.mpi.IN_PLACE, array, op=self.mpi.SUM)
            return array
        return self._nccl_sum(array)

    def _nccl_sum(self, array):
        import cupy
        from cupy.cuda import nccl  # loadable: connect() checked
        if self.nccl is None:  # rank 0 makes the communicator's id, MPI hands it to the others
            unique_id = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
            self.nccl = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        kinds = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64}
        self.nccl.allReduce(array.data.ptr, array.data.ptr, array.size, kinds[array.dtype], nccl.NCCL_SUM,
                            cupy.cuda.get_current_stream().ptr)
        return array



def nccl_module(size):
    """``cupy.cuda.nccl`` when CuPy can load NCCL, else a BackendUnavailable naming the extra that
    installs it (``size``: the processes that would sum through it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CuPy's own warning of several lines: the error below says it in one
        nccl = importlib.import_module("cupy.cuda.nccl")
    if not nccl.available:
        extra = backend.cupy_extra(backend.get_xp())
        raise backend.BackendUnavailable(
            f"{size} processes on CuPy sum their gradients through NCCL, which CuPy cannot load "
            f"(cupy.cuda.nccl.available is False): install it with pip install -e \".[{extra}-nccl]\"")
    return nccl


def _launcher_says(what, default):
    for name in LAUNCHER_VARIABLES[what]:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return default


def launched_size():
    """How many processes an MPI launcher started (1 without one), known before MPI starts."""
    return _launcher_says("size", 1)


def launched_rank():
    """This process's rank among them (0 without a launcher), known before MPI starts."""
    return _launcher_says("rank", 0)


def connect():
    """The processes of this run, each on its device: on CuPy, process r of a machine takes
    GPU r (a ValueError when the machine has fewer GPUs than processes, a BackendUnavailable
    when CuPy cannot load NCCL)."""
    if launched_size() == 1:
        return SingleProcess()
    processes = MPIProcesses()
    if backend.backend_name() == "cupy":
        count = backend.get_xp().cuda.runtime.getDeviceCount()
        if count < processes.local_size:
            raise ValueError(f"{processes.local_size} processes on this machine but only {count} GPUs: "
                             f"start at most {count} processes per machine (mpiexec -n)")
        backend.get_xp().cuda.Device(processes.local_rank).use()
        nccl_module(processes.size)
    return processes


def abort(status):
    """Stop every process of an MPI run now, with exit status ``status`` (the others may be
    waiting in a sum that never comes); without MPI, return ``status``."""
    sys.stdout.flush()
    sys.stderr.flush()
    if "mpi4py.MPI" in sys.modules:
        sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(status)
    return status


def synchronise_batch_norms(model, processes):
    """Every BatchNorm of ``model`` (conditional ones included) normalises with the statistics
    of the batch of all processes, and its input gradient accounts for all of them."""
    for _, layer in model.walk():
        if isinstance(layer, BatchNorm):
            layer.processes = processes
