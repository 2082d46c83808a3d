"""MNIST: find the four standard files, verify them, read their IDX contents.

Where tinygan looks for MNIST (`find_mnist`), in this order:

1. the `data_dir` argument (the `--data-dir` flag of the command-line tools),
2. the environment variable `TINYGAN_DATA`,
3. the cache folder: `$TINYGAN_CACHE/mnist`, else `$XDG_CACHE_HOME/tinygan/mnist`,
   else `~/.cache/tinygan/mnist`,
4. a download of the four `.gz` files into the cache folder from public mirrors.

A folder may hold the `.gz` files or the raw, uncompressed IDX files
(`train-images-idx3-ubyte`, ...); where both are present the `.gz` file is used.
How a file is verified before use:

- a `.gz` file must have the published sha256 (and so the published size);
- a raw file must start with the right IDX header (magic number and dimensions) and
  have exactly the expected length. Its pixels are not checksummed: no checksums of
  the uncompressed files are published.

A folder given explicitly (argument or `TINYGAN_DATA`) that lacks a file or holds a
corrupt one is an error (`MnistError`). So is a corrupt file in the cache folder; files
missing from the cache are downloaded. A download that fails (no network) is not an
error: `find_mnist` logs one line and returns None.
"""

import gzip
import http.client
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT_S = 10.0

IMAGES_MAGIC = 0x00000803  # uint8 data, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8 data, 1 dimension


class MnistError(ValueError):
    """MNIST is missing, corrupt or unreadable; the message names the file."""


@dataclass(frozen=True)
class MnistFile:
    """One of the four MNIST files: `gz_bytes` and `sha256` describe the published `.gz`
    file (tinygan checks the sha256); `shape` is the shape of the array it holds."""

    raw_name: str
    gz_bytes: int
    sha256: str
    shape: tuple

    @property
    def gz_name(self):
        return self.raw_name + ".gz"

    @property
    def magic(self):
        return IMAGES_MAGIC if len(self.shape) == 3 else LABELS_MAGIC

    @property
    def raw_bytes(self):
        """Exact length of the uncompressed file: header (4 + 4 per dimension) + data."""
        return 4 + 4 * len(self.shape) + int(np.prod(self.shape))


