"""The harness's settings objects, the pretraining cache key, and the one-time migration of result files written before
them (schema 1, `benchmarks/migrate_results.py`). The schema 1 fixtures under tests/data/bench_schema1 are trimmed
copies of committed result files (two edited to predate `pretrain_inputs`); REPORT.md there is the page the harness
rendered from them before the settings objects existed."""
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from tsai_timemae import bench
from tsai_timemae.bench import cache_path, method_settings, render_report, run_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / 'tests' / 'data' / 'bench_schema1'
sys.path.insert(0, str(REPO / 'benchmarks'))
import migrate_results  # noqa: E402


def pretraining_key(cfg, method='timemae_finelast', seed=0, dataset='BasicMotions', source='/data/BasicMotions'):
    return cache_path('cache', dataset, source, method_settings(cfg, method).pretraining, seed)


def test_fine_tuning_settings_share_one_pretraining_and_pretraining_settings_do_not():
    base = run_config('BasicMotions', 'timemae_finelast', 'kmeans')
    key = pretraining_key(base)
    for change in ({'finelast_lr': 0.5}, {'fineall_lr': 0.5}, {'finetune_epochs': 3}, {'selection': 'last'},
                   {'linear_C': 3.}, {'tst_kwargs': {'d_model': 8}}, {'inception_lr': 1.}, {'mvp_r': 0.5}):
        assert pretraining_key({**base, **change}) == key, change
    assert pretraining_key(base, 'timemae_fineall') == pretraining_key(base, 'timemae_linear') == key  # shared
    for change in ({'pretrain_epochs': 3}, {'pretrain_lr': 3e-3}, {'pretrain_inputs': 'train'}, {'window': 4},
                   {'dropout': 0.1}, {'bs': 7}, {'split_seed': 1}, {'tokenizer': 'gumbel'}, {'normalize_targets': False},
                   {'vocab_size': 64}, {'pretrain_checkpoint': 'best'}):
        assert pretraining_key({**base, **change}) != key, change
    assert pretraining_key(base, seed=1) != key and pretraining_key(base, dataset='HAR') != key
    assert pretraining_key(base, source='/elsewhere/BasicMotions') != key


def test_a_whole_number_for_a_float_setting_is_the_same_setting():
    "`--set alpha=1` and the default `alpha=1.0` must share one cached encoder and record the same settings."
    base = run_config('BasicMotions', 'timemae_finelast', 'kmeans')
    ints = {**base, 'alpha': 1, 'beta': 1, 'linear_C': 1, 'pad_value': 0}
    assert pretraining_key(ints) == pretraining_key({**base, 'alpha': 1.0, 'beta': 1.0})
    linear = method_settings(ints, 'timemae_linear')
    assert type(linear.C) is float and type(linear.pretraining.alpha) is float and linear.pretraining.alpha == 1.0
    assert type(linear.split.pad_value) is float and type(linear.pretraining.split.pad_value) is float
    assert type(linear.pretraining.normalize_targets) is bool and type(linear.pretraining.epochs) is int  # untouched
    assert pretraining_key({**base, 'alpha': 2}) != pretraining_key(base)


def test_settings_objects_hash_by_value():
    "Settings that hold tsai's keyword arguments (a dict) can key a set or a dict; equal settings hash equal."
    cfg = run_config('HAR', 'mvp_tstplus', 'kmeans')
    a, b = method_settings(cfg, 'mvp_tstplus'), method_settings(json.loads(json.dumps(cfg)), 'mvp_tstplus')
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    smaller = method_settings({**cfg, 'tst_kwargs': {**cfg['tst_kwargs'], 'd_model': 8}}, 'mvp_tstplus')
    assert smaller != a and len({a, smaller}) == 2
    inception = method_settings(run_config('HAR', 'inceptiontimeplus', 'kmeans'), 'inceptiontimeplus')
    assert {inception: 1}[method_settings(run_config('HAR', 'inceptiontimeplus', 'kmeans'), 'inceptiontimeplus')] == 1


def test_a_method_records_only_its_own_settings():
    cfg = run_config('HAR', 'timemae_scratch', 'kmeans')
    assert method_settings({**cfg, 'tst_kwargs': {'d_model': 8}, 'beta': 9.}, 'timemae_scratch') == method_settings(cfg, 'timemae_scratch')
    assert method_settings({**cfg, 'window': 4}, 'timemae_scratch') != method_settings(cfg, 'timemae_scratch')
    assert method_settings(cfg, 'timemae_linear_untrained').pretraining is None
    assert bench.run_name('timemae_linear', method_settings(run_config('HAR', 'timemae_linear', 'kmeans'), 'timemae_linear')) == 'timemae_linear_kmeans'
    assert bench.run_name('timemae_fineall', method_settings(run_config('HAR', 'timemae_fineall', 'codebook'), 'timemae_fineall')) == 'timemae_fineall'
    with pytest.raises(ValueError, match='Unknown method'):
        method_settings(cfg, 'rocket')


def fixture_copy(tmp_path) -> Path:
    out = tmp_path / 'b'
    shutil.copytree(FIXTURES / 'results', out / 'results')
    return out


def test_schema1_files_are_refused_until_migrated(tmp_path):
    out = fixture_copy(tmp_path)
    with pytest.raises(ValueError, match='migrate_results.py'):
        render_report(out, out / 'REPORT.md')


def test_the_report_reads_the_same_from_migrated_files(tmp_path):
    out = fixture_copy(tmp_path)
    migrate_results.migrate(out)
    text = render_report(out, out / 'REPORT.md').replace(str(out), '<OUT>')
    # REPORT.md is what the harness printed from these files before the migration, with changes made since on
    # purpose: settings a method does not use (timemae_scratch's pretrain_epochs) are no longer named in a row's
    # *changed* flag nor passed in its regenerate command (so timemae_scratch gets a command of its own, with its seed)
    # and the protocol's list of methods names the ones added later (tstplus_scratch, the linear evaluations, and the
    # `_flatten` read-out rows), and the pretraining table says how its perplexity was computed (session 27), and the
    # protocol says where the test split's lengths and the pretraining's own scaling come in (session 29), and the
    # opening says which sections the result files give, the label protocol how its shared settings were chosen, and a
    # one-seed cell shows no '± 0.00' (session 31), and a one-channel data set has '1 channel', and the label section names the full-label protocol's section (session 41), and the protocol names
    # random_projection and where the cache is (session 44), and the label protocol names its epochs (session 45), and
    # a label-efficiency row names its changed settings as a Results row does, and a table with a row of mixed
    # settings says its command cannot remake it, and the protocol names the tokenizer for data sets without settings
    # (session 47), and the pretraining table keeps UWave's two pretrainings apart (seed 0 on train + valid inputs,
    # seed 1 on train: one row of '2 seeds' before, session 49), and the label protocol's epochs are the rows' own and the
    # coverage table says a command meeting results of other settings is refused (session 55), and both protocols say
    # that an epoch drops the last partial batch, and the label protocol how round() counts (session 65), and the
    # header names the command that rewrites the page without running anything (session 68)
    assert text == (FIXTURES / 'REPORT.md').read_text()
    assert '| timemae_fineall_gumbel (changed: pretrain_inputs=train) | 1 |' in text   # made before the setting existed


