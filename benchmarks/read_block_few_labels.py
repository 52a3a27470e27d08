"""Few labels on the six small sets, on validation: fine-tune the first 4 blocks of the 8-block pretrained encoder?

**Why.** A linear probe reads a middle block of the 8-block encoder better than the last on the validation data of
every data set measured (session 36, "Which block a linear probe reads best"), and a 4-block encoder *pretrained* at
that depth did not fine-tune consistently better with few labels (session 44, `depth_few_labels.py`). The remaining
lead: keep the pretraining at 8 blocks and fine-tune only its first 4 (`finelast_learner(dls, weights, layer=4)` and
`fineall_learner(..., layer=4)`, new in session 45). A fixed block, not one chosen per data set: with 8 to 45
labelled series there is no room to choose it on labels.

**Protocol, committed before any run of this script.** Everything as in `depth_few_labels.py`, whose rows this reads:
- the six small sets, the bench's split, `label_subset(y_train, 0.2, seed)` for seeds 0, 1, 2, scored on every
  official training series whose label was not given (32 to 225 series); the test split is not read;
- the 8-block encoders of that study (library default pretraining, 100 epochs, its windows), from its caches; the
  script records each weights file's name, and the report refuses rows whose file differs from that study's;
- methods, the bench's label-efficiency protocol (fixed schedule, final epoch): FineLast, FineAll and the linear
  evaluation on the encoder cut after block k = 4 (`layer=4`), and, as baselines, the linear evaluation of the
  untrained 8-block encoder of the same seed cut after block 4 (`timemae_linear_untrained` at `layer=4`) and from
  scratch at 4 blocks (that study's `timemae_scratch` rows at `n_layers=4`, the same architecture);
- reported too, not in the rule: k = 2 (with from scratch at 2 blocks run here as its baseline), and a control:
  k = 8 through this script's runner, seed 0, which must reproduce that study's 8-block rows.
- Rule: a test-split check of FineLast / FineAll at `layer=4` with few labels (a later session) is warranted only if
  block 4 scores above the whole encoder (that study's 8-block rows; mean over the 3 seeds) for FineLast and for
  FineAll, each on at least 4 of the 6 sets and on average over them. Otherwise nothing in the library or the bench
  changes; `layer=` stays a user's option, to be chosen on their own validation data.
- Stated before the run: BasicMotions seed 0 ran once through this script while it was being debugged, before this
  commit (its k = 8 control reproduced the study's rows); the rule above was written before that and not changed.

    python benchmarks/read_block_few_labels.py BasicMotions ECG200 GunPoint JapaneseVowels UEA/Epilepsy --cache-dir <depth study's cache> --out benchmarks/ablation/read_block_few_labels.jsonl
    python benchmarks/read_block_few_labels.py UWaveGestureLibrary --cache-dir <depth study's UWave cache> --out benchmarks/ablation/read_block_few_labels.jsonl
    python benchmarks/read_block_few_labels.py --report --out benchmarks/ablation/read_block_few_labels.jsonl

**Outcome (added after the run).** Not met: block 4 above the whole encoder for FineLast on 2 of 6 sets (-1.68 on
average), for FineAll on 1 of 6 (-0.63); the linear evaluation (reported) on 4 of 6 (+1.18). The control reproduced
the depth study's 8-block rows exactly. About 4 minutes with `--threads 1`. benchmarks/notes.md has the table.
"""
import argparse
import contextlib
import io
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from depth_few_labels import EPOCHS, FRACTION, WINDOWS, command_line, held_out  # benchmarks/depth_few_labels.py: the same protocol
from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py

DEPTH_ROWS = Path(__file__).parent / 'ablation' / 'depth_few_labels.jsonl'
RULE_BLOCK, OTHER_BLOCK = 4, 2
METHODS = ('timemae_finelast', 'timemae_fineall', 'timemae_linear', 'timemae_linear_untrained')


