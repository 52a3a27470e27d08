"""Label efficiency in the benchmark harness: a fixed, stratified subset of the training labels per seed (at least one
per class, the same for every method, saved), pretraining on every training input, no decision that reads more labels
than the fraction (fixed schedule, final epoch), result files and report sections of their own, the plot, the CLI."""
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from tsai_timemae import bench
from tsai_timemae.bench import (fixed_label_subset, label_subset, label_subset_path, load_results, make_dls,
                                render_report, result_path, run_benchmark, summarize, write_json_atomic)
from tsai_timemae.data import load_dataset

TINY = dict(n_layers=2, d_model=32, d_ff=64, n_heads=2, tst_kwargs=dict(d_model=32, n_heads=4, n_layers=1, d_ff=64),
            inception_kwargs=dict(nf=8, depth=3))
METHODS = ('timemae_finelast', 'timemae_linear', 'timemae_scratch', 'mvp_tstplus', 'tstplus_scratch', 'inceptiontimeplus')
NAMES = ('timemae_finelast_gumbel', 'timemae_linear_gumbel', 'timemae_scratch', 'mvp_tstplus', 'tstplus_scratch',
         'inceptiontimeplus')


def test_label_subset_is_stratified_seeded_nested_and_keeps_every_class():
    y = np.array(['a'] * 50 + ['b'] * 30 + ['c'] * 3)
    for f in (0.01, 0.1, 0.5, 1.0):
        idx = label_subset(y, f, seed=0)
        assert np.all(np.diff(idx) > 0) and set(y[idx]) == {'a', 'b', 'c'}          # sorted, every class
        counts = {c: int((y[idx] == c).sum()) for c in 'abc'}
        assert counts == {c: max(1, round(f * n)) for c, n in (('a', 50), ('b', 30), ('c', 3))}
    assert np.array_equal(label_subset(y, 0.1, 0), label_subset(y, 0.1, 0))          # fixed per seed
    assert not np.array_equal(label_subset(y, 0.2, 0), label_subset(y, 0.2, 1))      # another seed, another subset
    assert set(label_subset(y, 0.1, 3)) <= set(label_subset(y, 0.2, 3)) <= set(label_subset(y, 0.5, 3))  # nested
    assert len(label_subset(y, 1.0, 0)) == len(y)
    for bad in (0, -0.1, 1.5, 'half'):
        with pytest.raises(ValueError, match=r'label fraction .* in \(0, 1\]'):
            label_subset(y, bad, 0)


def test_label_subset_per_class_counts_series_of_each_class_nested_with_fractions():
    y = np.array(['a'] * 50 + ['b'] * 30 + ['c'] * 3)
    idx = label_subset(y, per_class=2, seed=4)
    assert np.all(np.diff(idx) > 0) and {c: int((y[idx] == c).sum()) for c in 'abc'} == {'a': 2, 'b': 2, 'c': 2}
    assert np.array_equal(idx, label_subset(y, seed=4, per_class=np.int64(2)))           # fixed per seed
    # one permutation per class and seed: 2 per class lies inside 5 per class and inside 0.5 (25, 15 and 2 series)
    assert set(idx) <= set(label_subset(y, per_class=5, seed=4)) and set(idx) <= set(label_subset(y, 0.5, 4))
    with pytest.warns(UserWarning, match=r"per_class=5: 1 of the 3 classes have fewer series .* c \(3 series\)"):
        few = label_subset(y, per_class=5, seed=4)
    assert int((y[few] == 'c').sum()) == 3 and len(few) == 13                             # all of the small class
    for bad in (0, -1, 2.5, True, '5'):
        with pytest.raises(ValueError, match='per_class is how many labelled series each class keeps'):
            label_subset(y, per_class=bad)
    for both in (dict(), dict(fraction=0.1, per_class=2), dict(fraction=None)):
        with pytest.raises(ValueError, match='exactly one of them'):
            label_subset(y, **both)


