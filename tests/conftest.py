"""Shared fixtures: small real data (sktime's bundled BasicMotions, no download) and quiet, deterministic torch."""
import os
import warnings

import numpy as np
import pytest
import torch

warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=UserWarning)
# One process alone takes 2 threads, which suit an idle 2-core machine; each of pytest-xdist's workers (`make test` runs
# two) takes 1, since two processes of 2 threads on 2 cores make each small op wait for a descheduled thread. A shared
# machine runs the suite with TIMEMAE_TEST_THREADS=1
_THREADS = 1 if os.environ.get('PYTEST_XDIST_WORKER') else 2
torch.set_num_threads(int(os.environ.get('TIMEMAE_TEST_THREADS', _THREADS)))

# a small TimeMAE so tests about behaviour (not the paper's size) run in seconds
SMALL = dict(window=10, d_model=32, n_layers=2, n_heads=2, d_ff=64)


def standardize_by_channel():
    """tsai's per-channel standardisation from the whole training split: its default statistics come from one batch that
    tsai's loader draws from numpy's global random state, which the tests before had left anywhere (a failure could not
    be reproduced alone)."""
    from tsai.data.preprocessing import TSStandardize
    return TSStandardize(by_var=True, use_single_batch=False)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """The commands the tests run in this process (`bench`, `probe`, `speed` with `--threads`) set torch's threads for
    the whole process: every later test then ran on another number of threads than a test run alone."""
    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n: torch.set_num_threads(n)


@pytest.fixture(scope='session')
def basic_motions():
    "BasicMotions train/test: float32 [40, 6, 100] each, string labels, 4 classes."
    from tsai_timemae.demo import load_basic_motions
    return load_basic_motions()


@pytest.fixture
def splits(basic_motions):
    from tsai.data.validation import get_splits
    return get_splits(basic_motions[1], valid_size=0.25, stratify=True, random_state=0, shuffle=True, show_plot=False)


@pytest.fixture
def udls(basic_motions, splits):
    "Unlabelled dls (X only), standardized by tsai's batch transform."
    from tsai.data.core import get_ts_dls
    return get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[standardize_by_channel()], bs=10)


@pytest.fixture
def dls(basic_motions, splits):
    "Labelled dls."
    from tsai.data.core import TSClassification, get_ts_dls
    X, y = basic_motions[:2]
    return get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], batch_tfms=[standardize_by_channel()], bs=10)


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k


@pytest.fixture
def seed():
    from fastai.torch_core import set_seed
    set_seed(0, reproducible=True)
    np.random.seed(0)
    return 0
