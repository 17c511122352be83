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