def test_the_subset_is_written_once_and_read_back(tmp_path, monkeypatch):
    ds = load_dataset('BasicMotions')
    idx = fixed_label_subset(ds, 0.25, 0, tmp_path)
    rec = json.loads(label_subset_path(tmp_path, 'BasicMotions', 0.25, 0).read_text())
    assert rec['indices'] == idx.tolist() and rec['n_train'] == len(ds.y_train) and rec['n_labelled'] == len(idx)
    assert sum(rec['per_class'].values()) == len(idx) and len(rec['per_class']) == ds.n_classes
    monkeypatch.setattr(bench, 'label_subset', lambda *a: (_ for _ in ()).throw(AssertionError('drawn again')))
    assert np.array_equal(fixed_label_subset(ds, 0.25, 0, tmp_path), idx)           # the saved subset, not a new draw
    write_json_atomic({**rec, 'n_train': 7}, label_subset_path(tmp_path, 'BasicMotions', 0.25, 0))
    with pytest.raises(ValueError, match='data set changed. Delete the file'):
        fixed_label_subset(ds, 0.25, 0, tmp_path)
    write_json_atomic(rec, label_subset_path(tmp_path, 'BasicMotions', 0.25, 0))
    other = load_dataset('BasicMotions')
    other.y_train = other.y_train[::-1].copy()                                   # as many series, other ones
    with pytest.raises(ValueError, match='other training series .*training split changed'):
        fixed_label_subset(other, 0.25, 0, tmp_path)
    del rec['labels_sha1']                                                        # files written before the fingerprint
    rec['per_class'] = {k: v + 1 for k, v in rec['per_class'].items()}
    write_json_atomic(rec, label_subset_path(tmp_path, 'BasicMotions', 0.25, 0))
    with pytest.raises(ValueError, match='per_class differ'):
        fixed_label_subset(ds, 0.25, 0, tmp_path)
    path = label_subset_path(tmp_path, 'BasicMotions', 0.25, 0)
    for damaged in ('{"dataset": "Basic', '', '{}', '[1, 2]'):                  # a stopped copy, an empty or foreign file
        path.write_text(damaged)
        with pytest.raises(ValueError, match=f'{path.name} cannot be read as a label subset .*delete it'):
            fixed_label_subset(ds, 0.25, 0, tmp_path)


def test_labelled_loaders_hold_only_the_subset_and_scale_with_every_training_input():
    import torch
    ds = load_dataset('BasicMotions')
    cfg = bench.bench_config('BasicMotions')
    idx = label_subset(ds.y_train, 0.25, 0)
    dls = make_dls(ds, cfg['bs'], 0, label_idx=idx)
    assert len(dls.train_ds) == len(idx) and len(dls.valid_ds) == 0                 # no validation labels at all
    assert len(dls.vocab) == ds.n_classes
    [std] = [t for t in dls.train.after_batch.fs if type(t).__name__ == 'TSStandardize']
    full = make_dls(ds, cfg['bs'], 0)                                                 # the full-label protocol's scaling
    [ref] = [t for t in full.train.after_batch.fs if type(t).__name__ == 'TSStandardize']
    assert torch.allclose(std.mean.flatten().float(), ref.mean.flatten().cpu().float(), atol=1e-4)
    pre = bench.pretraining_dls(ds, bench.timemae_pretraining(cfg), 0)
    assert len(pre.train_ds) == len(ds.X_train) + len(ds.X_valid)                    # pretraining: every input


def test_bad_fractions_and_validation_selection_are_refused_before_any_run(tmp_path):
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        run_benchmark(['BasicMotions'], label_fractions=[0.0], out_dir=tmp_path, report=None)
    with pytest.raises(ValueError, match="selection='last'"):
        run_benchmark(['BasicMotions'], label_fractions=[0.1], out_dir=tmp_path, report=None, selection='valid_loss')
    with pytest.raises(ValueError, match='label_fractions='):
        bench.bench_config('BasicMotions', label_fraction=0.1)
    assert not (tmp_path / 'results').exists()


def test_cli_passes_label_fractions_and_refuses_a_bad_one(monkeypatch, tmp_path):
    from tsai_timemae.cli import main
    seen = {}
    monkeypatch.setattr(bench, 'run_benchmark', lambda *a, **k: seen.update(k))
    main(['bench', 'BasicMotions', '--label-fraction', '0.01', '0.05', '1.0', '--out-dir', str(tmp_path),
          '--report', str(tmp_path / 'B.md')])
    assert seen['label_fractions'] == [0.01, 0.05, 1.0]
    main(['bench', 'BasicMotions', '--out-dir', str(tmp_path), '--report', str(tmp_path / 'B.md')])
    assert seen['label_fractions'] == [None]                                          # default: the full-label protocol
    seen.clear()
    assert main(['bench', 'BasicMotions', '--label-fraction', '2', '--out-dir', str(tmp_path)]) == 2  # one-line error
    assert not seen


