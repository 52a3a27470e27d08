"""Which encoder layer's features does the linear probe read best? A diagnostic for issue 14's HAR target.

The linear evaluation (the authors' protocol, issue 14's target) reads the mean over patches of the encoder's *last*
layer. In masked image models the last blocks specialise in the pretext task (here: serving the decoupled encoder's
predictions of codes and momentum representations), and a linear probe often reads an earlier block better. This
script asks whether that holds for TimeMAE, without reading a test split: it pretrains an encoder exactly as
`timemae probe` does (the library default unless `--set` says otherwise; the same seed, batch and schedule), and
scores the same probe (`StandardScaler` + `LogisticRegression`, C = 1) on the mean-pooled output of every block,
from 0 (patch + position embedding, before the first block) to the last, for the untrained encoder and the
pretrained one. The protocol is `timemae probe`'s: HAR with `--by-recording` (5-fold cross-validation over whole
recordings of train + validation), small sets by 5-fold cross-validation of train + validation.

    python benchmarks/layer_probe.py HAR --by-recording --epochs 40 --seeds 0 1 2 --out benchmarks/ablation/layer_probe.jsonl
    python benchmarks/layer_probe.py GunPoint ECG200 BasicMotions --epochs 100 --seeds 0 1 2 --out benchmarks/ablation/layer_probe.jsonl

One JSON line per data set, seed and encoder (untrained / pretrained), with the score of every layer; `--report`
prints the table from that file (mean over seeds; the last layer is what the linear evaluation reads).

`--split test` is the final table, run once per encoder after the choice is written down: the encoders of the main
table's linear evaluation (`timemae bench HAR --methods timemae_linear --tokenizer kmeans --pretrain-epochs 100`,
pretrained here into `--cache-dir` unless found there) and untrained ones of the same seed, through the bench's own
scaling. For each, the layer is chosen by the protocol above (HAR: held-out recordings of train + validation; ties go
to the later layer), then the probe is fitted on the training split and the test split is read once, at the chosen
layer and at the last one (the bench's `timemae_linear`, to check that the encoder is the main table's):

    python benchmarks/layer_probe.py HAR --split test --by-recording --epochs 100 --seeds 0 1 2 --cache-dir <cache> --out benchmarks/ablation/layer_probe_test.jsonl

The small sets' test splits the same way, with the windows and seeds of their 10-seed linear evaluation (session 22:
`auto_window` of the length, seeds 0 to 9), the layer chosen by 5-fold cross-validation of train + validation:

    python benchmarks/layer_probe.py GunPoint --split test --window 9 --epochs 100 --seeds 0 1 2 3 4 5 6 7 8 9 --cache-dir <cache> --out benchmarks/ablation/layer_probe_test.jsonl
    (BasicMotions and ECG200 --window 7, UEA/Epilepsy --window 10, JapaneseVowels without --window)

`--split test --arch n_layers=4` (or `d_model`, `d_ff`, `n_heads`) changes the bench's architecture for both encoders;
the rows record it and the report keeps each architecture apart (benchmarks/depth_rule.py ran it so).
"""
import argparse
import contextlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from tsai_timemae.data import recording_groups
from tsai_timemae.embeddings import get_embeddings
from tsai_timemae.probe import CV_FOLDS, cv_probe_score, key_value, linear_probe_score, probe_protocol, run_probe


@contextlib.contextmanager
def block_outputs(backbone):
    """Collect, while inside, every block's output `[bs, n_patches, d_model]` mean-pooled to `[bs, d_model]`: index 0
    is the encoder's input (patch + position embedding), k the output of block k. Forward hooks only: the forward
    pass that `get_embeddings` runs is the one measured."""
    pooled = defaultdict(list)
    hooks = [backbone.encoder.layers[0].register_forward_pre_hook(
        lambda m, args: pooled[0].append(args[0].mean(1).detach().cpu().numpy()))]
    for k, layer in enumerate(backbone.encoder.layers, 1):
        hooks.append(layer.register_forward_hook(
            lambda m, args, out, k=k: pooled[k].append(out.mean(1).detach().cpu().numpy())))
    try: yield pooled
    finally:
        for h in hooks: h.remove()


