"""Transfer across data sets (TimeMAE paper, section 4.2.2): an encoder pretrained on HAR (9 channels, length 128),
fine-tuned on other data sets with other channel counts, against pretraining on the target itself and against
training from scratch.

Targets (default): BasicMotions (6 channels, length 100, 4 classes, 40 train / 40 test series) and the UEA Epilepsy
set (`UEA/Epilepsy`: 3 channels, length 206, 4 classes, 137 / 138). Methods, per target and seed:

  har_fineall                HAR-pretrained encoder, FineAll, `reinit='patch_embed'` (new patch embedding; the
                             position table too only where its shape differs)
  har_finelast               HAR-pretrained encoder, FineLast, `reinit='patch_embed'` (the new patch embedding trains
                             with the linear head, the rest of the encoder frozen)
  frozen_random_har_arch     control for har_finelast: the same, from an untrained encoder of the HAR architecture
  self_fineall               pretrained on the target's own training inputs (no labels), FineAll
  self_finelast              the same encoder, FineLast (whole encoder frozen, linear head)
  frozen_random              control for self_finelast: an untrained encoder of the target's architecture, frozen
  scratch                    TimeMAE of the target's bench architecture, randomly initialised, all trains
  scratch_har_arch           control for har_fineall: TimeMAE of the HAR encoder's architecture (window 8) from
                             scratch; only run where it differs from `scratch` (BasicMotions: bench window 10)

Protocol: each target's own train/test split; every training series and label is used for fine-tuning (the bench's
validation split is put back into training: no decision reads validation labels); `fit_one_cycle` for the target's
bench `finetune_epochs` at the bench's learning rate per mode (`finelast_lr`, `fineall_lr`, `scratch_lr`); the FINAL
epoch is scored on the test split once. Mean ± std (ddof 0) over seeds; accuracy and macro-F1.

One JSON per (target, method, seed) under `<out>/results/<target>/<method>_seed<k>.json`; `<out>/TRANSFER.md` is
generated from those files alone (`--report-only` regenerates it). Hand-written reading: `<out>/notes.md`, included.

    TIMEMAE_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/transfer.py --seeds 0 1 2

HAR pretraining reuses `tsai_timemae.bench.pretrain_timemae` with the label-efficiency run's configuration (k-means
tokenizer; 40 epochs, the first label study's, unless `--source-epochs` says otherwise: 100 is the label study's
encoder today), cached under `--cache-dir` (`--source-cache-dir` to read HAR encoders from elsewhere); from a clean
clone the script pretrains HAR itself (about 10 minutes per seed on one CPU thread at 40 epochs).

    python benchmarks/transfer.py --source-epochs 100 --out benchmarks/transfer/har100ep
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import shutil
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

warnings.filterwarnings('ignore')
REPO = Path(__file__).resolve().parent.parent

SOURCE = 'HAR'
TARGETS = ('BasicMotions', 'UEA/Epilepsy')
METHODS = ('har_fineall', 'har_finelast', 'frozen_random_har_arch', 'self_fineall', 'self_finelast', 'frozen_random',
           'scratch', 'scratch_har_arch')
USES_SOURCE = ('har_fineall', 'har_finelast')
LABELS = {
    'har_fineall': 'HAR-pretrained, FineAll (new patch embedding)',
    'har_finelast': 'HAR-pretrained, FineLast (new patch embedding + head train)',
    'frozen_random_har_arch': 'untrained HAR-architecture encoder, FineLast (new patch embedding + head train)',
    'self_fineall': 'pretrained on the target, FineAll',
    'self_finelast': 'pretrained on the target, FineLast (head only)',
    'frozen_random': 'untrained target-architecture encoder, FineLast (head only)',
    'scratch': 'from scratch, target bench architecture',
    'scratch_har_arch': 'from scratch, HAR encoder architecture (window 8)',
}
# the untrained control each pretrained method is read against (same architecture, same parts trainable)
BASELINE = {'har_fineall': 'scratch_har_arch', 'har_finelast': 'frozen_random_har_arch',
            'self_fineall': 'scratch', 'self_finelast': 'frozen_random'}
LR_KEY = {'har_fineall': 'fineall_lr', 'self_fineall': 'fineall_lr', 'har_finelast': 'finelast_lr',
          'self_finelast': 'finelast_lr', 'frozen_random_har_arch': 'finelast_lr', 'frozen_random': 'finelast_lr',
          'scratch': 'scratch_lr', 'scratch_har_arch': 'scratch_lr'}
MARK = {'up': '▲', 'down': '▼', 'same': '≈', None: ''}


# ---------------------------------------------------------------------------------------------------- configuration
SOURCE_EPOCHS = 40  # the first label study's HAR encoders; the committed `benchmarks/transfer/` table used them

def source_config(bench, epochs: int = SOURCE_EPOCHS) -> dict:
    "The label-efficiency run's HAR pretraining (so its cached encoders are reused): k-means tokenizer, `epochs` epochs."
    return {**bench.bench_config(SOURCE, pretrain_epochs=epochs), 'tokenizer': 'kmeans', **bench.TOKENIZER_SETTINGS['kmeans'],
            'label_fraction': None}

def target_config(bench, target: str, epochs: int | None = None) -> dict:
    "The target's bench settings with the library's default (k-means) pretraining; `epochs` (smoke) overrides both budgets."
    over = {} if epochs is None else dict(pretrain_epochs=epochs, finetune_epochs=epochs)
    return {**bench.bench_config(target, **over), 'tokenizer': 'kmeans', **bench.TOKENIZER_SETTINGS['kmeans'],
            'label_fraction': None, 'selection': 'last'}

def arch_of(bench, cfg) -> dict:
    "The TimeMAE architecture of a bench configuration, as `TimeMAE(...)` keyword arguments."
    return dataclasses.asdict(bench.timemae_arch(cfg))

def methods_for(bench, target_cfg, src_cfg, methods) -> list[str]:
    "`scratch_har_arch` only where the HAR architecture differs from the target's (else it is `scratch` itself)."
    return [m for m in methods if not (m == 'scratch_har_arch' and arch_of(bench, target_cfg) == arch_of(bench, src_cfg))]


# ---------------------------------------------------------------------------------------------------- helpers
def git_commit() -> str | None:
    try:
        out = subprocess.run(['git', '-C', str(REPO), 'rev-parse', 'HEAD'], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(['git', '-C', str(REPO), 'status', '--porcelain', '--', 'tsai_timemae'],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ('+dirty(tsai_timemae)' if dirty else '') if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError): return None

def sha1_file(path) -> str:
    h = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''): h.update(block)
    return h.hexdigest()

def full_train(ds):
    "The target with its bench validation split put back into training: every training series and label."
    X = np.concatenate([ds.X_train, ds.X_valid]); y = np.concatenate([ds.y_train, ds.y_valid])
    return dataclasses.replace(ds, X_train=X, y_train=y, X_valid=ds.X_valid[:0], y_valid=ds.y_valid[:0],
                               valid_from=f'none: the bench validation split ({len(ds.y_valid)} series) put back into training')

def source_stem(bench, ds_src, src_cfg, seed, cache_dir) -> Path:
    "Where `bench.pretrain_timemae` caches the HAR encoder of this seed (no suffix)."
    return bench.cache_path(cache_dir, ds_src.name, ds_src.source, bench.timemae_pretraining(src_cfg), seed)

def pretraining_summary(pre: dict) -> dict:
    "What a result file keeps of a pretraining: where, how long, and its final epoch (not the whole history)."
    h = pre.get('history') or []
    return {'weights': pre['weights'], 'weights_sha1': sha1_file(pre['weights']), 'cached': pre['cached'],
            'wall_s': pre.get('wall_s'), 'epochs': len(h), 'final_epoch': h[-1] if h else None}

def result_file(out: Path, bench, target: str, method: str, seed: int) -> Path:
    return out / 'results' / bench.dataset_key(target) / f'{method}_seed{seed}.json'

def random_encoder(bench, c_in: int, arch: dict, seed: int, path: Path) -> Path:
    "An untrained encoder file (PyTorch's default initialisation, seeded), read back like a pretrained one."
    from fastai.torch_core import set_seed
    from tsai_timemae.model import TimeMAE
    from tsai_timemae.weights import save_encoder_weights
    set_seed(seed, reproducible=True)
    return save_encoder_weights(TimeMAE(c_in, None, **arch), path)


# ---------------------------------------------------------------------------------------------------- one run
def run_one(bench, method, target, ds, cfg, src, seed, cache_dir, out: Path) -> dict:
    from fastai.metrics import accuracy
    from tsai.learner import ts_learner
    from tsai_timemae.model import TimeMAE
    from tsai_timemae.transfer import fineall_learner, finelast_learner
    from tsai_timemae.data import data_fingerprint
    from tsai_timemae.weights import read_encoder_file
    ds_ft = full_train(ds)
    idx = np.arange(len(ds_ft.y_train))
    work = Path(tempfile.mkdtemp(prefix='timemae_transfer_'))
    common = dict(metrics=accuracy, seed=seed, path=work, model_dir='.')
    src_cfg = src['cfg']
    pre, printed, settings = None, io.StringIO(), {}
    try:
        t0 = time.perf_counter()
        with bench.PeakMemory() as mem:
            # pretraining (cached: target pretrainings are shared by self_fineall and self_finelast)
            if method in USES_SOURCE:
                pre = src['pretrain'](seed)
            elif method.startswith('self_'):
                pre = bench.pretrain_timemae(ds, bench.timemae_pretraining(cfg), seed, cache_dir, bar=False)
            t_pre = time.perf_counter()
            dls = bench.make_dls(ds_ft, cfg['bs'], seed, label_idx=idx)  # scaling fitted on every training input
            with contextlib.redirect_stdout(printed):
                if method in USES_SOURCE:
                    make = fineall_learner if method == 'har_fineall' else finelast_learner
                    learn = make(dls, pre['weights'], reinit='patch_embed', n_heads=src_cfg['n_heads'],
                                 dropout=cfg['dropout'], **common)
                elif method == 'frozen_random_har_arch':
                    w = random_encoder(bench, src['c_in'], arch_of(bench, src_cfg), seed, work / 'untrained_har_arch.pth')
                    learn = finelast_learner(dls, w, reinit='patch_embed', n_heads=src_cfg['n_heads'],
                                             dropout=cfg['dropout'], **common)
                elif method == 'frozen_random':
                    w = random_encoder(bench, ds.c_in, arch_of(bench, cfg), seed, work / 'untrained.pth')
                    learn = finelast_learner(dls, w, n_heads=cfg['n_heads'], dropout=cfg['dropout'], **common)
                elif method in ('self_fineall', 'self_finelast'):
                    make = fineall_learner if method == 'self_fineall' else finelast_learner
                    learn = make(dls, pre['weights'], n_heads=cfg['n_heads'], d_ff=cfg['d_ff'], dropout=cfg['dropout'],
                                 **common)
                elif method == 'scratch':
                    learn = ts_learner(dls, TimeMAE, **common, **arch_of(bench, cfg))
                elif method == 'scratch_har_arch':
                    learn = ts_learner(dls, TimeMAE, **common, **{**arch_of(bench, src_cfg), 'dropout': cfg['dropout']})
                else: raise ValueError(f'unknown method {method!r}')
            bb = learn.model.backbone
            settings = {
                'method': method, 'label': LABELS[method], 'lr_key': LR_KEY[method], 'lr': cfg[LR_KEY[method]],
                'finetune_epochs': cfg['finetune_epochs'], 'bs': cfg['bs'], 'schedule': 'fit_one_cycle',
                'selection': 'last (final epoch, no validation)', 'n_finetune': len(idx),
                'model': {k: v for k, v in bb.config.items()},
                'pos_table_rows': int(bb.pos_embed.shape[1]), 'n_patches': -(-ds.seq_len // bb.window),
                'reinit': 'patch_embed' if method in USES_SOURCE or method == 'frozen_random_har_arch' else None,
                'reinitialised': list(getattr(learn, 'reinitialised', [])),
                'trainable_during_fit': None,
            }
            fit = bench.fit_select_score(learn, bench.Training(cfg['finetune_epochs'], cfg[LR_KEY[method]], cfg['selection']),
                                         ds_ft, bar=False)
            # which backbone tensors trained: FreezeEncoder restores flags after fit, so compare against what it froze
            from tsai_timemae.transfer import FreezeEncoder
            fz = [cb for cb in learn.cbs if isinstance(cb, FreezeEncoder)]
            settings['trainable_during_fit'] = (['backbone (all)', 'head'] if not fz else
                                                # the caller's parts and the re-initialised ones (`learn.reinitialised`,
                                                # which FreezeEncoder trains since 5191321; `trainable` no longer holds them)
                                                [f'backbone.{t}' for t in dict.fromkeys((*fz[0].trainable,
                                                 *(f'{n}*' for n in getattr(learn, 'reinitialised', []))))] + ['head'])
        wall = time.perf_counter() - t0
    finally: shutil.rmtree(work, ignore_errors=True)
    pre_new = pre is not None and not pre['cached']
    record = {
        'target': target, 'method': method, 'seed': seed, 'metrics': fit['metrics'], 'history': fit['history'],
        'final_epoch': fit['best_epoch'], 'settings': settings,
        'target_config': {k: v for k, v in cfg.items() if k != 'overrides'},
        'source': None if method not in USES_SOURCE else {
            'dataset': SOURCE, 'config': {k: v for k, v in src_cfg.items() if k != 'overrides'},
            'c_in': src['c_in'], 'seq_len': src['seq_len'], 'pretraining': pretraining_summary(pre),
            'file_stores_settings': read_encoder_file(pre['weights'])[1] is not None},
        'pretraining': pretraining_summary(pre) if pre is not None else None,
        'pretrained_now': pre_new, 'wall_s': round(wall, 2),
        'pretrain_wall_s': round(t_pre - t0, 2) if pre_new else 0., 'train_wall_s': round(wall - (t_pre - t0), 2),
        **mem.summary(), 'quick': bool(cfg.get('quick_epochs')), 'printed': printed.getvalue().strip()[-2000:],
        'data': {**ds_ft.summary(), 'sha1': data_fingerprint(ds)},  # every split as loaded: a rerun on other data is refused
        'versions': bench.package_versions(), 'env': bench.environment(),
        'git_commit': git_commit(), 'finished': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        # the command line that made it, and where it ran (its paths may be relative); records before it lack both
        **({'command': COMMAND, 'cwd': os.getcwd()} if COMMAND else {}),
    }
    bench.write_json_atomic(record, result_file(out, bench, target, method, seed))
    return record


# ---------------------------------------------------------------------------------------------------- report
def load_records(out: Path) -> list[dict]:
    recs = []
    for p in sorted((out / 'results').glob('*/*_seed*.json')):
        recs.append(json.loads(p.read_text()))
    return recs

def _fmt(a) -> str: return f'{np.mean(a):.2f} ± {np.std(a):.2f}'

def paired(rec_a: dict, rec_b: dict, key: str):
    "Mean and std (ddof 0) over shared seeds of a - b (percentage points), and ▲/▼ when |mean| exceeds that spread."
    seeds = sorted(set(rec_a) & set(rec_b))
    if not seeds: return None
    d = np.array([rec_a[s]['metrics'][key] - rec_b[s]['metrics'][key] for s in seeds]) * 100
    m, sd = float(d.mean()), float(d.std())
    verdict = None if len(seeds) < 2 else ('up' if m > sd else 'down' if m < -sd else 'same')
    return {'seeds': seeds, 'mean': m, 'std': sd, 'verdict': verdict,
            'up': int((d > 1e-9).sum()), 'down': int((d < -1e-9).sum()), 'tie': int((np.abs(d) <= 1e-9).sum())}

def _delta(p) -> str:
    if p is None: return '–'
    return (f"{MARK[p['verdict']]} {p['mean']:+.2f} ± {p['std']:.2f} "
            f"({p['up']} up, {p['down']} down, {p['tie']} tied)").strip()

def _recorded(recs, get, fmt=str) -> str:
    """A target setting as the result files hold it: one value when every target shares it, else one per target
    ("10 for BasicMotions, 8 for UEA Epilepsy"), so the protocol text says what ran, not what the script once used."""
    per = {}
    for r in recs:
        try: v = get(r)
        except (KeyError, TypeError): continue  # a record without that setting says nothing about it
        per.setdefault(r['target'].replace('UEA/', 'UEA '), set()).add(v)
    if not per: return '?'
    every = {v for vs in per.values() for v in vs}
    if len(every) == 1: return fmt(next(iter(every)))
    return ', '.join(f"{'/'.join(fmt(v) for v in sorted(vs))} for {t}" for t, vs in per.items())

def render(out: Path, cmd_extra: str = '') -> str:
    recs = load_records(out)
    cfg = lambda key: (lambda r: r['target_config'][key])
    lr = lambda v: (f'{v:.0e}' if float(f'{v:.0e}') == v else f'{v:g}').replace('e-0', 'e-')  # 1e-3; 0.0015 as it is
    by = {}
    for r in recs: by.setdefault((r['target'], r['method']), {})[r['seed']] = r
    here = out.resolve()
    # the HAR encoders' length as the records hold it (the committed table predates `--source-epochs`: 40)
    src_epochs = ', '.join(sorted({str(r['source']['config']['pretrain_epochs']) for r in recs if r.get('source')}) or
                           [str(SOURCE_EPOCHS)])
    # named from the repository root when the folder is inside it, so the text reads the same inside BENCHMARKS.md
    try: rel_results = (out.resolve() / 'results').relative_to(REPO).as_posix()
    except ValueError: rel_results = os.path.relpath(out / 'results', here)
    lines = ['# Transfer across data sets: HAR → BasicMotions, UEA Epilepsy (TimeMAE paper 4.2.2)', '',
             f'<!-- generated by benchmarks/transfer.py from {rel_results}/*/*.json; do not edit by hand: edit '
             f'{Path(rel_results).parent.as_posix()}/notes.md or re-run the script -->', '',
             'An encoder pretrained on HAR (9 channels, length 128) fine-tuned on data sets with other channels, against '
             'pretraining on the target itself and against untrained controls. Every number below is read from a result '
             f'file `{rel_results}/<target>/<method>_seed<k>.json`, which also holds the settings, the per-epoch '
             'losses, wall time, peak memory, package versions and the git commit of the run.', '']
    if any(r.get('quick') for r in recs):
        lines += ['**Some results are smoke runs (`--epochs`), marked (quick); they are not measurements.**', '']
    lines += ['## Protocol', '',
              '1. **Source.** TimeMAE pretrained on HAR\'s training + validation inputs (no labels) with '
              '`tsai_timemae.bench.pretrain_timemae` and the label-efficiency run\'s configuration: '
              f'`{{**bench_config(\'HAR\', pretrain_epochs={src_epochs}), \'tokenizer\': \'kmeans\', **TOKENIZER_SETTINGS[\'kmeans\']}}` '
              '(`TimeMAEPretrain()`\'s defaults: frozen k-means codes sized from the data, normalised MRR targets, '
              'MCC and MRR weighted equally; window 8, d_model 64, 8 layers, 4 heads, d_ff 256; final epoch kept). '
              'One encoder per seed; seed k of the target uses HAR seed k.',
              '2. **Targets.** Each target\'s own train/test split. Fine-tuning uses **every** training series and '
              'label (the bench\'s 20% validation split is put back into training; training series: '
              f"{_recorded(recs, lambda r: r['data']['n_train'])}). "
              'The scaling (`TSStandardize`, per channel) is fitted on those training inputs '
              '(`bench.make_dls(..., label_idx=all)`).',
              '3. **Transfer.** The target learner is built with the HAR encoder\'s architecture, read from the '
              'weights file (`arch_from_weights`): window 8, whatever the target\'s bench window. '
              '`fineall_learner` / `finelast_learner(dls, weights, reinit=\'patch_embed\')` give it a new patch '
              'embedding for the target\'s channels; the position table is re-initialised only if its shape differs '
              '(see "What was re-initialised"). FineLast trains the new patch embedding and the linear head '
              '(`linear_probe_head`), the rest of the encoder frozen in eval mode.',
              '4. **Target pretraining** (self_*): `bench.pretrain_timemae` on the target\'s training inputs (all '
              'of them, no labels; `pretrain_inputs=\'train+valid\'`) with the target\'s bench settings '
              f"(`bench_config(target)`: {_recorded(recs, cfg('pretrain_epochs'))} epochs, the target\'s bench window: "
              f"{_recorded(recs, cfg('window'))}) and the same k-means tokenizer settings.",
              '5. **Fine-tuning.** `fit_one_cycle` for the target\'s bench `finetune_epochs` '
              f"({_recorded(recs, cfg('finetune_epochs'))}) with its batch size ({_recorded(recs, cfg('bs'))}), at the "
              f"bench\'s full-label learning rates: FineLast {_recorded(recs, cfg('finelast_lr'), lr)}, FineAll "
              f"{_recorded(recs, cfg('fineall_lr'), lr)}, scratch {_recorded(recs, cfg('scratch_lr'), lr)} "
              '(`bench.DEFAULTS`). The **final epoch** is scored on the test split, once: no validation split, no '
              'epoch selection, nothing tuned on the test split.',
              '6. **Metrics.** Accuracy and macro-F1 (scikit-learn) on the test split, mean ± std (ddof 0) over '
              'seeds. Each seed changes the HAR and target pretraining, initialisation and batch order.',
              '7. **Controls.** Every pretrained row is read against the untrained run with the same architecture and '
              'the same trainable parts: HAR FineAll against TimeMAE from scratch with the HAR architecture (window 8; on UEA Epilepsy, whose '
              'bench window is 8, that is `scratch`); '
              'HAR FineLast against the same FineLast on an *untrained* encoder of the HAR architecture (new patch '
              'embedding + head train, the random Transformer frozen); target FineAll against scratch (target bench '
              'architecture); target FineLast against an untrained frozen encoder of the target architecture (head only). Δ is '
              'the paired difference per seed (percentage points), mean ± std over seeds: ▲/▼ where the mean exceeds '
              'the std of the paired differences (beyond the seed spread), ≈ otherwise; then how many seeds '
              'went up, down or tied. With two or three seeds this is a low bar: read the counts and the size of one '
              'test series (given per target) with it.', '']
    lines += ['## Results', '']
    targets = list(dict.fromkeys(r['target'] for r in recs))
    if not recs: lines += ['No result files yet.', '']
    for t in targets:
        d = next(r['data'] for r in recs if r['target'] == t)
        lines += [f'### {t}', '', f"{d['n_train']} training series (all fine-tuned on), {d['n_test']} test series; "
                  f"{d['c_in']} channels, length {d['seq_len']}, {d['n_classes']} classes. One test series is "
                  f"{100 / d['n_test']:.2f} accuracy points.", '',
                  '| method | seeds | accuracy % | macro-F1 % | untrained control | control acc % (same seeds) | Δ acc | Δ F1 | fine-tune s |',
                  '|---|---|---|---|---|---|---|---|---|']
        for m in METHODS:
            rs = by.get((t, m))
            if not rs: continue
            flag = ' (quick)' if any(r.get('quick') for r in rs.values()) else ''
            acc = [r['metrics']['accuracy'] * 100 for r in rs.values()]
            f1 = [r['metrics']['macro_f1'] * 100 for r in rs.values()]
            base = BASELINE.get(m)
            if base is not None and base not in {mm for (tt, mm) in by if tt == t}:
                base = 'scratch' if base == 'scratch_har_arch' else base  # same architecture on this target
            bs = by.get((t, base)) if base else None
            if bs: bs = {k: v for k, v in bs.items() if k in rs} or None  # the control over the row's own seeds
            ctrl = (f"{base}", _fmt([r['metrics']['accuracy'] * 100 for r in bs.values()]),
                    _delta(paired(rs, bs, 'accuracy')), _delta(paired(rs, bs, 'macro_f1'))) if bs else ('–',) * 4
            secs = np.mean([r['train_wall_s'] for r in rs.values()])
            lines.append(f"| **{m}**{flag}: {LABELS[m]} | {','.join(map(str, sorted(rs)))} | {_fmt(acc)} | {_fmt(f1)} | "
                         f"{' | '.join(ctrl)} | {secs:.0f} |")
        # the transfer question proper: HAR-pretrained against pretrained on the target
        cmp_rows = []
        for a, b in (('har_fineall', 'self_fineall'), ('har_finelast', 'self_finelast'), ('har_fineall', 'scratch')):
            if (t, a) in by and (t, b) in by:
                cmp_rows.append(f"| {a} − {b} | {_delta(paired(by[(t, a)], by[(t, b)], 'accuracy'))} | "
                                f"{_delta(paired(by[(t, a)], by[(t, b)], 'macro_f1'))} |")
        if cmp_rows:
            lines += ['', 'HAR-pretrained against the other starts (paired per seed, percentage points):', '',
                      '| difference | Δ acc | Δ F1 |', '|---|---|---|', *cmp_rows]
        lines += ['']
    # what the transfer re-initialised, as recorded
    re_rows = []
    for (t, m), rs in by.items():
        if m not in USES_SOURCE: continue
        r = next(iter(rs.values())); s = r['settings']
        src = r['source']
        re_rows.append(f"| {t} | {m} | {src['c_in']} ch × {src['seq_len']} → {r['data']['c_in']} ch × {r['data']['seq_len']} | "
                       f"{s['model']['window']} | {s['n_patches']} of {s['pos_table_rows']} rows | "
                       f"{', '.join(s['reinitialised']) or 'nothing'} | {', '.join(x.rstrip('*') for x in s['trainable_during_fit'])} |")
    if re_rows:
        har = [r for r in recs if r['method'] in USES_SOURCE]
        pos_kept = all('pos_embed' not in r['settings']['reinitialised'] for r in har)
        bare = [r for r in har if r['source'].get('file_stores_settings') is False]
        lines += ['## What was re-initialised', '',
                  'As recorded in the result files (`settings.reinitialised`, i.e. `learn.reinitialised`). ' +
                  ('The HAR encoders were built by tsai with the default `max_seq_len=8192`, so their position table has '
                   '1024 rows at window 8; the target model, built with the architecture read from the file (window 8, '
                   'max_seq_len 8192), has a table of the same shape, so the pretrained position table is **kept** (the '
                   'target uses its first rows, as HAR did) and only the patch embedding (the Conv1d from the channels to '
                   'd_model, weight and bias) starts afresh. ' if pos_kept else
                   'In some runs the position table had another shape and was re-initialised too (see the table). ') +
                  ('The cached HAR encoders are bare state_dicts (written by the label-efficiency run\'s checkout, '
                   'without the stored settings): the architecture was read from their tensor shapes and `n_heads=4` '
                   '(the bench setting they were pretrained with) was passed explicitly. ' if bare else ''), '',
                  '| target | method | channels × length | window | patches used of table | re-initialised | trained |',
                  '|---|---|---|---|---|---|---|', *sorted(re_rows), '']
    # target pretrainings (self_*): one per target and seed, shared by self_fineall and self_finelast
    tp = {}
    for r in recs:
        if r['method'].startswith('self_') and r.get('pretraining'):
            tp.setdefault((r['target'], r['seed']), (r['pretraining'], r['settings']['model']['window']))
    if tp:
        lines += ['## Target pretrainings (self_*)', '', '| target | seed | window | epochs | pretraining s | final MCC / MRR loss (train) |',
                  '|---|---|---|---|---|---|']
        for (t, sd), (pz, w) in sorted(tp.items()):
            fe = pz.get('final_epoch') or {}
            lines.append(f"| {t} | {sd} | {w} | {pz['epochs']} | {pz['wall_s'] if pz['wall_s'] is not None else '–'} | "
                         f"{fe.get('train_mcc', float('nan')):.3f} / {fe.get('train_mrr', float('nan')):.3f} |")
        lines += ['']
    # source encoders
    srcs = {}
    for r in recs:
        if r.get('source'): srcs[r['seed']] = r['source']['pretraining']
    if srcs:
        lines += ['## HAR encoders used', '', '| seed | file | sha1 | pretraining epochs | pretraining s | final MCC / MRR loss (train) |',
                  '|---|---|---|---|---|---|']
        for s, p in sorted(srcs.items()):
            fe = p.get('final_epoch') or {}
            lines.append(f"| {s} | `{Path(p['weights']).name}` | {p['weights_sha1'][:12]} | {p['epochs']} | "
                         f"{p['wall_s'] if p['wall_s'] is not None else '–'} | {fe.get('train_mcc', float('nan')):.3f} / "
                         f"{fe.get('train_mrr', float('nan')):.3f} |")
        lines += ['']
    seeds = sorted({r['seed'] for r in recs})
    tg = ' '.join(targets) or ' '.join(TARGETS)
    wall = sum(r['wall_s'] for r in recs)
    lines += ['## Regenerate', '',
              'From the repository root (resumes: a result file that exists is kept; `--overwrite` redoes it). From a '
              f'clean clone it first pretrains HAR itself ({src_epochs} epochs; about 15 seconds per epoch and seed on '
              'one CPU thread); the target '
              'pretrainings take 15 to 90 s each:', '',
              '```', f'TIMEMAE_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/transfer.py --seeds '
              f"{' '.join(map(str, seeds or [0, 1, 2]))} --targets {tg}{cmd_extra}"
              f"{'' if src_epochs == str(SOURCE_EPOCHS) else f' --source-epochs {src_epochs}'}", '```', '',
              '`--report-only` rewrites this file from the result files. '
              f'The runs here took {wall / 60:.1f} minutes in all (wall time, one CPU thread, on a machine shared with '
              'another benchmark; pretraining that was read from the cache not counted).', '']
    notes = out / 'notes.md'
    if notes.is_file():
        lines += [notes.read_text().rstrip(), '']
    return '\n'.join(lines).rstrip() + '\n'


# ---------------------------------------------------------------------------------------------------- main
COMMAND = None  # the command line of this run, set by `main`, written into each result file


def main(argv=None):
    global COMMAND
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--targets', nargs='+', default=list(TARGETS))
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    p.add_argument('--out', default='benchmarks/transfer', help='results/ and TRANSFER.md go here')
    p.add_argument('--cache-dir', default='benchmarks/cache', help='pretrained encoders (bench.pretrain_timemae cache)')
    p.add_argument('--source-epochs', type=int, default=SOURCE_EPOCHS,
                   help=f'HAR pretraining epochs (default {SOURCE_EPOCHS}; the label study\'s encoder today has 100)')
    p.add_argument('--source-cache-dir', help='where the HAR encoders are looked up / written (default: --cache-dir)')
    p.add_argument('--no-source-pretrain', action='store_true',
                   help='never pretrain HAR: skip the HAR-pretrained runs of a seed whose HAR encoder is not cached')
    p.add_argument('--root', help='data folder (default: $TIMEMAE_DATA, else ../shared/data)')
    p.add_argument('--epochs', type=int, help='smoke test: target pretraining and fine-tuning epochs (results marked quick)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    p.add_argument('--overwrite', action='store_true', help='redo runs whose result file exists')
    p.add_argument('--report-only', action='store_true', help='only regenerate TRANSFER.md from the result files')
    args = p.parse_args(argv)
    for flag in ('epochs', 'source_epochs', 'threads'):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    out = Path(args.out)
    extra = '' if args.out == 'benchmarks/transfer' else f' --out {args.out}'  # `--source-epochs`: from the records
    if args.report_only:
        print('wrote', write_report(out, extra)); return
    import shlex
    COMMAND = shlex.join(['python', 'benchmarks/transfer.py', *(sys.argv[1:] if argv is None else argv)])
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from tsai_timemae import bench
    from tsai_timemae.data import data_fingerprint, load_dataset

    src_cfg = source_config(bench, args.source_epochs)
    ds_src = None
    src_cache = Path(args.source_cache_dir or args.cache_dir)

    def src_ds():
        nonlocal ds_src
        if ds_src is None:
            ds_src = load_dataset(SOURCE, args.root, valid_size=src_cfg['valid_size'], seed=src_cfg['split_seed'],
                                  pad_value=src_cfg['pad_value'])
        return ds_src

    def pretrain_source(seed):
        t = time.perf_counter()
        pre = bench.pretrain_timemae(src_ds(), bench.timemae_pretraining(src_cfg), seed, src_cache, bar=False)
        print(f"  HAR encoder seed {seed}: {'cached' if pre['cached'] else f'pretrained in {time.perf_counter() - t:.0f} s'} "
              f"({pre['weights']})", flush=True)
        return pre

    src = {'cfg': src_cfg, 'pretrain': pretrain_source, 'c_in': 9, 'seq_len': 128}
    t_all = time.perf_counter()
    for target in args.targets:
        cfg = target_config(bench, target, args.epochs)
        if args.epochs is not None: cfg['quick_epochs'] = args.epochs
        ds = load_dataset(target, args.root, valid_size=cfg['valid_size'], seed=cfg['split_seed'], pad_value=cfg['pad_value'])
        methods = methods_for(bench, cfg, src_cfg, args.methods)
        for seed in args.seeds:
            for m in methods:
                path = result_file(out, bench, target, m, seed)
                if path.is_file() and not args.overwrite:
                    rec = json.loads(path.read_text())
                    # a smoke run (`--epochs`) is never kept as a measurement, nor a measurement in a smoke run's place
                    made = rec.get('target_config', {})
                    differ = [k for k in ('pretrain_epochs', 'finetune_epochs') if k in made and made[k] != cfg[k]]
                    other = [k for k in cfg if k not in ('overrides', 'quick_epochs', *differ) and k in made and made[k] != cfg[k]]
                    if other:  # any other setting the target's bench row gives (bs, window, lrs, ...): not this run's number
                        raise SystemExit(f"{path} was made with other settings for {target} ("
                                         f"{', '.join(f'{k} {made[k]!r} now {cfg[k]!r}' for k in other)}): use another "
                                         '--out, or --overwrite to replace it.')
                    was, now = rec.get('data', {}), {**full_train(ds).summary(), 'sha1': data_fingerprint(ds)}
                    # files before session 49 have no fingerprint: their sizes are compared (not their folder: the same
                    # files reached by another path, e.g. TIMEMAE_DATA=../shared/data, are the same data)
                    keys = ('sha1',) if 'sha1' in was else ('n_train', 'n_test', 'c_in', 'seq_len')
                    changed = [k for k in keys if k in was and was[k] != now[k]]
                    if changed:
                        raise SystemExit(f"{path} was made from other data than {target}'s now ({', '.join(changed)} differ: "
                                         f"{', '.join(f'{was[k]!r}' for k in changed)} then): use another --out, or "
                                         '--overwrite to replace it.')
                    if differ:
                        raise SystemExit(f"{path} was made with {', '.join(f'{k} {made[k]}' for k in differ)}, not "
                                         f"{', '.join(str(cfg[k]) for k in differ)}: use another --out, or --overwrite "
                                         'to replace it.')
                    if bool(rec.get('quick')) != (args.epochs is not None):
                        raise SystemExit(f"{path} is {'a smoke run (--epochs)' if rec.get('quick') else 'a measurement'}"
                                         f"{'' if args.epochs is None else ' and this is a smoke run (--epochs)'}: use "
                                         'another --out, or --overwrite to replace it.')
                    kept = rec.get('source') if m in USES_SOURCE else None
                    if kept and kept['config']['pretrain_epochs'] != args.source_epochs:
                        raise SystemExit(f"{path} was made with {kept['config']['pretrain_epochs']}-epoch HAR encoders, "
                                         f'not {args.source_epochs}: use another --out, or --overwrite to replace it.')
                    print(f'{target} {m} seed {seed}: exists, skipped'); continue
                if m in USES_SOURCE:
                    src['c_in'], src['seq_len'] = src_ds().c_in, src_ds().seq_len
                    # finished = the .json beside the .pth (`bench._cached`): the .pth is rewritten after every epoch
                    # while a pretraining runs, so on its own it may be a half-trained encoder
                    if args.no_source_pretrain and bench._cached(source_stem(bench, src_ds(), src_cfg, seed, src_cache)) is None:
                        print(f'{target} {m} seed {seed}: no finished HAR encoder for seed {seed} in {src_cache}, skipped '
                              '(--no-source-pretrain)', flush=True)
                        continue
                t = time.perf_counter()
                r = run_one(bench, m, target, ds, cfg, src, seed, args.cache_dir, out)
                print(f"{target} {m} seed {seed}: acc {r['metrics']['accuracy']:.4f} F1 {r['metrics']['macro_f1']:.4f} "
                      f"({time.perf_counter() - t:.0f} s; reinit {r['settings']['reinitialised']})", flush=True)
    print(f'all runs: {time.perf_counter() - t_all:.0f} s')
    print('wrote', write_report(out, extra))

def write_report(out: Path, extra: str = '') -> Path:
    sys.path.insert(0, str(REPO))
    from tsai_timemae.bench import write_text_atomic
    return write_text_atomic(render(out, extra), out / 'TRANSFER.md')

if __name__ == '__main__':
    main()