@pytest.fixture(scope='module')
def label_run(tmp_path_factory):
    "One quick real run: BasicMotions, seed 0, a quarter of the labels and the full-label protocol, every method."
    import torch
    out = tmp_path_factory.mktemp('labels')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seen, orig, orig_pre = [], bench.make_dls, bench.pretraining_dls
    FITS.clear(); LOADED.clear()  # set up again in one process: this run's only
    from sklearn.linear_model import LogisticRegression
    orig_fit = LogisticRegression.fit
    def spy_fit(self, X, y, *a, **k):  # what each linear evaluation's classifier learns from
        FITS.append(list(y))
        return orig_fit(self, X, y, *a, **k)
    def spy(ds, bs, seed, label_idx=None):
        dls = orig(ds, bs, seed, label_idx)
        seen.append((True, len(dls.train_ds), len(dls.valid_ds)))
        t = dls.train_ds  # the series and labels it holds, beside those its subset names
        LOADED.append((None if label_idx is None else list(label_idx), np.stack([np.asarray(t[i][0]) for i in range(len(t))]),
                       [dls.vocab[int(t[i][1])] for i in range(len(t))], ds))
        return dls
    def spy_pre(ds, pretraining, seed):
        dls = orig_pre(ds, pretraining, seed)
        seen.append((False, len(dls.train_ds), len(dls.valid_ds)))
        return dls
    bench.make_dls, bench.pretraining_dls = spy, spy_pre
    LogisticRegression.fit = spy_fit
    try:
        paths = run_benchmark(['BasicMotions'], METHODS, seeds=[0], label_fractions=[0.25, None], out_dir=out,
                              report=out / 'B.md', quick=True, bar=False, **TINY)
    finally:
        bench.make_dls, bench.pretraining_dls = orig, orig_pre
        LogisticRegression.fit = orig_fit
        torch.set_num_threads(threads)
    return out, paths, seen


FITS, LOADED = [], []  # filled by `label_run`: each linear classifier's labels; each labelled loader's content


def test_every_method_learns_from_its_subsets_series_and_labels_and_no_others(label_run):
    """The loaders were checked by size and the records by the indices handed to them: a loader of other series, or
    a linear evaluation fitted on every label, passed. Here each loader holds exactly the subset's series with their
    own labels, and each linear classifier of a 25% run learns from the subset's 8 labels."""
    out, _, _ = label_run
    idx = json.loads(label_subset_path(out, 'BasicMotions', 0.25, 0).read_text())['indices']
    subset = [x for x in LOADED if x[0] is not None and len(x[0]) == 8]
    assert subset and all(x[0] == idx for x in subset)
    for _, X, y, ds in subset:
        assert np.array_equal(X, ds.X_train[idx]) and y == list(ds.y_train[idx])
    ds = subset[0][3]
    assert sorted(map(len, FITS)) == [8, 32]                                # the linear evaluation: 25%, every label
    assert all(f == list(ds.y_train[idx]) for f in FITS if len(f) == 8)


def test_fraction_runs_see_only_their_labels_and_score_the_final_epoch(label_run):
    out, paths, seen = label_run
    idx = json.loads(label_subset_path(out, 'BasicMotions', 0.25, 0).read_text())['indices']
    assert len(idx) == 8                                                               # 2 of each class's 8
    for m in NAMES:
        r = json.loads(result_path(out, 'BasicMotions', m, 0, 0.25).read_text())
        assert r['label_fraction'] == 0.25 and r['labelled_idx'] == idx and r['n_labelled'] == 8  # the same series
        assert r['selection'] == 'last' and r['valid_at_best'] is None
        if m != 'timemae_linear_gumbel':
            assert r['best_epoch'] == len(r['history']) - 1 == 1                      # final epoch of the schedule
            assert all(h.get('valid_loss') is None for h in r['history'])             # no validation labels read
        assert 0 <= r['metrics']['accuracy'] <= 1
        full = json.loads(result_path(out, 'BasicMotions', m, 0).read_text())         # the full-label protocol, as before
        assert 'label_fraction' not in full and full['selection'] == 'valid_loss'
    # labelled loaders: the 8 labelled series and no validation labels, or the full-label protocol's 32 (+ 8
    # validation, or none for linear evaluation); pretraining: every input, the validation ones for the loss curve
    assert (True, 8, 0) in seen and {x for x in seen if x[0]} <= {(True, 8, 0), (True, 32, 8), (True, 32, 0)}
    assert {x for x in seen if not x[0]} == {(False, 40, 8)}
    fl = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast_gumbel', 0, 0.25).read_text())['pretraining']
    li = json.loads(result_path(out, 'BasicMotions', 'timemae_linear_gumbel', 0, 0.25).read_text())['pretraining']
    full = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast_gumbel', 0).read_text())['pretraining']
    assert fl['weights'] == li['weights'] == full['weights'] and li['cached']      # one pretraining for every fraction


