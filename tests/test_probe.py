"""`timemae probe`: the linear probe never reads the test split, records the untrained encoder's score beside the
pretrained one, writes one JSON per run (skipped when rerun with the same settings), and the report / CLI."""
import argparse
import json
import shlex
import sys
import warnings

import numpy as np
import pytest

from tsai_timemae.data import TSDataset, split_train_valid
from tsai_timemae.probe import (add_args, cv_probe_score, key_value, linear_probe_score, load_probe_runs, probe_path,
                                render_probe_report, run_probe, summarize_probe, write_probe_report)

TINY = dict(n_layers=1, d_model=16, n_heads=2, d_ff=32, window=10)


class NoTestDataset(TSDataset):
    "A data set whose test split cannot be read: any access fails the test."
    def __getattribute__(self, name):
        if name in ('X_test', 'y_test'): raise AssertionError(f'the probe read {name}')
        return super().__getattribute__(name)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def ds(basic_motions):
    "BasicMotions' training split as train (32) + valid (8); the test arrays are NaN and unreadable."
    Xtr, ytr, Xte, yte = basic_motions
    X_train, y_train, X_valid, y_valid = split_train_valid(Xtr, ytr, 0.2, 42)
    return NoTestDataset('BasicMotions', X_train, y_train, X_valid, y_valid, np.full_like(Xte, np.nan), yte)


@pytest.fixture(scope='module')
def probe_run(ds, tmp_path_factory):
    out = tmp_path_factory.mktemp('probe')
    return out, run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, tag='t', out_dir=out, verbose=False)


def test_probe_scores_are_accuracies():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((60, 4)); y = (F[:, 0] > 0).astype(int)
    assert 0.8 < linear_probe_score(F[:40], y[:40], F[40:], y[40:]) <= 1
    assert 0.8 < cv_probe_score(F, y, folds=5) <= 1
    assert 0 <= cv_probe_score(rng.standard_normal((60, 4)), y) <= 1


def test_run_records_untrained_and_final_scores(probe_run, ds):
    out, r = probe_run
    assert r['protocol'] == 'cv5'                      # 32 training series: cross-validated over train + valid
    assert 0 <= r['untrained_score'] <= 1 and 0 <= r['final_score'] <= 1
    assert r['curve'] == [[0, r['untrained_score']], [2, r['final_score']]]
    assert r['epochs'] == 2 and r['bs'] == 16 and r['arch'] == TINY  # bs from timemae bench's BasicMotions row
    assert r['steps'] == 2 * r['batches_per_epoch'] and r['data']['n_pretrain'] == 40
    assert len(r['history']) == 2 and r['history_last'] == r['history'][-1] and 'train_loss' in r['history_last']
    assert 'mask_ratio' in r['settings']['effective']['pretrain']  # the callback's defaults are recorded too
    assert r['versions']['torch'] and r['env']['torch_threads'] == 1 and r['env']['cpu_capability'] and r['wall_s'] > 0
    saved = json.loads(probe_path(out, 'BasicMotions', 't', 0).read_text())
    assert saved['final_score'] == r['final_score'] and saved['settings'] == r['settings']
    assert not (out / 'models').exists()


def test_rerun_is_skipped_other_settings_refused(probe_run, ds, capsys):
    out, r = probe_run
    path = probe_path(out, 'BasicMotions', 't', 0)
    mtime = path.stat().st_mtime_ns
    again = run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, tag='t', out_dir=out)
    assert again['finished'] == r['finished'] and path.stat().st_mtime_ns == mtime
    assert 'skipped' in capsys.readouterr().out
    with pytest.raises(ValueError, match='other settings'):
        run_probe(ds, seed=0, epochs=3, arch_kwargs=TINY, tag='t', out_dir=out, verbose=False)
    with pytest.raises(ValueError, match='other settings'):  # another seed of the same tag must match too
        run_probe(ds, seed=1, epochs=2, lr=3e-3, arch_kwargs=TINY, tag='t', out_dir=out, verbose=False)


def test_a_damaged_run_file_is_named_on_a_rerun(probe_run, ds, tmp_path):
    "A run file cut short gave a bare 'Expecting value: line 6 column 14' on the next run of its tag."
    import shutil
    out = tmp_path / 'copy'
    shutil.copytree(probe_run[0], out)
    path = probe_path(out, 'BasicMotions', 't', 0)
    path.write_text(path.read_text()[:100])
    with pytest.raises(ValueError, match=f'{path.name} cannot be read as a probe run .*delete it, and the command with --seeds 0'):
        run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, tag='t', out_dir=out, verbose=False)


def test_probing_every_epoch_leaves_the_run_unchanged(probe_run, ds):
    _, r = probe_run
    e = run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, every=1, verbose=False)
    assert [c[0] for c in e['curve']] == [0, 1, 2] and e['curve'][-1][1] == e['final_score']
    assert e['untrained_score'] == r['untrained_score'] and e['final_score'] == r['final_score']
    assert [h['train_loss'] for h in e['history']] == [h['train_loss'] for h in r['history']]


def test_steps_round_up_to_epochs(ds):
    r = run_probe(ds, seed=0, steps=3, bs=16, arch_kwargs=TINY, verbose=False)
    assert (r['batches_per_epoch'], r['epochs'], r['steps'], r['steps_requested']) == (2, 2, 4, 3)


def test_large_data_sets_score_on_validation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1100, 1, 20)).astype(np.float32); y = np.arange(1100) % 2
    big = NoTestDataset('big', X[:1000], y[:1000], X[1000:], y[1000:], X[:0], y[:0])
    r = run_probe(big, untrained_only=True, bs=256, arch_kwargs=TINY, verbose=False)
    assert r['protocol'] == 'valid' and r['final_score'] is None and r['epochs'] == 0 and r['history'] == []


def test_unknown_pretraining_key_fails_before_any_work_and_lists_the_valid_ones(ds):
    with pytest.raises(ValueError, match=r"has no setting 'no_such_option'\. It takes: mask_ratio, "):
        run_probe(ds, epochs=1, pretrain_kwargs={'no_such_option': 1}, arch_kwargs=TINY, verbose=False)


