import os

import pytest
import torch

from tfswa.precision import NATIVE_BF16_ENV, native_bf16


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--native-bf16", choices=["0", "1"], default=None,
                     help="run as if the CPU had (1) or lacked (0) native bfloat16: sets TFSWA_NATIVE_BF16 for the "
                          "tests and the processes they start (CI runs the -m precision tests both ways)")


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("--native-bf16")
    if value is not None:
        os.environ[NATIVE_BF16_ENV] = value


def pytest_report_header(config: pytest.Config) -> str:
    forced = os.environ.get(NATIVE_BF16_ENV)
    how = f"forced by {NATIVE_BF16_ENV}={forced}" if forced else "the hardware's"
    return f"tfswa: native bf16 {native_bf16('cpu')} ({how}); torch CPU capability " \
           f"{torch.backends.cpu.get_cpu_capability()}"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield
