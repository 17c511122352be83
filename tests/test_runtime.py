import pytest
import torch

import testtime
from testtime.runtime import parse_device, parse_quick, parse_seed, setup


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("auto", None), (True, True), ("true", True), ("1", True), (1, True),
     ("yes", True), (False, False), ("false", False), (0, False), ("off", False)],
)
def test_quick_spellings(value, expected):
    assert parse_quick(value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, [], "truee"])
def test_quick_rejects_nonsense_with_a_clear_message(value):
    with pytest.raises(ValueError, match=r"QUICK=.*not valid.*'true'/'false'"):
        parse_quick(value)


def test_seed_validation():
    assert parse_seed(7) == 7 and parse_seed("7") == 7
    for bad in (-1, "-1", 1.5, True, 2**32, "seven"):
        with pytest.raises(ValueError, match=r"SEED=.*not valid.*integer"):
            parse_seed(bad)


def test_device_validation():
    assert parse_device("cpu") == torch.device("cpu")
    assert parse_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match=r"DEVICE='gpu' is not valid; choose one of"):
        parse_device("gpu")
    with pytest.raises(ValueError, match=r"DEVICE=.*not valid"):
        parse_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"DEVICE='cuda' is not valid on this machine"):
            parse_device("cuda")


def test_setup_resolves_modes(monkeypatch):
    monkeypatch.delenv("TESTTIME_QUICK", raising=False)
    run = setup(QUICK=None, DEVICE="cpu", SEED=3, verbose=False)
    assert run.quick and run.mode == "quick" and run.seed == 3  # auto: quick on CPU
    assert setup(QUICK="false", DEVICE="cpu", verbose=False).quick is False
    assert run.pick(quick=1, full=2) == 1
    monkeypatch.setenv("TESTTIME_QUICK", "1")
    assert setup(QUICK=False, DEVICE="cpu", verbose=False).quick is True  # the variable forces
    monkeypatch.setenv("TESTTIME_QUICK", "sometimes")
    with pytest.raises(ValueError, match="TESTTIME_QUICK"):
        setup(DEVICE="cpu", verbose=False)


def test_setup_seeds_everything(monkeypatch):
    monkeypatch.delenv("TESTTIME_QUICK", raising=False)
    setup(SEED=5, DEVICE="cpu", verbose=False)
    a = torch.rand(3)
    run = setup(SEED=5, DEVICE="cpu", verbose=False)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(torch.rand(2, generator=run.generator(1)), torch.rand(2, generator=run.generator(1)))


def test_checks_name_the_parameter():
    with pytest.raises(ValueError, match=r"loss_type='x' is not valid; choose one of \('a', 'b'\)"):
        testtime.check_choice("loss_type", "x", ["a", "b"])
    with pytest.raises(ValueError, match=r"lr=0 is not valid; expected a number > 0"):
        testtime.check_positive("lr", 0)
    assert testtime.check_positive("beta", 0, allow_zero=True) == 0


def test_thread_count_comes_from_argument_then_environment_then_rule(monkeypatch):
    from testtime import runtime

    before = torch.get_num_threads()
    monkeypatch.delenv("TESTTIME_QUICK", raising=False)
    monkeypatch.delenv("TESTTIME_THREADS", raising=False)
    cpu = torch.device("cpu")
    try:
        monkeypatch.setattr(runtime, "QUICK_CPU_THREADS", None)
        assert runtime.choose_threads(None, cpu, quick=True) is None  # torch's default stays
        monkeypatch.setattr(runtime, "QUICK_CPU_THREADS", 1)
        assert runtime.choose_threads(None, cpu, quick=True) == 1  # the rule: quick on a CPU
        assert runtime.choose_threads(None, cpu, quick=False) is None  # not in full mode
        monkeypatch.setenv("TESTTIME_THREADS", "2")
        assert runtime.choose_threads(None, cpu, quick=True) == 2  # the variable beats the rule
        assert runtime.choose_threads(3, cpu, quick=True) == 3  # the argument beats both
        setup(DEVICE="cpu", threads=1, verbose=False)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("TESTTIME_THREADS", "many")
        with pytest.raises(ValueError, match=r"TESTTIME_THREADS='many' is not valid"):
            setup(DEVICE="cpu", verbose=False)
        with pytest.raises(ValueError, match=r"threads=0 is not valid; expected None, 'auto'"):
            setup(DEVICE="cpu", threads=0, verbose=False)
    finally:
        torch.set_num_threads(before)