def test_report(probe_run, ds):
    out, r = probe_run
    run_probe(ds, seed=0, untrained_only=True, arch_kwargs=TINY, out_dir=out, verbose=False)
    text = write_probe_report(out).read_text()
    assert text == render_probe_report(load_probe_runs(out), out)
    table = text.split('| run |', 1)[1]
    assert '| untrained (' in table and '| t |' in table and 'BasicMotions' in table
    cmd = next(l for l in text.splitlines() if l.startswith('timemae probe') and '--tag t ' in l)
    assert shlex.split(cmd)[shlex.split(cmd).index('--epochs') + 1] == '2' and f'--out-dir {out}' in cmd
    assert '--arch n_layers=1' in cmd and '--untrained-only' in text


def test_one_seed_and_float_round_off_get_no_verdict():
    """One seed has no spread, so no ▲/▼ and no '± 0.0'; scores that differ only by float round-off (0.78 against
    0.7799999999999999) are a tie, not a loss; "beats untrained" counts only cells that can be judged."""
    def rec(tag, seed, u, f, d='D'):
        return {'dataset': d, 'tag': tag, 'seed': seed, 'protocol': 'cv5', 'untrained_score': u, 'final_score': f,
                'untrained_only': False, 'epochs': 2, 'given': {'arch': {}, 'bs': None}, 'pretrain': {}, 'lr': 1e-3,
                'sched': 'one_cycle'}
    runs = [rec('one', 0, .5, .9), rec('tie', 0, .78, .7799999999999999), rec('tie', 1, .78, .7799999999999999),
            rec('one', 0, .5, .9, d='E'), rec('one', 1, .5, .8, d='E')]
    rows = {(r['row'], r['dataset']): r for r in summarize_probe(runs)}
    assert rows[('one', 'D')]['mark'] == '?' and rows[('tie', 'D')]['mark'] == '≈' and rows[('one', 'E')]['mark'] == '▲'
    table = render_probe_report(runs)
    one = next(l for l in table.splitlines() if l.startswith('| one |'))
    assert '| 90.0 (1) ? +40.0 |' in one and '± 0.0 (1)' not in table
    assert one.endswith('| 1/1 |')  # D's single seed is not counted; E's two seeds are
    assert next(l for l in table.splitlines() if l.startswith('| tie |')) == '| tie | 78.0 ± 0.0 (2) ≈ +0.0 |  | 0/1 |'


def test_summary_arithmetic():
    def rec(tag, seed, u, f, arch=None):
        return {'dataset': 'D', 'tag': tag, 'seed': seed, 'protocol': 'cv5', 'untrained_score': u, 'final_score': f,
                'untrained_only': f is None, 'epochs': 5, 'given': {'arch': arch or {}, 'bs': None}}
    runs = [rec('up', 0, .5, .7), rec('up', 1, .6, .8), rec('flat', 0, .5, .52), rec('flat', 1, .6, .56),
            rec('down', 0, .5, .3), rec('down', 1, .6, .5)]
    rows = {r['row']: r for r in summarize_probe(runs)}
    assert rows['untrained']['n'] == 2 and rows['untrained']['mean'] == pytest.approx(55.)  # one score per seed
    assert rows['up']['mean'] == pytest.approx(75.) and rows['up']['std'] == pytest.approx(5.)
    assert (rows['up']['mark'], rows['flat']['mark'], rows['down']['mark']) == ('▲', '≈', '▼')
    assert rows['flat']['delta_mean'] == pytest.approx(-1.) and rows['flat']['delta_std'] == pytest.approx(3.)
    part = [{**rec('part', s, u, .9), 'pretrain_fraction': .5} for s, u in ((0, .1), (1, .2))]  # scaled on half the inputs
    rows = {r['row']: r for r in summarize_probe(part + runs)}
    assert rows['untrained']['mean'] == pytest.approx(55.) and rows['untrained (frac=0.5)']['mean'] == pytest.approx(15.)
    assert rows['part']['untrained_label'] == 'untrained (frac=0.5)'


def test_cli_parses_settings_and_runs(basic_motions, tmp_path, capsys):
    from tsai_timemae.cli import main
    p = argparse.ArgumentParser(); add_args(p)
    a = p.parse_args(['BasicMotions', '--set', 'tokenizer=kmeans', '--set', 'normalize_targets=True', '--set',
                      'alpha=0.5', '--set', 'gamma=1e-3', '--set', 'name=None', '--arch', 'n_layers=2', '--steps', '100'])
    assert dict(a.set) == {'tokenizer': 'kmeans', 'normalize_targets': True, 'alpha': 0.5, 'gamma': 1e-3, 'name': None}
    assert dict(a.arch) == {'n_layers': 2} and a.steps == 100 and a.epochs is None
    assert key_value('x=a b') == ('x', 'a b')
    with pytest.raises(SystemExit): p.parse_args(['D', '--set', 'novalue'])
    with pytest.raises(SystemExit): p.parse_args(['D', '--epochs', '2', '--steps', '3'])
    with pytest.raises(SystemExit) as e: main(['probe', '--help'])
    assert e.value.code == 0 and '--untrained-only' in capsys.readouterr().out
    # end to end on a numpy data set whose test split is NaN
    Xtr, ytr, Xte, yte = basic_motions
    npz = tmp_path / 'bm.npz'
    np.savez(npz, X_train=Xtr, y_train=ytr, X_test=np.full_like(Xte, np.nan), y_test=yte)
    out = tmp_path / 'out'
    argv = ['probe', str(npz), '--epochs', '1', '--tag', 'cli', '--threads', '1', '--out-dir', str(out),
            '--set', 'mask_ratio=0.5', *[f'--arch={k}={v}' for k, v in TINY.items()]]
    main(argv)
    r = json.loads((out / 'bm' / 'cli' / 'seed0.json').read_text())
    assert r['pretrain'] == {'mask_ratio': 0.5} and 0 <= r['final_score'] <= 1 and r['dataset_arg'] == str(npz)
    assert (out / 'PROBE.md').is_file()
    capsys.readouterr(); main(argv)
    assert 'skipped' in capsys.readouterr().out
    (out / 'PROBE.md').unlink(); main(['probe', '--report-only', '--out-dir', str(out)])
    assert '| cli |' in (out / 'PROBE.md').read_text()