def test_report_keeps_fractions_apart_and_plots_them(label_run, tmp_path):
    out, _, _ = label_run
    text = (out / 'B.md').read_text()
    section = text.split('## Label efficiency: a fraction of the training labels')[1].split('\n## ')[0]
    main = text.split('## Label efficiency')[0]
    assert 'final epoch' in section and 'validation labels are not used' in section   # the protocol says which
    for m in NAMES:
        assert len(re.findall(rf'^\| {m} \(quick\)', main, re.M)) == 1                 # one full-label row per method
        # one seed: no spread shown; the tiny sizes given from Python have no flag, so the row says its command differs
        # the tiny sizes are named as in the Results tables, `(changed: d_model=32, ...)`
        assert re.search(rf'^\| {m} \(quick\) \(changed: [^|]*?\) \(other settings than its command runs today: see its result files\) '
                         rf'\| [0-9.]+ \(1\) \|$', section, re.M), m
    assert '| method | 25% labels |' in section and 'Labelled training series per seed: 25%: 8 of 32.' in section
    assert re.search(r'timemae bench BasicMotions --methods .* --seeds 0 --quick --label-fraction 0.25', section)
    assert (out / 'plots' / 'BasicMotions_label_efficiency.png').stat().st_size > 1000
    # the same results without the fraction files give the same page, less the label-efficiency section
    for name in ('dir_a', 'dir_b'):
        for p in (out / 'results' / 'BasicMotions').glob('*.json'):
            if name == 'dir_a' or '_labels' not in p.name:
                write_json_atomic(json.loads(p.read_text()), tmp_path / name / 'results' / 'BasicMotions' / p.name)
    with_text = render_report(tmp_path / 'dir_a', tmp_path / 'dir_a' / 'B.md')
    without = render_report(tmp_path / 'dir_b', tmp_path / 'dir_b' / 'B.md').replace('dir_b', 'dir_a')
    head, rest = with_text.split('## Label efficiency: a fraction of the training labels', 1)
    assert '## Label efficiency' not in without and head + rest[rest.index('\n## ') + 1:] == without
    for p in (out / 'results' / 'BasicMotions').glob('*_labels*.json'):  # label-fraction runs alone: an empty Results says so
        write_json_atomic(json.loads(p.read_text()), tmp_path / 'dir_c' / 'results' / 'BasicMotions' / p.name)
    only = render_report(tmp_path / 'dir_c', tmp_path / 'dir_c' / 'B.md').split('## Results', 1)[1].split('\n## ')[0]
    assert 'No runs with every training label yet: the label-fraction runs are in the section below.' in only


def test_summary_groups_by_fraction(label_run):
    out, _, _ = label_run
    rows = summarize(load_results(out))
    assert len(rows) == 2 * len(NAMES)
    assert {(r['method'], r['label_fraction']) for r in rows} == {(m, f) for m in NAMES for f in (None, 0.25)}


def test_linear_evaluation_rows_show_no_fine_tuning_epochs(label_run):
    "Linear evaluation fits a logistic regression, not epochs: its row says '–' where the others give their epochs."
    out, _, _ = label_run
    text = (out / 'B.md').read_text().split('## Label efficiency')[0]
    assert re.search(r'^\| timemae_linear_gumbel \(quick\)[^|]*\| 0 \| [0-9.]+ ± 0.00 \| [0-9.]+ ± 0.00 \| 2 \| – \|', text, re.M)
    assert re.search(r'^\| timemae_finelast_gumbel \(quick\)[^|]*\| 0 \| [0-9.]+ ± 0.00 \| [0-9.]+ ± 0.00 \| 2 \| 2 \|', text, re.M)