def test_migration_is_idempotent_and_renames_the_caches_once(tmp_path):
    out = fixture_copy(tmp_path)
    old = {p: json.loads(p.read_text()) for p in (out / 'results').rglob('*.json')}
    for r in old.values():                                               # stand-ins for the cached encoders
        if r.get('pretraining'):
            stem = out / 'cache' / bench.dataset_key(r['dataset']) / Path(r['pretraining']['weights']).stem
            stem.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ('.pth', '.json'): stem.with_suffix(suffix).write_text(stem.name)
    first = migrate_results.migrate(out)
    assert len(first['migrated']) == len(old) and first['renamed']
    files = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    assert migrate_results.migrate(out) == {'migrated': [], 'renamed': []}
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == files    # nothing changed
    for p, r in old.items():
        new = json.loads(p.read_text())
        if not r.get('pretraining'): continue
        stem = cache_path(out / 'cache', r['data']['name'], r['data']['source'],
                          method_settings({**migrate_results.ADDED_LATER, **r['config']}, r['base_method']).pretraining, r['seed'])
        assert Path(new['pretraining']['weights']).name == stem.name + '.pth'
        assert stem.with_suffix('.pth').read_text() == Path(r['pretraining']['weights']).stem   # the file it used


def test_caches_can_be_migrated_after_their_results(tmp_path):
    out = fixture_copy(tmp_path)
    migrate_results.migrate(out)
    p = out / 'results' / 'Epilepsy' / 'timemae_linear_kmeans_labels0.05_seed0.json'
    pre = json.loads(p.read_text())['pretraining']
    cache = tmp_path / 'elsewhere'
    (cache / 'Epilepsy').mkdir(parents=True)
    (cache / 'Epilepsy' / f"{pre['schema1_stem']}.pth").write_text('w')
    assert migrate_results.migrate(out, [cache])['renamed'] == [cache / 'Epilepsy' / Path(pre['weights']).name]


# how each schema 1 fixture run would be asked for today: method, tokenizer, label fraction, settings given
SAME_RUN = {
    'Epilepsy/timemae_finelast_kmeans_labels0.05_seed0.json': ('timemae_finelast', 'kmeans', 0.05, {'pretrain_epochs': 40}),
    'Epilepsy/timemae_linear_untrained_labels0.05_seed0.json': ('timemae_linear_untrained', 'kmeans', 0.05, {'pretrain_epochs': 40}),
    'Epilepsy/timemae_fineall_gumbel_seed0.json': ('timemae_fineall', 'gumbel', None,
                                                   {'pretrain_epochs': 40, 'finetune_epochs': 20, 'pretrain_inputs': 'train+valid'}),
    'Epilepsy/mvp_tstplus_seed0.json': ('mvp_tstplus', 'gumbel', None, {'pretrain_epochs': 10, 'finetune_epochs': 10}),
    'UWaveGestureLibrary/inceptiontimeplus_seed0.json': ('inceptiontimeplus', 'codebook', None, {}),
    # made before `pretrain_inputs` existed, when pretraining held the validation inputs out
    'UWaveGestureLibrary/timemae_fineall_gumbel_seed1.json': ('timemae_fineall', 'gumbel', None, {'pretrain_inputs': 'train'}),
}


@pytest.mark.parametrize('rel', list(SAME_RUN))
def test_a_schema1_record_migrates_to_what_the_harness_writes_for_that_run(rel):
    "Settings, overrides, method and name as `run_one` records them for the same run asked for today."
    old = json.loads((FIXTURES / 'results' / rel).read_text())
    new = migrate_results.migrate_record(old)
    method, tok, frac, given = SAME_RUN[rel]
    cfg = run_config(old['dataset'], method, tok, False, frac, **given)
    settings = method_settings(cfg, method)
    assert new['settings'] == json.loads(json.dumps(asdict(settings)))
    assert (new['schema'], new['method'], new['name'], new['quick']) == (bench.RESULT_SCHEMA, method, old['method'], False)
    assert new['overrides'] == cfg['overrides']
    assert migrate_results.migrate_record(new) is new
    if new['pretraining']:
        assert Path(new['pretraining']['weights']).stem == cache_path(
            'c', old['data']['name'], old['data']['source'], settings.pretraining, old['seed']).name


def test_a_row_is_not_flagged_for_what_its_tokenizer_brings():
    "`--tokenizer kmeans` sets vocab_size, beta and normalize_targets: the row's name says so, its flag does not repeat it."
    cfg = run_config('HAR', 'timemae_fineall', 'kmeans', pretrain_epochs=40, beta=3.)
    row = {'tokenizer': 'kmeans', 'overrides': bench.run_overrides({'dataset': 'HAR', 'quick': False, 'overrides': cfg['overrides']})}
    assert row['overrides'] == {'pretrain_epochs': 40, 'beta': 3., 'vocab_size': None, 'normalize_targets': True}
    assert bench._unexplained(row) == {'pretrain_epochs': 40, 'beta': 3.}       # a beta given explicitly still shows
    assert bench._unexplained({**row, 'tokenizer': None}) == row['overrides']


def test_a_row_is_not_flagged_for_settings_its_method_does_not_use():
    "`--pretrain-epochs 40 --finetune-epochs 20` on the untrained linear evaluation changes nothing it runs."
    cfg = run_config('HAR', 'timemae_linear_untrained', 'kmeans', pretrain_epochs=40, finetune_epochs=20, bs=64)
    rec = {'dataset': 'HAR', 'method': 'timemae_linear_untrained', 'quick': False, 'overrides': cfg['overrides'],
           'settings': json.loads(json.dumps(asdict(method_settings(cfg, 'timemae_linear_untrained'))))}
    assert bench.unused_overrides(rec) == {'pretrain_epochs', 'finetune_epochs'}
    row = {'tokenizer': None, 'overrides': bench.run_overrides(rec), 'unused': bench.unused_overrides(rec)}
    assert bench._unexplained(row) == {'bs': 64}                                # the batch size is used: still flagged
    untrained = {**row, 'base_method': 'timemae_linear_untrained', 'seeds': [0, 1], 'quick': False}
    assert bench._command('HAR', [untrained]) == 'timemae bench HAR --methods timemae_linear_untrained --seeds 0 1 --bs 64'
    fineall = run_config('HAR', 'timemae_fineall', 'kmeans', pretrain_epochs=40, finetune_epochs=20)
    rec = {**rec, 'method': 'timemae_fineall', 'overrides': fineall['overrides'],
           'settings': json.loads(json.dumps(asdict(method_settings(fineall, 'timemae_fineall'))))}
    assert not {'pretrain_epochs', 'finetune_epochs'} & bench.unused_overrides(rec)


def test_the_transfer_study_finds_the_label_runs_har_encoders():
    "benchmarks/transfer.py reads the HAR encoders the 40-epoch label-efficiency run cached (now in extra/kmeans_40ep)."
    import types
    import transfer
    for seed in (0, 1, 2):
        folder = REPO / 'benchmarks' / 'extra' / 'kmeans_40ep' / 'results' / 'HAR'
        r = json.loads((folder / f'timemae_linear_kmeans_labels0.01_seed{seed}.json').read_text())
        har = types.SimpleNamespace(name=r['data']['name'], source=r['data']['source'])
        stem = transfer.source_stem(bench, har, transfer.source_config(bench), seed, REPO / 'benchmarks' / 'cache')
        assert stem.name == Path(r['pretraining']['weights']).stem
    assert transfer.arch_of(bench, transfer.source_config(bench)) == asdict(bench.timemae_arch(bench.bench_config('HAR')))


def test_the_transfer_protocol_states_the_budgets_its_result_files_record():
    "TRANSFER.md's protocol text reads epochs, batch and rates from the records: a smoke run or a changed default shows."
    import transfer
    recs = [{'target': 'BasicMotions', 'target_config': {'finetune_epochs': 50, 'window': 10}},
            {'target': 'UEA/Epilepsy', 'target_config': {'finetune_epochs': 50, 'window': 8}},
            {'target': 'UEA/Epilepsy', 'method': 'no settings recorded'}]
    get = lambda key: (lambda r: r['target_config'][key])
    assert transfer._recorded(recs, get('finetune_epochs')) == '50'
    assert transfer._recorded(recs, get('window')) == '10 for BasicMotions, 8 for UEA Epilepsy'
    assert transfer._recorded(recs[2:], get('window')) == '?'