def test_regenerate_commands_pin_defaults_that_changed_and_never_add_seeds(probe_run, ds, tmp_path):
    import copy, shutil
    from tsai_timemae.probe import pinned_settings
    out, r = probe_run
    old = copy.deepcopy(r)                      # a run made when normalize_targets defaulted to False
    old['settings']['effective']['pretrain']['normalize_targets'] = False
    assert pinned_settings(old)[0] == {**r['pretrain'], 'normalize_targets': False}
    assert pinned_settings(r)[0] == r['pretrain']            # nothing changed since: only the given settings
    runs = []
    for name, seeds in (('A', (0, 1)), ('B', (0, 1, 2))):    # same tag and settings, different seeds per data set
        for s in seeds: runs.append({**copy.deepcopy(r), 'dataset': name, 'dataset_arg': name, 'seed': s})
    cmds = [l for l in render_probe_report(runs).splitlines() if l.startswith('timemae probe')]
    assert any(c.startswith('timemae probe A --seeds 0 1 ') for c in cmds)
    assert any(c.startswith('timemae probe B --seeds 0 1 2 ') for c in cmds)


def test_a_tag_can_grow_seeds_after_a_default_changed(probe_run):
    from tsai_timemae.probe import _same_settings
    out, r = probe_run
    old = json.loads(json.dumps(r['settings']))                   # seed 0, run when normalize_targets defaulted to False
    old['effective']['pretrain']['normalize_targets'] = False
    new = json.loads(json.dumps(r['settings']))                   # a new seed that names the old value explicitly
    new['pretrain'] = {**new['pretrain'], 'normalize_targets': False}
    new['effective']['pretrain']['normalize_targets'] = False     # given over today's default
    assert _same_settings(old, new)
    new['effective']['pretrain']['normalize_targets'] = True      # left to today's default: not the same run
    assert not _same_settings(old, new)


def test_pretrain_fraction_and_the_encoder_hook(ds, tmp_path):
    "A seeded fraction of the inputs is pretrained on, the probe still sees every series; the hook changes nothing."
    from tsai_timemae.embeddings import get_embeddings
    from tsai_timemae.probe import probe_command
    import torch
    seen = []
    def hook(stage, learn, d):
        seen.append((stage, get_embeddings(learn, d.X_valid).shape, len(learn.dls.train.dataset)))
        torch.rand(3); np.random.rand(3)  # the run's random state is restored after the hook
    r = run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, pretrain_fraction=0.25, on_encoder=hook, out_dir=tmp_path,
                  verbose=False)
    assert r['tag'].endswith('_frac=0.25') and r['pretrain_fraction'] == 0.25
    assert (r['data']['n_pretrain'], r['data']['n_inputs']) == (10, 40)        # round(0.25 * 40) series
    assert r['bs'] == 16 and r['bs_used'] == 10 and r['batches_per_epoch'] == 1  # the batch shrinks to the series
    assert r['protocol'] == 'cv5' and 0 <= r['final_score'] <= 1              # probed over all 40, as before
    assert seen == [('untrained', (8, 16), 10), ('pretrained', (8, 16), 10)]
    plain = run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, pretrain_fraction=0.25, verbose=False)
    assert plain['final_score'] == r['final_score']
    assert [h['train_loss'] for h in plain['history']] == [h['train_loss'] for h in r['history']]
    other = run_probe(ds, seed=1, epochs=2, arch_kwargs=TINY, pretrain_fraction=0.25, verbose=False)
    assert other['history'][0]['train_loss'] != r['history'][0]['train_loss']  # (scores move in steps of 1/40: they can tie)
    # rerun skipped (the hook is not called), the regenerate command carries the option, the CLI reads it
    seen.clear()
    assert run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, pretrain_fraction=0.25, on_encoder=hook,
                     out_dir=tmp_path, verbose=False)['finished'] == r['finished'] and not seen
    cmd = probe_command([r])
    assert '--pretrain-fraction 0.25' in cmd
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).pretrain_fraction == 0.25
    assert p.parse_args(['D']).pretrain_fraction is None
    with pytest.raises(ValueError, match='other settings'):  # a fraction is a setting of the tag
        run_probe(ds, seed=0, epochs=2, arch_kwargs=TINY, pretrain_fraction=0.5, tag=r['tag'], out_dir=tmp_path,
                  verbose=False)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match='pretrain_fraction'):
            run_probe(ds, epochs=1, arch_kwargs=TINY, pretrain_fraction=bad, verbose=False)


def test_probe_defaults_follow_the_bench_for_known_sets_and_the_library_for_others():
    "Known data sets keep the benchmark's window (runs stay comparable); a user's own data gets auto_window."
    from tsai_timemae.probe import probe_defaults
    assert probe_defaults('HAR', 128)['window'] == 8
    assert probe_defaults('UWaveGestureLibrary', 315)['window'] == 12              # chosen by cross-validation
    assert probe_defaults('ECG200', 96)['window'] == 8                             # the committed probe runs' window
    assert probe_defaults('my_sensors', 315)['window'] == 13                       # round(sqrt(315 / 2))
    assert probe_defaults('my_sensors')['window'] == 8                             # no length known
    assert probe_defaults('UWave', 315)['window'] == 12                            # an alias finds its set, as in the bench
    assert probe_defaults('/data/UWaveGestureLibrary', 315)['window'] == 13        # a path is one's own data, as in the bench


def test_held_out_windows_sharing_recordings_with_training_are_named(ds, probe_run):
    "Sliding windows split at random: the probe says how many held-out windows share a recording, and warns."
    from tsai_timemae.probe import shared_recordings_warning
    assert probe_run[1]['data']['held_out_sharing_recordings'] == 0.                 # BasicMotions: no overlaps
    assert shared_recordings_warning(ds, 'cv5') == (0., None)
    rng = np.random.default_rng(0)
    rec = rng.normal(size=(2, 4 * 41)).astype(np.float32)
    X = np.stack([rec[:, 4 * i:4 * i + 8] for i in range(40)])                   # one recording, hop 4
    y = np.arange(40) % 2
    leaky = TSDataset('Sliding', X[::2], y[::2], X[1::2], y[1::2], X[:2], y[:2])
    share, warning = shared_recordings_warning(leaky, 'valid')
    assert share == 1. and '100% of the validation windows of Sliding' in warning and 'recording_groups' in warning
    assert shared_recordings_warning(leaky, 'cv5')[0] == 1.


def test_cross_validation_by_recording_keeps_each_recording_on_one_side():
    "Features that only identify the recording: shuffled folds score them high, folds by recording near chance."
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 10)                                        # 20 recordings of 10 windows
    y = rng.permutation(np.arange(20) % 2)[groups]                               # a label per recording, no signal
    F = rng.standard_normal((20, 30))[groups] + 0.05 * rng.standard_normal((200, 30))
    assert cv_probe_score(F, y) > 0.9                                            # the leak: a recording on both sides
    assert cv_probe_score(F, y, groups=groups) < 0.75
    with pytest.raises(ValueError, match='3 recordings cannot fill 5 folds'):
        cv_probe_score(F[:30], y[:30], groups=groups[:30])