def test_kmeans_runs_with_the_library_defaults_and_its_command_names_it(tmp_path):
    """`--tokenizer kmeans` is what `TimeMAEPretrain()` does by default (codes sized from the data, normalised MRR
    targets, beta 1); a setting given explicitly still wins, and the report's command regenerates the same runs."""
    import torch
    threads = torch.get_num_threads()
    try:
        run_benchmark(['BasicMotions'], ['timemae_linear'], seeds=[0], tokenizers=['kmeans'], label_fractions=[0.25],
                      out_dir=tmp_path, report=tmp_path / 'B.md', quick=True, bar=False, **TINY)
        run_benchmark(['BasicMotions'], ['timemae_linear'], seeds=[0], tokenizers=['kmeans'], label_fractions=[0.5],
                      out_dir=tmp_path, report=None, quick=True, bar=False, beta=3., **TINY)
    finally: torch.set_num_threads(threads)
    pre = json.loads(result_path(tmp_path, 'BasicMotions', 'timemae_linear_kmeans', 0, 0.25).read_text())['settings']['pretraining']
    assert (pre['tokenizer'], pre['vocab_size'], pre['beta'], pre['normalize_targets']) == ('kmeans', None, 1., True)
    pre = json.loads(result_path(tmp_path, 'BasicMotions', 'timemae_linear_kmeans', 0, 0.5).read_text())['settings']['pretraining']
    assert pre['beta'] == 3. and pre['vocab_size'] is None
    text = (tmp_path / 'B.md').read_text()
    assert re.search(r'timemae bench BasicMotions --methods timemae_linear --seeds 0 --tokenizer kmeans .*--label-fraction 0.25', text)


def test_random_projection_codes_run_as_the_default_with_only_the_tokenizer_changed(tmp_path):
    """`--tokenizer random_projection` (BEST-RQ) pretrains with the library default's other settings, so that it
    compares with `kmeans` on the codes alone; its rows and files carry its name, and the report's command names it."""
    import torch
    threads = torch.get_num_threads()
    try:
        run_benchmark(['BasicMotions'], ['timemae_linear'], seeds=[0], tokenizers=['random_projection'], label_fractions=[0.25],
                      out_dir=tmp_path, report=tmp_path / 'B.md', quick=True, bar=False, **TINY)
    finally: torch.set_num_threads(threads)
    r = json.loads(result_path(tmp_path, 'BasicMotions', 'timemae_linear_random_projection', 0, 0.25).read_text())
    pre = r['settings']['pretraining']
    assert (pre['tokenizer'], pre['vocab_size'], pre['alpha'], pre['beta'], pre['normalize_targets']) == \
        ('random_projection', None, 1., 1., True)
    assert r['pretraining']['library_defaults']['tokenizer.random_projection.code_dim'] == 16  # the tokenizer that ran
    text = (tmp_path / 'B.md').read_text()
    assert 'timemae_linear_random_projection' in text
    assert re.search(r'timemae bench BasicMotions --methods timemae_linear --seeds 0 --tokenizer random_projection .*--label-fraction 0.25', text)


def test_untrained_linear_evaluation_is_the_baseline_beside_the_pretrained_one(tmp_path):
    "The untrained row pretrains nothing, shares the labelled subset, and differs from the pretrained encoder's score."
    import torch
    threads = torch.get_num_threads()
    try:
        run_benchmark(['BasicMotions'], ['timemae_linear', 'timemae_linear_untrained'], seeds=[0], tokenizers=['kmeans'],
                      label_fractions=[0.5], out_dir=tmp_path, report=None, quick=True, bar=False, **TINY)
    finally: torch.set_num_threads(threads)
    pre = json.loads(result_path(tmp_path, 'BasicMotions', 'timemae_linear_kmeans', 0, 0.5).read_text())
    raw = json.loads(result_path(tmp_path, 'BasicMotions', 'timemae_linear_untrained', 0, 0.5).read_text())
    assert raw['pretraining'] is None and pre['pretraining'] is not None
    assert raw['labelled_idx'] == pre['labelled_idx']
    assert len(list((tmp_path / 'cache').rglob('*.pth'))) == 1                     # only the pretrained run pretrained


def _fake_result(root, dataset, name, fraction, seed, acc, idx=(0, 1)):
    path = root / dataset / f'{name}_labels{fraction}_seed{seed}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'seed': seed, 'metrics': {'accuracy': acc}, 'labelled_idx': list(idx)}))


