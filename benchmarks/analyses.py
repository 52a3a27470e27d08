"""The TimeMAE paper's analyses (sections 4.2.4-4.2.8), each scored by the linear probe of `timemae probe`.

- masking (4.2.6): the mask ratio, and random against contiguous-span masking (`TimeMAEPretrain(masking='span')`);
- ablations (4.2.7): the default; without MCC (`alpha=0`); without MRR (`beta=0`); without the decoupled encoder
  (`decoupled=False`: the mask tokens go through the encoder with the visible ones);
- model size (4.2.4): `d_model` and the encoder's depth `n_layers`; pretraining-set size (4.2.5): a seeded random
  fraction of the unlabelled inputs (`run_probe(pretrain_fraction=F)`), at the default run's number of optimizer steps;
- t-SNE (4.2.8): the test series' embeddings before and after pretraining, coloured by class.

Every setting is one `run_probe` tag: pretraining on the training + validation inputs without labels, then a linear
probe (StandardScaler + LogisticRegression on the frozen mean-pooled features) by 5-fold cross-validation over the
training + validation series, beside the untrained encoder of the same seed. The probe never reads the test split;
only the t-SNE picture does. Run files go to `OUT/runs/<dataset>/<tag>/seed<k>.json` and are skipped when they exist
with the same settings, so an interrupted run resumes; figures and `OUT/ANALYSES.md` are regenerated from them.

    python benchmarks/analyses.py --threads 1                  # the committed figures (UEA/Epilepsy, 2 seeds, 50 epochs)
    python benchmarks/analyses.py --quick --out /tmp/analyses  # a tiny model, 1 epoch, BasicMotions: seconds
    python benchmarks/analyses.py --report-only                # figures and ANALYSES.md from the run files
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ANALYSES = ('masking', 'ablations', 'model_size', 'pretrain_size', 'tsne')
REPORT = 'ANALYSES.md'
SETTINGS_FILE = 'analyses.json'
DEFAULT_OUT = 'benchmarks/analyses'

FULL = dict(dataset='UEA/Epilepsy', seeds=[0, 1], epochs=50, arch={},
            mask_ratios=[0.15, 0.3, 0.45, 0.6, 0.75, 0.9], span_ratios=[0.3, 0.6, 0.9],
            d_models=[32, 64, 128], n_layers=[2, 4, 8], fractions=[0.1, 0.25, 0.5, 1.0])
QUICK = dict(dataset='BasicMotions', seeds=[0, 1], epochs=1, arch=dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, window=10),
             mask_ratios=[0.3, 0.6], span_ratios=[0.6], d_models=[8, 16], n_layers=[1, 2], fractions=[0.5, 1.0])


def default_mask_ratio() -> float:
    "`TimeMAEPretrain`'s mask ratio, read from the library (the default run is the point of the ratio sweep at it)."
    import inspect
    from tsai_timemae.pretrain import TimeMAEPretrain
    return inspect.signature(TimeMAEPretrain).parameters['mask_ratio'].default


@dataclass
class Setting:
    "One point of an analysis: a probe tag and what it changes from the default."
    analysis: str
    tag: str
    label: str
    x: float | str
    series: str = ''
    pretrain: dict = field(default_factory=dict)
    arch: dict = field(default_factory=dict)
    fraction: float | None = None
    full_codes: bool = False  # pretrain_size: as many k-means codes as the run on every input, not the share's own


def base_arch(cfg) -> dict:
    "The default architecture: TimeMAE's own defaults unless `cfg['arch']` sets some."
    from tsai_timemae.model import TimeMAE
    from tsai_timemae.probe import _signature_defaults
    return {**_signature_defaults(TimeMAE.__init__), **cfg['arch']}


def settings(cfg) -> list[Setting]:
    "Every analysis's settings, in the order they run (most telling first); the default tag is shared."
    arch0 = base_arch(cfg)
    d0, l0 = arch0['d_model'], arch0['n_layers']
    out = [Setting('ablations', 'default', 'TimeMAE (default)', 'TimeMAE (default)')]
    out += [Setting('ablations', t, l, l, pretrain=p) for t, l, p in
            (('no_mcc', 'w/o MCC (alpha=0)', {'alpha': 0.}), ('no_mrr', 'w/o MRR (beta=0)', {'beta': 0.}),
             ('no_decoupling', 'w/o decoupling', {'decoupled': False}))]
    for r in cfg['mask_ratios']:
        tag = 'default' if r == default_mask_ratio() else f'mask_ratio={r:g}'
        out.append(Setting('masking', tag, f'random, {r:g}', r, 'random', pretrain={} if tag == 'default' else {'mask_ratio': r}))
    for r in cfg['span_ratios']:
        p = {'masking': 'span', **({} if r == default_mask_ratio() else {'mask_ratio': r})}
        out.append(Setting('masking', f'span_mask_ratio={r:g}', f'span, {r:g}', r, 'span', pretrain=p))
    for d in cfg['d_models']:
        out.append(Setting('model_size', 'default' if d == d0 else f'd_model={d}', f'd_model={d}', d, 'd_model',
                           arch={} if d == d0 else {'d_model': d}))
    for n in cfg['n_layers']:
        out.append(Setting('model_size', 'default' if n == l0 else f'n_layers={n}', f'n_layers={n}', n, 'n_layers',
                           arch={} if n == l0 else {'n_layers': n}))
    for f in cfg['fractions']:
        out.append(Setting('pretrain_size', 'default' if f == 1 else f'fraction={f:g}', f'{f:.0%}', f * 100,
                           'own codes', fraction=None if f == 1 else f))
    for f in cfg['fractions']:  # the control: the library's rule gives a smaller share fewer codes
        if f != 1: out.append(Setting('pretrain_size', f'fraction={f:g}_full_codes', f"{f:.0%}, 100%'s codes", f * 100,
                                      'full codes', fraction=f, full_codes=True))
    return out


def codes_of(record) -> int:
    """The number of k-means codes a probe run's tokenizer had: the given `vocab_size`, else the library's rule
    (`default_vocab_size`) for the patches it pretrained on (every pretraining series is a training series there)."""
    from tsai_timemae.tokenizers import default_vocab_size
    eff = record['settings']['effective']
    if eff['pretrain'].get('vocab_size'): return int(eff['pretrain']['vocab_size'])
    d = record['data']
    return default_vocab_size(eff['pretrain']['tokenizer'], d['n_pretrain'] * math.ceil(d['seq_len'] / eff['arch']['window']))


# -- running ---------------------------------------------------------------------------------------------------------
def tsne_view(learn, ds, seed: int = 0) -> dict:
    "The t-SNE points (`plot_embeddings`) of `ds`'s test series and the silhouette of their embeddings by class."
    import matplotlib.pyplot as plt
    from sklearn.metrics import silhouette_score
    from tsai_timemae.embeddings import get_embeddings
    from tsai_timemae.plots import plot_embeddings
    X, y = ds.X_test, np.asarray(ds.y_test).ravel()
    fig, ax = plot_embeddings(learn, X, y, seed=seed)
    pts = ax.tsne_points
    plt.close(fig)
    emb = get_embeddings(learn, X)
    return {'points': np.round(pts, 3).tolist(), 'silhouette': float(silhouette_score(emb, y)), 'n': len(y)}


def tsne_settings(cfg) -> dict:
    "What the t-SNE picture depends on: it is the default run of the first seed."
    return dict(dataset=cfg['dataset'], seed=cfg['seeds'][0], epochs=cfg['epochs'], arch=dict(cfg['arch']))


def read_tsne(cfg, out: Path) -> dict | None:
    "`OUT/tsne.json` if it was drawn for these settings (`tsne_settings`), else None: a stale picture is never shown."
    path = out / 'tsne.json'
    if not path.exists(): return None
    tsne = json.loads(path.read_text())
    return tsne if {k: tsne.get(k) for k in tsne_settings(cfg)} == tsne_settings(cfg) else None


def run_all(cfg, out: Path, only=ANALYSES, root=None, log=print) -> list[dict]:
    """Run every setting's probe for every seed (skipping run files that exist); the t-SNE comes from the default run
    (redrawn when `tsne.json` was made with other settings)."""
    from tsai_timemae.bench import write_text_atomic
    from tsai_timemae.probe import run_probe
    runs_dir, records, default = out / 'runs', [], {}
    arch = dict(cfg['arch'])
    todo = [s for s in settings(cfg) if s.analysis in only or s.tag == 'default']  # the reference of every analysis
    tsne_path = out / 'tsne.json'
    want_tsne = 'tsne' in only and read_tsne(cfg, out) is None
    tsne = {}

    # the probe reads no test split (its data set's is empty): the t-SNE's test series come from the files themselves
    from tsai_timemae.data import load_dataset
    test_ds = load_dataset(cfg['dataset'], root) if want_tsne else None

    def hook(stage, learn, ds):
        tsne[stage] = tsne_view(learn, test_ds)
        tsne['y'] = [str(v) for v in np.asarray(test_ds.y_test).ravel()]

    seen = set()
    # the default first: its steps are the fraction runs' steps
    for s in sorted(todo, key=lambda s: s.tag != 'default'):
        if s.tag in seen: continue
        seen.add(s.tag)
        for seed in cfg['seeds']:
            kw = dict(seed=seed, pretrain_kwargs=s.pretrain, arch_kwargs={**arch, **s.arch}, tag=s.tag, out_dir=runs_dir,
                      root=root)
            if s.fraction is not None:  # at the default run's optimizer steps: the data differ, not the training
                kw.update(steps=default[seed]['steps'], epochs=None, pretrain_fraction=s.fraction)
            else: kw['epochs'] = cfg['epochs']
            if s.full_codes: kw['pretrain_kwargs'] = {**s.pretrain, 'vocab_size': codes_of(default[seed])}
            if s.tag == 'default' and seed == cfg['seeds'][0] and want_tsne: kw['on_encoder'] = hook
            t = time.perf_counter()
            r = run_probe(cfg['dataset'], **kw)
            if s.tag == 'default': default[seed] = r
            records.append(r)
            log(f'  {s.tag} seed {seed}: {r["final_score"]:.4f} (untrained {r["untrained_score"]:.4f}), '
                f'{time.perf_counter() - t:.0f} s')
    if want_tsne:
        if 'pretrained' not in tsne:  # the default run's file existed: run it again, unsaved, for the picture
            seed = cfg['seeds'][0]
            r = run_probe(cfg['dataset'], seed=seed, epochs=cfg['epochs'], arch_kwargs=arch, tag='default',
                          on_encoder=hook, root=root, verbose=False)
        else: r = default[cfg['seeds'][0]]
        tsne.update(tsne_settings(cfg), tag='default', untrained_score=r['untrained_score'],
                    final_score=r['final_score'])
        write_text_atomic(json.dumps(tsne), tsne_path)
    return records


# -- summaries -------------------------------------------------------------------------------------------------------
def _pct(xs): return np.asarray(xs, dtype=float) * 100


def summarize(cfg, runs) -> list[dict]:
    """One row per setting: probe and untrained scores in % over seeds (mean, std with ddof=0), and the paired
    differences (same seeds) to the untrained encoder and to the default setting."""
    by_tag = {}
    for r in runs:
        if r['dataset'] == _dataset_name(cfg, runs): by_tag.setdefault(r['tag'], {})[r['seed']] = r
    default = by_tag.get('default', {})
    rows = []
    for s in settings(cfg):
        rs = by_tag.get(s.tag, {})
        seeds = sorted(k for k in rs if k in cfg['seeds'])
        if not seeds: rows.append({'setting': s, 'n': 0}); continue
        f = _pct([rs[k]['final_score'] for k in seeds]); u = _pct([rs[k]['untrained_score'] for k in seeds])
        row = {'setting': s, 'n': len(seeds), 'seeds': seeds, 'mean': f.mean(), 'std': f.std(), 'u_mean': u.mean(),
               'u_std': u.std(), 'gain_mean': (f - u).mean(), 'gain_std': (f - u).std(),
               'wall_s': sum(rs[k]['wall_s'] for k in seeds), 'steps': rs[seeds[0]]['steps'],
               'n_pretrain': rs[seeds[0]]['data']['n_pretrain'], 'bs_used': rs[seeds[0]]['bs_used'],
               'scores': {k: rs[k]['final_score'] for k in seeds}, 'codes': codes_of(rs[seeds[0]])}
        both = [k for k in seeds if k in default]
        if both and s.tag != 'default':
            d = _pct([rs[k]['final_score'] - default[k]['final_score'] for k in both])
            row.update(vs_mean=d.mean(), vs_std=d.std(), vs_n=len(both))
        rows.append(row)
    return rows


def _dataset_name(cfg, runs) -> str:
    names = {r['dataset'] for r in runs}
    want = cfg['dataset']
    return want if want in names else next((r['dataset'] for r in runs if r.get('dataset_arg') == want), want)


def mark(mean, std, n) -> str:
    """▲/▼ when the paired difference's mean exceeds its spread over seeds (n > 1), ≈ within it, ? with one seed.
    Exceeds by more than float round-off: equal per-seed differences summed in another order differ by about 1e-14."""
    if n < 2: return '?'
    return '▲' if mean > std + 1e-9 else '▼' if mean < -std - 1e-9 else '≈'


# -- figures ---------------------------------------------------------------------------------------------------------
def _style(ax, xlabel, title):
    ax.set_xlabel(xlabel); ax.set_ylabel('linear-probe accuracy (%)'); ax.set_title(title, fontsize=10)
    ax.grid(alpha=.3); ax.legend(fontsize=8, loc='best')


def _line(ax, rows, xs=None, label='', color='C0', untrained=True, fmt='o-'):
    "Probe accuracy mean ± std over seeds as error bars at `xs` (default: each setting's x); the untrained dashed."
    x = xs if xs is not None else [r['setting'].x for r in rows]
    x = [xi for xi, r in zip(x, rows) if r['n']]
    rows = [r for r in rows if r['n']]
    if not rows: return
    ax.errorbar(x, [r['mean'] for r in rows], yerr=[r['std'] for r in rows], fmt=fmt, color=color, capsize=4,
                lw=1.5, ms=5, label=f'{label}pretrained (mean ± std over seeds)')
    if untrained:
        ax.plot(x, [r['u_mean'] for r in rows], '--', color='0.45', lw=1.2, label='untrained encoder')


def _subtitle(cfg, rows):
    n = max((r['n'] for r in rows), default=0)
    return f"{cfg['dataset']}, {n} seed{'s' * (n != 1)}, {_epochs(cfg['epochs'])}"

def _epochs(n) -> str: return f"{n} pretraining epoch{'s' * (n != 1)}"


def plot_masking(cfg, rows, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    rnd = [r for r in rows if r['setting'].series == 'random']
    spn = [r for r in rows if r['setting'].series == 'span']
    _line(ax, rnd, label='random masking, ')
    _line(ax, spn, label='span masking, ', color='C1', untrained=False)
    ax.set_xticks(sorted({r['setting'].x for r in rnd + spn}))
    _style(ax, 'mask ratio', f'Masking: ratio and kind ({_subtitle(cfg, rows)})')
    return _save(fig, path)


def plot_ablations(cfg, rows, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    done = [r for r in rows if r['n']]
    xs = list(range(len(done)))
    _line(ax, done, xs=xs, fmt='o')
    ax.set_xticks(xs, [r['setting'].label for r in done], fontsize=8)
    ax.set_xlim(-.5, len(done) - .5)
    _style(ax, '', f'Ablations ({_subtitle(cfg, rows)})')
    return _save(fig, path)


def plot_model_size(cfg, rows, path):
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    arch0 = base_arch(cfg)
    for ax, series, other in zip(axs, ('d_model', 'n_layers'), ('n_layers', 'd_model')):
        rs = [r for r in rows if r['setting'].series == series]
        _line(ax, rs)
        ax.set_xscale('log', base=2); ax.set_xticks([r['setting'].x for r in rs], [str(r['setting'].x) for r in rs])
        _style(ax, f'{series} ({other}={arch0[other]})', f'Model size: {series}')
    fig.suptitle(_subtitle(cfg, rows), fontsize=10)
    return _save(fig, path)


def plot_pretrain_size(cfg, rows, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    own = [r for r in rows if r['setting'].series == 'own codes']
    full = [r for r in rows if r['setting'].series == 'full codes']
    done = [r for r in rows if r['n']]
    c_full = next((r['codes'] for r in own if r['n'] and r['setting'].fraction is None), '?')
    _line(ax, own, label="the library's codes for the share, ")
    every = [r for r in own if r['setting'].fraction is None]  # the run on every input ends both lines
    _line(ax, full + every, label=f'{c_full} codes at every share (100%\'s), ', color='C1', untrained=False, fmt='s--')
    ax.set_xscale('log'); ax.set_xticks([r['setting'].x for r in own], [r['setting'].label for r in own])
    ax.minorticks_off()
    n, steps = max((r['n'] for r in done), default=0), max((r['steps'] for r in done), default=0)
    _style(ax, 'share of the unlabelled inputs pretrained on',
           f"Pretraining-set size ({cfg['dataset']}, {n} seed{'s' * (n != 1)}, {steps} optimizer steps each)")
    return _save(fig, path)


def plot_tsne(tsne, path):
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(10, 4.6))
    from tsai_timemae.plots import class_colours
    y = np.asarray(tsne['y'])
    def number_first(v):  # labels read back from JSON as text: '10' after '9', not after '1'
        try: return (0, float(v), '')
        except ValueError: return (1, 0., str(v))
    classes = sorted(np.unique(y), key=number_first)
    for ax, stage, title in zip(axs, ('untrained', 'pretrained'), ('before pretraining', 'after pretraining')):
        pts = np.asarray(tsne[stage]['points'])
        for c, colour in zip(classes, class_colours(len(classes))):  # distinct colours past 10 classes too
            sel = y == c
            ax.scatter(pts[sel, 0], pts[sel, 1], s=14, color=colour, label=c, alpha=.8, edgecolors='none')
        score = tsne['untrained_score' if stage == 'untrained' else 'final_score']
        ax.set_title(f"{title}: probe {score * 100:.1f}% (cv on train+valid), silhouette {tsne[stage]['silhouette']:.2f}", fontsize=9)
        ax.set_xticks([]); ax.set_yticks([])
        ax.legend(title='class', fontsize=7, title_fontsize=8, markerscale=1.5, loc='best')
    fig.suptitle(f"t-SNE of the {tsne[stage]['n']} test series' embeddings, {tsne['dataset']} "
                 f"(seed {tsne['seed']}, {_epochs(tsne['epochs'])})", fontsize=10)
    return _save(fig, path)


def _save(fig, path):
    from tsai_timemae.weights import save_figure
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return Path(path)


# -- report ----------------------------------------------------------------------------------------------------------
TITLES = {'masking': 'Masking (paper 4.2.6)', 'ablations': 'Ablations (paper 4.2.7)', 'model_size': 'Model size (paper 4.2.4)',
          'pretrain_size': 'Pretraining-set size (paper 4.2.5)', 'tsne': 'Visualisation (paper 4.2.8)'}
QUESTIONS = {
    'masking': 'How much of a series should be masked, and do random patches teach more than one contiguous span '
               '(same number of masked patches)? The default masks 60% at random.',
    'ablations': 'Is each part needed: the masked codeword classification (MCC), the masked representation regression '
                 '(MRR), and the decoupled encoder that keeps the mask tokens out of the visible encoder?',
    'model_size': 'Does a wider (`d_model`, with `d_ff`={d_ff} and the {n_heads} heads unchanged) or deeper (`n_layers`) '
                  'encoder learn better features from the same data?',
    'pretrain_size': 'Does pretraining on more unlabelled series help? Each run pretrains on a seeded random share of '
                     'the inputs (10% is a subset of 25%, and so on) for the same number of optimizer steps as the '
                     'default run on all of them; the probe always scores every series. The untrained score moves a '
                     'little with the share: the standardization is fitted on the series pretrained on. The number of '
                     "k-means codes follows the library's rule (about one per 100 pretraining patches, at least 16), so "
                     'a smaller share also gets fewer codes (column *codes*); the rows "..., 100%\'s codes" keep the '
                     'number the run on every input had, so that data and codes are not changed together. A given '
                     '`vocab_size` also skips a draw the default makes (it reads the series length from one batch), so '
                     'those rows are another random draw as well: where a share gets the same codes either way (every '
                     'share of BasicMotions has 16), the two rows differ by that alone.',
}


def _fmt(m, s, n=None): return f'{m:.1f} ± {s:.1f}' + (f' ({n})' if n is not None else '')


def _table(rows, codes: bool = False) -> list[str]:
    "The analysis's table; `codes` adds the number of k-means codes each setting pretrained with."
    lines = ['| setting | pretrained % | untrained % | vs untrained | vs default | series × steps | '
             + ('codes | ' if codes else '') + 'wall s (all seeds) |', '|---|---|---|---|---|---|' + '---|' * (1 + codes)]
    for r in rows:
        s = r['setting']
        if not r['n']:
            lines.append(f'| {s.label} | not run | | | | | |' + ' |' * codes); continue
        vs = (f"{mark(r['vs_mean'], r['vs_std'], r['vs_n'])} {r['vs_mean']:+.1f} ± {r['vs_std']:.1f}" if 'vs_mean' in r
              else '(the default)' if s.tag == 'default' else '')
        gain = f"{mark(r['gain_mean'], r['gain_std'], r['n'])} {r['gain_mean']:+.1f} ± {r['gain_std']:.1f}"
        lines.append(f"| {s.label} | {_fmt(r['mean'], r['std'], r['n'])} | {_fmt(r['u_mean'], r['u_std'])} | {gain} | "
                     f"{vs} | {r['n_pretrain']} × {r['steps']} | " + (f"{r['codes']} | " if codes else '')
                     + f"{r['wall_s']:.0f} |")
    return lines


def span_vs_random(rows) -> str:
    "Span against random masking at each ratio run with both: paired differences over the seeds both ran."
    rnd = {r['setting'].x: r for r in rows if r['setting'].series == 'random' and r['n']}
    out = []
    for r in rows:
        if r['setting'].series != 'span' or not r['n'] or r['setting'].x not in rnd: continue
        both = [k for k in r['scores'] if k in rnd[r['setting'].x]['scores']]
        d = _pct([r['scores'][k] - rnd[r['setting'].x]['scores'][k] for k in both])
        out.append(f"{r['setting'].x:g}: {mark(d.mean(), d.std(), len(both))} {d.mean():+.1f} ± {d.std():.1f}")
    return ('Span minus random at the same ratio (paired): ' + ', '.join(out) + '.') if out else ''


def reading(rows, unit: float | None = None) -> str:
    """Plain sentences from the numbers: which settings differ from the default by more than the seed spread.
    `unit`: the points one probed series is worth; a difference of at most two of them is flagged as such."""
    done = [r for r in rows if r['n']]
    if not done: return 'Not run.'
    out = []
    best = max(done, key=lambda r: r['mean'])
    out.append(f"Highest mean: {best['setting'].label} ({_fmt(best['mean'], best['std'])}).")
    comp = [r for r in done if 'vs_mean' in r]
    up = [r for r in comp if mark(r['vs_mean'], r['vs_std'], r['vs_n']) == '▲']
    down = [r for r in comp if mark(r['vs_mean'], r['vs_std'], r['vs_n']) == '▼']
    within = [r for r in comp if mark(r['vs_mean'], r['vs_std'], r['vs_n']) == '≈']
    one = [r for r in comp if mark(r['vs_mean'], r['vs_std'], r['vs_n']) == '?']
    small = lambda r: unit is not None and abs(r['vs_mean']) <= 2 * unit + 1e-9
    d = lambda rs, flag=True: ', '.join(f"{r['setting'].label} ({r['vs_mean']:+.1f} ± {r['vs_std']:.1f}"
                                        f"{', at most 2 series' if flag and small(r) else ''})" for r in rs)
    if down: out.append(f'Below the default by more than the seed spread: {d(down)}.')
    if up: out.append(f'Above the default by more than the seed spread: {d(up)}.')
    if within: out.append(f'Within the seed spread of the default: {d(within, False)}.')
    if one: out.append(f'One seed only, no spread: {d(one)}.')
    not_up = [r for r in done if mark(r['gain_mean'], r['gain_std'], r['n']) != '▲']
    if not_up:
        out.append('Not above its untrained encoder by more than the spread: '
                   + ', '.join(f"{r['setting'].label} ({r['gain_mean']:+.1f} ± {r['gain_std']:.1f})" for r in not_up) + '.')
    else: out.append('Every setting beats its untrained encoder by more than the seed spread.')
    if unit is not None and any(small(r) for r in up + down):
        out.append(f'"At most 2 series": a mean difference of two probed series or fewer ({2 * unit:.1f} points), '
                   'too small to read much into with two seeds.')
    return ' '.join(out)


def command(cfg, quick: bool, out, threads=None) -> str:
    "The command line that reruns these analyses (run files that exist are skipped)."
    base = QUICK if quick else FULL
    parts = ['python', 'benchmarks/analyses.py'] + (['--quick'] if quick else [])
    if cfg['dataset'] != base['dataset']: parts += ['--dataset', shlex.quote(cfg['dataset'])]
    if cfg['seeds'] != base['seeds']: parts += ['--seeds', *map(str, cfg['seeds'])]
    if cfg['epochs'] != base['epochs']: parts += ['--epochs', str(cfg['epochs'])]
    for k, flag in (('mask_ratios', '--mask-ratios'), ('span_ratios', '--span-ratios'), ('d_models', '--d-models'),
                    ('n_layers', '--n-layers'), ('fractions', '--fractions')):
        if cfg[k] != base[k]: parts += [flag, *(f'{v:g}' for v in cfg[k])]
    if cfg.get('only') and list(cfg['only']) != list(ANALYSES): parts += ['--only', *cfg['only']]
    if threads: parts += ['--threads', str(threads)]
    if str(out) != DEFAULT_OUT: parts += ['--out', shlex.quote(str(out))]
    return ' '.join(parts)


def _threads(n) -> str: return 'one CPU thread' if n == 1 else f'{n} CPU threads' if n else "torch's default CPU threads"


def _pretraining_text(r0) -> str:
    "What the default run's pretraining was, from the settings it recorded (its `effective` ones), not today's defaults."
    e = (r0 or {}).get('settings', {}).get('effective', {}).get('pretrain')
    if not e: return 'as the library has them'
    weights = f"alpha = beta = {e['alpha']:g}" if e['alpha'] == e['beta'] else f"alpha = {e['alpha']:g}, beta = {e['beta']:g}"
    return (f"{'k-means' if e['tokenizer'] == 'kmeans' else e['tokenizer']} codewords, MCC + MRR onto "
            f"{'normalised ' if e.get('normalize_targets') else ''}momentum targets, {weights}, mask ratio "
            f"{e['mask_ratio']:g} {'at random' if e.get('masking', 'random') == 'random' else 'in ' + e['masking'] + 's'}, "
            + ('decoupled encoder' if e.get('decoupled', True) else 'mask tokens in the encoder'))


def render_report(cfg, runs, tsne, out, quick=False, threads=None) -> str:
    rows = summarize(cfg, runs)
    name = _dataset_name(cfg, runs)
    used = [r for r in runs if r['dataset'] == name and r['seed'] in cfg['seeds']]
    wall = sum(r['wall_s'] for r in used)
    r0 = next((r for r in used if r['tag'] == 'default'), None)
    arch0 = {**base_arch(cfg), **(r0['arch'] if r0 else {})}  # the window the probe took from `timemae bench`
    unit = 100 / (r0['data']['n_train'] + r0['data']['n_valid']) if r0 else None  # one probed series, in points
    nb = f", {r0['batches_per_epoch']} batches of {r0['bs_used']} an epoch ({r0['steps']} steps)" if r0 else ''
    data = (f"{r0['data']['n_pretrain']} unlabelled series of {r0['data']['c_in']} channels × {r0['data']['seq_len']} "
            f"steps, {r0['data']['n_classes']} classes" if r0 else '')
    lines = [
        '# The paper\'s analyses, by linear probe', '',
        '<!-- generated by benchmarks/analyses.py from the run files under runs/ and tsne.json beside it; do not edit '
        'by hand -->', '',
        '## Protocol', '',
        f"- Data: {cfg['dataset']} ({data}). Pretraining sees the training + validation inputs without labels; the "
        'linear probe (StandardScaler + LogisticRegression on the frozen, mean-pooled features) is scored by '
        'stratified 5-fold cross-validation over the training + validation series'
        + (f" (one of the {r0['data']['n_train'] + r0['data']['n_valid']} series is "
           f"{100 / (r0['data']['n_train'] + r0['data']['n_valid']):.1f} points)" if r0 else '')
        + '. The test split is never read by the probe; only the t-SNE picture shows the test series.',
        f"- Pretraining: `TimeMAEPretrain` defaults ({_pretraining_text(r0)}) unless a row says otherwise; "
        f"{_epochs(cfg['epochs'])} (`fit_one_cycle`, lr 1e-3){nb}. Architecture: "
        + ', '.join(f'{k}={arch0[k]}' for k in ('d_model', 'n_layers', 'n_heads', 'd_ff', 'window') if k in arch0)
        + (" (window: `timemae bench`'s for the data set)" if 'window' not in cfg['arch'] else '') + '.',
        f"- Seeds: {', '.join(map(str, cfg['seeds']))}; every run also scores its untrained encoder (same seed, same "
        'architecture): the dashed line in the figures.',
        '- Cells: accuracy in %, mean ± std over seeds (ddof 0; number of seeds). *vs untrained* and *vs default* are '
        'paired differences over the same seeds, in points: ▲/▼ when the mean difference exceeds its standard '
        'deviation over seeds (unrounded values), ≈ within it. With two seeds the spread is a rough guide, not a test: read ▲/▼ as '
        '"larger than the seed-to-seed wobble", nothing more.',
        f"- Compute: {len(used)} runs, {wall / 60:.1f} minutes of {_threads(threads)} in all (the sum of the runs' wall "
        'times on a shared 2-core machine).', '',
        f"Result files: `{Path(out) / 'runs'}/<data set>/<setting>/seed<k>.json`, one per run, and "
        f"`{Path(out) / 'tsne.json'}`. Regenerate (run files that exist with the same settings are skipped; delete "
        'them to redo them):', '',
        '```', command(cfg, quick, out, threads), '```', '']
    others = sorted(p.parent.name for p in Path(out).glob('*/' + REPORT))
    if others: lines += ['The same analyses on other data sets: '
                         + ', '.join(f'[{o}]({o}/{REPORT})' for o in others) + '.', '']
    if quick: lines += ['**Quick run** (CI size: a tiny model, one epoch): it checks that the pipeline works; its '
                        'numbers say nothing about TimeMAE.', '']
    else: lines += ['Cut for time (the compute above): one data set per report, '
                    f"{len(cfg['seeds'])} seeds, {_epochs(cfg['epochs'])} (most probe runs in BENCHMARKS.md use 100), "
                    f"span masking at {', '.join(f'{r:g}' for r in cfg['span_ratios'])} only, width and depth varied "
                    'one at a time (no grid), `d_ff` not scaled with `d_model`.', '']
    only = cfg.get('only') or ANALYSES
    skipped = lambda a: [f'## {TITLES[a]}', '', f"Not part of this report: its command runs `--only {' '.join(only)}`.", '']
    for a in ANALYSES[:-1]:
        if a not in only:  # its runs may be in the folder, but the command above neither makes nor redraws them
            lines += skipped(a)
            continue
        rs = [r for r in rows if r['setting'].analysis == a]
        extra = f' {span_vs_random(rs)}' if a == 'masking' and span_vs_random(rs) else ''
        lines += [f'## {TITLES[a]}', '', QUESTIONS[a].format(**arch0), '', f'![{a}]({a}.png)', '',
                  *_table(rs, codes=a == 'pretrain_size'), '',
                  f'Reading: {reading(rs, unit)}{extra}', '']
    if 'tsne' not in only: lines += skipped('tsne')
    elif tsne:
        lines += [f"## {TITLES['tsne']}", '', 'Do the classes separate in the embedding space after pretraining? A t-SNE (scikit-learn, '
                  '`tsai_timemae.plots.plot_embeddings`) of the mean-pooled embeddings of the test series, from the '
                  f"default run of seed {tsne['seed']}, before and after pretraining. The silhouette (by class, "
                  'Euclidean, on the embeddings themselves, not the 2-D map; 1 is perfectly separated, 0 is overlapping) '
                  'puts a number on what the picture shows.', '', '![tsne](tsne.png)', '',
                  '| encoder | probe % (cv, train + valid) | silhouette of the test embeddings |', '|---|---|---|',
                  f"| untrained | {tsne['untrained_score'] * 100:.1f} | {tsne['untrained']['silhouette']:.3f} |",
                  f"| pretrained | {tsne['final_score'] * 100:.1f} | {tsne['pretrained']['silhouette']:.3f} |", '',
                  f"Reading: the silhouette goes from {tsne['untrained']['silhouette']:.3f} to "
                  f"{tsne['pretrained']['silhouette']:.3f} ({'up' if tsne['pretrained']['silhouette'] > tsne['untrained']['silhouette'] else 'down'}); "
                  'a t-SNE map exaggerates clusters, so read the silhouette and the probe, not the picture alone. '
                  'One seed only.', '']
    else: lines += [f"## {TITLES['tsne']}", '', 'Not run.', '']
    return '\n'.join(lines)


def write_report(cfg, out: Path, quick=False, threads=None) -> list[Path]:
    "Figures and ANALYSES.md from the run files under `out`."
    import matplotlib
    matplotlib.use('Agg')
    from tsai_timemae.bench import write_text_atomic
    from tsai_timemae.probe import load_probe_runs
    runs = load_probe_runs(out / 'runs') if (out / 'runs').exists() else []
    rows = summarize(cfg, runs)
    by = lambda a: [r for r in rows if r['setting'].analysis == a]
    only = cfg.get('only') or ANALYSES
    paths = []
    for a, fn in (('masking', plot_masking), ('ablations', plot_ablations), ('model_size', plot_model_size),
                  ('pretrain_size', plot_pretrain_size)):
        if a in only and any(r['n'] for r in by(a)): paths.append(fn(cfg, by(a), out / f'{a}.png'))
    tsne = read_tsne(cfg, out)
    if tsne is None and (out / 'tsne.json').exists():
        print(f"note: {out / 'tsne.json'} was drawn with other settings than {out / SETTINGS_FILE}'s; the report leaves "
              "it out (run the analyses again to redraw it)")
    if tsne and 'tsne' in only: paths.append(plot_tsne(tsne, out / 'tsne.png'))
    paths.append(write_text_atomic(render_report(cfg, runs, tsne, out, quick, threads), out / REPORT))
    return paths


# -- command line ----------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='CI size: BasicMotions, a tiny model, 1 epoch, fewer settings')
    p.add_argument('--out', default=DEFAULT_OUT, help=f'run files, figures and {REPORT} (default {DEFAULT_OUT})')
    p.add_argument('--dataset', help='data set name or path (default UEA/Epilepsy; BasicMotions with --quick)')
    p.add_argument('--seeds', nargs='+', type=int)
    p.add_argument('--epochs', type=int, help='pretraining epochs (default 50; 1 with --quick)')
    p.add_argument('--mask-ratios', nargs='+', type=float)
    p.add_argument('--span-ratios', nargs='+', type=float)
    p.add_argument('--d-models', nargs='+', type=int)
    p.add_argument('--n-layers', nargs='+', type=int)
    p.add_argument('--fractions', nargs='+', type=float)
    p.add_argument('--only', nargs='+', choices=ANALYSES, help='run only these analyses')
    p.add_argument('--report-only', action='store_true', help='only redraw the figures and ANALYSES.md from the run files')
    p.add_argument('--threads', type=int, help='torch CPU threads (1 suits a shared CPU)')
    p.add_argument('--root', help='data folder (default: $TIMEMAE_DATA, else ../shared/data next to the repository)')
    return p.parse_args(argv)


def config(args) -> dict:
    base = QUICK if args.quick else FULL
    cfg = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k in ('dataset', 'seeds', 'epochs', 'mask_ratios', 'span_ratios', 'd_models', 'n_layers', 'fractions'):
        v = getattr(args, k)
        if v is not None: cfg[k] = list(dict.fromkeys(v)) if isinstance(v, list) else v  # `--seeds 0 0 1`: two seeds
    if args.only: cfg['only'] = list(args.only)
    return cfg


# settings every run file under OUT shares: runs made with others cannot be kept beside them
SHARED_SETTINGS = ('dataset', 'epochs', 'arch')
RUN_FLAGS = ('quick', 'dataset', 'seeds', 'epochs', 'mask_ratios', 'span_ratios', 'd_models', 'n_layers', 'fractions',
             'only', 'threads', 'root')


def check_args(args, out: Path, saved: dict | None):
    "Refuse what would silently do something else than asked, naming the fix."
    if args.threads is not None and args.threads < 1:
        sys.exit(f'error: --threads must be at least 1, got {args.threads}.')
    if args.report_only:
        given = [f"--{k.replace('_', '-')}" for k in RUN_FLAGS if getattr(args, k) not in (None, False)]
        if given and saved is not None:
            sys.exit(f"error: --report-only redraws from the settings saved in {out / SETTINGS_FILE}, so "
                     f"{' '.join(given)} would be ignored: drop {'it' if len(given) == 1 else 'them'}, or run without "
                     '--report-only.')
        return
    if saved is None or not (out / 'runs').exists(): return
    cfg, old = config(args), saved['config']
    differ = [k for k in SHARED_SETTINGS if cfg[k] != old.get(k, {} if k == 'arch' else None)]
    if differ:
        sys.exit(f"error: {out} holds runs made with other settings ({', '.join(f'{k} {old.get(k)!r}, now {cfg[k]!r}' for k in differ)}): "
                 f'use another --out, or delete {out / "runs"} to redo them.')


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    saved_path = out / SETTINGS_FILE
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else None
    check_args(args, out, saved)
    cfg = config(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        if saved is not None:
            cfg, args.quick, args.threads = saved['config'], saved['quick'], saved.get('threads')
    else:
        from tsai_timemae.bench import write_text_atomic
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        t = time.perf_counter()
        run_all(cfg, out, cfg.get('only') or ANALYSES, root=args.root)
        print(f'ran in {(time.perf_counter() - t) / 60:.1f} min')
        # saved once the runs are there: the report never describes settings that did not run
        write_text_atomic(json.dumps({'config': cfg, 'quick': args.quick, 'threads': args.threads}, indent=1), saved_path)
    for p in write_report(cfg, out, args.quick, args.threads): print(f'Wrote {p}')


if __name__ == '__main__':
    main()
