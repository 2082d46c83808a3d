"""What a GPU user installs and what they are told when a part is missing, checked without a GPU:
the extras of pyproject.toml, and one-line errors naming the extra, with a stand-in CuPy module
that sees a device but lacks the kernel compiler or NCCL."""
import re
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest

from tinygan import backend, parallel

CHECKOUT = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


@pytest.mark.parametrize("cuda", [12, 13])
def test_the_cuda_extras_bring_cupys_toolkit_and_nccl(cuda):
    assert EXTRAS[f"cuda{cuda}"] == [f"cupy-cuda{cuda}x[ctk]>=14"]  # NVRTC and the CUDA headers as wheels
    several = EXTRAS[f"cuda{cuda}-nccl"]
    assert f"tinygan[cuda{cuda},mpi]" in several
    assert any(re.match(fr"nvidia-nccl-cu{cuda}\b", requirement) for requirement in several)


@pytest.mark.parametrize("name, shown", [("README.md", {"cuda12", "mpi", "cuda12-nccl"}),
                                         ("docs/training.md", {"mpi", "cuda12-nccl"})])
def test_the_install_lines_name_extras_that_exist(name, shown):
    groups = re.findall(r'pip install -e "\.\[([\w,-]+)\]"', (CHECKOUT / name).read_text())
    named = {extra for group in groups for extra in group.split(",")}
    assert shown <= named <= set(EXTRAS), (name, named)


def stand_in_cupy(monkeypatch, compiles=True, nccl=True, cuda=12):
    """A module named cupy that sees one device, of CUDA ``cuda``; its kernels fail to compile
    unless ``compiles``; its cupy.cuda.nccl loads unless not ``nccl``. Backend state restored after."""
    cupy = types.ModuleType("cupy")
    nccl_module = types.ModuleType("cupy.cuda.nccl")
    nccl_module.available = nccl
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, runtimeGetVersion=lambda: cuda * 1000 + 90),
        nccl=nccl_module, Device=lambda index: types.SimpleNamespace(use=lambda: None))
    cupy.float32 = np.float32

    def arange(n, dtype):
        if not compiles:
            raise RuntimeError("Failed to find CUDA headers.\nInstall the CUDA Toolkit or the wheels.")
        return np.arange(n, dtype=dtype)
    cupy.arange = arange
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl_module)
    monkeypatch.setitem(backend._state, "xp", backend._state["xp"])
    monkeypatch.delenv("TINYGAN_BACKEND", raising=False)  # None: the automatic choice
    return cupy


@pytest.mark.parametrize("cuda", [12, 13])
def test_a_cupy_that_cannot_compile_is_one_line_naming_the_extra(monkeypatch, cuda):
    stand_in_cupy(monkeypatch, compiles=False, cuda=cuda)
    for name in ("cupy", None):  # asked for, or chosen because it sees a device: never NumPy in silence
        with pytest.raises(backend.BackendUnavailable) as raised:
            backend.set_backend(name)
        message = str(raised.value)
        assert "\n" not in message and "Failed to find CUDA headers." in message
        assert f'pip install -e ".[cuda{cuda}]"' in message
    cupy, reason = backend.cupy_status()
    assert cupy is None and reason == message


def test_a_cupy_that_compiles_is_chosen(monkeypatch):
    cupy = stand_in_cupy(monkeypatch)
    assert backend.cupy_status() == (cupy, "ok")
    assert backend.set_backend("cupy") is cupy and backend.set_backend(None) is cupy


def test_a_missing_cupy_names_the_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    monkeypatch.setitem(backend._state, "xp", backend._state["xp"])
    monkeypatch.delenv("TINYGAN_BACKEND", raising=False)
    with pytest.raises(backend.BackendUnavailable, match=r'requested but cupy is not installed .*"\.\[cuda12\]"'):
        backend.set_backend("cupy")
    assert backend.set_backend(None) is np


@pytest.mark.parametrize("cuda", [12, 13])
def test_several_processes_on_cupy_without_nccl_stop_with_one_line_naming_the_extra(monkeypatch, cuda):
    cupy = stand_in_cupy(monkeypatch, nccl=False, cuda=cuda)
    monkeypatch.setitem(backend._state, "xp", cupy)
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setattr(parallel, "MPIProcesses", lambda: types.SimpleNamespace(size=2, local_size=1, local_rank=0))
    with pytest.raises(backend.BackendUnavailable) as raised:
        parallel.connect()
    message = str(raised.value)
    assert "\n" not in message and "NCCL" in message and f'pip install -e ".[cuda{cuda}-nccl]"' in message
    cupy.cuda.nccl.available = True
    assert parallel.connect().size == 2