def test_label_goal_holds_the_ordered_readout_against_both_scratch_heads(tmp_path):
    "Issue 15's goal check: a row passes only above twice the larger std, and the flatten rows meet their own twin."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import label_goal
    accs = {'timemae_scratch': (.50, .52, .54), 'timemae_scratch_flatten': (.79, .80, .81), 'inceptiontimeplus': (.70, .70, .70)}
    accs.update({f'{n}_flatten': (.80, .81, .82) for n in label_goal.TIMEMAE})
    for name, a in accs.items():
        for seed, acc in enumerate(a): _fake_result(tmp_path, 'D', name, '0.01', seed, acc)
    rows = [r.split(' | ') for r in label_goal.goal_table('D', tmp_path, tmp_path, ('0.01',), readout='flatten').splitlines()[2:]]
    met = {(r[1], r[2]): r[-1].strip(' |') for r in rows}
    assert len(met) == 9 and {b for _, b in met} == {'timemae_scratch', 'timemae_scratch_flatten', 'inceptiontimeplus'}
    assert met[('timemae_fineall_kmeans_flatten', 'timemae_scratch')] == 'yes'          # +29 against a bar of 3.3
    assert met[('timemae_fineall_kmeans_flatten', 'timemae_scratch_flatten')] == 'no'   # +1 against a bar of 1.6
    assert met[('timemae_fineall_kmeans_flatten', 'inceptiontimeplus')] == 'yes'
    paired = {(r[1], r[2]): r[-2] for r in rows}                                        # the paired view beside it
    assert paired[('timemae_fineall_kmeans_flatten', 'timemae_scratch')] == '+29.00 ± 0.58 (t 50.2)'
    assert paired[('timemae_fineall_kmeans_flatten', 'timemae_scratch_flatten')] == '+1.00 ± 0 (all equal)'
    _fake_result(tmp_path, 'D', 'inceptiontimeplus', '0.01', 1, .7, idx=(0, 2))
    with pytest.raises(ValueError, match='different labelled series'):
        label_goal.goal_table('D', tmp_path, tmp_path, ('0.01',), readout='flatten')
    ok, quick, other = ({'labelled_idx': [0], 'data': {'sha1': h}, 'quick': q} for h, q in (('a', False), ('a', True), ('b', False)))
    label_goal.check_comparable(ok, ok, 'x')
    with pytest.raises(ValueError, match='quick'): label_goal.check_comparable(ok, quick, 'x')
    with pytest.raises(ValueError, match='different data'): label_goal.check_comparable(ok, other, 'x')


def test_label_goal_verdict_needs_finelast_or_fineall_above_both_baselines(tmp_path):
    "The goal's verdict: the linear evaluation alone clearing both does not meet it; a fraction like 1.0 finds `labels1`."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import label_goal
    accs = {'timemae_scratch': (.70, .70, .70), 'inceptiontimeplus': (.70, .71, .72), 'timemae_linear_kmeans': (.90, .90, .90),
            'timemae_fineall_kmeans': (.72, .73, .74), 'timemae_finelast_kmeans': (.60, .60, .60)}
    for name, a in accs.items():
        for seed, acc in enumerate(a): _fake_result(tmp_path, 'D', name, '1', seed, acc)
    comps = label_goal.comparisons('D', tmp_path, tmp_path, ('1.0',))
    verdict = label_goal.goal_verdict(comps)
    # FineAll +2.0 over InceptionTimePlus: a bar of 1.63 with ddof 0 and 2.0 with ddof 1; the linear evaluation's +20
    # over both is not the goal's row
    assert '- 100% of the labels: ddof 0: met by timemae_fineall_kmeans; ddof 1: not met' in verdict
    assert '100% timemae_fineall_kmeans against inceptiontimeplus (+2.00: bar 1.63 with ddof 0, 2.00 with ddof 1)' in verdict
    _fake_result(tmp_path, 'D', 'timemae_finelast_kmeans', '1', 2, .95)
    for seed in (0, 1): _fake_result(tmp_path, 'D', 'timemae_finelast_kmeans', '1', seed, .95)
    assert 'ddof 0: met by timemae_finelast_kmeans, timemae_fineall_kmeans; ddof 1: met by timemae_finelast_kmeans' in label_goal.goal_verdict(label_goal.comparisons('D', tmp_path, tmp_path, ('1',)))
    with pytest.raises(FileNotFoundError, match=r'timemae bench D --methods timemae_finelast --tokenizer kmeans --label-fraction 0.5 --seeds 0'):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.5',))
    with pytest.raises(ValueError, match=r'in \(0, 1\]'): label_goal.comparisons('D', tmp_path, tmp_path, ('2',))
    one = label_goal.goal_verdict(label_goal.comparisons('D', tmp_path, tmp_path, ('1',), seeds=(0,)))
    assert '- 100% of the labels: n/a (one seed' in one  # no spread over seeds to clear


