"""The demo is the few-labels use case: pretraining on every BasicMotions training series without labels (with
TimeMAEPretrain's own defaults), then from scratch, FineLast and FineAll on the same stratified fraction of the
training labels, a printed table and a saved plot. Checked at tiny settings."""
import json

import numpy as np
import pytest

from tsai_timemae import demo

TINY = dict(window=10, d_model=16, n_layers=1, n_heads=2, d_ff=32)
MADE = []  # the demo run's learners and scores, in order (filled by the `demo_run` fixture)


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    import torch
    out = tmp_path_factory.mktemp('demo')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seen, pre_kwargs, made = [], [], MADE
    MADE.clear()  # set up again in one process (a rerun plugin): this run's calls only
    orig_dls, orig_pre = demo.get_ts_dls, demo.TimeMAEPretrain
    orig = {k: getattr(demo, k) for k in ('finelast_learner', 'fineall_learner', 'ts_learner', 'evaluate_learner')}
    def spy(kind):  # which learner each row was, and from which weights file; which series each score read
        def f(*a, **k):
            made.append((kind, str(a[1]) if kind in ('finelast_learner', 'fineall_learner') else
                         (a[1], a[2]) if kind == 'evaluate_learner' else k.get('cbs')))
            return orig[kind](*a, **k)
        return f
    def spy_dls(X, y=None, **k):
        dls = orig_dls(X, y, **k) if y is not None else orig_dls(X, **k)
        seen.append((y is not None, len(dls.train_ds), len(dls.valid_ds), None if y is None else list(y[:len(y)])))
        return dls
    def spy_pre(**k):
        pre_kwargs.append(k)
        return orig_pre(**k)
    demo.get_ts_dls, demo.TimeMAEPretrain = spy_dls, spy_pre
    for k in orig: setattr(demo, k, spy(k))
    try:
        summary = demo.run_demo(pretrain_epochs=2, finetune_epochs=2, target_dir=out, out_dir=out, n_draws=2, arch=TINY,
                                verbose=False)
    finally:
        demo.get_ts_dls, demo.TimeMAEPretrain = orig_dls, orig_pre
        for k, v in orig.items(): setattr(demo, k, v)
        torch.set_num_threads(threads)
    return out, summary, seen, pre_kwargs


def test_each_row_fine_tunes_its_own_encoder_and_is_scored_on_the_test_split(demo_run):
    "The table's point: from scratch loads nothing, FineLast and FineAll the pretrained file, the control the untrained one."
    out, summary, _, _ = demo_run
    rec = json.loads((out / 'demo_results.json').read_text())
    made = MADE
    learners = [(k, v) for k, v in made if k != 'evaluate_learner']
    pretraining, rows = learners[0], learners[1:]
    assert pretraining[0] == 'ts_learner' and pretraining[1] is not None      # the pretraining learner, its callback
    per_draw = [('ts_learner', None), ('finelast_learner', rec['weights']), ('fineall_learner', rec['weights']),
                ('finelast_learner', rec['untrained_weights'])]
    assert rows == per_draw * 2
    _, _, Xte, yte = demo.load_basic_motions()
    scored = [v for k, v in made if k == 'evaluate_learner']
    assert len(scored) == 8 and all(np.array_equal(X, Xte) and np.array_equal(y, yte) for X, y in scored)


def test_pretraining_sees_every_training_series_and_fine_tuning_only_the_labelled_ones(demo_run):
    out, summary, seen, _ = demo_run
    rec = json.loads((out / 'demo_results.json').read_text())
    _, ytr, _, _ = demo.load_basic_motions()
    unlabelled = [s for s in seen if not s[0]]
    labelled = [s for s in seen if s[0]]
    assert len(unlabelled) == 1 and unlabelled[0][1] == 40                  # all 40 training inputs, no labels
    assert [(n_tr, n_va) for _, n_tr, n_va, _ in labelled] == [(8, 0), (8, 0)]   # 20%, no validation labels
    for idx, (_, _, _, y) in zip(rec['labelled_idx'], labelled):
        assert y == list(ytr[idx]) and sorted(np.unique(y, return_counts=True)[1]) == [2, 2, 2, 2]   # stratified
    assert rec['labelled_idx'][0] != rec['labelled_idx'][1]                  # two draws of the labelled series