def later_best(scores) -> int:
    "The index of the best score, ties (to 9 decimals: fold means differ in the last bit) going to the later layer."
    return max(range(len(scores)), key=lambda k: (round(scores[k], 9), k))


def layer_features(learn, X) -> list[np.ndarray]:
    "Mean-pooled features of every layer (0: embeddings, then each block) of `X` through the learner's own scaling."
    with block_outputs(learn.model.backbone) as pooled:
        last = get_embeddings(learn, X)
    feats = [np.concatenate(pooled[k]) for k in sorted(pooled)]
    if not np.allclose(feats[-1], last, atol=1e-5):
        raise RuntimeError('the hooks did not read the encoder get_embeddings ran: the last block differs from its output')
    return feats


def blocks_mean(feats: list[np.ndarray]) -> np.ndarray:
    """The mean over the Transformer blocks (1 to the last, not the embeddings) of their mean-pooled outputs: one
    fixed read-out that keeps what the middle blocks have, with no block to choose per data set (session 57)."""
    return np.mean(feats[1:], axis=0)


def layer_scores(learn, ds, by_recording: bool, folds: int = CV_FOLDS) -> tuple[list[float], str, float]:
    """The probe's score on every layer's features, by `timemae probe`'s protocol for this data set, and on the
    blocks' mean (`blocks_mean`)."""
    protocol = probe_protocol(len(ds.X_train), folds, by_recording)
    f_tr, f_va = layer_features(learn, ds.X_train), layer_features(learn, ds.X_valid)
    f_tr, f_va = f_tr + [blocks_mean(f_tr)], f_va + [blocks_mean(f_va)]
    if protocol == 'valid':
        scores = [linear_probe_score(a, ds.y_train, b, ds.y_valid) for a, b in zip(f_tr, f_va)]
    else:
        y = np.concatenate([ds.y_train, ds.y_valid])
        groups = recording_groups(np.concatenate([ds.X_train, ds.X_valid])) if by_recording else None
        scores = [cv_probe_score(np.concatenate([a, b]), y, folds, groups) for a, b in zip(f_tr, f_va)]
    return scores[:-1], protocol, scores[-1]


def run(dataset, seed, epochs, by_recording, pretrain_kwargs, out, threads, arch_kwargs=None):
    import torch
    torch.set_num_threads(threads)
    rows = {}

    def on_encoder(stage, learn, ds):
        scores, protocol, mean_score = layer_scores(learn, ds, by_recording)
        rows[stage] = {'dataset': ds.name, 'seed': seed, 'encoder': stage, 'epochs': epochs, 'protocol': protocol,
                       'pretrain': pretrain_kwargs, 'window': learn.model.backbone.window,
                       **({'arch': arch_kwargs} if arch_kwargs else {}), 'layer_scores': scores,
                       'blocks_mean_score': mean_score}
        print(f'{ds.name} seed {seed} {stage}: ' + ' '.join(f'{s:.4f}' for s in scores)
              + f' | blocks mean {mean_score:.4f}', flush=True)

    rec = run_probe(dataset, seed=seed, epochs=epochs, pretrain_kwargs=pretrain_kwargs, arch_kwargs=arch_kwargs,
                    by_recording=by_recording, on_encoder=on_encoder, verbose=True)
    for stage in ('untrained', 'pretrained'):
        row = rows[stage]
        # the probe's own figure for the last layer: a check that the hooks read the encoder it scored
        row['probe_record_score'] = rec['untrained_score' if stage == 'untrained' else 'final_score']
        log_record(row, out)


