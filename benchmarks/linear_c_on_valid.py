"""Does choosing the linear evaluation's regularisation on the validation split help on the test split?

The bench's linear evaluation (`timemae_linear`) fits `StandardScaler` + `LogisticRegression(C=1)` on the frozen,
mean-pooled features of the training series, as the authors' code does. This script asks whether picking `C` on the
validation labels instead (the full-label protocol allows it) would move the HAR target (issue 14: >= 92.0). For each
seed it embeds train, validation and test with the cached pretrained encoder and with an untrained one of the same
seed, scores a grid of `C` on validation, refits the chosen `C` on train and scores the test split once.

    python benchmarks/linear_c_on_valid.py HAR --cache-dir benchmarks/cache/HAR --out benchmarks/ablation/har_linear_c.jsonl
    python benchmarks/linear_c_on_valid.py Epilepsy --cache-dir benchmarks/cache/Epilepsy --out benchmarks/ablation/epilepsy_linear_c.jsonl

`--valid recordings` (session 19) scores the grid on held-out recordings instead of the file's validation split: HAR's
windows overlap by half and its validation split was drawn at random, so every validation window comes from a
recording that training windows also come from (`tsai_timemae.data.shared_recording_fraction`). Here the training and
validation windows are pooled, cut into the chains of one recording each (`recording_groups`), and scored by 5-fold
`StratifiedGroupKFold` (no recording on both sides); the chosen `C` is then refitted on the training split, as the
bench does, and the test split read once. Subjects still recur across recordings (the files carry no subject ids):

    python benchmarks/linear_c_on_valid.py HAR --valid recordings --cache-dir <cache>/HAR --pretrain-epochs 100 --out benchmarks/ablation/har_linear_c_recordings.jsonl

`--valid cv` (session 29, for the small UEA sets, whose validation split is a handful of series) scores the grid by
5-fold `StratifiedKFold` (shuffled, `random_state=0`) over the pooled training and validation series, the folds of
`timemae probe`; `--window` picks the encoders the bench made with `--window` (its cache key and architecture):

    python benchmarks/linear_c_on_valid.py GunPoint --valid cv --window 9 --seeds 0 1 2 3 4 5 6 7 8 9 --cache-dir <out>/cache/GunPoint --pretrain-epochs 100 --out benchmarks/ablation/small_sets_linear_c_cv.jsonl

`--cache-dir` holds `timemae_kmeans_seed<k>_<hash>.pth` from `timemae bench HAR --methods timemae_linear --tokenizer
kmeans --pretrain-epochs 40` (or 100 with `--pretrain-epochs 100`; the cache is not committed; that command makes it). `test_at_C1` is the
bench's own linear evaluation (`timemae_linear`, `timemae_linear_untrained`) of the same seed, for comparison.
"""
import argparse, contextlib, io
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tsai.all import ts_learner

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from tsai_timemae.all import TimeMAE, get_embeddings, timemae_learner
from tsai_timemae.bench import (_cached, bench_config, cache_path, check_library_defaults, load_dataset, make_dls,
                                run_config, timemae_arch, timemae_pretraining)
from tsai_timemae.data import recording_groups, shared_recording_fraction

GRID = (0.001, 0.01, 0.1, 1., 10., 100.)


def probe(f_fit, y_fit, C):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000)).fit(f_fit, y_fit)


def recording_folds(X_train, y_train, X_valid, y_valid, n_splits=5, seed=0):
    """Training and validation windows pooled, then `StratifiedGroupKFold` over their recordings (`recording_groups`):
    `(y_pooled, folds, facts)`, where `facts` says how much the file split shared and that no fold shares any."""
    from sklearn.model_selection import StratifiedGroupKFold
    X_tv, y_tv = np.concatenate([X_train, X_valid]), np.concatenate([y_train, y_valid])
    groups = recording_groups(X_tv)
    folds = list(StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X_tv, y_tv, groups))
    facts = {'file_split_shared': shared_recording_fraction(X_train, X_valid), 'recordings': int(groups.max() + 1),
             'cv_shared': max(float(np.isin(groups[v], groups[f]).mean()) for f, v in folds)}
    return y_tv, folds, facts