def test_transfer_source_epochs_find_the_label_studys_100_epoch_har_encoders():
    "`transfer.py --source-epochs 100` looks up the cache names of today's label study's HAR encoders (100 epochs)."
    import types
    import transfer
    for seed in (0, 1, 2):
        r = json.loads((REPO / 'benchmarks' / 'results' / 'HAR' / f'timemae_linear_kmeans_labels0.01_seed{seed}.json').read_text())
        har = types.SimpleNamespace(name=r['data']['name'], source=r['data']['source'])
        stem = lambda epochs: transfer.source_stem(bench, har, transfer.source_config(bench, epochs), seed, 'cache')
        assert stem(100).name == Path(r['pretraining']['weights']).stem != stem(transfer.SOURCE_EPOCHS).name


def test_a_record_its_command_would_not_reproduce_is_flagged_in_the_report(tmp_path, monkeypatch):
    "E.g. a default changed after the run: the row says so instead of pointing at a command that runs something else."
    out = fixture_copy(tmp_path)
    migrate_results.migrate(out)
    recs = bench.load_results(out)
    assert all(bench.reproduced_by_command(r) for r in recs)                 # as committed: every command reproduces
    assert 'other settings than its command' not in render_report(out, out / 'REPORT.md')
    monkeypatch.setitem(bench.DEFAULTS, 'scratch_lr', 0.5)                  # a later change of a default
    scratch = [r for r in bench.load_results(out) if r['method'] == 'timemae_scratch']
    assert scratch and not any(bench.reproduced_by_command(r) for r in scratch)
    report = render_report(out, out / 'REPORT.md')
    flagged = [l.split(' | ')[0] for l in report.splitlines() if 'other settings than its command runs today' in l]
    assert flagged and all(l.startswith('| timemae_scratch') for l in flagged)   # that row only, other methods unaffected


def test_a_setting_the_command_has_no_flag_for_is_not_called_reproduced():
    """A run made from Python with a setting `timemae bench` has no flag for (here beta=3): its row's regenerate command
    cannot set it, so the row must not claim that command reproduces it; a flag's setting (`--pretrain-epochs`) can."""
    def record(**overrides):
        cfg = run_config('HAR', 'timemae_fineall', 'kmeans', **overrides)
        return {'dataset': 'HAR', 'method': 'timemae_fineall', 'quick': False, 'overrides': cfg['overrides'],
                'settings': json.loads(json.dumps(asdict(method_settings(cfg, 'timemae_fineall')), default=str))}
    assert bench.reproduced_by_command(record(pretrain_epochs=40, finetune_epochs=20))
    assert not bench.reproduced_by_command(record(pretrain_epochs=40, beta=3.))
    assert 'beta' not in bench._command('HAR', [{'base_method': 'timemae_fineall', 'tokenizer': 'kmeans', 'seeds': [0],
                                                 'quick': False, 'overrides': {'pretrain_epochs': 40, 'beta': 3.}}])


def test_tstplus_from_scratch_is_mvps_model_and_schedule_without_its_pretraining():
    "MVP's baseline: the same TSTPlus, batch and fine-tuning schedule, randomly initialised (nothing pretrained)."
    cfg = run_config('UWaveGestureLibrary', 'tstplus_scratch', 'kmeans', pretrain_epochs=20, label_fraction=0.1, tst_lr=3e-4)
    mvp = method_settings(run_config('UWaveGestureLibrary', 'mvp_tstplus', 'kmeans', pretrain_epochs=20,
                                     label_fraction=0.1, tst_lr=3e-4), 'mvp_tstplus')
    scratch = method_settings(cfg, 'tstplus_scratch')
    assert scratch.tst_kwargs == mvp.pretraining.tst_kwargs and scratch.train == mvp.train and scratch.bs == mvp.bs
    assert not hasattr(scratch, 'pretraining') and 'tstplus_scratch' not in bench.TOKENIZED
    rec = {'dataset': 'UWaveGestureLibrary', 'method': 'tstplus_scratch', 'quick': False, 'overrides': cfg['overrides'],
           'label_fraction': 0.1, 'settings': json.loads(json.dumps(asdict(scratch)))}
    assert bench.unused_overrides(rec) == {'pretrain_epochs'}                  # so its command gets no such flag
    assert scratch.train.lr == 3e-4                                           # TSTPlus's lr, not another model's


def test_tstplus_from_scratch_builds_a_fresh_tstplus(monkeypatch):
    "No MVP weights: `ts_learner(dls, TSTPlus, **tst_kwargs)` without `pretrained` or `weights_path`."
    from tsai.models.TSTPlus import TSTPlus
    class Built(Exception): pass
    seen = {}
    def spy(dls, arch, **kw):
        seen.update(arch=arch, **kw)
        raise Built
    monkeypatch.setattr(bench, 'make_dls', lambda ds, bs, seed, label_idx=None: 'dls')
    monkeypatch.setattr(bench, 'ts_learner', spy)
    s = method_settings(run_config('UWaveGestureLibrary', 'tstplus_scratch', 'kmeans'), 'tstplus_scratch')
    with pytest.raises(Built): bench.run_tstplus_scratch(None, s, 0, 'cache', 'work', bar=False)
    assert seen['arch'] is TSTPlus and not {'pretrained', 'weights_path'} & set(seen)
    assert all(seen[k] == v for k, v in s.tst_kwargs.items()) and s.tst_kwargs   # UWave's narrowed TSTPlus


def test_readout_flatten_names_its_rows_and_leaves_the_mean_records_reproduced():
    """`--readout flatten`: FineLast, FineAll and the linear evaluations read every patch in order, in rows of their own
    (`*_flatten`), on the same cached pretraining; records written before the setting existed (no `readout`) ran with
    the mean and still match the command the report gives them."""
    cfg = lambda m, **o: run_config('UWaveGestureLibrary', m, 'kmeans', pretrain_epochs=100, label_fraction=0.1, **o)
    for m in ('timemae_finelast', 'timemae_fineall', 'timemae_linear', 'timemae_linear_untrained', 'timemae_scratch'):
        mean, flat = method_settings(cfg(m), m), method_settings(cfg(m, readout='flatten'), m)
        assert (mean.readout, flat.readout) == ('mean', 'flatten')
        assert bench.run_name(m, flat) == bench.run_name(m, mean) + '_flatten'
        if m not in ('timemae_linear_untrained', 'timemae_scratch'):
            assert flat.pretraining == mean.pretraining                    # one cached encoder for both read-outs
    assert bench.run_name('timemae_fineall', method_settings(cfg('timemae_fineall', readout='flatten'), 'timemae_fineall')) \
        == 'timemae_fineall_kmeans_flatten'
    with pytest.raises(ValueError, match=r"readout must be one of \('mean', 'flatten'\)"):
        bench.bench_config('UWaveGestureLibrary', readout='max')
    old = json.loads((REPO / 'benchmarks/results/UWaveGestureLibrary/timemae_linear_kmeans_labels0.1_seed0.json').read_text())
    assert 'readout' not in old['settings'] and bench.reproduced_by_command(old)
    new = cfg('timemae_linear', readout='flatten')
    rec = {'dataset': 'UWaveGestureLibrary', 'method': 'timemae_linear', 'quick': False, 'overrides': new['overrides'],
           'label_fraction': 0.1, 'settings': json.loads(json.dumps(asdict(method_settings(new, 'timemae_linear'))))}
    assert bench.reproduced_by_command(rec)                                   # `--readout flatten` is a flag
    assert 'readout' not in bench._unexplained({**rec, 'method': 'timemae_linear_kmeans_flatten', 'tokenizer': 'kmeans'})


