"""`benchmarks/split_shift.py` must see a shift between two splits where there is one and not where there is none:
its verdict on GunPoint and JapaneseVowels (no input shift) is only worth something if both hold."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
import split_shift  # noqa: E402


def _splits(shift: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(160, 2, 24))
    X[120:, 1] *= 1 + shift        # the last 40 series are the "test" split; a shift widens one channel
    domain = np.r_[np.zeros(120, int), np.ones(40, int)]
    return X, domain


def test_domain_classifier_finds_a_shift_and_not_a_random_split():
    for shift, expect_high in ((2.0, True), (0.0, False)):
        X, domain = _splits(shift)
        featurize, model = split_shift.classifiers(0)['forest (channel summaries)']
        auc = split_shift.domain_auc(featurize(X), domain, np.arange(len(X)), model, 0)
        assert (auc > 0.9) if expect_high else (auc < 0.7), (shift, auc)


def test_nearest_neighbour_ratio_rises_with_a_shift():
    for shift, lo, hi in ((2.0, 1.3, np.inf), (0.0, 0.8, 1.2)):
        X, domain = _splits(shift)
        ratio = split_shift.nearest_ratio(split_shift.distances(X, np.arange(len(X))), domain == 1)
        assert lo < ratio < hi, (shift, ratio)


def test_windows_of_one_recording_are_not_each_others_neighbours():
    X = np.random.default_rng(0).normal(size=(3, 1, 4))
    D = split_shift.distances(X, np.array([0, 0, 1]))
    assert np.isinf(D[0, 1]) and np.isinf(D[1, 0]) and np.isinf(np.diag(D)).all() and np.isfinite(D[0, 2])


def test_folds_keep_a_recordings_windows_together_so_its_identity_does_not_pass_for_a_shift():
    """HAR's windows overlap within a recording, and test subjects are whole recordings: folds that split a recording
    let the classifier recognise the recording, not a shift. Here no domain differs from the other in distribution,
    only in which recordings it holds: with the recordings as groups the AUC stays near chance; scored window by
    window (every window its own group) the same features look like a large shift."""
    rng = np.random.default_rng(0)
    n_rec, per = 80, 5                                                     # enough recordings for a steady AUC
    offsets = rng.normal(0, 2, size=(n_rec, 3, 1))                          # each recording its own level
    X = (offsets[:, None] + rng.normal(0, .1, size=(n_rec, per, 3, 24))).reshape(n_rec * per, 3, 24)
    groups = np.repeat(np.arange(n_rec), per)
    domain = np.repeat(rng.permutation(np.arange(n_rec) % 2), per)          # half the recordings are "test"
    featurize, model = split_shift.classifiers(0)['forest (channel summaries)']
    grouped = split_shift.domain_auc(featurize(X), domain, groups, model, 0)
    leaky = split_shift.domain_auc(featurize(X), domain, np.arange(len(X)), model, 0)
    assert grouped < 0.7 and leaky > 0.9, (grouped, leaky)