def test_label_goal_reads_the_files_the_bench_names_and_refuses_records_it_cannot_pair(tmp_path):
    """A fraction that `%g` rounds (0.3125001) reads its own files, as the bench names them, not 0.3125's; a record whose
    label fraction is not the one asked for, or that lacks its labelled series, is refused rather than compared."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import label_goal
    from tsai_timemae.bench import fraction_key
    assert label_goal.fraction_name('0.3125001') == fraction_key(0.3125001).removeprefix('labels') == '0.3125001'
    assert label_goal.fraction_name('1.0') == '1' and label_goal.fraction_name('0.05') == '0.05'
    for name in ('timemae_scratch', 'inceptiontimeplus', *label_goal.TIMEMAE):
        for seed in range(3): _fake_result(tmp_path, 'D', name, '0.3125', seed, .5)
    with pytest.raises(FileNotFoundError, match='0.3125001'):                 # not 0.3125's files
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.3125001',))
    bad = tmp_path / 'D' / 'inceptiontimeplus_labels0.3125_seed0.json'
    bad.write_text(json.dumps({'seed': 0, 'metrics': {'accuracy': .5}, 'labelled_idx': [0, 1], 'label_fraction': 0.5}))
    with pytest.raises(ValueError, match='records label fraction 0.5, not 0.3125'):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.3125',))
    bad.write_text(json.dumps({'seed': 0, 'metrics': {'accuracy': .5}}))
    with pytest.raises(ValueError, match='records no labelled series'):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.3125',))


def test_a_fraction_raised_by_one_series_per_class_warns_and_the_report_says_which_fractions_share_series(label_run, tmp_path):
    """5% of BasicMotions' 32 training series gives no class a series by the fraction alone: the floor of one per class
    labels 4 (12.5%), and the run says so. Two fractions that label as many series label the same ones (the subsets
    nest), and the report says their columns differ only by chance."""
    from tsai_timemae.bench import _label_section
    ds = load_dataset('BasicMotions')
    with pytest.warns(UserWarning, match=r"0.05 of BasicMotions's 32 training series labels 4 \(12.5%\): 4 of its 4 classes keep one"):
        fixed_label_subset(ds, 0.05, 0, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        fixed_label_subset(ds, 0.25, 0, tmp_path)                                # 2 of each class's 8: no floor
    out, _, _ = label_run
    rows = [r for r in summarize(load_results(out)) if r['label_fraction'] == 0.25]
    twin = [{**r, 'label_fraction': 0.2} for r in rows]                            # as many series at another fraction
    text = '\n'.join(_label_section(rows + twin, {}))
    assert "20% and 25% label the same series (a larger fraction's subset holds a smaller one's), so their columns differ only by chance." in text
    assert 'label the same series' not in '\n'.join(_label_section(rows, {}))
    # a cell with fewer seeds than its command runs (a run kept apart): the report says the command would add them
    seeded = [{**r, 'seeds': [0, 1]} for r in rows]
    seeded[0] = {**rows[0], 'seeds': [0]}
    text = '\n'.join(_label_section(seeded, {}))
    assert re.search(r'--seeds 0 1 ', text)
    assert f"fewer seeds than their command runs, which would add the missing ones: {rows[0]['method']} at 25% (seed 1)." in text
    assert 'fewer seeds than their command' not in '\n'.join(_label_section(rows, {}))


def test_fractions_that_print_alike_get_their_own_files_and_columns(tmp_path):
    "`%g` wrote 0.3125 and 0.3125001 alike: the second reused the first's results and labelled series (8, not 12)."
    from tsai_timemae.bench import fraction_key, fraction_text, percent_text
    assert fraction_key(0.05) == 'labels0.05' and fraction_key(1.0) == 'labels1' and fraction_key(0.01) == 'labels0.01'
    assert fraction_key(0.3125) != fraction_key(0.3125001) and float(fraction_text(0.3125001)) == 0.3125001
    assert percent_text(0.05) == '5' and percent_text(0.3125) == '31.25' and percent_text(0.3125) != percent_text(0.3125001)
    ds = load_dataset('BasicMotions')
    a, b = fixed_label_subset(ds, 0.3125, 0, tmp_path), fixed_label_subset(ds, 0.3125001, 0, tmp_path)
    assert len(a) == 8 and len(b) == 12                              # 2.5 series per class rounds to 2, 2.5000008 to 3
    old = label_subset_path(tmp_path, 'BasicMotions', 0.3125, 0)     # a file named the old way holds another fraction
    rec = json.loads(old.read_text()); rec['fraction'] = 0.3125001
    write_json_atomic(rec, old)
    with pytest.raises(ValueError, match='drawn for a label fraction of 0.3125001, not 0.3125'):
        fixed_label_subset(ds, 0.3125, 0, tmp_path)


def test_label_goal_refuses_a_row_whose_seeds_ran_otherwise_and_says_na_for_one_seed(tmp_path):
    """A seed copied in from a run with other settings (a 100-epoch encoder among 40-epoch ones) was averaged into the
    row, and a file renamed to another seed was read as that seed; with one seed the table said 'yes' against a bar
    of 0 while the verdict said n/a."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import label_goal
    names = ('timemae_scratch', 'inceptiontimeplus', *label_goal.TIMEMAE)
    for name in names:
        for seed in range(3): _fake_result(tmp_path, 'D', name, '0.01', seed, .5 + .1 * (name in label_goal.TIMEMAE))
    one = label_goal.goal_table('D', tmp_path, tmp_path, ('0.01',), seeds=(0,))
    assert {r.split(' | ')[-1].strip(' |') for r in one.splitlines()[2:]} == {'n/a'}
    path = tmp_path / 'D' / 'timemae_fineall_kmeans_labels0.01_seed1.json'
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, 'settings': {'pretraining': {'epochs': 100}}}))
    with pytest.raises(ValueError, match='timemae_fineall_kmeans at 0.01 of the labels: seeds 0 and 1 were run with different settings'):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.01',))
    path.write_text(json.dumps({**rec, 'seed': 2}))
    with pytest.raises(ValueError, match=r"seed1.json records seed 2: a file renamed or copied by hand\? Redo it: `timemae bench D --methods "
                                         r"timemae_fineall --tokenizer kmeans --label-fraction 0.01 --seeds 1 --overwrite`"):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.01',))
    path.write_text(json.dumps({**rec, 'name': 'timemae_finelast_kmeans'}))
    with pytest.raises(ValueError, match=r"records row 'timemae_finelast_kmeans', seed 1: a file renamed"):
        label_goal.comparisons('D', tmp_path, tmp_path, ('0.01',))