def test_readout_flatten_reaches_the_head_and_the_embeddings(monkeypatch):
    "FineLast/FineAll get `custom_head=flatten_probe_head`; the linear evaluation asks `get_embeddings` for `pool='flatten'`."
    class Built(Exception): pass
    seen = {}
    def spy(*a, **kw):
        seen.update(kw)
        raise Built
    monkeypatch.setattr(bench, 'pretrain_timemae', lambda *a, **k: {'weights': 'enc.pth'})
    monkeypatch.setattr(bench, 'make_dls', lambda *a, **k: 'dls')
    for kind in ('finelast', 'fineall'):
        monkeypatch.setattr(bench, f'{kind}_learner', spy)
        for readout in ('mean', 'flatten'):
            seen.clear()
            s = method_settings(run_config('UWaveGestureLibrary', f'timemae_{kind}', 'kmeans', readout=readout), f'timemae_{kind}')
            with pytest.raises(Built): bench.run_timemae_transfer(kind, None, s, 0, 'cache', 'work', bar=False)
            assert (seen.get('custom_head') is bench.flatten_probe_head) == (readout == 'flatten')
    for readout in ('mean', 'flatten'):                                      # from scratch: FineAll's read-out
        seen.clear()
        monkeypatch.setattr(bench, 'ts_learner', spy)
        s = method_settings(run_config('UWaveGestureLibrary', 'timemae_scratch', 'kmeans', readout=readout), 'timemae_scratch')
        with pytest.raises(Built): bench.run_timemae_scratch(None, s, 0, 'cache', 'work', bar=False)
        assert (seen.get('custom_head') is bench.flatten_probe_head) == (readout == 'flatten')
    pools = []
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, **k: 'learn')
    def embeddings(learn, X, pool='mean'):
        pools.append(pool)
        raise Built
    monkeypatch.setattr(bench, 'get_embeddings', embeddings)
    import numpy as np
    ds = type('DS', (), {'y_train': np.array([0, 1]), 'X_train': np.zeros((2, 1, 4)), 'X_test': np.zeros((1, 1, 4))})()
    s = method_settings(run_config('UWaveGestureLibrary', 'timemae_linear_untrained', 'kmeans', readout='flatten'),
                        'timemae_linear_untrained')
    with pytest.raises(Built): bench.run_timemae_linear(ds, s, 0, 'cache', 'work', bar=False)
    assert pools == ['flatten']


def test_a_new_run_with_a_later_settings_default_is_not_mixed_with_the_old_seeds(tmp_path, capsys):
    """A seed run today records `readout: 'mean'`; the committed seeds of its row, written before the field existed,
    ran with the mean too: the row must not say *mixed settings*, and re-running beside a kept file says nothing."""
    src = REPO / 'benchmarks/results/UWaveGestureLibrary/timemae_linear_kmeans_labels0.1_seed0.json'
    old = json.loads(src.read_text())
    new = {**old, 'seed': 3, 'settings': {**old['settings'], 'readout': 'mean'}}
    assert 'readout' not in old['settings'] and bench.reproduced_by_command(new)
    (row,) = bench.summarize([old, new])
    assert not row['mixed_configs'] and row['reproduced']
    (row,) = bench.summarize([old, {**new, 'settings': {**new['settings'], 'readout': 'flatten'}}])
    assert row['mixed_configs']                                               # a real difference still shows
    settings = method_settings(run_config('UWaveGestureLibrary', 'timemae_linear', 'kmeans', pretrain_epochs=100,
                                          label_fraction=0.1), 'timemae_linear')
    assert bench.settings_differences(src, settings) == []


def test_transfer_keeps_no_result_made_with_other_har_encoders(tmp_path):
    "Resuming into a folder of 40-epoch results with `--source-epochs 100` is refused, not a silently mixed table."
    import shutil
    import transfer
    kept = tmp_path / 'results' / 'BasicMotions' / 'har_fineall_seed0.json'
    kept.parent.mkdir(parents=True)
    shutil.copy(REPO / 'benchmarks' / 'transfer' / 'har100ep' / 'results' / 'BasicMotions' / 'har_fineall_seed0.json', kept)
    rec = json.loads(kept.read_text())
    args = ['--out', str(tmp_path), '--targets', 'BasicMotions', '--seeds', '0', '--methods', 'har_fineall']
    with pytest.raises(SystemExit, match='100-epoch HAR encoders, not 40'):
        transfer.main(args)  # the default is 40 epochs
    transfer.main(args + ['--source-epochs', '100'])  # the same length: kept, and the report names the flag
    assert '--source-epochs 100' in (tmp_path / 'TRANSFER.md').read_text()
    # a smoke run's budget is not the kept measurement's: refused, not kept in its place (nor the other way round)
    with pytest.raises(SystemExit, match='pretrain_epochs 100, finetune_epochs 50, not 1, 1: use another --out'):
        transfer.main(args + ['--source-epochs', '100', '--epochs', '1'])
    with pytest.raises(SystemExit, match='2'):
        transfer.main(args + ['--epochs', '0'])  # argparse's usage error: a 0-epoch "result" is no smoke run
    # other data, or other bench settings for the target, were kept without a word
    for change, message in ((lambda r: r['data'].update(sha1='0' * 16), "made from other data than BasicMotions's now"),
                            (lambda r: r['data'].update(n_train=39), 'n_train differ'),   # a file without a fingerprint
                            (lambda r: r['target_config'].update(bs=8), 'other settings for BasicMotions .*bs 8 now 16')):
        changed = json.loads(json.dumps(rec))
        change(changed)
        kept.write_text(json.dumps(changed))
        with pytest.raises(SystemExit, match=message): transfer.main(args + ['--source-epochs', '100'])


def test_library_defaults_cover_every_encoder_setting_the_bench_does_not_name():
    """Every constructor argument of the classes a bench pretraining runs under is named by the harness, excluded as
    not changing what is learned, or recorded; the excluded names exist (no stale entries), and what the harness names
    is what `TimeMAEPretrain` takes."""
    import inspect
    from dataclasses import fields
    from tsai_timemae.bench import (NAMED_PRETRAIN_SETTINGS, NOT_ENCODER_SETTINGS, TimeMAEArch, TimeMAEPretraining,
                                    _library_classes, library_defaults)
    from tsai_timemae.pretrain import TimeMAEPretrain
    pretrain_args = set(inspect.signature(TimeMAEPretrain.__init__).parameters)
    assert set(NAMED_PRETRAIN_SETTINGS) <= {f.name for f in fields(TimeMAEPretraining)} & pretrain_args
    for tok in ('kmeans', 'gumbel', 'codebook'):
        recorded = library_defaults(tok)
        named = {'arch': {f.name for f in fields(TimeMAEArch)}, 'pretrain': set(NAMED_PRETRAIN_SETTINGS),
                 'pretrainer': pretrain_args, 'tokenizer': set()}
        for part, cls in _library_classes(tok).items():
            kind = part.split('.')[0]
            params = inspect.signature(cls.__init__).parameters
            if kind != 'tokenizer':  # the tokenizers' exclusions: each one's data-given subset, checked below
                assert NOT_ENCODER_SETTINGS[kind] <= set(params), (part, NOT_ENCODER_SETTINGS[kind] - set(params))
            for k, p in list(params.items())[1:]:
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD): continue
                n = (k in NOT_ENCODER_SETTINGS[kind]) + (k in named[kind]) + (f'{part}.{k}' in recorded)
                assert n == 1 or (kind == 'pretrainer' and k in pretrain_args and k in named[kind]), (part, k, n)
    from tsai_timemae.tokenizers import TOKENIZERS
    assert NOT_ENCODER_SETTINGS['tokenizer'] == set().union(*(inspect.signature(c.__init__).parameters
                                                               for c in TOKENIZERS.values())) & NOT_ENCODER_SETTINGS['tokenizer']
    assert library_defaults('kmeans')['tokenizer.kmeans.seed'] == 0, 'the k-means seed default changed: intended?'
    assert library_defaults('gumbel')['tokenizer.gumbel.tau'] == 1.0, 'the Gumbel temperature default changed: intended?'
    assert 'tokenizer.gumbel.tau' not in library_defaults('kmeans')  # only the tokenizer that ran