def cv_folds(y_train, y_valid, n_splits=5, seed=0):
    "Training and validation series pooled, then stratified `n_splits`-fold CV over them: `(y_pooled, folds)`."
    from sklearn.model_selection import StratifiedKFold
    y_tv = np.concatenate([y_train, y_valid])
    return y_tv, list(StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y_tv)), y_tv))


def choose_C(f_train, y_train, f_valid, y_valid, fit=probe, folds=None, y_pooled=None):
    """Score `GRID` on the file's validation split, or (with `folds`) by cross-validation over the pooled features of
    both splits; return `(scores by C, chosen C)`, ties going to the C nearest 1 (between 0.1 and 10, the smaller)."""
    if folds is None: valid = {C: float(fit(f_train, y_train, C).score(f_valid, y_valid)) for C in GRID}
    else:
        f = np.concatenate([f_train, f_valid])
        valid = {C: float(np.mean([fit(f[a], y_pooled[a], C).score(f[b], y_pooled[b]) for a, b in folds])) for C in GRID}
    return valid, max(GRID, key=lambda C: (valid[C], -abs(np.log10(C))))


def report(path) -> str:
    "The table of a results file: per encoder, the C each validation chose and the test split at C = 1 and at the choice."
    rows = read_records(path)
    pct = lambda v: f'{100 * np.mean(v):.2f} ± {100 * np.std(v):.2f}'
    lines = ['| data set | recipe, pretraining epochs | encoder | where C was chosen | seeds | C chosen | validation at C = 1 | '
             'test, C = 1 | test, C chosen |', '|---|---|---|---|---|---|---|---|---|']
    groups = {}
    for r in rows:  # records without a recipe or epochs: the library default's 40-epoch encoders (session 11)
        epochs = r.get('pretrain_epochs', 40) or 'the cached'  # None: found by name, `--pretrain-epochs` not given
        key = (r['dataset'], r.get('recipe', 'library default'), epochs, r['encoder'], r.get('valid', 'file'))
        if r.get('window'): key = (key[0], f"{key[1]} (window {r['window']})", *key[2:])
        groups.setdefault(key, []).append(r)
    for (ds, recipe, epochs, enc, where), rs in groups.items():
        where = {'recordings': 'held-out recordings (5-fold)', 'cv': 'train + validation (5-fold)'}.get(where, 'file validation split')
        lines.append(f"| {ds} | {recipe}, {epochs} | {enc} | {where} | "
                     f"{len(rs)} | {', '.join(format(r['chosen_C'], 'g') for r in rs)} | {pct([r['valid_by_C']['1.0'] for r in rs])} | "
                     f"{pct([r['test_at_C1'] for r in rs])} | {pct([r['test_at_chosen'] for r in rs])} |")
    return '\n'.join(lines + paired(rows))