def test_the_label_protocol_names_the_epochs_the_rows_ran():
    "The protocol text said '50 epochs on HAR and Epilepsy ... 80 on UWaveGestureLibrary' in every report, whatever ran."
    from tsai_timemae.bench import _label_epochs
    row = lambda d, f, e: {'dataset': d, 'label_fraction': f, 'finetune_epochs': e, 'quick': False}
    rows = [row('D', .1, 50), row('D', .1, None), row('D', None, 20), row('D', None, 10), row('E', .5, 30), row('E', None, 30)]
    assert _label_epochs(rows, [r for r in rows if r['label_fraction']]) == \
        '50 epochs on D (its "Results" rows: 10 to 20), 30 epochs on E'
    assert _label_epochs(rows, [row('F', .1, None)]) == 'none here'        # linear evaluations only
    rows = [{**row('D', .1, 50), 'quick': False}, {**row('D', .2, 2), 'quick': True}]
    assert _label_epochs(rows, rows) == '50 epochs and 2 in --quick runs on D'   # a smoke run is no schedule


def test_a_label_cell_that_ran_other_seeds_names_them(label_run, tmp_path):
    "Cells showed only their number of seeds: two rows of 1 seed each, seed 0 and seed 5, read as like for like."
    out, _, _ = label_run
    for p in (out / 'results' / 'BasicMotions').glob('*_labels*.json'):
        r = json.loads(p.read_text())
        if r['method'] == 'inceptiontimeplus': r = {**r, 'seed': 5}
        write_json_atomic(r, result_path(tmp_path, 'BasicMotions', r['name'], r['seed'], r['label_fraction']))
    section = render_report(tmp_path, tmp_path / 'B.md').split('## Label efficiency: a fraction of the training labels')[1]
    assert 'number of seeds in brackets; a cell that ran other seeds than 0 names them' in section
    assert re.search(r'^\| inceptiontimeplus .*\| [0-9.]+ \(1: seeds 5\) \|$', section, re.M)
    assert re.search(r'^\| timemae_scratch .*\| [0-9.]+ \(1\) \|$', section, re.M)


def test_label_goal_asks_for_a_missing_seed_with_the_flags_its_row_ran(tmp_path):
    "The command for a missing seed left out the row's recorded flags (--pretrain-epochs 100), so its result would clash."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import label_goal
    src = Path(__file__).resolve().parents[1] / 'benchmarks/results/UWaveGestureLibrary/timemae_finelast_kmeans_labels0.1_seed0.json'
    (tmp_path / 'UWaveGestureLibrary').mkdir()
    (tmp_path / 'UWaveGestureLibrary' / src.name).write_text(src.read_text())
    with pytest.raises(FileNotFoundError, match=r'run `timemae bench UWaveGestureLibrary --methods timemae_finelast '
                                                r'--tokenizer kmeans --pretrain-epochs 100 --label-fraction 0.1 --seeds 1`'):
        label_goal.runs(tmp_path, 'UWaveGestureLibrary', 'timemae_finelast_kmeans', '0.1', (0, 1))