def test_a_cached_record_is_checked_against_todays_library_defaults(tmp_path, monkeypatch):
    from tsai_timemae.bench import check_library_defaults, library_defaults
    stem = tmp_path / 'timemae_kmeans_seed0_abc'
    now = library_defaults('kmeans')
    hit = {'weights': str(stem.with_suffix('.pth')), 'library_defaults': now}
    assert check_library_defaults(hit, stem, 'kmeans') is hit
    changed = {**hit, 'library_defaults': {**now, 'pretrain.shared_mask': True}}
    with pytest.raises(ValueError, match=r'pretrain\.shared_mask: True then, False now.*timemae_kmeans_seed0_abc\.json'):
        check_library_defaults(changed, stem, 'kmeans')
    seed = {**hit, 'library_defaults': {**now, 'tokenizer.kmeans.seed': 1}}       # the tokenizer's own defaults count
    with pytest.raises(ValueError, match=r'tokenizer\.kmeans\.seed: 1 then, 0 now'):
        check_library_defaults(seed, stem, 'kmeans')
    removed = {**hit, 'library_defaults': {**now, 'pretrain.old_knob': 3}}
    with pytest.raises(ValueError, match=r'pretrain\.old_knob: 3 then, absent now'):
        check_library_defaults(removed, stem, 'kmeans')
    gone = {**hit, 'library_defaults': {k: v for k, v in now.items() if k != 'pretrain.masking'}}
    with pytest.raises(ValueError, match=r"pretrain\.masking: absent then, 'random' now.*LIBRARY_SETTINGS_ADDED.*'random'"):
        check_library_defaults(gone, stem, 'kmeans')
    monkeypatch.setattr(bench, 'LIBRARY_SETTINGS_ADDED', {'pretrain.masking': 'random'})  # declared: keeps old encoders
    assert check_library_defaults(gone, stem, 'kmeans') is gone
    old = {'weights': hit['weights']}                      # written before the defaults were recorded
    with pytest.warns(UserWarning, match='predates the record of library defaults'):
        assert check_library_defaults(old, stem, 'kmeans') is old


def _cached_encoder(root, pre):
    "A data set that is never read and the cache stem its pretraining `pre` (seed 0) finds, with a weights file there."
    from types import SimpleNamespace
    ds = SimpleNamespace(name='BasicMotions', source='/nowhere/BasicMotions')  # never read: the cache answers
    stem = cache_path(root, ds.name, ds.source, pre, 0)
    stem.parent.mkdir(parents=True)
    torch.save({'never': torch.zeros(1)}, stem.with_suffix('.pth'))  # readable: the cache checks that much
    return ds, stem


def test_a_damaged_cached_pretraining_names_both_files_to_delete(tmp_path):
    """A cached weights or record file damaged after it was written (both are written whole) stops the run with the
    two files to delete: "re-run pretraining" alone would find the same cache entry again."""
    from tsai_timemae.bench import library_defaults, pretrain_timemae, timemae_pretraining, write_json_atomic
    pre = timemae_pretraining(run_config('BasicMotions', 'timemae_finelast', 'kmeans'))
    ds, stem = _cached_encoder(tmp_path, pre)
    pth, meta = stem.with_suffix('.pth'), stem.with_suffix('.json')
    write_json_atomic({'method': 'timemae', 'library_defaults': library_defaults('kmeans')}, meta)
    pth.write_bytes(pth.read_bytes()[:40])                                            # truncated weights
    with pytest.raises(ValueError, match=f'cannot be read.*delete {re.escape(str(pth))} and {re.escape(str(meta))} to pretrain'):
        pretrain_timemae(ds, pre, 0, tmp_path)
    torch.save({'never': torch.zeros(1)}, pth)
    meta.write_text('{"method": "timem')                                              # truncated record
    with pytest.raises(ValueError, match='cannot be read.*delete'):
        pretrain_timemae(ds, pre, 0, tmp_path)
    # another encoder copied over the cached one: readable, but not what its record describes. It failed later with
    # a shape error whose advice (reinit='patch_embed') was for Python users, not for the command
    from tsai_timemae.weights import file_sha256
    write_json_atomic({'method': 'timemae', 'library_defaults': library_defaults('kmeans'),
                       'weights_sha256': file_sha256(pth)}, meta)
    torch.save({'another': torch.ones(1)}, pth)
    with pytest.raises(ValueError, match=f'{re.escape(pth.name)} is not the encoder its record was written with.*delete'):
        pretrain_timemae(ds, pre, 0, tmp_path)


def test_pretrain_timemae_refuses_a_stale_cached_encoder_before_training(tmp_path):
    "The check is wired into the cache lookup: a stale record stops the run before any data is read or model built."
    from tsai_timemae.bench import library_defaults, pretrain_timemae, timemae_pretraining, write_json_atomic
    pre = timemae_pretraining(run_config('BasicMotions', 'timemae_finelast', 'kmeans'))
    ds, stem = _cached_encoder(tmp_path, pre)
    write_json_atomic({'method': 'timemae', 'library_defaults': library_defaults('kmeans')}, stem.with_suffix('.json'))
    assert pretrain_timemae(ds, pre, 0, tmp_path)['cached']
    write_json_atomic({'method': 'timemae', 'library_defaults': {**library_defaults('kmeans'), 'arch.pre_norm': True}},
                      stem.with_suffix('.json'))
    with pytest.raises(ValueError, match=r'arch\.pre_norm: True then, False now'):
        pretrain_timemae(ds, pre, 0, tmp_path)


def test_a_cached_mvp_encoder_is_checked_against_todays_tsai_defaults(tmp_path):
    "MVP's cache name hashes the bench's settings, not tsai's: a tsai whose MVP or TSTPlus defaults changed stops the run."
    from tsai_timemae.bench import mvp_pretraining, pretrain_mvp, tsai_defaults, write_json_atomic
    pre = mvp_pretraining(run_config('BasicMotions', 'mvp_tstplus', 'kmeans'))
    ds, stem = _cached_encoder(tmp_path, pre)
    now = json.loads(json.dumps(tsai_defaults()))
    assert now['MVP.r'] == 0.15 and now['TSTPlus.d_model'] == 128
    write_json_atomic({'method': 'mvp', 'tsai_defaults': now}, stem.with_suffix('.json'))
    assert pretrain_mvp(ds, pre, 0, tmp_path)['cached']
    write_json_atomic({'method': 'mvp', 'tsai_defaults': {**now, 'MVP.lm': 5.0}}, stem.with_suffix('.json'))
    with pytest.raises(ValueError, match=r'MVP\.lm: 5\.0 then, 3\.0 now.*Delete'):
        pretrain_mvp(ds, pre, 0, tmp_path)
    write_json_atomic({'method': 'mvp'}, stem.with_suffix('.json'))                 # written before they were recorded
    with pytest.warns(UserWarning, match="predates the record of tsai's defaults"):
        assert pretrain_mvp(ds, pre, 0, tmp_path)['cached']


def test_a_kept_result_made_from_an_encoder_under_other_defaults_gets_a_note(tmp_path, capsys):
    "Result files are skipped without reaching the cache, so the skip itself says when their encoder is stale."
    from tsai_timemae.bench import _note_settings_change, library_defaults, write_json_atomic
    s = method_settings(run_config('BasicMotions', 'timemae_finelast', 'kmeans'), 'timemae_finelast')
    path = tmp_path / 'timemae_finelast_kmeans_seed0.json'
    rec = {'settings': json.loads(json.dumps(asdict(s))), 'pretraining': {'library_defaults': library_defaults('kmeans')}}
    write_json_atomic(rec, path)
    _note_settings_change(path, s)
    assert capsys.readouterr().out == ''
    rec['pretraining']['library_defaults']['pretrain.label_smoothing'] = 0.2
    write_json_atomic(rec, path)
    _note_settings_change(path, s)
    assert 'pretrained under other library defaults (pretrain.label_smoothing)' in capsys.readouterr().out