def run_test(dataset, seed, epochs, by_recording, cache_dir, out, threads, window=None, folds: int = CV_FOLDS, arch_over=None):
    """Choose the layer on train + validation (the probe's protocol), then read the test split once: one line per
    encoder. `arch_over` ({'n_layers': 4}) changes the bench's architecture for both encoders, as a bench setting."""
    import contextlib as _c, io
    from dataclasses import asdict
    import torch
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, timemae_learner
    from tsai_timemae.bench import bench_config, load_dataset, make_dls, pretrain_timemae, run_config, timemae_arch, timemae_pretraining
    torch.set_num_threads(threads)
    arch_over = dict(arch_over or {})
    over = {**({} if window is None else {'window': window}), **arch_over}
    cfg = bench_config(dataset, **over)
    ds = load_dataset(dataset, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    X, y, (tr, va) = ds.as_tsai()
    y_test = np.asarray(ds.y_test).astype(y.dtype)
    pre = timemae_pretraining(run_config(dataset, 'timemae_linear', 'kmeans', pretrain_epochs=epochs, **over))
    arch = timemae_arch(cfg)
    hit = pretrain_timemae(ds, pre, seed, cache_dir, bar=False)
    dls = make_dls(ds, cfg['bs'], seed, label_idx=np.arange(len(tr)))  # the bench's scaling: every training input
    protocol = probe_protocol(len(tr), folds, by_recording)
    y_tv = np.concatenate([y[tr], y[va]])
    groups = recording_groups(np.concatenate([X[tr], X[va]])) if by_recording else None
    for kind in ('untrained', 'pretrained'):
        with _c.redirect_stdout(io.StringIO()):
            learn = (ts_learner(dls, TimeMAE, seed=seed, **asdict(arch)) if kind == 'untrained' else
                     timemae_learner(dls, hit['weights'], seed=seed, n_heads=arch.n_heads, d_ff=arch.d_ff, dropout=arch.dropout))
            f_tr, f_va, f_te = (layer_features(learn, x) for x in (X[tr], X[va], ds.X_test))
        f_tr, f_va, f_te = (f + [blocks_mean(f)] for f in (f_tr, f_va, f_te))  # the last entry: the blocks' mean
        if protocol == 'valid': valid = [linear_probe_score(a, y[tr], b, y[va]) for a, b in zip(f_tr, f_va)]
        else: valid = [cv_probe_score(np.concatenate([a, b]), y_tv, folds, groups) for a, b in zip(f_tr, f_va)]
        valid, valid_mean = valid[:-1], valid[-1]
        chosen = later_best(valid)
        test = lambda k: linear_probe_score(f_tr[k], y[tr], f_te[k], y_test)
        row = {'dataset': ds.name, 'seed': seed, 'encoder': kind, 'epochs': epochs, 'protocol': protocol, 'split': 'test',
               'weights': None if kind == 'untrained' else Path(hit['weights']).name, 'valid_layer_scores': valid,
               'window': arch.window, **({'arch': arch_over} if arch_over else {}),
               'chosen_layer': chosen, 'test_at_chosen': test(chosen), 'test_at_last': test(len(valid) - 1),
               'valid_blocks_mean': valid_mean, 'test_at_blocks_mean': test(len(valid))}
        log_record(row, out)


def report(path):
    records = read_records(path)
    if records and records[0].get('split') == 'test': return report_test(records)
    by = defaultdict(list)
    seen_once(records, lambda r: (settings_label(r), r['dataset'], r['protocol'], r['epochs'], r['encoder'], r['seed']))
    for r in records:  # a row per data set, protocol, length, architecture, pretraining settings and encoder
        settings = settings_label(r)
        by[(r['dataset'] + (f' ({settings})' if settings else ''), r['protocol'], r['epochs'], r['encoder'])].append(r)
    n = max(len(r['layer_scores']) for r in records)  # blocks + 1 (the embeddings)
    print('| data set (protocol, epochs) | encoder | seeds | ' + ' | '.join(f'layer {k}' for k in range(n)) + ' |')
    print('|---|---|---|' + '---|' * n)
    for (name, protocol, epochs, enc), rs in sorted(by.items()):
        if len({len(r['layer_scores']) for r in rs}) > 1: raise ValueError(f'{name}: runs of different depths in one row')
        s = np.array([r['layer_scores'] for r in rs]) * 100
        best = later_best(list(s.mean(0)))
        cells = [f'**{m:.2f}**' if k == best else f'{m:.2f}' for k, m in enumerate(s.mean(0))]
        print(f'| {name} ({protocol}, {epochs}) | {enc} | {",".join(str(r["seed"]) for r in rs)} | ' + ' | '.join(cells)
              + ' |' * (n - len(cells) + 1))


def settings_label(r) -> str:
    """A run's settings as the calls that take them, `TimeMAE(n_layers=4) + TimeMAEPretrain(...)` (an option of both,
    e.g. `init_scheme`, stays apart); '' for the library's defaults."""
    calls = [(cls, ', '.join(f'{k}={v}' for k, v in sorted(r.get(part, {}).items())))
             for cls, part in (('TimeMAE', 'arch'), ('TimeMAEPretrain', 'pretrain'))]
    return ' + '.join(f'{cls}({args})' for cls, args in calls if args)


def seen_once(records, key) -> dict:
    "Runs by `key(run)`, refusing a key (data set, settings, encoder, seed, ...) that two lines of the file share."
    by = {}
    for r in records:
        k = key(r)
        if k in by:
            raise ValueError(f"{r['dataset']} seed {r['seed']} ({r['encoder']}{', ' + settings_label(r) if settings_label(r) else ''}) "
                             'is in the file twice: delete the older line, or write the new runs to another --out')
        by[k] = r
    return by


def report_paired(path):
    """Each non-default setting against the default pretrained encoder of the same data set, protocol, length and
    seed: the last block's score (what the linear evaluation reads) and each seed's best block's (a ceiling: the block
    is chosen on the same folds it is scored on), differences in points."""
    records = read_records(path)
    if records and records[0].get('split') == 'test': raise ValueError(f'{path} holds --split test runs: --paired compares '
                                                                       'validation runs of other settings')
    runs = seen_once([r for r in records if r['encoder'] == 'pretrained'],
                     lambda r: (settings_label(r), r['dataset'], r['protocol'], r['epochs'], r['seed']))
    base = {k[1:]: r['layer_scores'] for k, r in runs.items() if not k[0]}
    by, unpaired = defaultdict(list), []
    for (label, *key), r in runs.items():
        if not label: continue
        if tuple(key) in base: by[(label, *key[:3])].append((r, base[tuple(key)]))
        else: unpaired.append(f"{label} {r['dataset']} seed {r['seed']}")
    pts = lambda v: f'{round(float(v), 2) + 0:+.2f}'  # no '-0.00'
    print('| setting | data set (protocol, epochs) | seeds | last block: setting - default (per seed) | '
          "each seed's best block: setting - default |")
    print('|---|---|---|---|---|')
    for (label, name, protocol, epochs), pairs in sorted(by.items()):
        last = [100 * (r['layer_scores'][-1] - b[-1]) for r, b in pairs]
        best = [100 * (max(r['layer_scores']) - max(b)) for r, b in pairs]
        print(f"| {label} | {name} ({protocol}, {epochs}) | {','.join(str(r['seed']) for r, _ in pairs)} | "
              f"{pts(np.mean(last))} ({', '.join(pts(d) for d in last)}) | {pts(np.mean(best))} |")
    if unpaired: print('\nNot in the table (no default run of the same data set, protocol, length and seed): '
                       + '; '.join(unpaired))


def report_test(records):
    "Per encoder: the layer chosen on train + validation, the test split there and at the last layer; then the pairs."
    pct = lambda v: f'{100 * np.mean(v):.2f} ± {100 * np.std(v):.2f}'
    row_name = lambda r: r['dataset'] + (f' ({settings_label(r)})' if settings_label(r) else '')  # e.g. TimeMAE(n_layers=4)
    seen_once(records, lambda r: (row_name(r), r['protocol'], r['epochs'], r['encoder'], r['seed']))
    by = defaultdict(list)
    for r in records: by[(row_name(r), r['protocol'], r['epochs'], r['encoder'])].append(r)
    print('| data set (layer chosen by, epochs) | encoder | seeds | layer chosen | test, last layer (the linear evaluation) | '
          'test, chosen layer |')
    print('|---|---|---|---|---|---|')
    for (name, protocol, epochs, enc), rs in sorted(by.items()):
        print(f"| {name} ({protocol}, {epochs}) | {enc} | {','.join(str(r['seed']) for r in rs)} | "
              f"{', '.join(str(r['chosen_layer']) for r in rs)} | {pct([r['test_at_last'] for r in rs])} | "
              f"{pct([r['test_at_chosen'] for r in rs])} |")
    print('\n| data set | seeds | pretrained - untrained, last layer (± std; standard error) | above | '
          'pretrained - untrained, chosen layers (± std; standard error) | above |')
    print('|---|---|---|---|---|---|')
    for (name, protocol, epochs, enc), rs in sorted(by.items()):
        if enc != 'pretrained': continue
        un = {r['seed']: r for r in by.get((name, protocol, epochs, 'untrained'), [])}
        pairs = [(r, un[r['seed']]) for r in rs if r['seed'] in un]
        if not pairs: continue
        cells = []
        for k in ('test_at_last', 'test_at_chosen'):
            d = [100 * (p[k] - u[k]) for p, u in pairs]
            se = np.std(d, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float('nan')
            cells += [f'{np.mean(d):+.2f} ± {np.std(d):.2f} ({se:.2f})', f'{sum(x > 1e-9 for x in d)} of {len(d)}']
        print(f"| {name} | {','.join(str(p['seed']) for p, _ in pairs)} | " + ' | '.join(cells) + ' |')


def report_readout(path):
    """The blocks' mean (`blocks_mean`) against the last block, the linear evaluation's read-out: per data set, each
    encoder under both, the difference per seed, and pretrained minus untrained under each (the same read-out on both
    sides). Validation rows or a `--split test` file; rows without the blocks' mean (before session 57) are left out."""
    records = read_records(path)
    test = bool(records) and records[0].get('split') == 'test'
    last_key, mean_key = ('test_at_last', 'test_at_blocks_mean') if test else (None, 'blocks_mean_score')
    last = (lambda r: r[last_key]) if test else (lambda r: r['layer_scores'][-1])
    rows = [r for r in records if mean_key in r]
    name = lambda r: r['dataset'] + (f' ({settings_label(r)})' if settings_label(r) else '')
    runs = seen_once(rows, lambda r: (name(r), r['protocol'], r['epochs'], r['encoder'], r['seed']))
    by = defaultdict(dict)
    for (n, protocol, epochs, enc, seed), r in runs.items(): by[(n, protocol, epochs)].setdefault(enc, {})[seed] = r
    pts = lambda v: f'{round(float(v), 2) + 0:+.2f}'  # no '-0.00'
    print(f"{'Test split' if test else 'Validation'}: the last block (L) and the blocks' mean (M), mean % over seeds")
    print('| data set (protocol, epochs) | seeds | pretrained L | pretrained M | M - L (per seed) | untrained L | '
          'untrained M | pretrained - untrained, L | pretrained - untrained, M |')
    print('|---|---|---|---|---|---|---|---|---|')
    each = []  # (M - L in points, which encoder) for every encoder of the table
    for (n, protocol, epochs), encs in sorted(by.items()):
        pre, un = encs.get('pretrained', {}), encs.get('untrained', {})
        seeds = sorted(set(pre) & set(un))
        if not seeds: continue
        each += [(100 * (r[mean_key] - last(r)), f"{n} {enc} seed {k}") for enc, d in (('pretrained', pre), ('untrained', un))
                 for k, r in sorted(d.items()) if k in seeds]
        P = lambda d, f: [100 * f(d[k]) for k in seeds]
        pl, pm, ul, um = P(pre, last), P(pre, lambda r: r[mean_key]), P(un, last), P(un, lambda r: r[mean_key])
        print(f"| {n} ({protocol}, {epochs}) | {','.join(map(str, seeds))} | {np.mean(pl):.2f} | {np.mean(pm):.2f} | "
              f"{pts(np.mean(pm) - np.mean(pl))} ({', '.join(pts(b - a) for a, b in zip(pl, pm))}) | {np.mean(ul):.2f} | "
              f"{np.mean(um):.2f} | {pts(np.mean(pl) - np.mean(ul))} | {pts(np.mean(pm) - np.mean(um))} |")
    if each:
        lower = [f'{who} ({pts(d)})' for d, who in each if round(d, 9) < 0]
        level = sum(round(d, 9) == 0 for d, _ in each)
        print(f"\nEncoders reading higher under M than under L: {sum(round(d, 9) > 0 for d, _ in each)} of {len(each)}; "
              f"level: {level}; lower: {'; '.join(lower) or 'none'}")


def compare_last_block(path, results_dir):
    """How many encoders' last-block test scores equal the bench's linear evaluation of the same data set, seed and
    encoder in `results_dir/<dataset>/` (`timemae_linear_kmeans_seed<k>.json`, `timemae_linear_untrained_seed<k>.json`):
    whether these are the bench's encoders again (the pretraining is not bit-reproducible across sessions)."""
    import json
    by = defaultdict(list)
    for r in read_records(path):
        name = 'timemae_linear_kmeans' if r['encoder'] == 'pretrained' else 'timemae_linear_untrained'
        f = Path(results_dir) / r['dataset'].replace('/', '-') / f"{name}_seed{r['seed']}.json"  # the bench's folder name
        if f.exists():
            theirs = json.loads(f.read_text())['metrics']['accuracy']
            by[(r['dataset'], r['encoder'])].append(abs(theirs - r['test_at_last']) < 1e-9)
    for (name, enc), same in sorted(by.items()):
        print(f'{name} {enc}: the last block scores what {results_dir} holds on {sum(same)} of {len(same)} seeds')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('datasets', nargs='*')
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--epochs', type=int, default=40)
    p.add_argument('--by-recording', action='store_true')
    p.add_argument('--set', type=key_value, action='append', default=[], metavar='KEY=VALUE',
                   help='a TimeMAEPretrain argument (as timemae probe --set)')
    p.add_argument('--arch', type=key_value, action='append', default=[], metavar='KEY=VALUE',
                   help='a TimeMAE argument, e.g. --arch n_layers=4 (as timemae probe --arch)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default='benchmarks/ablation/layer_probe.jsonl')
    p.add_argument('--split', choices=('valid', 'test'), default='valid',
                   help="'test': choose the layer on train + validation, then read the test split once (final table)")
    p.add_argument('--window', type=int, help="with --split test: the encoders' window, as `timemae bench --window`")
    p.add_argument('--cache-dir', help='with --split test: where the bench-made encoders are (or are pretrained into)')
    p.add_argument('--report', action='store_true', help='print the table from --out and stop')
    p.add_argument('--paired', action='store_true', help='with --report: each --set/--arch setting against the '
                   'default encoder of the same data set and seed (last and best block)')
    p.add_argument('--readout', action='store_true', help="with --report: the blocks' mean against the last block "
                   '(runs since session 57)')
    p.add_argument('--against', help="with --report of a --split test file: a bench results folder whose linear "
                   "evaluations the last block should repeat (e.g. benchmarks/extra/small_sets_test/results)")
    a = p.parse_args(argv)
    if a.against and not a.report: p.error('--against is for --report')
    if a.window is not None and a.split != 'test': p.error('--window is for --split test (the probe runs take the bench\'s)')
    if a.paired and (not a.report or a.against): p.error('--paired is for --report, without --against')
    if a.readout and (not a.report or a.paired or a.against): p.error('--readout is for --report, alone')
    if a.report: return (compare_last_block(a.out, a.against) if a.against else report_paired(a.out) if a.paired
                         else report_readout(a.out) if a.readout else report(a.out))
    if not a.datasets: p.error('name at least one data set, or pass --report')
    if a.split == 'test' and (a.set or not a.cache_dir or set(dict(a.arch)) - {'n_layers', 'd_model', 'd_ff', 'n_heads'}):
        p.error('--split test scores the bench\'s encoders: give --cache-dir, no --set, and --arch only for the bench\'s '
                'architecture settings (n_layers, d_model, d_ff, n_heads)')
    for name in a.datasets:
        for seed in a.seeds:
            if a.split == 'test': run_test(name, seed, a.epochs, a.by_recording, a.cache_dir, a.out, a.threads, a.window,
                                           arch_over=dict(a.arch))
            else: run(name, seed, a.epochs, a.by_recording, dict(a.set), a.out, a.threads, dict(a.arch))


if __name__ == '__main__':
    sys.exit(main())