def test_probe_by_recording_runs_records_and_reruns(tmp_path):
    "`by_recording=True`: protocol `rec5`, its own tag and report section, no leak warning, `--by-recording` to rerun."
    import warnings
    from tsai_timemae.probe import probe_command
    rng = np.random.default_rng(1)
    recs = rng.normal(size=(12, 2, 4 * 9)).astype(np.float32)
    X = np.stack([r[:, 4 * i:4 * i + 8] for r in recs for i in range(8)])        # 12 recordings, 8 windows each, hop 4
    y = np.repeat(np.arange(12) % 2, 8)
    leaky = NoTestDataset('Sliding', X[::2], y[::2], X[1::2], y[1::2], X[:2], y[:2])
    tiny = {**TINY, 'window': 4}
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*come from recordings')     # no leak warning by recording
        r = run_probe(leaky, epochs=1, arch_kwargs=tiny, out_dir=tmp_path, verbose=False, by_recording=True)
    assert r['protocol'] == 'rec5' and r['tag'].endswith('_rec') and r['by_recording'] is True
    assert r['data']['held_out_sharing_recordings'] == 0. and 0 <= r['final_score'] <= 1
    with pytest.warns(UserWarning, match='come from recordings that other windows'):
        plain = run_probe(leaky, epochs=1, arch_kwargs=tiny, out_dir=tmp_path, verbose=False)
    assert plain['protocol'] == 'cv5' and plain['tag'] != r['tag'] and 'by_recording' not in plain['settings']
    runs = load_probe_runs(tmp_path)
    cmd = probe_command([x for x in runs if x['tag'] == r['tag']])
    assert '--by-recording' in cmd and '--by-recording' not in probe_command([x for x in runs if x['tag'] == plain['tag']])
    report = render_probe_report(runs, tmp_path)
    assert '5-fold cross-validation over whole recordings' in report
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).by_recording
    assert run_probe(leaky, epochs=1, arch_kwargs=tiny, out_dir=tmp_path, verbose=False,
                     by_recording=True)['finished'] == r['finished']                 # same settings: skipped


def test_unseen_folds_pretrain_without_the_series_they_score(tmp_path, monkeypatch):
    """`unseen=True`: one encoder per fold, pretrained on the other folds' inputs only; every series is held out
    once; the run's scores are the folds' means; its own tag, report section and `--unseen` to rerun."""
    import tsai_timemae.probe as probe
    from tsai_timemae.probe import probe_command
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2, 20)).astype(np.float32)
    y = np.arange(30) % 2
    small = NoTestDataset('Small', X[:24], y[:24], X[24:], y[24:], X[:2], y[:2])
    seen, real = [], probe._pretrain_learner
    monkeypatch.setattr(probe, '_pretrain_learner', lambda Xp, *a, **k: (seen.append(Xp.copy()), real(Xp, *a, **k))[1])
    r = run_probe(small, epochs=1, arch_kwargs=TINY, out_dir=tmp_path, verbose=False, unseen=True)
    assert r['protocol'] == 'unseen5' and r['tag'].endswith('_unseen') and len(seen) == len(r['fold_scores']) == 5
    held = [{b for b in range(30) if not any(np.array_equal(X[b], x) for x in Xp)} for Xp in seen]
    assert all(len(h) == 6 for h in held) and set().union(*held) == set(range(30))   # each series held out once
    assert r['data']['n_pretrain'] == 24
    assert r['untrained_score'] == pytest.approx(np.mean([u for u, _ in r['fold_scores']]))
    assert r['final_score'] == pytest.approx(np.mean([f for _, f in r['fold_scores']]))
    cmd = probe_command(load_probe_runs(tmp_path))
    assert cmd.endswith('--unseen')
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).unseen
    assert 'each fold scored by an encoder pretrained without it' in render_probe_report(load_probe_runs(tmp_path))
    with pytest.raises(ValueError, match='cannot be combined with every, by_recording'):
        run_probe(small, epochs=2, every=1, by_recording=True, arch_kwargs=TINY, verbose=False, unseen=True)