def test_the_window_is_a_flag_its_rows_regenerate_with():
    "`--window 4` reaches the encoder of every TimeMAE method, its rows rerun with it, and baselines ignore it."
    import argparse
    p = argparse.ArgumentParser(); bench.add_args(p)
    assert p.parse_args(['HAR', '--window', '4']).window == 4
    def record(method, **overrides):
        cfg = run_config('HAR', method, 'kmeans', **overrides)
        return {'dataset': 'HAR', 'method': method, 'quick': False, 'overrides': cfg['overrides'],
                'settings': json.loads(json.dumps(asdict(method_settings(cfg, method)), default=str))}
    lin = record('timemae_linear', window=4)
    assert lin['settings']['arch']['window'] == 4 and lin['settings']['pretraining']['arch']['window'] == 4
    assert bench.reproduced_by_command(lin)
    row = {'base_method': 'timemae_linear', 'tokenizer': 'kmeans', 'seeds': [0], 'quick': False,
           'overrides': bench.run_overrides(lin), 'unused': bench.unused_overrides(lin)}
    assert bench._command('HAR', [row]).endswith('--tokenizer kmeans --window 4')
    assert 'window' in bench.unused_overrides(record('inceptiontimeplus', window=4))


def test_encoders_cached_before_target_layers_existed_are_still_accepted(tmp_path):
    "`target_layers=1` computes the targets the versions before it did: cached encoders stay valid, a changed one not."
    from tsai_timemae.bench import check_library_defaults, library_defaults
    stem = tmp_path / 'timemae_kmeans_seed0_abc'
    now = library_defaults('kmeans')
    before = {'weights': str(stem.with_suffix('.pth')),
              'library_defaults': {k: v for k, v in now.items() if k != 'pretrain.target_layers'}}
    assert check_library_defaults(before, stem, 'kmeans') is before
    other = {**before, 'library_defaults': {**now, 'pretrain.target_layers': 4}}
    with pytest.raises(ValueError, match=r'pretrain\.target_layers: 4 then, 1 now'):
        check_library_defaults(other, stem, 'kmeans')


def test_encoders_cached_before_target_context_existed_are_still_accepted(tmp_path):
    "`target_context='masked'` computes the targets the versions before it did: the cached encoders stay valid."
    from tsai_timemae.bench import check_library_defaults, library_defaults
    stem = tmp_path / 'timemae_kmeans_seed0_abc'
    now = library_defaults('kmeans')
    before = {'weights': str(stem.with_suffix('.pth')),
              'library_defaults': {k: v for k, v in now.items() if k not in ('pretrain.target_layers', 'pretrain.target_context')}}
    assert check_library_defaults(before, stem, 'kmeans') is before
    with pytest.raises(ValueError, match=r"pretrain\.target_context: 'full' then, 'masked' now"):
        check_library_defaults({**before, 'library_defaults': {**now, 'pretrain.target_context': 'full'}}, stem, 'kmeans')



def test_encoders_cached_before_session_58s_options_are_accepted_whatever_their_tokenizer(tmp_path):
    "A k-means option declared as added must not be filled into a Gumbel record, whose defaults never hold it."
    from tsai_timemae.bench import LIBRARY_SETTINGS_ADDED, check_library_defaults, library_defaults
    for tok in ('kmeans', 'gumbel', 'codebook', 'random_projection'):
        stem = tmp_path / f'timemae_{tok}_seed0_abc'
        before = {'weights': str(stem.with_suffix('.pth')),
                  'library_defaults': {k: v for k, v in library_defaults(tok).items() if k not in LIBRARY_SETTINGS_ADDED}}
        assert check_library_defaults(before, stem, tok) is before, tok


def test_a_label_fraction_row_its_command_would_not_reproduce_is_flagged_too(monkeypatch):
    "The label-efficiency tables say it as the Results tables do (they did not read the flag before session 45)."
    rows = [r for r in bench.summarize(bench.load_results(REPO / 'benchmarks')) if r['dataset'] == 'Epilepsy']
    assert 'other settings than its command' not in '\n'.join(bench._label_section(rows, {}))
    monkeypatch.setitem(bench.DEFAULTS, 'scratch_lr', 0.5)                  # a later change of a default
    rows = [r for r in bench.summarize(bench.load_results(REPO / 'benchmarks')) if r['dataset'] == 'Epilepsy']
    flagged = [l.split(' | ')[0] for l in bench._label_section(rows, {}) if 'other settings than its command runs today' in l]
    assert flagged == ['| timemae_scratch (other settings than its command runs today: see its result files)']


def test_the_coverage_command_for_your_own_data_is_the_path_you_gave():
    "`timemae bench mine` would not find data given as data/mine.npz: the row's command repeats the path as given."
    lines = bench._coverage([{'dataset': 'mine', 'quick': True, 'dataset_arg': 'data/my data.npz'}])
    assert "| mine | quick runs only | `timemae bench 'data/my data.npz'` |" in lines
    assert not any(l.startswith('| HAR |') for l in lines)                            # one's own data alone
    alias = bench._coverage([{'dataset': 'UWaveGestureLibrary', 'quick': True, 'dataset_arg': 'UWave'}])
    assert any(l.startswith('| HAR | no') for l in alias)                             # an alias is the bench's own set


def test_a_name_and_a_path_to_one_data_set_get_a_command_each():
    "They run with different defaults (the set's row; the library's for a path), so one command cannot remake both."
    rows = [{'dataset': 'UWaveGestureLibrary', 'dataset_arg': arg, 'base_method': m, 'tokenizer': None, 'seeds': [0],
             'quick': False, 'overrides': {}, 'unused': ()}
            for arg, m in (('UWaveGestureLibrary', 'timemae_finelast'), ('/data/UWaveGestureLibrary', 'timemae_scratch'))]
    cmds = bench._commands('UWaveGestureLibrary', rows)
    assert cmds == ['timemae bench UWaveGestureLibrary --methods timemae_finelast --seeds 0',
                    'timemae bench /data/UWaveGestureLibrary --methods timemae_scratch --seeds 0']


def test_an_interrupted_pretraining_leaves_no_encoder_under_the_caches_name(tmp_path, monkeypatch, capsys):
    """Ctrl-C during a bench pretraining: the encoder saved after each epoch is removed (it sat under the final cache
    name, part-trained), and the command says it was interrupted in one line, status 130, without a traceback."""
    from fastai.callback.core import Callback
    from tsai_timemae.bench import load_dataset, pretrain_timemae, timemae_pretraining
    from tsai_timemae.cli import main
    class Interrupt(Callback):
        def after_epoch(self): raise KeyboardInterrupt
    orig = bench.ts_learner
    from fastcore.foundation import L
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, **k: orig(*a, **{**k, 'cbs': [*L(k.get('cbs')), Interrupt()]}))
    cfg = run_config('BasicMotions', 'timemae_linear', 'kmeans', quick=True)
    pre = timemae_pretraining(cfg)
    ds = load_dataset('BasicMotions', None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    with pytest.raises(KeyboardInterrupt): pretrain_timemae(ds, pre, 0, tmp_path / 'cache', bar=False)
    assert not list((tmp_path / 'cache').rglob('*.pth'))
    class InterruptSecondEpoch(Callback):                                       # MVP saved its first epoch by then
        def before_epoch(self):
            if self.epoch == 1: raise KeyboardInterrupt
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, **k: orig(*a, **{**k, 'cbs': [*L(k.get('cbs')), InterruptSecondEpoch()]}))
    mvp = bench.mvp_pretraining(run_config('BasicMotions', 'mvp_tstplus', 'kmeans', quick=True,
                                           tst_kwargs=dict(d_model=16, n_heads=2, n_layers=1, d_ff=32)))
    with pytest.raises(KeyboardInterrupt): bench.pretrain_mvp(ds, mvp, 0, tmp_path / 'cache_mvp', bar=False)
    assert not list((tmp_path / 'cache_mvp').rglob('*.pth'))
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, **k: orig(*a, **{**k, 'cbs': [*L(k.get('cbs')), Interrupt()]}))
    assert main(['bench', 'BasicMotions', '--methods', 'timemae_linear', '--quick', '--seeds', '0', '--threads', '1',
                 '--out-dir', str(tmp_path / 'b'), '--report', str(tmp_path / 'b' / 'R.md')]) == 130
    err = capsys.readouterr().err
    assert 'timemae bench: interrupted' in err and 'Traceback' not in err
    assert not (tmp_path / 'b').exists()                                     # nothing left: no encoder, no report, no lock


