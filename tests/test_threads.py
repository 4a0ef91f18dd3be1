"""striate.set_num_threads holds oneDNN's pool and NumPy's BLAS to the same count."""
import pytest
import threadpoolctl

import striate
from striate.kernels import onednn


@pytest.fixture
def restore_threads():
    before = striate.get_num_threads()
    yield
    striate.set_num_threads(before)


def _blas_threads():
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


@pytest.mark.parametrize("n", [1, 2])
def test_set_num_threads_sets_both_pools(n, restore_threads):
    striate.set_num_threads(n)
    assert striate.get_num_threads() == n
    assert _blas_threads() == {n}
    if onednn.available():
        assert onednn.get_num_threads() == n


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="set_num_threads: n must be a positive int"):
        striate.set_num_threads(bad)
