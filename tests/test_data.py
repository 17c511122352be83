import pytest
import torch

from testtime.data import ByteTokenizer, CharTokenizer, load_digits, random_windows, text_corpus


def test_digits_are_offline_normalised_and_split():
    d = load_digits(size=16)
    assert d.train_x.shape[1:] == (1, 16, 16) and d.train_x.dtype == torch.float32
    assert 0.0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1.0
    assert len(d.train_y) + len(d.test_y) == 1797
    assert set(d.test_y.tolist()) == set(range(10))
    again = load_digits(size=16)
    assert torch.equal(d.test_x, again.test_x)
    with pytest.raises(ValueError, match="size="):
        load_digits(size=4)


def test_corpus_is_real_text_and_tokenizers_round_trip():
    text = text_corpus(200_000)
    assert len(text) == 200_000 and "def " in text and "import" in text
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size < 100
    sample = text[1000:1200]
    assert tok.decode(tok.encode(sample)) == sample
    assert ByteTokenizer().decode(ByteTokenizer().encode("héllo")) == "héllo"
    with pytest.raises(ValueError, match="not in the tokenizer"):
        CharTokenizer("ab").encode("abc")


def test_random_windows_are_shifted_pairs():
    tokens = torch.arange(100)
    x, y = random_windows(tokens, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y, x + 1)


def _write_cifar_fixture(root, n=6, seed=0):
    """A tiny CIFAR-10 in the official ``cifar-10-batches-py`` layout: five training batches, a
    test batch and batches.meta, each a pickled dict with ``data`` uint8 (N, 3072) and
    ``labels``. Returns the folder and the arrays written, batch by batch."""
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "data": data, "labels": labels,
                         "filenames": [f"{i}.png" for i in range(n)]}, handle, protocol=2)
        written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"],
                     "num_cases_per_batch": n, "num_vis": 3072}, handle, protocol=2)
    return folder, written


def _check_splits(splits, written, n=6):
    assert splits.train_x.shape == (5 * n, 3, 32, 32) and splits.test_x.shape == (n, 3, 32, 32)
    assert splits.train_x.dtype == torch.float32 and splits.num_classes == 10
    data, labels = written["data_batch_2"]
    # row 1 of batch 2: 3072 bytes = the red, then green, then blue 32x32 plane
    image = splits.train_x[n + 1]
    assert abs(float(image[0, 0, 0]) - data[1, 0] / 255) < 1e-6
    assert abs(float(image[1, 0, 1]) - data[1, 1024 + 1] / 255) < 1e-6
    assert abs(float(image[2, 31, 31]) - data[1, 3071] / 255) < 1e-6
    assert splits.train_y[n : 2 * n].tolist() == labels
    assert splits.test_y.tolist() == written["test_batch"][1]


def test_cifar10_reads_the_official_layout_without_network(tmp_path, monkeypatch):
    from testtime import data as data_module

    def no_network(*args, **kwargs):
        raise AssertionError("load_cifar10 downloaded although the batches were there")

    monkeypatch.setattr(data_module, "download_cifar10", no_network)
    _, written = _write_cifar_fixture(tmp_path)
    _check_splits(data_module.load_cifar10(root=tmp_path), written)


def test_cifar10_downloads_checks_and_unpacks_the_archive_once(tmp_path, monkeypatch):
    import tarfile

    from testtime import data as data_module

    source, written = _write_cifar_fixture(tmp_path / "source")
    archive = tmp_path / "fixture.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="cifar-10-batches-py")
    calls = []

    def fake_download(destination, url=data_module.CIFAR10_URL, timeout=60.0):
        calls.append(url)
        destination.write_bytes(archive.read_bytes())

    monkeypatch.setattr(data_module, "download_cifar10", fake_download)
    monkeypatch.setattr(data_module, "CIFAR10_MD5", data_module._md5(archive))
    root = tmp_path / "cache"
    _check_splits(data_module.load_cifar10(root=root), written)
    _check_splits(data_module.load_cifar10(root=root), written)  # from the unpacked batches
    assert calls == [data_module.CIFAR10_URL]
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(
        data_module.CIFAR10_FILES)

    monkeypatch.setattr(data_module, "CIFAR10_MD5", "0" * 32)  # a corrupted download
    with pytest.raises(RuntimeError, match="fails its MD5 check"):
        data_module.load_cifar10(root=tmp_path / "other")
    with pytest.raises(RuntimeError, match="download=False"):
        data_module.load_cifar10(root=tmp_path / "empty", download=False)


def test_cifar10_rejects_a_malformed_batch(tmp_path):
    import pickle

    from testtime.data import load_cifar10

    folder, _ = _write_cifar_fixture(tmp_path)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({"data": torch.zeros(4, 100, dtype=torch.uint8).numpy(), "labels": [0] * 4},
                    handle)
    with pytest.raises(RuntimeError, match=r"not a CIFAR-10 batch.*\(4, 100\)"):
        load_cifar10(root=tmp_path, download=False)


def test_full_mode_falls_back_to_digits_with_a_clear_message(tmp_path, monkeypatch, capsys):
    from testtime import data as data_module
    from testtime.tta.source import load_data

    def offline(destination, url=data_module.CIFAR10_URL, timeout=60.0):
        raise RuntimeError(f"could not download {url}: <urlopen error no network>")

    monkeypatch.setenv("TESTTIME_CACHE", str(tmp_path))
    monkeypatch.setattr(data_module, "download_cifar10", offline)
    splits, name = load_data("auto", quick=False)
    message = capsys.readouterr().out
    assert name == "digits" and splits.train_x.shape[1:] == (1, 16, 16)
    assert "CIFAR-10 is not available (could not download https://" in message, message
    assert "falling back to the bundled digits" in message, message