def run_at_block(method, ds, s, seed, cache_dir, work_dir, idx, layer):
    """One method of the bench's label-efficiency protocol on the encoder cut after block `layer`: the bench's own
    runners (`run_timemae_transfer`, `run_timemae_linear`) with `layer=` added where the learner is made."""
    from dataclasses import asdict

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from tsai.all import accuracy, ts_learner
    from tsai_timemae.all import TimeMAE, fineall_learner, finelast_learner, get_embeddings, timemae_learner
    from tsai_timemae.bench import _readout_head, comparable_labels, fit_select_score, make_dls, pretrain_timemae
    pre = None if getattr(s, 'pretraining', None) is None else pretrain_timemae(ds, s.pretraining, seed, cache_dir, False)
    if method in ('timemae_finelast', 'timemae_fineall'):
        make = finelast_learner if method == 'timemae_finelast' else fineall_learner
        arch = s.pretraining.arch
        learn = make(make_dls(ds, s.bs, seed, idx), pre['weights'], metrics=accuracy, seed=seed, n_heads=arch.n_heads,
                     d_ff=arch.d_ff, dropout=arch.dropout, path=work_dir, model_dir='.', layer=layer, **_readout_head(s))
        return {**fit_select_score(learn, s.train, ds, False), 'pretraining': pre}
    if method == 'timemae_scratch':  # a from-scratch network of `layer` blocks
        learn = ts_learner(make_dls(ds, s.bs, seed, idx), TimeMAE, metrics=accuracy, seed=seed, path=work_dir,
                           model_dir='.', **{**asdict(s.arch), 'n_layers': layer}, **_readout_head(s))
        return fit_select_score(learn, s.train, ds, False)
    dls = make_dls(ds, s.bs, seed, label_idx=idx)  # the linear evaluations: block `layer` of the whole encoder
    learn = (ts_learner(dls, TimeMAE, seed=seed, path=work_dir, model_dir='.', **asdict(s.arch)) if pre is None else
             timemae_learner(dls, pre['weights'], seed=seed, n_heads=s.arch.n_heads, d_ff=s.arch.d_ff,
                             dropout=s.arch.dropout, path=work_dir, model_dir='.'))
    f_train, f_test = (get_embeddings(learn, X, pool=s.readout, layer=layer) for X in (ds.X_train[idx], ds.X_test))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=s.C, max_iter=2000))
    y, pred = comparable_labels(ds.y_test, clf.fit(f_train, ds.y_train[idx]).predict(f_test))
    return {'metrics': {'accuracy': float(accuracy_score(y, pred)), 'macro_f1': float(f1_score(y, pred, average='macro'))},
            'pretraining': pre}


def plan(seeds):
    "(layer, method, seed) to run: block 4 (the rule), block 2 and its from-scratch baseline, the k = 8 control."
    for seed in seeds:
        for m in METHODS: yield RULE_BLOCK, m, seed
        for m in (*METHODS, 'timemae_scratch'): yield OTHER_BLOCK, m, seed
        if seed == 0:
            for m in ('timemae_finelast', 'timemae_fineall', 'timemae_linear'): yield 8, m, seed