def test_a_row_made_from_other_data_than_the_rest_of_its_data_set_is_flagged():
    """Another folder of the same name run into the same results with --overwrite for one method: its row sits under
    the same heading as rows of the first data, and now says so."""
    rows = [{'data_sha1': ['a']}, {'data_sha1': ['a']}, {'data_sha1': ['b']}, {'data_sha1': []}, {'data_sha1': ['a', 'b']}]
    flags = [bench._data_flag(r, rows) for r in rows]
    assert flags[:2] == ['', ''] and flags[3] == ''                        # the majority's data; an old record has none
    assert flags[2] == flags[4] == ' (other data or validation split than the other rows: see its result files)'
    tie = [{'data_sha1': ['old']}, {'data_sha1': ['new']}]                 # no majority: both rows say so
    assert all(bench._data_flag(r, tie) for r in tie) and all(bench._data_flag(r, tie[::-1]) for r in tie)
    rows = bench.summarize(bench.load_results(REPO / 'benchmarks'))       # once: summarising is the slow part
    assert rows and all(not bench._data_flag(r, [x for x in rows if x['dataset'] == r['dataset']])
                        for r in rows)                                     # the committed results: one data each


def test_the_cache_name_does_not_depend_on_how_a_relative_path_is_spelt(tmp_path, monkeypatch):
    "data/X, ./data/X and X from inside data/ are one data set: one cached pretraining, not three identical ones."
    from tsai_timemae.bench import timemae_pretraining
    pre = timemae_pretraining(run_config('BasicMotions', 'timemae_finelast', 'kmeans'))
    (tmp_path / 'data' / 'X').mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    names = {cache_path('c', 'X', s, pre, 0).name for s in ('data/X', './data/X', str(tmp_path / 'data' / 'X'))}
    monkeypatch.chdir(tmp_path / 'data')
    names.add(cache_path('c', 'X', 'X', pre, 0).name)
    assert len(names) == 1


def test_a_damaged_result_file_is_named_before_it_would_be_skipped(tmp_path):
    "It was announced 'skip (done)', and the report then failed on it; now the run stops at once, naming the fix."
    from types import SimpleNamespace
    bad = tmp_path / 'r.json'
    bad.write_text('{"data": {"sha1": ')
    with pytest.raises(ValueError, match=r'r\.json cannot be read as a result file.*delete it, and the same command runs it again'):
        bench.check_same_data(bad, SimpleNamespace(name='X', source=None), 'abc')


def test_a_uea_name_of_a_set_the_bench_knows_gets_that_sets_settings():
    "`UEA/BasicMotions` is the folder `BasicMotions` finds: it ran with other settings into the same results folder."
    from tsai_timemae.bench import bench_config, has_bench_settings
    assert bench_config('UEA/BasicMotions', seq_len=100) == bench_config('BasicMotions', seq_len=100)
    assert has_bench_settings('UEA/GunPoint') and not has_bench_settings('UEA/NoSuchSet')
    assert bench_config('UEA/Epilepsy')['bs'] == 16 != bench_config('Epilepsy')['bs']   # a row of its own: another data set


@pytest.mark.parametrize('method', ['timemae_finelast', 'mvp_tstplus'])
def test_a_cache_record_left_without_its_encoder_is_removed_before_pretraining_writes_epochs(tmp_path, monkeypatch, method):
    """With the .pth deleted by hand, the old .json stayed while a new pretraining saved its epochs under the same name:
    a run reading the cache meanwhile (or after a crash) paired the old record with a part-trained encoder."""
    from tsai_timemae.data import load_dataset
    ds = load_dataset('BasicMotions')
    pre = method_settings(run_config('BasicMotions', method, 'kmeans', quick=True), method).pretraining
    stem = cache_path(tmp_path, ds.name, ds.source, pre, 0)
    stem.parent.mkdir(parents=True)
    stem.with_suffix('.json').write_text('{"method": "old"}')
    seen = []
    class Stop(Exception): pass
    def first_step(*a, **k):
        seen.append(stem.with_suffix('.json').exists())
        raise Stop
    monkeypatch.setattr(bench, 'pretraining_dls', first_step)              # the first thing either pretraining does
    run = bench.pretrain_timemae if method.startswith('timemae') else bench.pretrain_mvp
    with pytest.raises(Stop): run(ds, pre, 0, tmp_path, bar=False)
    assert seen == [False]


def test_a_transfer_result_records_the_command_that_made_it(tmp_path):
    "The study's result files did not say which command line made them (the 100-epoch runs read a cache of unknown origin)."
    import transfer
    args = ['--out', str(tmp_path), '--targets', 'BasicMotions', '--seeds', '0', '--methods', 'scratch', '--epochs', '1',
            '--cache-dir', str(tmp_path / 'cache')]
    transfer.main(args)
    rec = json.loads((tmp_path / 'results' / 'BasicMotions' / 'scratch_seed0.json').read_text())
    import shlex
    assert shlex.split(rec['command']) == ['python', 'benchmarks/transfer.py', *args] and rec['cwd'] == os.getcwd()


def test_every_flag_a_regenerate_command_prints_reaches_the_run(monkeypatch, tmp_path):
    """The report's commands are built from COMMAND_FLAGS and the rows were checked against those flags, never that
    `timemae bench` hands each flag on: a flag the command line dropped would print a command that runs the defaults."""
    from tsai_timemae.cli import main
    seen = {}
    given = {'pretrain_epochs': 3, 'finetune_epochs': 2, 'bs': 8, 'window': 4, 'pretrain_lr': 0.002,
             'pretrain_inputs': 'train', 'readout': 'flatten'}
    assert set(given) == set(bench.COMMAND_FLAGS)                          # every flag a command can print
    monkeypatch.setattr(bench, 'run_benchmark', lambda *a, **k: seen.update(k))
    argv = ['bench', 'BasicMotions', '--methods', 'timemae_finelast', '--tokenizer', 'kmeans', '--out-dir', str(tmp_path),
            '--report', str(tmp_path / 'B.md')]
    for k, v in given.items(): argv += [f"--{k.replace('_', '-')}", str(v)]
    assert main(argv) in (0, None)
    assert {k: seen.get(k) for k in given} == given


