"""Do a data set's test inputs look like its training inputs? A check that reads no labels and trains no encoder.

On GunPoint and JapaneseVowels the linear evaluation on the test split and on held-out folds of the training split
disagree by 2 to 10 points (`benchmarks/notes.md`). Two explanations were left: the training split is too small to
show what the test split shows, or the test series differ from the training ones. This script tests the second
directly, from the inputs alone (test labels are not read), in two ways:

- **domain classifier**: standardised inputs (per channel, training statistics), flattened, labelled 0 for
  train + validation and 1 for test; `LogisticRegression` and a random forest on per-channel summaries (mean, std,
  min, max) scored by cross-validated ROC AUC (5 stratified folds; grouped by recording where windows overlap, as on
  HAR). 0.5 means the two splits cannot be told apart. On the small sets the AUC of the same classifiers with the
  split labels shuffled (`--permutations`) gives the chance level's 95th percentile.
- **nearest neighbour**: the median Euclidean distance from a test series to its nearest training series, over the
  median distance from a training series to its nearest other training series (windows of the same recording are
  not neighbours). Above 1: test series lie farther from the training ones than those lie from each other. Its
  p-value: the share of random re-splits of all the inputs (the same sizes) with a ratio at least as large.

    python benchmarks/split_shift.py BasicMotions ECG200 GunPoint UEA/Epilepsy JapaneseVowels UWaveGestureLibrary \\
        HAR Epilepsy --out benchmarks/split_shift/split_shift.json

Writes the table (markdown) to stdout and, with `--out`, the figures as JSON and the table beside it (`.md`).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tsai_timemae.data import load_dataset, recording_groups
from tsai_timemae.weights import atomic_write


def split_inputs(name: str):
    "Train + validation inputs, test inputs (float64, standardised per channel with the former's statistics)."
    ds = load_dataset(name)
    pool = np.concatenate([ds.X_train, ds.X_valid]).astype(np.float64)
    test = ds.X_test.astype(np.float64)
    mean, std = pool.mean((0, 2), keepdims=True), pool.std((0, 2), keepdims=True) + 1e-8
    return ds.name, (pool - mean) / std, (test - mean) / std


def groups_of(X) -> np.ndarray:
    "One id per series; windows cut from one recording with 50% overlap share one (HAR), other series their own."
    return recording_groups(X)


def summaries(X) -> np.ndarray:
    "Per-channel mean, standard deviation, minimum and maximum of each series `[n, channels, steps]`."
    return np.concatenate([X.mean(-1), X.std(-1), X.min(-1), X.max(-1)], axis=1)


def domain_auc(features, domain, groups, model, seed: int) -> float:
    "Cross-validated ROC AUC of telling test (1) from train + validation (0); folds keep each group whole."
    if len(np.unique(groups)) < len(groups):
        folds = StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(features, domain, groups)
    else:
        folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(features, domain)
    p = cross_val_predict(model, features, domain, cv=list(folds), method='predict_proba')[:, 1]
    return float(roc_auc_score(domain, p))


def classifiers(seed: int) -> dict:
    return {'linear (flattened series)': (lambda X: X.reshape(len(X), -1),
                                          make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))),
            'forest (channel summaries)': (summaries,
                                           RandomForestClassifier(100, min_samples_leaf=2, n_jobs=1, random_state=seed))}


def nearest_ratio(D: np.ndarray, is_test: np.ndarray) -> float:
    "Median test-to-nearest-train distance over median train-to-nearest-other-train distance (`D`: inf where excluded)."
    tr = ~is_test
    to_train = D[np.ix_(is_test, tr)].min(1)
    within = D[np.ix_(tr, tr)].min(1)
    return float(np.median(to_train) / np.median(within))


def distances(X, groups) -> np.ndarray:
    "Euclidean distances between flattened series (float32), inf between a series and itself or its recording."
    F = X.reshape(len(X), -1).astype(np.float32)
    sq = (F * F).sum(1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * F @ F.T, 0))
    D[groups[:, None] == groups[None, :]] = np.inf
    return D


def check(name: str, permutations: int, nn_permutations: int, large: int = 2000, seed: int = 0) -> dict:
    """The figures of one data set; above `large` series the classifiers' permutations are skipped (their chance level
    is then near 0.5 anyway) and the re-splits capped at 50, to keep the large sets to a few minutes."""
    t0 = time.time()
    name, pool, test = split_inputs(name)
    X = np.concatenate([pool, test])
    if len(X) > large: permutations, nn_permutations = 0, min(nn_permutations, 50)
    domain = np.r_[np.zeros(len(pool), int), np.ones(len(test), int)]
    groups = groups_of(X)
    rng = np.random.default_rng(seed)
    out = {'dataset': name, 'n_train_valid': len(pool), 'n_test': len(test), 'grouped': bool(len(np.unique(groups)) < len(X))}
    for what, (featurize, model) in classifiers(seed).items():
        F = featurize(X)
        auc = domain_auc(F, domain, groups, model, seed)
        null = [domain_auc(F, rng.permutation(domain), groups, model, seed) for _ in range(permutations)]
        out[what] = {'auc': auc, 'null_95': float(np.percentile(null, 95)) if null else None,
                     'null_mean': float(np.mean(null)) if null else None, 'permutations': permutations}
    D = distances(X, groups)
    ratio = nearest_ratio(D, domain == 1)
    null = [nearest_ratio(D, rng.permutation(domain) == 1) for _ in range(nn_permutations)]
    out['nearest'] = {'ratio': ratio, 'null_median': float(np.median(null)),
                      'p': float((1 + sum(r >= ratio for r in null)) / (1 + len(null))), 'permutations': nn_permutations}
    out['seconds'] = round(time.time() - t0, 1)
    return out


def table(rows) -> str:
    head = ('| data set | train + valid / test | linear AUC (chance 95%) | forest AUC (chance 95%) | nearest-neighbour ratio '
            '(random re-splits) | p |\n|---|---|---|---|---|---|')
    def auc(r):
        return f"{r['auc']:.3f}" + (f" ({r['null_95']:.3f})" if r['null_95'] is not None else ' (not run)')
    lines = [f"| {r['dataset']} | {r['n_train_valid']} / {r['n_test']}{' (grouped)' if r['grouped'] else ''} | "
             f"{auc(r['linear (flattened series)'])} | {auc(r['forest (channel summaries)'])} | "
             f"{r['nearest']['ratio']:.3f} ({r['nearest']['null_median']:.3f}) | {r['nearest']['p']:.3f} |" for r in rows]
    return '\n'.join([head, *lines])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('datasets', nargs='+')
    ap.add_argument('--permutations', type=int, default=20,
                    help='shuffled-label runs of each domain classifier for its chance level, on sets under --large series')
    ap.add_argument('--nn-permutations', type=int, default=200, help='random re-splits for the nearest-neighbour p-value')
    ap.add_argument('--large', type=int, default=2000, help='sets with more series skip the classifiers\' permutations')
    ap.add_argument('--out', type=Path, help='JSON of the figures; the table is written beside it as .md')
    a = ap.parse_args(argv)
    if a.out and a.out.suffix == '.md':  # refused before the work, not after it
        ap.error(f'--out {a.out}: the JSON goes there and the table beside it as .md; name a .json file.')
    rows = []
    for name in a.datasets:
        rows.append(check(name, a.permutations, a.nn_permutations, a.large))
        print(json.dumps(rows[-1]), flush=True)
    md = table(rows)
    print(md)
    if a.out:
        atomic_write(a.out, lambda f: f.write(json.dumps(rows, indent=1) + '\n'), 'w')  # complete or absent
        atomic_write(a.out.with_suffix('.md'), lambda f: f.write(md + '\n'), 'w')


if __name__ == '__main__':
    main()