def run(datasets, seeds, cache_dir, out, threads):
    import torch
    from tsai_timemae.bench import bench_config, load_dataset, method_settings, run_config
    from tsai_timemae.data import label_subset
    torch.set_num_threads(threads)
    done = {(r['dataset'], r['seed'], r['layer'], r['method']) for r in (read_records(out) if Path(out).exists() else [])}
    for name in datasets:
        cfg = bench_config(name)
        ds = load_dataset(name, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
        for layer, m, seed in plan(seeds):
            if (ds.name, seed, layer, m) in done: continue
            idx = label_subset(ds.y_train, FRACTION, seed)
            ev = held_out(ds, idx)
            s = method_settings(run_config(name, m, 'kmeans', label_fraction=FRACTION, window=WINDOWS[name], n_layers=8,
                                           pretrain_epochs=EPOCHS), m)
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
                res = run_at_block(m, ev, s, seed, cache_dir, tmp, idx, layer)
            pre = res.get('pretraining') or {}
            log_record({'dataset': ds.name, 'seed': seed, 'layer': layer, 'method': m, 'window': WINDOWS[name],
                        'n_labelled': int(len(idx)), 'n_scored': int(len(ev.y_test)),
                        'accuracy': res['metrics']['accuracy'], 'macro_f1': res['metrics']['macro_f1'],
                        'weights': pre.get('weights', '').split('/')[-1] or None}, out)


def report(out):
    rows, depth = read_records(out), read_records(DEPTH_ROWS)
    study = {(r['dataset'], r['seed'], r['method'], r['n_layers']): r for r in depth}
    for r in rows:  # the same encoder as the depth study's 8-block rows, or the comparison means nothing
        ref = study.get((r['dataset'], r['seed'], 'timemae_linear', 8))
        if r['weights'] and ref and r['weights'] != ref['weights']:
            raise SystemExit(f"{r['dataset']} seed {r['seed']}: encoder {r['weights']}, the depth study's is {ref['weights']}")
    acc = defaultdict(dict)  # (dataset, method, tag) -> {seed: accuracy %}
    for r in rows: acc[(r['dataset'], r['method'], f"block {r['layer']}")][r['seed']] = 100 * r['accuracy']
    for (d, seed, m, n), r in study.items(): acc[(d, m, f'{n}-block')][seed] = 100 * r['accuracy']
    sets = list(dict.fromkeys(r['dataset'] for r in rows))
    mean = lambda d, m, t, seeds: np.mean([acc[(d, m, t)][s] for s in seeds])

    print('Control: block 8 through this script against the depth study\'s 8-block rows (seed 0):\n')
    for d in sets:
        for m in ('timemae_finelast', 'timemae_fineall', 'timemae_linear'):
            a, b = acc.get((d, m, 'block 8'), {}).get(0), acc.get((d, m, '8-block'), {}).get(0)
            if a is not None: print(f"- {d} {m.removeprefix('timemae_')}: {a:.2f} against {b:.2f}" + ('' if abs(a - b) < 1e-6 else '  DIFFERS'))
    print('\nValidation: 20% of the training labels, scored on the other official training series; mean over seeds '
          '(per seed in brackets, differences against the whole 8-block encoder):\n')
    print('| data set | method | seeds | whole encoder (8 blocks) | block 4 | block 4 - whole | block 2 | block 2 - whole | 4-block pretraining |')
    print('|---|---|---|---|---|---|---|---|---|')
    gains = defaultdict(dict)
    for d in sets:
        for m in ('timemae_finelast', 'timemae_fineall', 'timemae_linear', 'timemae_linear_untrained'):
            whole = acc.get((d, m, '8-block'), {})
            seeds = sorted(set(whole) & set(acc.get((d, m, f'block {RULE_BLOCK}'), {})))
            if not seeds: continue
            cells = []
            for t in (f'block {RULE_BLOCK}', f'block {OTHER_BLOCK}'):
                got = acc.get((d, m, t), {})
                if not set(seeds) <= set(got): cells += ['–', '–']; continue
                diff = [got[s] - whole[s] for s in seeds]
                if t == f'block {RULE_BLOCK}': gains[m][d] = np.mean(diff)
                cells += [f'{mean(d, m, t, seeds):.2f}', f"{np.mean(diff):+.2f} ({', '.join(f'{x:+.1f}' for x in diff)})"]
            four = acc.get((d, m, '4-block'), {})
            cells.append(f'{np.mean([four[s] for s in seeds]):.2f}' if set(seeds) <= set(four) else '–')
            print(f"| {d} | {m.removeprefix('timemae_')} | {','.join(map(str, seeds))} | {mean(d, m, '8-block', seeds):.2f} | " + ' | '.join(cells) + ' |')
    print('\nPretrained against its baseline at the same depth, mean over seeds (seeds above): FineAll and FineLast '
          'against from scratch with as many blocks, the linear evaluation against the untrained encoder at the same block:\n')
    print('| data set | read-out | FineAll - from scratch | FineLast - from scratch | linear - untrained linear |\n|---|---|---|---|---|')
    for d in sets:
        for label, t, scratch, untrained in (('whole encoder (8 blocks)', '8-block', '8-block', '8-block'),
                                             (f'block {RULE_BLOCK}', f'block {RULE_BLOCK}', '4-block', f'block {RULE_BLOCK}'),
                                             (f'block {OTHER_BLOCK}', f'block {OTHER_BLOCK}', f'block {OTHER_BLOCK}', f'block {OTHER_BLOCK}')):
            cells = []
            for m, base, bt in (('timemae_fineall', 'timemae_scratch', scratch), ('timemae_finelast', 'timemae_scratch', scratch),
                                ('timemae_linear', 'timemae_linear_untrained', untrained)):
                a, b = acc.get((d, m, t), {}), acc.get((d, base, bt), {})
                seeds = sorted(set(a) & set(b))
                diff = [a[s] - b[s] for s in seeds]
                cells.append(f'{np.mean(diff):+.2f} ({sum(x > 1e-9 for x in diff)} of {len(diff)})' if diff else '–')
            print(f'| {d} | {label} | ' + ' | '.join(cells) + ' |')
    print()
    verdicts = []
    for m in ('timemae_finelast', 'timemae_fineall'):
        g = gains.get(m, {})
        above, avg = sum(x > 1e-9 for x in g.values()), (np.mean(list(g.values())) if g else float('nan'))
        print(f"{m.removeprefix('timemae_')}: block 4 above the whole encoder on {above} of {len(g)} sets, {avg:+.2f} on average")
        verdicts.append(len(g) == len(WINDOWS) and above >= 4 and avg > 0)
    g = gains.get('timemae_linear', {})
    if g: print(f"linear (reported, not in the rule): block 4 above on {sum(x > 1e-9 for x in g.values())} of {len(g)} sets, "
                f"{np.mean(list(g.values())):+.2f} on average")
    if any(len(gains.get(m, {})) < len(WINDOWS) for m in ('timemae_finelast', 'timemae_fineall')):
        print('\nRule: not all six sets have run.')
    else:
        print('\nRule: ' + ('met: a few-label test-split check of layer=4 is warranted.' if all(verdicts) else
                            'not met: nothing changes; layer= stays a user\'s option.'))


def main(argv=None):
    return command_line(argv, __doc__.splitlines()[0], 'benchmarks/ablation/read_block_few_labels.jsonl', run, report)


if __name__ == '__main__':
    sys.exit(main())