MNIST_FILES = tuple(MnistFile(*row) for row in (
    # raw name, .gz bytes, sha256 of the .gz file, array shape
    ("train-images-idx3-ubyte", 9_912_422,
     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", (60000, 28, 28)),
    ("train-labels-idx1-ubyte", 28_881,
     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", (60000,)),
    ("t10k-images-idx3-ubyte", 1_648_877,
     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", (10000, 28, 28)),
    ("t10k-labels-idx1-ubyte", 4_542,
     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", (10000,)),
))
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES
SPLITS = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}


def default_cache_dir():
    """The folder where tinygan keeps (and downloads) MNIST, as a Path."""
    if os.environ.get("TINYGAN_CACHE"):
        return Path(os.environ["TINYGAN_CACHE"]).expanduser() / "mnist"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "tinygan" / "mnist"
    return Path.home() / ".cache" / "tinygan" / "mnist"


def how_to_point_at_mnist():
    """A few lines telling the user how to give tinygan the MNIST files."""
    names = ", ".join(f.gz_name for f in MNIST_FILES)
    return (
        f"Put the four MNIST files ({names}; or the same names without .gz, uncompressed)\n"
        f"in a folder and pass it with --data-dir DIR, or set TINYGAN_DATA=DIR,\n"
        f"or place them in the cache folder {default_cache_dir()}\n"
        f"(tinygan downloads them there by itself when it has network access)."
    )


# ----------------------------------------------------------------------------- reading

def read_idx(path):
    """Read an IDX file of uint8 data, gzip-compressed or raw.

    The header is big-endian: a magic number 0x00000803 (3-d images) or 0x00000801
    (1-d labels), then one uint32 per dimension, then the data, which must have
    exactly the length the dimensions imply.

    Returns: np.ndarray uint8 of the shape in the header, e.g. (N, 28, 28) or (N,).
    Raises MnistError naming the file when it is unreadable, has a bad magic number,
    or is truncated or too long.
    """
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as stream:
            content = stream.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise MnistError(f"{path}: cannot read IDX file ({error})") from error
    return _parse_idx(content, path)


def _open_maybe_gzip(path):
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if is_gzip else open(path, "rb")


def _parse_idx(content, path):
    magic = _read_magic(content, path)
    ndim = magic & 0xFF
    header_bytes = 4 + 4 * ndim
    if len(content) < header_bytes:
        raise MnistError(f"{path}: truncated IDX header ({len(content)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(content, ">u4", count=ndim, offset=4))
    expected = header_bytes + int(np.prod(shape))
    if len(content) != expected:
        problem = "truncated" if len(content) < expected else "too long"
        raise MnistError(
            f"{path}: IDX file {problem}: header says shape {shape}, so {expected} bytes, "
            f"but it has {len(content)} bytes")
    return np.frombuffer(content, np.uint8, offset=header_bytes).reshape(shape)


def _read_magic(content, path):
    if len(content) < 4:
        raise MnistError(f"{path}: truncated IDX header ({len(content)} bytes)")
    magic = int.from_bytes(content[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise MnistError(
            f"{path}: bad IDX magic number 0x{magic:08x} "
            f"(expected 0x{IMAGES_MAGIC:08x} for images or 0x{LABELS_MAGIC:08x} for labels)")
    return magic


# ------------------------------------------------------------------------ verification

def sha256_of(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_gz(path, spec):
    """Raise MnistError unless `path` is byte-identical to the published `spec.gz_name`."""
    actual = sha256_of(path)
    if actual != spec.sha256:
        size = Path(path).stat().st_size
        raise MnistError(
            f"{path}: checksum mismatch for {spec.gz_name}: expected sha256 {spec.sha256} "
            f"({spec.gz_bytes} bytes), got sha256 {actual} ({size} bytes). "
            f"The file is corrupt or not the original; delete or replace it.")


def verify_raw(path, spec):
    """Raise MnistError unless `path` has `spec`'s IDX header and exact length."""
    expected_header = b"".join(
        int(n).to_bytes(4, "big") for n in (spec.magic, *spec.shape))
    with open(path, "rb") as stream:
        header = stream.read(len(expected_header))
    size = Path(path).stat().st_size
    if header != expected_header or size != spec.raw_bytes:
        raise MnistError(
            f"{path}: not a valid {spec.raw_name}: expected IDX header "
            f"{expected_header.hex(' ', 4)} and {spec.raw_bytes} bytes, got header "
            f"{header.hex(' ', 4)} and {size} bytes (truncated or corrupt?)")


def _locate(directory, spec):
    """The verified file for `spec` in `directory` (.gz preferred), or None if absent."""
    gz_path, raw_path = directory / spec.gz_name, directory / spec.raw_name
    if gz_path.is_file():
        verify_gz(gz_path, spec)
        return gz_path
    if raw_path.is_file():
        verify_raw(raw_path, spec)
        return raw_path
    return None


def _missing_files(directory):
    """Names of the MNIST files absent from `directory`; raises MnistError if one is corrupt."""
    return [spec.gz_name for spec in MNIST_FILES if _locate(directory, spec) is None]


# --------------------------------------------------------------------------- download

def _open_url(url, timeout):
    """Open `url` for reading bytes (tests replace this to stay off the network)."""
    return urllib.request.urlopen(url, timeout=timeout)


def _download_one(spec, directory, timeout):
    """Fetch `spec.gz_name` into `directory` from the first mirror that serves it intact.

    Writes to a temporary file in `directory`, checks its sha256, then renames it into
    place, so a partial or corrupt download never appears under the real name.
    Returns None on success, else a short reason why every mirror failed.
    """
    reasons = []
    for mirror in MIRRORS:
        url = mirror + spec.gz_name
        handle, temp_name = tempfile.mkstemp(prefix=spec.gz_name + ".", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out, _open_url(url, timeout) as response:
                shutil.copyfileobj(response, out)
            verify_gz(temp_name, spec)
            os.replace(temp_name, directory / spec.gz_name)
            return None
        # urllib's URLError and socket timeouts are OSErrors.
        except (OSError, http.client.HTTPException, MnistError) as error:
            reasons.append(f"{url}: {error}")
        finally:
            if os.path.exists(temp_name):
                os.remove(temp_name)
    return "; ".join(reasons)


def download_mnist(directory, log=print, timeout=DOWNLOAD_TIMEOUT_S):
    """Download the MNIST `.gz` files missing from `directory`. Returns True on success.

    On failure (no network, every mirror failing) logs one line and returns False.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log(f"tinygan: cannot create the MNIST cache folder {directory} ({error})")
        return False
    missing = [spec for spec in MNIST_FILES if _locate(directory, spec) is None]
    if missing:
        log(f"tinygan: downloading MNIST into {directory}")
    for spec in missing:
        reason = _download_one(spec, directory, timeout)
        if reason is not None:
            log(f"tinygan: could not download MNIST ({reason})")
            return False
    return True


# ---------------------------------------------------------------------------- finding

def find_mnist(data_dir=None, download=True, log=print):
    """The folder holding the four verified MNIST files, or None if there is none.

    Search order: `data_dir`, then `$TINYGAN_DATA`, then the cache folder (see
    `default_cache_dir`), then (if `download`) a download into the cache folder.
    An explicit folder (the first two) is used alone: if it lacks a file or one is
    corrupt, MnistError is raised. A corrupt file in the cache raises MnistError too.
    Returns: Path, or None when MNIST is not cached and cannot be downloaded.
    """
    explicit = [(data_dir, "the data_dir argument (--data-dir)"),
                (os.environ.get("TINYGAN_DATA") or None, "TINYGAN_DATA")]
    for directory, origin in explicit:
        if directory is not None:
            return _check_explicit_dir(Path(directory).expanduser(), origin)
    cache = default_cache_dir()
    if cache.is_dir() and not _missing_files(cache):
        return cache
    if download and download_mnist(cache, log=log):
        return cache
    return None


def _check_explicit_dir(directory, origin):
    if not directory.is_dir():
        raise MnistError(f"MNIST folder {directory} (from {origin}) does not exist")
    missing = _missing_files(directory)
    if missing:
        raise MnistError(
            f"MNIST folder {directory} (from {origin}) lacks {', '.join(missing)} "
            f"(or the same without .gz)")
    return directory


def load_mnist(split, data_dir=None, download=True, log=print):
    """Load one MNIST split.

    split: 'train' (60000 digits) or 'test' (10000 digits).
    Returns: images uint8 (N, 28, 28), white digit on black (0 = black), and
             labels uint8 (N,) in 0..9, in the original order.
    Raises MnistError if MNIST cannot be found or a file is corrupt.
    """
    check_split(split)
    directory = find_mnist(data_dir, download=download, log=log)
    if directory is None:
        raise MnistError("MNIST not found.\n" + how_to_point_at_mnist())
    return read_split(directory, split)


def check_split(split):
    """Raise a ValueError unless split is 'train' or 'test'."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def read_split(directory, split):
    """Images (N, 28, 28) and labels (N,), uint8, of one split from a folder :func:`find_mnist` returned."""
    images_spec, labels_spec = SPLITS[split]
    return read_idx(_locate(directory, images_spec)), read_idx(_locate(directory, labels_spec))