def test_unseen_steps_record_each_folds_own_schedule(tmp_path):
    """`--unseen --steps`: folds of unequal size have different batches per epoch and so different epochs; the record
    keeps each fold's steps, and its own epochs, batches and steps are one fold's (the first), not a mix."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(33, 2, 20)).astype(np.float32)
    y = np.arange(33) % 2
    small = NoTestDataset('Small', X[:30], y[:30], X[30:], y[30:], X[:2], y[:2])   # 33 inputs: fits of 26 and 27
    r = run_probe(small, steps=4, bs=9, arch_kwargs=TINY, out_dir=tmp_path, verbose=False, unseen=True)
    assert len(set(r['fold_steps'])) > 1, r['fold_steps']                 # the folds' schedules do differ here
    assert r['steps'] == r['epochs'] * r['batches_per_epoch'] == r['fold_steps'][0] >= 4
    assert r['epochs'] == r['fold_epochs'][0] and r['data']['n_pretrain'] == 26


def test_a_run_made_under_other_tokenizer_defaults_is_not_kept(ds, tmp_path, monkeypatch):
    "The settings compared only TimeMAEPretrain's and TimeMAE's defaults: the k-means seed's change was reused silently."
    from tsai_timemae.tokenizers import KMeansTokenizer
    kw = dict(seed=0, epochs=1, arch_kwargs=TINY, tag='t', out_dir=tmp_path, verbose=False)
    first = run_probe(ds, **kw)
    assert run_probe(ds, **kw) == first                                   # today's defaults: kept
    init = KMeansTokenizer.__init__
    monkeypatch.setattr(init, '__defaults__', tuple(1 if v == 0 else v for v in init.__defaults__))  # seed 0 -> 1
    with pytest.raises(ValueError, match='other settings'):
        run_probe(ds, **kw)


def test_a_record_of_other_data_under_the_same_name_is_refused(ds, tmp_path):
    "A kept record is reused only for the data it was made from (the training and validation splits' hash)."
    import copy
    kw = dict(seed=0, untrained_only=True, arch_kwargs=TINY, out_dir=tmp_path, verbose=False)
    first = run_probe(ds, **kw)
    assert run_probe(ds, **kw) == first                                   # the same data: skipped, the record kept
    other = copy.copy(ds)
    other.X_train = ds.X_train + 1                                        # same name, other inputs
    with pytest.raises(ValueError, match=r"seed0.json was made from other data than 'BasicMotions'.*--force"):
        run_probe(other, **kw)
    # another seed of the same tag from the other data was run, and averaged with seed 0 into one row
    with pytest.raises(ValueError, match=r"seed0.json was made from other data than 'BasicMotions'.*delete .* to redo the tag"):
        run_probe(other, **{**kw, 'seed': 1})


def test_missing_values_are_named_before_any_work_with_a_fix_for_the_command_line(ds, tmp_path):
    import copy
    bad = copy.copy(ds)
    bad.X_train = ds.X_train.copy()
    bad.X_train[1, 0, 3] = np.nan
    with pytest.raises(ValueError, match=r'BasicMotions: values are missing or infinite \(train: 1 value in 1 of the 32 series\).*np.nan_to_num'):
        run_probe(bad, seed=0, untrained_only=True, arch_kwargs=TINY, out_dir=tmp_path, verbose=False)


def test_more_folds_than_any_class_has_series_names_the_option():
    "scikit-learn's message names n_splits; the command line calls it --folds."
    from tsai_timemae.probe import unseen_folds
    with pytest.raises(ValueError, match=r'20 folds need a class with at least 20 series, and the largest has 10: pass --folds 10'):
        unseen_folds(np.array(['a'] * 10 + ['b'] * 8), 20)
    assert len(unseen_folds(np.array(['a'] * 3 + ['b'] * 10), 5)) == 5     # one small class: scikit-learn only warns
    with pytest.raises(ValueError, match='Every class has a single series'): unseen_folds(np.array([0, 1, 2, 3]), 5)


def test_the_probe_runs_on_a_data_set_without_test_files(basic_motions, tmp_path):
    """The probe never reads a test split, so a user's data of training series alone (a .ts folder without its
    _TEST.ts, an .npz without X_test) is probed; the benchmark, which scores test splits, still needs them."""
    from tsai_timemae.cli import main
    from tsai_timemae.data import load_dataset
    Xtr, ytr = basic_motions[:2]
    npz = tmp_path / 'train_only.npz'
    np.savez(npz, X_train=Xtr, y_train=ytr)
    with pytest.raises(ValueError, match=r"lacks \['X_test', 'y_test'\]"): load_dataset(npz)
    assert load_dataset(npz, require_test=False).X_test.shape == (0, *Xtr.shape[1:])
    out = tmp_path / 'out'
    assert main(['probe', str(npz), '--epochs', '1', '--threads', '1', '--out-dir', str(out),
                 *[f'--arch={k}={v}' for k, v in TINY.items()]]) in (None, 0)
    assert (out / 'PROBE.md').is_file()


def test_augmented_pretraining_changes_the_batches_records_and_reruns(ds, tmp_path, monkeypatch):
    """`augment=['crop']`: the pretraining batches are tsai's random resized crops of the standardized series (not the
    plain ones), the probe still reads the plain series (same untrained score), the run has its own tag and settings,
    and its regenerate command carries `--augment`; an unknown name is refused before any work."""
    import torch
    import tsai_timemae.probe as probe
    from tsai_timemae.probe import probe_command
    made, real = [], probe._pretrain_learner
    monkeypatch.setattr(probe, '_pretrain_learner', lambda *a, **k: (made.append(real(*a, **k)), made[-1])[1])
    plain = run_probe(ds, epochs=1, arch_kwargs=TINY, out_dir=tmp_path, verbose=False)
    aug = run_probe(ds, epochs=1, arch_kwargs=TINY, out_dir=tmp_path, verbose=False, augment=['crop'])
    assert aug['tag'] == plain['tag'] + '_aug=crop' and aug['augment'] == ['crop'] == aug['settings']['augment']
    assert 'augment' not in plain['settings'] and aug['untrained_score'] == plain['untrained_score']
    (lp, _), (la, _) = made
    names = [type(t).__name__ for t in la.dls.train.after_batch.fs]
    assert 'TSRandomResizedCrop' in names and 'TSRandomResizedCrop' not in [type(t).__name__ for t in lp.dls.train.after_batch.fs]
    from tsai.data.core import TSTensor
    x = TSTensor(torch.from_numpy(np.concatenate([ds.X_train, ds.X_valid])[:8]))
    xb_plain = lp.dls.train.after_batch(x)
    changed = []
    for _ in range(10):  # one draw per batch; a draw of the whole series leaves it as it was
        xa = la.dls.train.after_batch(x)
        changed.append(not torch.allclose(xa, xb_plain))
    assert xa.shape == xb_plain.shape and any(changed)
    cmd = probe_command([x for x in load_probe_runs(tmp_path) if x['tag'] == aug['tag']])
    assert cmd.endswith('--augment crop')
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).augment == ['crop']
    with pytest.raises(ValueError, match="Unknown augmentation 'flip': choose from crop, scale"):
        run_probe(ds, epochs=1, arch_kwargs=TINY, verbose=False, augment=['flip'])


def test_a_class_smaller_than_the_folds_is_said_in_the_probes_terms():
    "A class of 2 series in 5 folds: 3 folds score none of it; the warning names it and the --folds that fix it."
    from tsai_timemae.probe import unseen_folds
    y = np.array(['a'] * 10 + ['b'] * 2)
    with pytest.warns(UserWarning, match=r"Class 'b' has 2 series, fewer than the 5 folds: 3 of the folds score none "
                                         r"of its series.*--folds 2") as got:
        folds = unseen_folds(y, 5)
    assert len(folds) == 5 and not any('least populated' in str(w.message) for w in got)   # one warning, ours
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        unseen_folds(np.array(['a'] * 10 + ['b'] * 5), 5)                        # every class fills the folds


def test_the_same_data_by_path_gets_its_own_untrained_row_when_its_window_differs(tmp_path):
    "By name BasicMotions takes the bench's window 10, by path the derived 7: one 'untrained' row showed the first's score."
    from tsai_timemae.data import load_dataset
    from tsai_timemae.probe import load_probe_runs, summarize_probe
    path = load_dataset('BasicMotions').source
    for arg, tag in (('BasicMotions', 'by_name'), (path, 'by_path')):
        run_probe(arg, seed=0, epochs=1, arch_kwargs={'d_model': 8, 'n_layers': 1, 'n_heads': 1, 'd_ff': 16}, tag=tag,
                  out_dir=tmp_path, verbose=False)
    labels = {r['row']: r['untrained_label'] for r in summarize_probe(load_probe_runs(tmp_path)) if r['kind'] == 'tag'}
    assert labels['by_name'] != labels['by_path'] and 'window=' in labels['by_path'], labels


def test_a_misspelt_tokenizer_is_the_message_that_lists_the_names(tmp_path, capsys):
    "The settings record read the tokenizer's defaults before checking its name: a KeyError traceback, exit 1."
    from tsai_timemae.cli import main
    assert main(['probe', 'BasicMotions', '--set', 'tokenizer=kmean', '--epochs', '1', '--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "tokenizer must be one of" in err and "'kmean'" in err and 'Traceback' not in err, err


def test_a_window_of_the_whole_series_is_refused_before_the_untrained_probe(tmp_path, capsys):
    "One patch per series: pretraining failed at its first batch, after the untrained encoder's probe, naming no option."
    from tsai_timemae.cli import main
    out = tmp_path / 'p'
    assert main(['probe', 'BasicMotions', '--arch', 'window=100', '--epochs', '1', '--out-dir', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'make 1 with a window of 100: pass --arch window=50 ' in err and not out.exists(), err


def test_weight_decay_reaches_the_pretraining_optimizer_records_and_reruns(ds, tmp_path, monkeypatch):
    """`wd=0.05` (`--wd`): the pretraining optimizer decays with 0.05 (fastai's 0.01 without it), the run has its own
    tag and settings (a run without it keeps the settings it had before the option existed), its regenerate command
    carries `--wd`, and a negative value is refused before any work."""
    import tsai_timemae.probe as probe
    from tsai_timemae.probe import probe_command
    made, real = [], probe._pretrain_learner
    monkeypatch.setattr(probe, '_pretrain_learner', lambda *a, **k: (made.append(real(*a, **k)), made[-1])[1])
    plain = run_probe(ds, epochs=1, arch_kwargs=TINY, out_dir=tmp_path, verbose=False)
    dec = run_probe(ds, epochs=1, arch_kwargs=TINY, out_dir=tmp_path, verbose=False, wd=0.05)
    (lp, _), (ld, _) = made
    assert {h['wd'] for h in lp.opt.hypers} == {0.01} and {h['wd'] for h in ld.opt.hypers} == {0.05}
    assert dec['tag'] == plain['tag'].replace('e1', 'e1_wd=0.05', 1) and dec['wd'] == 0.05 == dec['settings']['wd']
    assert 'wd' not in plain['settings'] and 'wd' not in plain
    cmd = probe_command([x for x in load_probe_runs(tmp_path) if x['tag'] == dec['tag']])
    assert '--wd 0.05' in cmd and '--wd' not in probe_command([x for x in load_probe_runs(tmp_path) if x['tag'] == plain['tag']])
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).wd == 0.05
    with pytest.raises(SystemExit): p.parse_args(['HAR', '--wd', '-1'])
    with pytest.raises(ValueError, match='wd must be a finite number of at least 0'):
        run_probe(ds, epochs=1, arch_kwargs=TINY, verbose=False, wd=-1.)


def test_the_report_says_when_runs_of_one_seed_scored_the_untrained_encoder_differently(probe_run):
    """The untrained cell took the first run's score of each seed and hid that a later run (other code, another
    machine) scored the same encoder 0.03 points higher; now the table says so. Agreeing runs add nothing."""
    import copy
    out, r = probe_run
    other = {**copy.deepcopy(r), 'tag': 'u', 'untrained_score': r['untrained_score'] + 0.0003}
    note = 'The runs of one seed scored their untrained encoders differently'
    assert note not in render_probe_report([r, {**copy.deepcopy(r), 'tag': 'u'}])
    text = render_probe_report([r, other])
    assert f'{note} (made under other code, libraries or data files): untrained (' in text and 'by up to 0.03 points' in text


def test_regenerate_commands_carry_rates_and_fractions_exactly():
    "`%g` kept 6 digits: lr 0.00123456789 was listed as 0.00123457, whose rerun was refused for other settings."
    from tsai_timemae.cli import exact_text
    assert exact_text(0.002) == '0.002' and exact_text(1e-05) == '1e-05' and exact_text(0.5) == '0.5'
    assert float(exact_text(0.00123456789)) == 0.00123456789 and float(exact_text(1 / 3)) == 1 / 3


def test_the_default_tag_names_other_folds_and_a_bad_run_file_stops_the_command_before_any_run(ds, tmp_path, monkeypatch):
    """`--folds 3` after a default run was refused as the same tag with other settings; a run file the report cannot
    read (elsewhere in --out-dir) stopped the command only after its first run had been made."""
    import tsai_timemae.probe as probe
    from tsai_timemae.probe import default_tag, run_probes
    assert default_tag(10, folds=3) == 'e10_folds=3' and default_tag(10) == 'e10'
    # the same settings given in another order name the same folder (two folders of one run before)
    assert default_tag(10, pretrain_kwargs={'mask_ratio': 0.5, 'beta': 2}, arch_kwargs={'n_layers': 4, 'd_model': 32}) == \
        default_tag(10, pretrain_kwargs={'beta': 2, 'mask_ratio': 0.5}, arch_kwargs={'d_model': 32, 'n_layers': 4}) == 'e10_beta=2_mask_ratio=0.5_d_model=32_n_layers=4'
    rng = np.random.default_rng(0)
    split = lambda n: (rng.normal(size=(n, 1, 20)).astype('float32'), np.arange(n) % 2)
    big = TSDataset('Big', *split(1000), *split(50), *split(4))              # scored on its validation split
    first = run_probe(big, untrained_only=True, arch_kwargs={**TINY, 'window': 5}, folds=3, out_dir=tmp_path / 'b', verbose=False)
    assert first['tag'] == 'untrained_d_ff=32_d_model=16_n_heads=2_n_layers=1_window=5'   # no folds there: none in the name
    assert first['folds'] == 5                                                # nor in the settings: the same run as this
    monkeypatch.setattr(probe, 'linear_probe_score', lambda *a, **k: pytest.fail('the same run was made again'))
    assert run_probe(big, untrained_only=True, arch_kwargs={**TINY, 'window': 5}, out_dir=tmp_path / 'b', verbose=False) == first
    (tmp_path / 'Other' / 'x').mkdir(parents=True)
    (tmp_path / 'Other' / 'x' / 'seed0.json').write_text('{"hello": 1}')
    monkeypatch.setattr(probe, 'run_probe', lambda *a, **k: pytest.fail('a run was made'))
    with pytest.raises(ValueError, match=r'seed0\.json is not a `timemae probe` run .*move it out'):
        run_probes(['BasicMotions'], seeds=[0, 1], out_dir=tmp_path, untrained_only=True)


def test_a_probe_given_a_data_folder_regenerates_with_it(tmp_path, monkeypatch):
    "A run made with `--root /my/data` listed a regenerate command without it, which could not find the data set."
    import shutil
    from tsai_timemae.data import sktime_bundled_folder
    from tsai_timemae.probe import probe_command
    root = tmp_path / 'my data'
    shutil.copytree(sktime_bundled_folder('BasicMotions'), root / 'BasicMotions')
    monkeypatch.chdir(tmp_path)
    r = run_probe('BasicMotions', untrained_only=True, arch_kwargs=TINY, root=root, out_dir=tmp_path / 'out', verbose=False)
    assert r['root'] == str(root)
    cmd = probe_command([r])
    assert f'--root "{root}" --untrained-only' in cmd
    p = argparse.ArgumentParser(); add_args(p)
    assert p.parse_args(shlex.split(cmd)[2:]).root == str(root)
    assert 'root' not in run_probe('BasicMotions', untrained_only=True, arch_kwargs=TINY, verbose=False)


def test_a_curve_line_ends_with_the_last_pretraining_epochs_statistics_mean_over_seeds():
    "The notes quote these; a run that did not record one of them (older runs) leaves it out rather than guessing."
    from tsai_timemae.probe import _curve_lines
    runs = [{'tag': 't', 'dataset': 'D', 'every': 10, 'curve': [[0, 0.5], [10, 0.9]],
             'history_last': {'train_mcc': m, 'train_mrr': 0.5, 'train_mcc_acc': 0.6, 'train_copy_acc': 0.4}}
            for m in (1.0, 2.0)]
    # the accuracies in % like the probe scores on the same line (they were fractions beside percentages)
    assert _curve_lines(runs) == ['- t, D: e0 50.0 · e10 90.0; last epoch: MCC 1.500, MRR 0.500, codeword accuracy '
                                  '60.0%, copy baseline 40.0%']
    del runs[1]['history_last']['train_copy_acc']
    assert _curve_lines(runs)[0].endswith('codeword accuracy 60.0%')
    runs[0]['history_last'] = None
    assert _curve_lines(runs) == ['- t, D: e0 50.0 · e10 90.0']


def test_a_probe_that_stops_before_converging_says_so_although_tsai_hides_sklearn_s_warning(monkeypatch):
    import tsai.all  # noqa: F401  (its blanket filter is what hid scikit-learn's ConvergenceWarning)
    from tsai_timemae import probe
    from tsai_timemae.notices import TimeMAEWarning
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(60, 8)), np.repeat([0, 1, 2], 20)
    monkeypatch.setattr(probe, 'MAX_ITER', 1)
    with pytest.warns(TimeMAEWarning, match='stopped at MAX_ITER = 1 iterations'):
        probe.linear_probe_score(f, y, f, y)
    with pytest.warns(TimeMAEWarning, match=r'\(5 fit\(s\)\)'):
        probe.cv_probe_score(f, y, folds=5)
    monkeypatch.setattr(probe, 'MAX_ITER', 3000)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        probe.linear_probe_score(f, y, f, y)


def test_a_tag_whose_seeds_ran_other_settings_is_refused_in_the_report():
    "Two runs of one tag started together each pass the start-of-run check; the report must not average them."
    def rec(seed, ratio):
        return {'dataset': 'D', 'tag': 't', 'seed': seed, 'protocol': 'cv5', 'untrained_score': .5, 'final_score': .7,
                'untrained_only': False, 'epochs': 5, 'given': {'arch': {}, 'bs': None}, '_path': f'D/t/seed{seed}.json',
                'settings': {'tag': 't', 'seed': seed, 'pretrain': {'mask_ratio': ratio}}}
    assert summarize_probe([rec(0, .6), rec(1, .6)])[-1]['n'] == 2
    with pytest.raises(ValueError, match=r'D/t/seed0.json and D/t/seed1.json ran tag .t. with other settings'):
        summarize_probe([rec(0, .6), rec(1, .5)])


def test_another_max_iter_is_not_skipped_with_the_old_score_and_unused_options_are_named(ds, tmp_path, monkeypatch):
    """The convergence warning said to raise MAX_ITER and score again, but the same call skipped the run (old score);
    `--folds` on a data set scored on its validation split, and `--threads` / `--root` with --report-only, were
    ignored without a word."""
    from tsai_timemae import probe
    from tsai_timemae.cli import main
    from tsai_timemae.notices import TimeMAEWarning
    kw = dict(seed=0, untrained_only=True, arch_kwargs=TINY, out_dir=tmp_path, verbose=False)
    first = run_probe(ds, **kw)
    assert 'max_iter' not in first['settings']            # the runs recorded before keep matching
    monkeypatch.setattr(probe, 'MAX_ITER', 50)
    with pytest.raises(ValueError, match=r"differing: \['max_iter'\]"): run_probe(ds, **kw)  # not skipped: refused
    assert run_probe(ds, **kw, tag='iter50')['settings']['max_iter'] == 50
    monkeypatch.setattr(probe, 'MAX_ITER', probe.RECORDED_MAX_ITER)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1100, 1, 20)).astype(np.float32); y = np.arange(1100) % 2
    big = NoTestDataset('big', X[:1000], y[:1000], X[1000:], y[1000:], X[:0], y[:0])
    with pytest.warns(TimeMAEWarning, match='folds=3 is not used'):
        run_probe(big, untrained_only=True, bs=256, folds=3, arch_kwargs=TINY, verbose=False)
    for extra in (['--threads', '2'], ['--root', str(tmp_path)]):
        assert main(['probe', '--report-only', '--out-dir', str(tmp_path), *extra]) == 2


def test_a_difference_that_rounds_to_zero_reads_plus_zero():
    "A mean difference between -0.05 and 0 points printed as '-0.0' in a PROBE.md cell."
    from tsai_timemae.probe import _cell
    row = {'mean': 80.0, 'std': 1.0, 'n': 3, 'kind': 'pretrained', 'mark': '≈', 'delta_mean': -0.04}
    assert _cell(row).endswith('≈ +0.0')
    assert _cell({**row, 'delta_mean': -0.06}).endswith('≈ -0.1')


def test_the_report_says_which_held_out_windows_share_recordings_with_the_fitted_ones():
    "The run warned while it ran; PROBE.md, read later, gave HAR's shared-recording validation scores without a word."
    def rec(d, share):
        return {'dataset': d, 'tag': 't', 'seed': 0, 'protocol': 'valid', 'untrained_score': .5, 'final_score': .9,
                'untrained_only': False, 'epochs': 2, 'given': {'arch': {}, 'bs': None}, 'pretrain': {}, 'lr': 1e-3,
                'sched': 'one_cycle', 'data': {'held_out_sharing_recordings': share}}
    text = render_probe_report([rec('HAR', 1.0), rec('Other', 0.0)])
    assert 'share recordings with the windows the probe was fitted on' in text and 'HAR (100% of its held-out windows)' in text
    assert 'Other (' not in text
    assert 'share recordings' not in render_probe_report([rec('Other', 0.0)])


def test_a_regenerate_command_names_the_window_and_batch_size_todays_defaults_no_longer_give(monkeypatch):
    "PROBE.md's command left them to the bench's defaults: once those changed, it was refused as another run under its tag."
    from tsai_timemae import bench
    from tsai_timemae.probe import probe_command, probe_defaults
    now = probe_defaults('BasicMotions', 100)
    r = {'dataset': 'BasicMotions', 'dataset_arg': 'BasicMotions', 'tag': 't', 'seed': 0, 'protocol': 'cv5', 'epochs': 2,
         'untrained_only': False, 'given': {'arch': {}, 'bs': None}, 'pretrain': {}, 'lr': 1e-3, 'sched': 'one_cycle',
         'arch': {'window': now['window']}, 'bs': now['bs'], 'data': {'seq_len': 100}, 'settings': {}}
    plain = probe_command([r])
    assert '--bs' not in plain and 'window=' not in plain
    monkeypatch.setitem(bench.DATASET_CONFIGS, 'BasicMotions', dict(bs=now['bs'] + 1, window=now['window'] + 3))
    moved = probe_command([r])
    assert f"--arch window={now['window']}" in moved and f"--bs {now['bs']}" in moved


def test_the_probe_reads_convergence_from_the_fitted_models_not_by_swapping_the_warnings_filters(monkeypatch):
    """The probe caught scikit-learn's ConvergenceWarning with `catch_warnings`, which swaps the process's filter list:
    a filter another thread added meanwhile was lost. It reads the fitted models' `n_iter_` instead."""
    import warnings
    from tsai_timemae import probe
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(60, 8)), np.repeat([0, 1, 2], 20)
    monkeypatch.setattr(probe, 'MAX_ITER', 1)
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        monkeypatch.setattr(warnings, 'showwarning', lambda message, *a, **k: shown.append(str(message)))
        real, calls = warnings.catch_warnings, []
        def noted(*a, **k):  # scikit-learn's own uses are its business; the probe's are what this test is about
            calls.append(sys._getframe(1).f_code.co_filename)
            return real(*a, **k)
        monkeypatch.setattr(warnings, 'catch_warnings', noted)
        probe.linear_probe_score(f, y, f, y)
        probe.cv_probe_score(f, y, folds=3, groups=np.arange(60) % 6)
        monkeypatch.undo()
    ours = [m for m in shown if 'stopped at MAX_ITER = 1 iterations' in m]
    assert len(ours) == 2 and '(1 fit(s))' in ours[0] and '(3 fit(s))' in ours[1], shown
    assert not [c for c in calls if 'tsai_timemae' in c], calls