def paired(rows) -> list[str]:
    "Pretrained minus untrained encoder of the same seed, at C = 1 and at each one's chosen C (mean ± std, seeds above)."
    by = {}
    for r in rows:  # one comparison per data set, recipe, pretraining length, window and place C was chosen
        key = (r['dataset'], r.get('recipe', 'library default'), r.get('pretrain_epochs', 40), r.get('window'), r.get('valid', 'file'))
        by.setdefault(key, {}).setdefault(r['encoder'], {})[r['seed']] = r
    out = ['', '| data set | recipe | where C was chosen | seeds | pretrained - untrained, C = 1 | above | pretrained - untrained, C chosen | above |',
           '|---|---|---|---|---|---|---|---|']
    for (ds, recipe, _, window, where), enc in by.items():
        seeds = sorted(set(enc.get('pretrained', {})) & set(enc.get('untrained', {})))
        if not seeds: continue
        d = {k: [100 * (enc['pretrained'][s][k] - enc['untrained'][s][k]) for s in seeds] for k in ('test_at_C1', 'test_at_chosen')}
        cell = lambda v: (f'{round(float(np.mean(v)), 9) + 0.:+.2f} ± {np.std(v):.2f}', f'{sum(x > 1e-9 for x in v)} of {len(v)}')
        out.append(f"| {ds} | {recipe}{f' (window {window})' if window else ''} | {where} | {len(seeds)} | {' | '.join(cell(d['test_at_C1']))} | {' | '.join(cell(d['test_at_chosen']))} |")
    return out if len(out) > 3 else []


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('dataset', nargs='?')
    p.add_argument('--cache-dir')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--out', required=True)
    p.add_argument('--valid', choices=('file', 'recordings', 'cv'), default='file',
                   help="where C is chosen: the file's validation split, 5-fold CV over held-out recordings, or "
                        "5-fold stratified CV over the pooled training and validation series")
    p.add_argument('--window', type=int, default=None, help="the encoders' window, when the bench ran with --window")
    p.add_argument('--pretrain-epochs', type=int, default=None,
                   help="the encoders' pretraining epochs, to pick their cache file by its settings (default: any one per seed)")
    p.add_argument('--report', action='store_true', help='print the table of --out and stop')
    a = p.parse_args()
    if a.report: return print(report(a.out))
    if not (a.dataset and a.cache_dir): p.error('a data set and --cache-dir are needed unless --report')
    torch.set_num_threads(1)
    over = {} if a.window is None else {'window': a.window}
    cfg = bench_config(a.dataset, **over)
    ds = load_dataset(a.dataset, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    X, y, (tr, va) = ds.as_tsai()
    y_test = np.asarray(ds.y_test).astype(y.dtype)
    arch = timemae_arch(cfg)  # the encoders as `timemae bench`'s linear evaluation builds them (run_timemae_linear)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    if a.valid == 'recordings': y_tv, folds, leak = recording_folds(X[tr], y[tr], X[va], y[va])
    if a.valid == 'cv': (y_tv, folds), leak = cv_folds(y[tr], y[va]), {}
    key = None if a.pretrain_epochs is None else timemae_pretraining(
        run_config(a.dataset, 'timemae_linear', 'kmeans', pretrain_epochs=a.pretrain_epochs, **over))
    for seed in a.seeds:
        if key is None: (weights,) = Path(a.cache_dir).glob(f'timemae_kmeans_seed{seed}_*.pth')
        else:  # the file the bench caches these settings' encoder in
            weights = Path(a.cache_dir) / (cache_path(a.cache_dir, ds.name, ds.source, key, seed).name + '.pth')
        stem = weights.with_suffix('')
        if (meta := _cached(stem)) is None:  # no weights, or weights without the record a finished pretraining writes
            raise SystemExit(f'{stem}.pth and .json not both found: pretrain it with `timemae bench` first')
        check_library_defaults(meta, stem, 'kmeans')
        dls = make_dls(ds, cfg['bs'], seed, label_idx=np.arange(len(tr)))  # the bench's scaling: every training input
        for kind in ('untrained', 'pretrained'):
            with contextlib.redirect_stdout(io.StringIO()):
                learn = (ts_learner(dls, TimeMAE, seed=seed, **asdict(arch)) if kind == 'untrained' else
                         timemae_learner(dls, str(weights), seed=seed, n_heads=arch.n_heads, d_ff=arch.d_ff,
                                         dropout=arch.dropout))
                f_tr, f_va, f_te = (get_embeddings(learn, x) for x in (X[tr], X[va], ds.X_test))
            file_valid, chosen = choose_C(f_tr, y[tr], f_va, y[va])
            valid, extra = file_valid, {}
            if a.valid in ('recordings', 'cv'):
                valid, chosen = choose_C(f_tr, y[tr], f_va, y[va], folds=folds, y_pooled=y_tv)
                extra = {'valid': a.valid, 'file_valid_by_C': file_valid, **leak, **over}
            rec = {'dataset': ds.name, 'seed': seed, 'encoder': kind, 'weights': None if kind == 'untrained' else weights.name,
                   'pretrain_epochs': a.pretrain_epochs, 'valid_by_C': valid, 'chosen_C': chosen, **extra,
                   'test_at_chosen': float(probe(f_tr, y[tr], chosen).score(f_te, y_test)),
                   'test_at_C1': float(probe(f_tr, y[tr], 1.).score(f_te, y_test))}
            log_record(rec, a.out)


if __name__ == '__main__':
    main()