def _hold_lock(path):
    "Another process holding `cache_lock`'s lock on `path` (plain fcntl, nothing of the bench) until its stdin closes."
    import subprocess
    code = "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"
    p = subprocess.Popen([sys.executable, '-c', code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'held'
    return p


def test_two_runs_wanting_the_same_encoder_pretrain_it_once(tmp_path, monkeypatch, capsys):
    """Two `timemae bench` commands on one data set, settings and seed, started side by side: the second waits for
    the first's pretraining and reuses its encoder. They used to train at once under one file name, so a record could
    be paired with the other's part-trained weights. Another seed gets its own encoder; a finished encoder is read
    without a lock (a read-only cache still works); a folder that cannot hold a lock is no error."""
    import threading
    from fastai.callback.core import Callback
    from fastcore.foundation import L
    from tsai_timemae.bench import load_dataset, pretrain_timemae, timemae_pretraining
    training, fits = threading.Event(), []
    class Slow(Callback):
        def before_fit(self): fits.append(1); training.set()
        def after_epoch(self): time.sleep(1)                                  # long enough for the other to arrive
    orig = bench.ts_learner
    monkeypatch.setattr(bench, 'ts_learner', lambda *a, **k: orig(*a, **{**k, 'cbs': [*L(k.get('cbs')), Slow()]}))
    cfg = run_config('BasicMotions', 'timemae_linear', 'kmeans', quick=True)
    pre, ds = timemae_pretraining(cfg), load_dataset('BasicMotions', None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    out = {}
    def run(name, seed): out[name] = pretrain_timemae(ds, pre, seed, tmp_path, bar=False)
    first = threading.Thread(target=run, args=('first', 0), daemon=True)
    first.start()
    assert training.wait(60)
    second = threading.Thread(target=run, args=('second', 0), daemon=True)
    second.start()
    for t in (first, second): t.join(120); assert not t.is_alive()
    assert (out['first']['cached'], out['second']['cached']) == (False, True) and len(fits) == 1
    assert out['second']['weights'] == out['first']['weights'] and out['second']['history'] == out['first']['history']
    assert out['second']['waited_s'] > 1 and 'waited_s' not in out['first']                # kept out of its training time
    assert not pretrain_timemae(ds, pre, 1, tmp_path, bar=False)['cached'] and len(fits) == 2   # its own lock, its own encoder
    for lock in tmp_path.rglob('*.lock'): lock.unlink()
    assert pretrain_timemae(ds, pre, 0, tmp_path, bar=False)['cached'] and not list(tmp_path.rglob('*.lock'))
    # another process holds a lock: the waiting one says why it waits, and goes on once it is released
    stem, entered, waited = bench.cache_path(tmp_path, ds.name, ds.source, pre, 2), threading.Event(), []
    holder = _hold_lock(stem.with_suffix('.lock'))
    assert bench.lock_held(stem.with_suffix('.lock'))
    def wait_for_lock():
        with bench.cache_lock(stem) as w: waited.append(w); entered.set()
    waiter = threading.Thread(target=wait_for_lock, daemon=True)
    waiter.start()
    printed, deadline = '', time.time() + 60
    while 'another process is pretraining' not in printed and time.time() < deadline:
        printed += capsys.readouterr().out; time.sleep(0.05)
    assert 'another process is pretraining ' + stem.name in printed and not entered.is_set()
    time.sleep(0.3)
    holder.stdin.close(); holder.wait(10)
    assert entered.wait(60) and waited[0] >= 0.3 and not bench.lock_held(stem.with_suffix('.lock'))
    (tmp_path / 'a_file').write_text('')                                     # no folder can be made under a file
    with bench.cache_lock(tmp_path / 'a_file' / 'X' / 'stem') as w: assert w == 0.


def test_a_stopped_run_keeps_an_output_folder_whose_lock_another_run_holds(tmp_path):
    """A run stopped in its first pretraining removes the output folder it made, lock file and all, unless another
    run holds or waits on that lock: removing it then would let a third run lock a new file and train beside it."""
    for held in (True, False):
        out = tmp_path / f'out_{held}'
        with pytest.raises(KeyboardInterrupt), bench._removed_if_left_empty(out):
            (out / 'cache').mkdir(parents=True)
            lock = out / 'cache' / 'enc.lock'
            lock.touch()
            holder = _hold_lock(lock) if held else None
            raise KeyboardInterrupt
        assert out.exists() == held
        if holder: holder.stdin.close(); holder.wait(10)


def test_the_lock_is_per_encoder_survives_its_file_being_removed_and_is_optional(tmp_path, monkeypatch, capsys):
    """`cache_lock`: another encoder's lock does not hold a run up; a waiter whose lock file was removed (a stopped
    run's clean-up) locks the file now in its place instead of going on beside the run holding that one; a file
    system without locks gives a warning and the run goes on, its own errors intact."""
    import errno
    import threading
    stems = [tmp_path / 'BasicMotions' / f'enc_seed{s}' for s in (2, 3)]
    stems[0].parent.mkdir()
    holder = _hold_lock(stems[0].with_suffix('.lock'))
    try:
        with bench.cache_lock(stems[1]) as w: assert w < 0.5
        assert 'another process' not in capsys.readouterr().out
        entered = threading.Event()
        def wait_for_lock():
            with bench.cache_lock(stems[0]): entered.set()
        waiter = threading.Thread(target=wait_for_lock, daemon=True)
        waiter.start()
        deadline = time.time() + 60
        while 'another process' not in capsys.readouterr().out and time.time() < deadline: time.sleep(0.05)
        stems[0].with_suffix('.lock').unlink()                                   # the clean-up of a stopped run
        second = _hold_lock(stems[0].with_suffix('.lock'))                       # a third run locks the new file
        holder.stdin.close(); holder.wait(10)
        assert not entered.wait(1)                                               # the new file's holder still trains
        second.stdin.close(); second.wait(10)
        assert entered.wait(60)
    finally:
        for p in (holder, locals().get('second')):
            if p is not None and p.poll() is None: p.kill()
    import fcntl
    def no_locks(fd, op): raise OSError(errno.EOPNOTSUPP, 'Operation not supported')
    monkeypatch.setattr(fcntl, 'flock', no_locks)
    with pytest.warns(UserWarning, match='cannot be locked.*would not wait for each other'):
        with pytest.raises(KeyError) as e, bench.cache_lock(stems[1]):
            try: 1 / 0
            except ZeroDivisionError: raise KeyError('the body')
    assert isinstance(e.value.__context__, ZeroDivisionError)                   # its own cause, not the lock's


def test_a_runs_training_time_leaves_out_the_wait_for_another_runs_pretraining(tmp_path, monkeypatch):
    "`train_wall_s` is the run's own work: neither its pretraining nor the time it waited for another run's is in it."
    from tsai_timemae.bench import load_dataset, run_one
    cfg = run_config('BasicMotions', 'timemae_linear', 'kmeans', quick=True)
    ds = load_dataset('BasicMotions', None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    for pre in ({'cached': True, 'wall_s': 999., 'waited_s': 0.6},       # waited, then reused the other's encoder
                {'cached': False, 'wall_s': 0.2, 'waited_s': 0.4}):      # waited, the other stopped, pretrained itself
        def runner(*a, **k):
            time.sleep(0.7)
            return {'metrics': {'accuracy': 1., 'macro_f1': 1.}, 'best_epoch': None, 'valid_at_best': None,
                    'history': [], 'pretraining': {**pre, 'weights': 'enc.pth'}}
        monkeypatch.setitem(bench.RUNNERS, 'timemae_linear', runner)
        rec = run_one('timemae_linear', ds, cfg, 0, tmp_path, bar=False)
        assert 0 <= rec['train_wall_s'] < 0.4 and rec['pretrain_wall_s'] == pre['wall_s'], rec['train_wall_s']


def test_the_help_says_what_a_run_costs_before_any_option(capsys):
    "--pretrain-epochs and --bs said only 'override the data set's ...': the values a run would use were in the code."
    from tsai_timemae.cli import main
    with pytest.raises(SystemExit): main(['bench', '--help'])
    text = re.sub(r'-\s+', '-', ' '.join(capsys.readouterr().out.split()))   # argparse wraps after a hyphen
    assert 'HAR: 100 pretraining / 50 fine-tuning epochs, batch 128, window 8' in text
    assert 'UWaveGestureLibrary: 50 pretraining / 80 fine-tuning epochs, batch 16, window 12' in text
    assert 'Any other data set: 100 pretraining / 50 fine-tuning epochs, batch 64, window derived from the series length' in text