def test_a_later_data_sets_window_is_refused_before_the_first_data_set_runs(tmp_path, monkeypatch, capsys):
    "`timemae probe A B --arch window=W` pretrained and probed A, then refused B's window: the checks run first now."
    import tsai_timemae.probe as probe
    from tsai_timemae.cli import main
    rng = np.random.default_rng(0)
    y = np.array(['a', 'b'] * 12)
    np.savez(tmp_path / 'short.npz', X_train=rng.normal(size=(24, 2, 20)).astype(np.float32), y_train=y,
             X_test=rng.normal(size=(8, 2, 20)).astype(np.float32), y_test=y[:8])
    def must_not_run(*a, **k): raise AssertionError('ran')
    monkeypatch.setattr(probe, '_pretrain_learner', must_not_run)
    out = tmp_path / 'p'
    assert main(['probe', 'BasicMotions', str(tmp_path / 'short.npz'), '--arch', 'window=20', '--epochs', '1',
                 '--out-dir', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'window of 20' in err and not list(out.glob('*/*/seed*.json')), err


def test_regenerate_commands_name_the_default_folder_however_it_is_spelled(tmp_path, monkeypatch):
    "`--out-dir benchmarks/probe/` (a trailing slash) or its absolute path put `--out-dir ...` into all 74 commands."
    import json
    from pathlib import Path
    from tsai_timemae.bench import command_path
    from tsai_timemae.probe import probe_command
    run = json.loads(next((Path(__file__).resolve().parent.parent / 'benchmarks' / 'probe').glob('*/*/seed0.json')).read_text())
    monkeypatch.chdir(tmp_path)
    assert command_path('benchmarks/probe/') == command_path(tmp_path / 'benchmarks' / 'probe') == 'benchmarks/probe'
    assert command_path('/elsewhere/runs/') == '/elsewhere/runs'
    commands = {probe_command([run], where) for where in (None, 'benchmarks/probe', 'benchmarks/probe/', tmp_path / 'benchmarks' / 'probe')}
    assert len(commands) == 1 and '--out-dir' not in commands.pop()
    assert probe_command([run], tmp_path / 'mine').endswith(' --out-dir mine')


def test_a_folder_reached_through_a_link_is_named_as_the_shell_names_it(tmp_path, monkeypatch):
    "`$PWD/benchmarks` under a linked folder kept its absolute path: the process's folder is the link's target."
    import os
    from tsai_timemae.bench import command_path
    (tmp_path / 'real').mkdir()
    os.symlink(tmp_path / 'real', tmp_path / 'link')
    monkeypatch.chdir(tmp_path / 'link')
    monkeypatch.setenv('PWD', str(tmp_path / 'link'))
    assert command_path(tmp_path / 'link' / 'benchmarks') == command_path(tmp_path / 'real' / 'benchmarks') == 'benchmarks'
    monkeypatch.setenv('PWD', str(tmp_path))  # a folder the process has left: not taken for this one
    assert command_path(tmp_path / 'real' / 'benchmarks') == 'benchmarks'