def test_pretraining_uses_the_callbacks_own_defaults(demo_run):
    _, _, _, pre_kwargs = demo_run
    assert len(pre_kwargs) == 1 and set(pre_kwargs[0]) == {'target_dir', 'fname', 'verbose'}


def test_the_table_is_printed_and_saved_with_a_plot(demo_run, capsys):
    out, summary, _, _ = demo_run
    assert list(summary) == ['from scratch', 'FineLast (untrained encoder)', 'FineLast', 'FineAll']
    for r in summary.values():
        assert len(r['accuracy']) == 2 and 0 <= r['accuracy_mean'] <= 1
        assert r['accuracy_mean'] == pytest.approx(np.mean(r['accuracy'])) and r['accuracy_std'] == pytest.approx(np.std(r['accuracy']))
    md = (out / 'demo_results.md').read_text()
    for m, r in summary.items():
        assert f"| {m} | {r['accuracy_mean'] * 100:.1f} ± {r['accuracy_std'] * 100:.1f} |" in md
    assert 'same 8 labelled training series of 40' in md and '![test accuracy](demo_results.png)' in md
    assert (out / 'demo_results.png').stat().st_size > 1000


def test_bad_settings_are_refused_before_pretraining(tmp_path):
    with pytest.raises(ValueError, match=r'label fraction .* in \(0, 1\]'):
        demo.run_demo(label_fraction=0, target_dir=tmp_path, out_dir=tmp_path)
    with pytest.raises(ValueError, match='n_draws'):
        demo.run_demo(n_draws=0, target_dir=tmp_path, out_dir=tmp_path)
    # it saves no encoder to fine-tune: refused before the pretraining, not after the from-scratch rows have trained
    with pytest.raises(ValueError, match=r"pretrain_kwargs=\{'save_best': False\} saves no encoder.*leave save_best out"):
        demo.run_demo(pretrain_kwargs={'save_best': False}, target_dir=tmp_path, out_dir=tmp_path)
    with pytest.raises(ValueError, match='saves no encoder'):                 # any false value: TimeMAEPretrain's reading
        demo.run_demo(pretrain_kwargs={'save_best': 0}, target_dir=tmp_path, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_cli_options():
    import argparse
    p = argparse.ArgumentParser()
    demo.add_args(p)
    a = p.parse_args([])
    assert (a.label_fraction, a.draws, a.out_dir) == (0.2, 3, 'demo_results')
    assert p.parse_args(['--label-fraction', '0.5', '--draws', '1']).label_fraction == 0.5


def test_the_record_says_how_long_the_demo_took(demo_run):
    out, _, _, _ = demo_run
    wall = json.loads((out / 'demo_results.json').read_text())['wall']
    assert 0 < wall['pretrain_s'] <= wall['total_s'] and wall['threads'] >= 1
    assert 'Wall time:' in (out / 'demo_results.md').read_text()


def test_the_record_names_its_own_encoder_file(demo_run):
    "Every demo run saved to one file name, so a second run (another seed) replaced the file the first's record named."
    import hashlib
    from pathlib import Path
    out = demo_run[0]
    rec = json.loads((out / 'demo_results.json').read_text())
    weights = Path(rec['weights'])
    # another --bs or architecture named the same file too, replacing an encoder an earlier record names
    assert weights.name == f'basicmotions_timemae_seed0_2ep{demo._settings_suffix(16, TINY, None)}.pth'
    names = {demo._settings_suffix(*s) for s in ((16, None, None), (8, None, None), (16, TINY, None), (16, {**TINY, 'window': 5}, None),
                                                  (16, None, {'mask_ratio': 0.5}), (16, None, {'fname': 'x'}))}
    assert len(names) == 5 and demo._settings_suffix(16, None, {'fname': 'x'}) == demo._settings_suffix(16, None, None) == ''
    # settings that leave the encoder as it is keep the name: a rerun with resume=True finds the stopped run's state
    assert demo._settings_suffix(4, TINY, {'save_every': 1}) == demo._settings_suffix(4, TINY, {'save_every': 1, 'resume': True, 'verbose': False})
    assert demo._settings_suffix(16, None, {'tokenizer_kwargs': {1: 'a', 'b': 2}})  # mixed key types: a name, not a TypeError
    assert rec['weights_sha256'] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_finelasts_control_is_the_same_encoder_before_pretraining(demo_run):
    """The untrained row fine-tunes the encoder pretraining started from (its file saved before the first step): the
    same architecture, other weights; the table says what it is."""
    import torch
    from tsai_timemae.weights import read_encoder_file
    out, _, _, _ = demo_run
    rec = json.loads((out / 'demo_results.json').read_text())
    (before, c0), (after, c1) = read_encoder_file(rec['untrained_weights']), read_encoder_file(rec['weights'])
    assert c0 == c1 and before.keys() == after.keys()
    assert not all(torch.equal(before[k], after[k]) for k in before)
    from tsai.data.core import get_ts_dls
    from tsai.learner import ts_learner
    from tsai_timemae.model import TimeMAE
    Xtr = demo.load_basic_motions()[0]                   # the network pretraining built from the seed, before any step
    fresh = ts_learner(get_ts_dls(Xtr, splits=(list(range(40)), [0])), TimeMAE, seed=rec['seed'], **TINY).model.state_dict()
    assert all(torch.equal(before[k], fresh[k]) for k in before)
    assert rec['draw_seeds'] == [0, 1]
    md = (out / 'demo_results.md').read_text()
    assert 'FineLast on the same encoder before pretraining' in md and 'ddof 0' in md and '(seeds 0, 1)' in md


def test_a_rerun_stopped_part_way_leaves_the_finished_encoder_in_place(tmp_path, monkeypatch):
    "The callback rewrote the file from epoch 1: a stopped rerun of the same name left a part-trained encoder there."
    import hashlib
    from tsai_timemae.demo import load_basic_motions
    X = load_basic_motions()[0][:12]
    first = demo.pretrain_encoder(X, 2, 4, 0, tmp_path, TINY, verbose=False)
    assert first == tmp_path / f'basicmotions_timemae_seed0_2ep{demo._settings_suffix(4, TINY, None)}.pth' and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [first.name]
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    orig_fit = demo._quiet_fit
    def stopped(learn, *a, **k):
        learn.fit(1, 1e-3)                             # one epoch: the callback writes its file
        raise KeyboardInterrupt
    monkeypatch.setattr(demo, '_quiet_fit', stopped)
    with pytest.raises(KeyboardInterrupt): demo.pretrain_encoder(X, 2, 4, 0, tmp_path, TINY, verbose=False)
    assert hashlib.sha256(first.read_bytes()).hexdigest() == digest and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [first.name]
    fresh = tmp_path / 'fresh'
    with pytest.raises(KeyboardInterrupt): demo.pretrain_encoder(X, 2, 4, 0, fresh, TINY, verbose=False)
    assert not any(fresh.glob('*.pth'))                # no finished file before: nothing part-trained is left
    monkeypatch.setattr(demo, '_quiet_fit', orig_fit)
    again = demo.pretrain_encoder(X, 2, 4, 0, tmp_path, TINY, verbose=False)   # a finished rerun replaces it whole
    assert again == first and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [first.name]
    # a resumed rerun that finds its run finished trains nothing, and keeps the finished file
    kw = {'save_every': 1, 'resume': True}
    done = demo.pretrain_encoder(X, 2, 4, 0, tmp_path / 'r', TINY, pretrain_kwargs=kw, verbose=False)
    digest = hashlib.sha256(done.read_bytes()).hexdigest()
    assert demo.pretrain_encoder(X, 2, 4, 0, tmp_path / 'r', TINY, pretrain_kwargs=kw, verbose=False) == done
    assert hashlib.sha256(done.read_bytes()).hexdigest() == digest
    # stopped after the last state was written: the demo deleted its part-trained file, and the rerun returned a
    # path that did not exist; the resumed state's encoder is written again
    def stopped_at_the_end(learn, *a, **k):
        orig_fit(learn, *a, **k)
        raise KeyboardInterrupt
    monkeypatch.setattr(demo, '_quiet_fit', stopped_at_the_end)
    with pytest.raises(KeyboardInterrupt): demo.pretrain_encoder(X, 2, 4, 0, tmp_path / 'k', TINY, pretrain_kwargs=kw, verbose=False)
    assert not list((tmp_path / 'k').glob('*running.pth'))
    monkeypatch.setattr(demo, '_quiet_fit', orig_fit)
    out = demo.pretrain_encoder(X, 2, 4, 0, tmp_path / 'k', TINY, pretrain_kwargs=kw, verbose=False)
    assert out.is_file() and hashlib.sha256(out.read_bytes()).hexdigest() == digest  # the same seed's finished encoder


def test_an_fname_with_a_folder_ends_where_it_says(tmp_path):
    "The finished file's name was built with Path.with_name, which refuses 'sub/enc.pth': an error after pretraining."
    from tsai_timemae.demo import load_basic_motions
    (tmp_path / 'sub').mkdir()
    out = demo.pretrain_encoder(load_basic_motions()[0][:12], 1, 4, 0, tmp_path, TINY, pretrain_kwargs={'fname': 'sub/enc'},
                                verbose=False)
    assert out == tmp_path / 'sub' / 'enc.pth' and out.is_file() and not list(tmp_path.rglob('*.running*'))


def test_the_demo_never_downloads_a_missing_basicmotions(monkeypatch):
    "sktime downloads a data set its install lacks: the demo says what is missing instead."
    monkeypatch.setattr(demo, 'sktime_bundled_folder', lambda name: None)
    with pytest.raises(FileNotFoundError, match="sktime's bundled copy of BasicMotions is missing.*never does"):
        demo.load_basic_motions()


def test_no_bar_leaves_the_pretraining_progress_out_of_a_log_and_keeps_its_messages(tmp_path, monkeypatch, capsys):
    "Unlike bench, the demo had no --no-bar: a piped log filled with the pretraining's progress-bar redraws."
    from tsai_timemae.cli import main
    from tsai_timemae.demo import load_basic_motions
    X = load_basic_motions()[0][:12]
    path = demo.pretrain_encoder(X, 1, 4, 0, tmp_path, TINY, verbose=True, bar=False)
    out = capsys.readouterr().out
    assert 'train_loss' not in out and 'Pretraining finished: that encoder is now at' in out and path.is_file()
    seen = []
    monkeypatch.setattr(demo, 'run_demo', lambda *a, **k: seen.append(k.get('bar')))
    main(['demo', '--no-bar', '--pretrain-epochs', '1']); main(['demo', '--pretrain-epochs', '1'])
    assert seen == [False, True]


def test_one_draw_prints_no_spread():
    "With n_draws=1 the table said '27.5 ± 0.0': a spread nobody measured."
    one = {'FineAll': {'accuracy': [0.275], 'accuracy_mean': 0.275, 'accuracy_std': 0., 'macro_f1_mean': 0.157, 'macro_f1_std': 0.}}
    assert demo._table(one, 'h')[-1] == '| FineAll | 27.5 | 15.7 | 27.5 |'
    two = {'FineAll': {'accuracy': [0.25, 0.3], 'accuracy_mean': 0.275, 'accuracy_std': 0.025, 'macro_f1_mean': 0.157, 'macro_f1_std': 0.01}}
    assert demo._table(two, 'h')[-1] == '| FineAll | 27.5 ± 2.5 | 15.7 ± 1.0 | 25.0, 30.0 |'


def test_the_header_says_how_many_labelled_series_an_epoch_trains_on(tmp_path, capsys):
    "tsai's loader drops the last partial batch: 20 labelled series at batch size 16 train 16 per epoch, not 20."
    demo.run_demo(pretrain_epochs=1, finetune_epochs=1, target_dir=tmp_path, out_dir=tmp_path, n_draws=1, label_fraction=0.5,
                  arch=TINY, verbose=False)
    out = capsys.readouterr().out
    assert '20 labelled training series' in out and '16 of them per epoch' in out and 'so no spread' in out


def test_results_made_with_other_settings_are_replaced_with_a_line_that_says_so(tmp_path, capsys):
    "`timemae demo` rewrote demo_results.json made with other settings without a word (bench and probe refuse that)."
    import json
    from tsai_timemae.demo import _say_replaced
    path = tmp_path / 'demo_results.json'
    _say_replaced(path, {'pretrain_epochs': 2})                                  # nothing there: nothing to say
    path.write_text(json.dumps({'pretrain_epochs': 1, 'finetune_epochs': 1, 'bs': 16}))
    _say_replaced(path, {'pretrain_epochs': 1, 'finetune_epochs': 1, 'bs': 16})  # the same settings: a regeneration
    assert capsys.readouterr().out == ''
    _say_replaced(path, {'pretrain_epochs': 2, 'finetune_epochs': 1, 'bs': 16})
    assert capsys.readouterr().out.strip() == (f'Replacing the results in {tmp_path} made with other settings: '
                                               'pretrain_epochs 1 -> 2.')
