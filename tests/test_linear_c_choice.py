"""The linear evaluation's C chosen on held-out recordings (`benchmarks/linear_c_on_valid.py --valid recordings`) or
by cross-validation over train + validation (`--valid cv`): the folds never put one recording on both sides (cover
every series once), the choice is the best-scoring C (ties to the one nearest 1), and the paired table pairs seeds."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from linear_c_on_valid import GRID, choose_C, cv_folds, paired, recording_folds  # noqa: E402

from tsai_timemae.data import recording_groups  # noqa: E402


def _recordings(n_rec=20, k=6, t=8, hop=4, seed=0):
    "`n_rec` recordings of `k` sliding windows each, two classes; windows of a random split share recordings."
    rng = np.random.default_rng(seed)
    X, y = [], []
    for r in range(n_rec):
        x = rng.normal(size=(1, t + hop * (k - 1))).astype(np.float32) + (r % 2)
        X += [x[:, s * hop:s * hop + t] for s in range(k)]; y += [r % 2] * k
    order = rng.permutation(len(X))
    return np.stack(X)[order], np.array(y)[order]


def test_recording_folds_keep_each_recording_on_one_side():
    X, y = _recordings()
    tr, va = np.arange(0, 100), np.arange(100, 120)
    y_tv, folds, facts = recording_folds(X[tr], y[tr], X[va], y[va])
    groups = recording_groups(np.concatenate([X[tr], X[va]]))
    assert facts['recordings'] == 20 and facts['cv_shared'] == 0. and facts['file_split_shared'] > 0.5
    assert len(folds) == 5 and np.array_equal(np.sort(np.concatenate([v for _, v in folds])), np.arange(120))
    assert all(not set(groups[a]) & set(groups[b]) for a, b in folds)
    assert np.array_equal(y_tv, np.concatenate([y[tr], y[va]]))


class _Fixed:
    "A stand-in probe whose validation score is set per C."
    def __init__(self, score): self.s = score
    def score(self, f, y): return self.s


def test_choose_c_takes_the_best_and_breaks_ties_towards_one():
    scores = {0.001: .5, 0.01: .9, 0.1: .9, 1.: .8, 10.: .7, 100.: .9}
    valid, chosen = choose_C(None, None, None, None, fit=lambda f, y, C: _Fixed(scores[C]))
    assert valid == scores and chosen == 0.1                                  # of 0.01, 0.1 and 100: nearest 1
    assert choose_C(None, None, None, None, fit=lambda f, y, C: _Fixed(1. if C in (0.01, 1.) else 0.))[1] == 1.
    assert set(GRID) == set(scores)


def test_cv_folds_cover_the_pooled_series_once_and_stratify():
    y_tr, y_va = np.array([0, 1] * 20), np.array([0, 1] * 5)
    y_tv, folds = cv_folds(y_tr, y_va)
    assert np.array_equal(y_tv, np.concatenate([y_tr, y_va])) and len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate([v for _, v in folds])), np.arange(50))
    assert all(np.bincount(y_tv[v]).tolist() == [5, 5] for _, v in folds)


def test_paired_table_pairs_each_seed_with_its_own_untrained_encoder():
    def rec(seed, enc, c1, chosen, **kw):
        return {'dataset': 'D', 'seed': seed, 'encoder': enc, 'valid': 'cv', 'window': 9, 'pretrain_epochs': 100,
                'test_at_C1': c1, 'test_at_chosen': chosen, **kw}
    rows = [rec(0, 'untrained', .8, .8), rec(0, 'pretrained', .7, .9), rec(1, 'untrained', .6, .7),
            rec(1, 'pretrained', .7, .6), rec(2, 'pretrained', .99, .99),            # no twin: left out
            rec(0, 'pretrained', .1, .1, recipe='authors_preset')]                   # another recipe: its own row
    line = next(l for l in paired(rows) if l.startswith('| D | library default'))
    assert '| 2 | +0.00 ± 10.00 | 1 of 2 | +0.00 ± 10.00 | 1 of 2 |' in line
