"""Offline data: scikit-learn's bundled handwritten digits and a real-text corpus read from
the Python standard library's own sources. Neither needs a download. CIFAR-10 (full-mode
Part II only) is downloaded once and read from the official pickled batches."""

from __future__ import annotations

import functools
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ImageSplits:
    """Train/test tensors: images ``(N, C, H, W)`` in [0, 1] and int64 labels ``(N,)``."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int


@functools.lru_cache(maxsize=8)
def load_digits(size: int = 16, test_fraction: float = 0.3, seed: int = 0) -> ImageSplits:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn, upsampled to ``size``.

    Bilinear upsampling (8 -> 16 or 32) gives corruptions such as blur and pixelation room to
    mean something. The split is stratified-free but seeded, so it is the same everywhere.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size={size!r} is not valid; expected an int >= 8")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} is not valid; expected a float in (0, 1)")
    bunch = sk_load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return ImageSplits(x[train], y[train], x[test], y[test], num_classes=10)


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.is_file())


@functools.lru_cache(maxsize=4)
def text_corpus(max_chars: int = 2_000_000) -> str:
    """Real English-and-code text every machine has: the Python standard library's sources.

    Top-level ``*.py`` modules, sorted by name, concatenated up to ``max_chars`` characters,
    restricted to printable ASCII plus newline and tab (so a character vocabulary stays ~100).
    """
    if not isinstance(max_chars, int) or max_chars < 1000:
        raise ValueError(f"max_chars={max_chars!r} is not valid; expected an int >= 1000")
    parts, total = [], 0
    for path in _stdlib_files():
        text = path.read_text(encoding="utf-8", errors="ignore")
        text = "".join(c for c in text if c == "\n" or c == "\t" or 32 <= ord(c) < 127)
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    corpus = "".join(parts)[:max_chars]
    if len(corpus) < max_chars // 2:
        raise RuntimeError(f"found only {len(corpus)} characters of standard-library source")
    return corpus


class CharTokenizer:
    """Character-level tokenizer over a fixed alphabet."""

    def __init__(self, alphabet: str) -> None:
        if len(set(alphabet)) != len(alphabet):
            raise ValueError("alphabet is not valid: it has repeated characters")
        self.alphabet = alphabet
        self.stoi = {c: i for i, c in enumerate(alphabet)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the tokenizer's alphabet") from None

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.alphabet[i] for i in ids)


class ByteTokenizer:
    """Byte-level tokenizer: UTF-8 bytes, vocabulary 256."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return bytes(ids).decode("utf-8", errors="replace")


def random_windows(
    tokens: torch.Tensor, batch_size: int, length: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A language-modelling batch: random windows ``x`` of ``length`` tokens, ``y`` = x shifted."""
    if tokens.numel() <= length + 1:
        raise ValueError(f"length={length} is not valid; the token stream has {tokens.numel()} tokens")
    starts = torch.randint(0, tokens.numel() - length - 1, (batch_size,), generator=generator)
    idx = starts[:, None] + torch.arange(length + 1)[None, :]
    window = tokens[idx]
    return window[:, :-1], window[:, 1:]


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"  # the archive's folder, also what torchvision leaves
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = (*CIFAR10_TRAIN, "test_batch", "batches.meta")


def _md5(path: Path) -> str:
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_cifar10(destination: Path, url: str = CIFAR10_URL, timeout: float = 60.0) -> None:
    """Fetch the official CIFAR-10 python archive into ``destination`` (standard library only).

    Raises RuntimeError with the reason when it cannot (no network, a proxy, ...).
    """
    import shutil
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out)
    except Exception as err:  # noqa: BLE001 - no network, proxy, ...
        destination.unlink(missing_ok=True)
        raise RuntimeError(f"could not download {url}: {err}") from err


def _read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickled batch of the official layout: ``data`` uint8 ``(N, 3072)`` (the red, green
    and blue 32x32 planes of each image, row-major) and ``labels`` (N ints in 0-9)."""
    import pickle

    import numpy as np

    with open(path, "rb") as handle:
        entry = pickle.load(handle, encoding="latin1")  # noqa: S301 - checksummed or local file
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = torch.tensor(list(entry["labels"]), dtype=torch.long)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise RuntimeError(f"{path} is not a CIFAR-10 batch: data of shape {data.shape} "
                           f"with {len(labels)} labels (expected (N, 3072) and N labels)")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
        raise RuntimeError(f"{path} is not a CIFAR-10 batch: labels outside 0-9")
    return torch.from_numpy(data.copy()).view(-1, 3, 32, 32), labels


def load_cifar10(root: str | Path | None = None, download: bool = True) -> ImageSplits:
    """CIFAR-10 (50k train / 10k test, 32x32 RGB in [0, 1]) from the official python batches.

    Reads ``root/cifar-10-batches-py`` (the layout of the official archive, which torchvision
    leaves too) when it holds every batch. Otherwise the archive is downloaded once into
    ``root`` (default: the course cache folder) with :func:`download_cifar10`, checked against
    its published MD5 and unpacked there; no torchvision needed. Raises RuntimeError with the
    reason when the data is missing and cannot be downloaded, or is corrupt.
    Quick mode never calls this (it needs the network).
    """
    import tarfile

    from testtime.cache import cache_dir

    folder = Path(root) if root is not None else cache_dir() / "cifar10"
    batches = folder / CIFAR10_FOLDER
    if not all((batches / name).is_file() for name in CIFAR10_FILES):
        archive = folder / "cifar-10-python.tar.gz"
        if not archive.exists() or _md5(archive) != CIFAR10_MD5:
            if not download:
                raise RuntimeError(f"CIFAR-10 not found in {batches} nor as {archive}, "
                                   "and download=False")
            folder.mkdir(parents=True, exist_ok=True)
            tmp = archive.with_suffix(".part")
            download_cifar10(tmp)
            if _md5(tmp) != CIFAR10_MD5:
                tmp.unlink(missing_ok=True)
                raise RuntimeError(f"the CIFAR-10 download fails its MD5 check ({CIFAR10_MD5})")
            tmp.replace(archive)
        batches.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:  # only the known members, by name
            for name in CIFAR10_FILES:
                member = tar.extractfile(f"{CIFAR10_FOLDER}/{name}")
                if member is None:
                    raise RuntimeError(f"{archive} has no {CIFAR10_FOLDER}/{name}")
                part = batches / f".{name}.part"
                part.write_bytes(member.read())
                part.replace(batches / name)

    def read(names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = zip(*(_read_cifar_batch(batches / name) for name in names))
        return torch.cat(xs).float() / 255.0, torch.cat(ys)

    train_x, train_y = read(CIFAR10_TRAIN)
    test_x, test_y = read(("test_batch",))
    return ImageSplits(train_x, train_y, test_x, test_y, num_classes=10)
