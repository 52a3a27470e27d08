"""The benchmark harness: one quick real run on BasicMotions (all methods, both tokenizers), result files, the report,
resuming, the pretraining cache, and the report's arithmetic."""
import copy
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from tsai_timemae import bench
from tsai_timemae.bench import (bench_config, load_results, render_report, result_path, run_benchmark, run_config, summarize,
                                write_json_atomic, write_report)
from tsai_timemae.data import default_data_root

def _found(name: str) -> bool:
    "The data set is found: under the data folder, or (BasicMotions, GunPoint) among sktime's bundled copies."
    from tsai_timemae.data import find_dataset
    try: return bool(find_dataset(name))
    except FileNotFoundError: return False


# BasicMotions ships with sktime, so these run wherever sktime is installed, not only beside the shared data
needs_uea = pytest.mark.skipif(not _found('BasicMotions'),
                               reason=f'BasicMotions not found under {default_data_root() / "UEA"} nor in sktime')

# small models: this checks the harness, not the paper's numbers
TINY = dict(n_layers=2, d_model=32, d_ff=64, n_heads=2, tst_kwargs=dict(d_model=32, n_heads=4, n_layers=1, d_ff=64),
            inception_kwargs=dict(nf=8, depth=3))
ALL = ('timemae_finelast', 'timemae_fineall', 'timemae_scratch', 'mvp_tstplus', 'inceptiontimeplus')
EXPECTED = ['timemae_finelast', 'timemae_finelast_gumbel', 'timemae_fineall', 'timemae_fineall_gumbel',
            'timemae_scratch', 'mvp_tstplus', 'inceptiontimeplus']


def r_config(r):
    "The run configuration a record's run used: the data set's, its overrides, its tokenizer."
    tok = (r['settings'].get('pretraining') or {}).get('tokenizer', 'codebook')
    return bench.run_config(r['dataset'], r['method'], tok, r['quick'], r.get('label_fraction'), **r['overrides'])


def copy_results(src, dest, edit, pattern='*.json'):
    "Copy the fixture's BasicMotions result files from `src` to `dest`, each record changed in place by `edit`."
    for p in (src / 'results' / 'BasicMotions').glob(pattern):
        r = json.loads(p.read_text())
        edit(r)
        write_json_atomic(r, dest / 'results' / 'BasicMotions' / p.name)


@pytest.fixture(scope='module')
def bench_run(tmp_path_factory):
    "One quick real benchmark: BasicMotions, 1 seed, 2 epochs per step, every method, both tokenizers."
    import torch
    out = tmp_path_factory.mktemp('bench')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster than 2 when the CPU is shared; tiny models gain nothing from more
    (out / 'speed').mkdir()
    (out / 'speed' / 'speed.md').write_text('| thing | ms |\n|---|---|\n| speedy | 12.5 |\n')
    paths = run_benchmark(['BasicMotions'], ALL, seeds=[0], tokenizers=['codebook', 'gumbel'], out_dir=out,
                          report=out / 'BENCHMARKS.md', quick=True, bar=False, **TINY)
    torch.set_num_threads(threads)
    return out, paths


def test_config_precedence_and_unknown_settings():
    assert bench_config('UWaveGestureLibrary')['bs'] == 16                       # the data set's row
    c = bench_config('HAR', quick=True, bs=8)
    assert (c['bs'], c['pretrain_epochs'], c['quick'], c['overrides']) == (8, 2, True, {'bs': 8})
    assert bench_config('SomethingNew')['bs'] == bench.DEFAULTS['bs']
    with pytest.raises(ValueError, match='Unknown benchmark settings'):
        bench_config('HAR', epochs=3)
    with pytest.raises(ValueError, match='tokenizer'):
        run_benchmark(['HAR'], tokenizers=['bpe'], report=None)
    with pytest.raises(ValueError, match='tokenizer'):  # the arguments are checked before the data sets are looked for
        run_benchmark(['NoSuchDataSet'], tokenizers=['bpe'], report=None)
    with pytest.raises(ValueError, match='Unknown method'):
        run_benchmark(['HAR'], methods=['rocket'], report=None)


def test_json_is_written_atomically(tmp_path):
    p = write_json_atomic({'a': np.float32(0.5), 'b': np.arange(2)}, tmp_path / 'x' / 'r.json')
    assert json.loads(p.read_text()) == {'a': 0.5, 'b': [0, 1]}
    with pytest.raises(TypeError):
        write_json_atomic({'a': object()}, tmp_path / 'x' / 'bad.json')
    assert sorted(f.name for f in (tmp_path / 'x').iterdir()) == ['r.json']     # no partial file, no temp file left


@needs_uea
def test_every_run_writes_a_complete_result_file(bench_run):
    out, paths = bench_run
    assert sorted(p.name for p in paths) == sorted(f'{m}_seed0.json' for m in EXPECTED)
    for m in EXPECTED:
        r = json.loads(result_path(out, 'BasicMotions', m, 0).read_text())
        assert r['dataset'] == 'BasicMotions' and r['name'] == m and r['seed'] == 0 and m.startswith(r['method'])
        assert 0 <= r['metrics']['accuracy'] <= 1 and 0 <= r['metrics']['macro_f1'] <= 1
        assert len(r['history']) == 2 and r['best_epoch'] in (0, 1)
        assert r['valid_at_best']['valid_loss'] == min(h['valid_loss'] for h in r['history'])
        assert r['wall_s'] > 0 and r['peak_rss_mb'] > 0 and r['versions']['tsai'] and r['versions']['torch']
        assert r['quick'] and r['settings']['train']['epochs'] == 2 and r['data']['n_test'] == 40
        assert r['settings'] == json.loads(json.dumps(asdict(bench.method_settings(r_config(r), r['method']))))
        if m.startswith('timemae_fine'):
            assert r['settings']['pretraining']['tokenizer'] == ('gumbel' if m.endswith('gumbel') else 'codebook')
        if m in ('timemae_scratch', 'inceptiontimeplus'): assert r['pretraining'] is None
        else: assert len(r['pretraining']['history']) == 2 and 'valid_loss' in r['pretraining']['history'][0]


@needs_uea
def test_finelast_and_fineall_share_one_cached_pretraining_per_tokenizer(bench_run):
    out, _ = bench_run
    rec = {m: json.loads(result_path(out, 'BasicMotions', m, 0).read_text()) for m in EXPECTED}
    for tok in ('', '_gumbel'):
        last, alls = rec[f'timemae_finelast{tok}']['pretraining'], rec[f'timemae_fineall{tok}']['pretraining']
        assert last['weights'] == alls['weights'] and not last['cached'] and alls['cached']
    assert rec['timemae_finelast']['pretraining']['weights'] != rec['timemae_finelast_gumbel']['pretraining']['weights']



@needs_uea
def test_a_moved_pretraining_cache_loads_its_own_weights(bench_run, tmp_path):
    """A cache folder copied to another out-dir (or clone) is reused, and loads the weights file next to its record,
    not the path the record was first written at, which may be gone."""
    import shutil
    out, _ = bench_run
    shutil.copytree(out / 'cache', tmp_path / 'cache')
    for meta in (tmp_path / 'cache').rglob('*.json'):                       # where they were written is gone now
        r = json.loads(meta.read_text())
        write_json_atomic({**r, 'weights': str(tmp_path / 'gone' / meta.with_suffix('.pth').name)}, meta)
    [p] = run_benchmark(['BasicMotions'], ['timemae_finelast'], seeds=[0], out_dir=tmp_path, report=None, quick=True,
                        bar=False, **TINY)
    pre = json.loads(p.read_text())['pretraining']
    assert pre['cached'] and pre['weights'].startswith(str(tmp_path / 'cache'))

@needs_uea
def test_report_and_plots_are_regenerated_from_the_files(bench_run):
    out, _ = bench_run
    text = (out / 'BENCHMARKS.md').read_text()
    for m in EXPECTED:  # each row names the tiny-model settings its method uses, not the others'
        used = {'mvp_tstplus': 'tst_kwargs=', 'inceptiontimeplus': 'inception_kwargs='}.get(m, 'n_layers=2')
        assert re.search(rf'^\| {m} \(quick\) \(changed: [^|]*{used}[^|]*\| 0 \|', text, re.M), m
    assert not re.search(r'^\| inceptiontimeplus \(quick\) \(changed: [^|]*n_layers=2', text, re.M)
    assert 'settings only the Python API sets' in text                        # the tiny models are declared
    assert '## Protocol' in text and 'SaveModelCallback' in text
    assert '## Speed and memory\n\n| thing | ms |\n|---|---|\n| speedy | 12.5 |' in text     # verbatim
    assert f"--tokenizer codebook gumbel --quick --out-dir {out} --report {out / 'BENCHMARKS.md'}\n" in text
    assert 'SpokenArabicDigits | no: ' in text and 'PhonemeSpectra | no: ' in text
    assert (out / 'plots' / 'accuracy.png').stat().st_size > 1000
    assert (out / 'plots' / 'BasicMotions_pretraining_loss.png').stat().st_size > 1000
    acc = json.loads(result_path(out, 'BasicMotions', 'mvp_tstplus', 0).read_text())['metrics']['accuracy']
    assert f'{acc * 100:.2f} ± 0.00' in text


@needs_uea
def test_rerun_resumes_without_redoing_work(bench_run, monkeypatch, capsys):
    out, _ = bench_run
    stamps = {p: p.stat().st_mtime_ns for p in (out / 'results').rglob('*.json')}
    def boom(*a, **k): raise AssertionError('a finished run was redone')
    monkeypatch.setattr(bench, 'RUNNERS', {m: boom for m in bench.RUNNERS})
    run_benchmark(['BasicMotions'], ALL, seeds=[0], tokenizers=['codebook', 'gumbel'], out_dir=out,
                  report=out / 'BENCHMARKS.md', quick=True, bar=False, **TINY)
    assert capsys.readouterr().out.count('skip (done)') == len(EXPECTED)
    assert {p: p.stat().st_mtime_ns for p in (out / 'results').rglob('*.json')} == stamps
    run_benchmark(['BasicMotions', 'BasicMotions'], ['inceptiontimeplus'], seeds=[0, 0], out_dir=out, report=None,
                  quick=True, bar=False, label_fractions=(None, None), **TINY)  # named twice: run (here, looked at) once
    assert capsys.readouterr().out.count('skip (done)') == 1
    with pytest.raises(AssertionError, match='redone'):                      # a new seed does run
        run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[1], out_dir=out, report=None, quick=True,
                      bar=False, **TINY)


@needs_uea
def test_mean_and_std_over_seeds(bench_run, tmp_path):
    out, _ = bench_run
    r = json.loads(result_path(out, 'BasicMotions', 'inceptiontimeplus', 0).read_text())
    for seed, acc, f1 in ((0, 0.5, 0.25), (1, 1.0, 0.75)):
        r2 = copy.deepcopy(r)
        r2['seed'], r2['metrics'] = seed, {'accuracy': acc, 'macro_f1': f1}
        write_json_atomic(r2, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', seed))
    (row,) = summarize(load_results(tmp_path))
    assert row['seeds'] == [0, 1] and (row['acc_mean'], row['acc_std'], row['f1_mean'], row['f1_std']) == (75, 25, 50, 25)
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert re.search(r'^\| inceptiontimeplus \(quick\)[^|]* \| 0,1 \| 75.00 ± 25.00 \| 50.00 ± 25.00 \|', text, re.M)
    assert 'mixed settings across seeds' not in text
    r2['settings']['train']['epochs'] += 1                                     # seed 1 ran another schedule
    write_json_atomic(r2, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', 1))
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert '(mixed settings across seeds)' in text and bench.MIXED_NOTE in text   # its one command cannot remake both


@needs_uea
def test_times_of_seeds_run_at_other_thread_counts_or_devices_are_said_so(bench_run, tmp_path):
    "A row's mean time mixed runs at 1 and 2 torch threads without a word; the section named the first run's device only."
    out, _ = bench_run
    r = json.loads(result_path(out, 'BasicMotions', 'inceptiontimeplus', 0).read_text())
    for seed in (0, 1):
        r2 = copy.deepcopy(r)
        r2['seed'] = seed
        write_json_atomic(r2, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', seed))
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert '¹' not in text and f"Device: {r['env']['device']}." in text
    r2['env']['torch_threads'], r2['env']['device'] = r['env']['torch_threads'] + 1, 'cuda:0'
    write_json_atomic(r2, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', 1))
    text = render_report(tmp_path, tmp_path / 'B.md')
    (row,) = [l for l in text.splitlines() if l.startswith('| inceptiontimeplus')]
    assert row.count(' ¹') == 1 and 'Times averaged over seeds run at different numbers of torch threads' in text, row
    assert f"Devices: {', '.join(sorted(['cuda:0', r['env']['device']]))} (each run's in its result file)." in text


def test_report_without_results_and_from_the_cli(tmp_path, capsys):
    from tsai_timemae.cli import main
    # the command refuses a folder of no results (a report of nothing, exit 0, hid a wrong --out-dir); the library writes it
    assert main(['bench', '--report-only', '--out-dir', str(tmp_path), '--report', str(tmp_path / 'B.md')]) == 2
    assert 'holds no result files' in capsys.readouterr().err and not (tmp_path / 'B.md').exists()
    write_report(tmp_path, tmp_path / 'B.md')
    text = (tmp_path / 'B.md').read_text()
    assert 'No result files yet' in text and '## Coverage' in text and '## Speed and memory' not in text
    (tmp_path / 'results' / 'X').mkdir(parents=True)
    (tmp_path / 'results' / 'X' / 'a_seed0.json').write_text('{half')
    with pytest.raises(ValueError, match='not valid JSON'):
        write_report(tmp_path, tmp_path / 'B.md')


@needs_uea
def test_tokenizer_comparison_and_commands_name_the_tokenizer(bench_run, tmp_path, monkeypatch):
    """The codebook-vs-Gumbel table is built from full (not quick) runs, and a regenerate command names any tokenizer
    that is not the default, so it reproduces the same rows whichever the default is."""
    out, _ = bench_run
    for m, acc in (('timemae_finelast', 0.5), ('timemae_finelast_gumbel', 0.75)):
        r = json.loads(result_path(out, 'BasicMotions', m, 0).read_text())
        r['quick'], r['metrics'] = False, {'accuracy': acc, 'macro_f1': acc - 0.25}
        write_json_atomic(r, result_path(tmp_path, 'BasicMotions', m, 0))
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert re.search(r'^\| BasicMotions \| finelast \| 0 \| 50.00 ± 0.00 \| 75.00 ± 0.00 \| \+25.00 \| '
                     r'25.00 ± 0.00 \| 50.00 ± 0.00 \| \+25.00 \|$', text, re.M)
    for tok in ('codebook', 'gumbel'):   # where each pretraining ended: 1 seed, 2 epochs, MCC against log(vocab)
        assert re.search(rf'^\| BasicMotions \| TimeMAE \({tok}\) \| 1 \| 2 \| [0-9.]+ \| {np.log(192):.3f} \| [0-9.]+ of 192 \|', text, re.M)
    rows = [r for r in summarize(load_results(tmp_path)) if r['method'] == 'timemae_finelast']
    for default, flag in (('codebook', ''), ('gumbel', ' --tokenizer codebook')):
        monkeypatch.setitem(bench.DEFAULTS, 'tokenizer', default)
        assert bench._command('BasicMotions', rows).endswith(f'--seeds 0{flag}')


@needs_uea
def test_a_kept_result_made_with_other_settings_is_refused_before_any_run(bench_run, tmp_path, monkeypatch):
    """A rerun with other settings (here a longer fine-tuning, or the full run after `--quick`) printed a note and kept
    the old result as this command's; new seeds then joined a row run with other settings. Now nothing runs and the
    message names the files, the settings that differ and the fixes; --overwrite redoes them."""
    out, _ = bench_run
    copy_results(out, tmp_path, lambda r: None, 'inceptiontimeplus_seed0.json')
    ran = []
    monkeypatch.setattr(bench, 'RUNNERS', {m: (lambda *a, **k: ran.append(a) or 1 / 0) for m in bench.RUNNERS})
    with pytest.raises(ValueError, match=r'1 result file this command would keep was made with other settings than it '
                                         r'asks for: .*inceptiontimeplus_seed0\.json \(.*epochs.*\)\. Nothing was run\. '
                                         r'Pass --overwrite'):
        run_benchmark(['GunPoint', 'BasicMotions'], ['inceptiontimeplus'], seeds=[1, 0], out_dir=tmp_path, report=None,
                      quick=True, bar=False, **{**TINY, 'finetune_epochs': 3})
    with pytest.raises(ValueError, match='made with other settings'):   # the full run after --quick
        run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[0], out_dir=tmp_path, report=None, bar=False, **TINY)
    assert ran == []                       # not even seed 1, listed before seed 0, nor GunPoint, listed before BasicMotions
    with pytest.raises(ZeroDivisionError):                                # --overwrite redoes it
        run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[0], out_dir=tmp_path, report=None, quick=True,
                      bar=False, overwrite=True, **{**TINY, 'finetune_epochs': 3})


@needs_uea
def test_a_kept_label_fraction_result_made_with_other_settings_is_refused_too(tmp_path, monkeypatch):
    "The refusal covered full-label files only in the tests; a label-fraction file is refused the same way."
    from tsai_timemae.data import load_dataset
    cfg = run_config('BasicMotions', 'inceptiontimeplus', None, True, 0.25, **{**TINY, 'finetune_epochs': 3})
    ds = load_dataset('BasicMotions', None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    r = {'settings': asdict(bench.method_settings(cfg, 'inceptiontimeplus')), 'data': {'sha1': bench.data_fingerprint(ds)},
         'label_fraction': 0.25}
    write_json_atomic(r, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', 0, 0.25))
    monkeypatch.setattr(bench, 'RUNNERS', {m: (lambda *a, **k: 1 / 0) for m in bench.RUNNERS})
    with pytest.raises(ValueError, match=r'inceptiontimeplus_labels0\.25_seed0\.json \(.*epochs.*\)\. Nothing was run'):
        run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[0], out_dir=tmp_path, report=None, quick=True,
                      bar=False, label_fractions=[0.25], **TINY)


@needs_uea
def test_what_changes_while_earlier_data_sets_run_is_checked_again_before_a_data_sets_runs(bench_run, tmp_path, monkeypatch):
    """Every data set is checked before the first run; the checks are made again before its own runs, since hours of
    the earlier data sets' runs come in between: a result file of other settings written meanwhile (another command
    into the same folder), or data files changed meanwhile, stop the command before that data set runs."""
    out, _ = bench_run
    kept = json.loads(result_path(out, 'BasicMotions', 'inceptiontimeplus', 0).read_text())
    ran, real_run = [], bench.RUNNERS['inceptiontimeplus']
    def runner(ds, *a, **k):
        ran.append(ds.name)
        assert ds.name == 'GunPoint', 'BasicMotions ran beside a kept result of other settings'
        write_json_atomic(kept, result_path(tmp_path, 'BasicMotions', 'inceptiontimeplus', 0))  # another command's
        return real_run(ds, *a, **k)
    monkeypatch.setattr(bench, 'RUNNERS', {**bench.RUNNERS, 'inceptiontimeplus': runner})
    with pytest.raises(ValueError, match='inceptiontimeplus_seed0.json .*None of BasicMotions was run \\(the data sets before it were\\)'):
        run_benchmark(['GunPoint', 'BasicMotions'], ['inceptiontimeplus'], seeds=[0], out_dir=tmp_path, report=None,
                      quick=True, bar=False, **{**TINY, 'finetune_epochs': 3})
    assert ran == ['GunPoint'] and result_path(tmp_path, 'GunPoint', 'inceptiontimeplus', 0).is_file()
    real, calls = bench.load_dataset, []
    def changing(name, *a, **k):  # BasicMotions' files change after its first reading
        ds = real(name, *a, **k)
        calls.append(name)
        if name == 'BasicMotions' and calls.count(name) > 1: ds.X_train = ds.X_train + 1
        return ds
    monkeypatch.setattr(bench, 'load_dataset', changing)
    monkeypatch.setattr(bench, 'RUNNERS', {m: (lambda ds, *a, **k: ran.append(ds.name) or 1 / 0) for m in bench.RUNNERS})
    with pytest.raises(ValueError, match='The files of BasicMotions changed while this command ran the data sets before it'):
        run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[1], out_dir=tmp_path / 'o2', report=None,
                      quick=True, bar=False, **TINY)
    assert ran == ['GunPoint']


@needs_uea
def test_mixed_settings_flag_only_counts_a_methods_own_settings(bench_run, tmp_path):
    """Seeds run with different settings of another method (TSTPlus's size, for a TimeMAE row) record the same
    settings and are not flagged as mixed; a difference in the method's own setting (the TimeMAE window) is."""
    out, _ = bench_run
    r0 = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast', 0).read_text())
    other = bench.method_settings({**r_config(r0), 'tst_kwargs': {'d_model': 32}}, 'timemae_finelast')
    own = bench.method_settings({**r_config(r0), 'window': 5}, 'timemae_finelast')
    for seed, settings in ((0, None), (1, other)):
        write_json_atomic({**r0, 'seed': seed, 'settings': asdict(settings) if settings else r0['settings']},
                          result_path(tmp_path, 'BasicMotions', 'timemae_finelast', seed))
    flag = lambda: {r['method']: r['mixed_configs'] for r in summarize(load_results(tmp_path))}['timemae_finelast']
    assert not flag()
    write_json_atomic({**r0, 'seed': 2, 'settings': asdict(own)}, result_path(tmp_path, 'BasicMotions', 'timemae_finelast', 2))
    assert flag()


@needs_uea
def test_report_gives_one_regenerate_command_per_data_set(bench_run, tmp_path):
    "Methods run with different epoch budgets still regenerate with one shell command: the calls chained by &&."
    out, _ = bench_run
    def edit(r):
        if r['method'] == 'inceptiontimeplus': r['overrides'] = {'finetune_epochs': 3}
    copy_results(out, tmp_path, edit)
    text = render_report(tmp_path, tmp_path / 'B.md')
    block = re.search(r'^    timemae bench BasicMotions .*\\\n(      && timemae bench BasicMotions .*\\\n)*'
                      r'      && timemae bench BasicMotions .*$', text, re.M)
    assert block and block.group(0).count('timemae bench') == 2
    assert re.search(r'&& timemae bench BasicMotions --methods inceptiontimeplus --seeds 0 --finetune-epochs 3', block.group(0))


@needs_uea
def test_pretraining_learns_from_validation_inputs_and_held_out_runs_say_so(bench_run, tmp_path):
    """By default (the protocol) pretraining fits on both splits' inputs, keeps the validation split for the loss
    curve and never touches the labelled loaders. A run made with `pretrain_inputs='train'` (as every run made before
    it became the default, once migrated) is flagged in the report and its regenerate command names it; a run that
    asked for today's default is not."""
    from tsai_timemae.bench import cache_path, make_dls, pretraining_dls, timemae_pretraining
    from tsai_timemae.data import load_dataset
    ds = load_dataset('BasicMotions')
    n_tr, n_va = len(ds.X_train), len(ds.X_valid)
    both = timemae_pretraining(bench_config('BasicMotions'))
    held_out = timemae_pretraining(bench_config('BasicMotions', pretrain_inputs='train'))
    pre = pretraining_dls(ds, both, 0)
    assert (len(pretraining_dls(ds, held_out, 0).train_ds), len(pre.train_ds), len(pre.valid_ds)) == (n_tr, n_tr + n_va, n_va)
    assert len(make_dls(ds, both.bs, 0).train_ds) == n_tr                     # fine-tuning never sees validation labels
    # a train+valid pretraining never reuses a cached train-only encoder
    assert cache_path('c', ds.name, ds.source, both, 0) != cache_path('c', ds.name, ds.source, held_out, 0)
    with pytest.raises(ValueError, match='pretrain_inputs must be one of'):
        bench_config('BasicMotions', pretrain_inputs='test')
    out, _ = bench_run
    r = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast', 0).read_text())
    assert r['settings']['pretraining']['inputs'] == 'train+valid'
    r['overrides'] = {**r['overrides'], 'pretrain_inputs': 'train+valid'}   # asked for what is now the default
    old = json.loads(result_path(out, 'BasicMotions', 'timemae_fineall', 0).read_text())
    old['overrides'] = {**old['overrides'], 'pretrain_inputs': 'train'}
    old['settings']['pretraining']['inputs'] = 'train'
    write_json_atomic(r, result_path(tmp_path, 'BasicMotions', 'timemae_finelast', 0))
    write_json_atomic(old, result_path(tmp_path, 'BasicMotions', 'timemae_fineall', 0))
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert re.search(r'^\| timemae_finelast \(quick\) \(changed: [^|]*\| 0 \|', text, re.M)
    assert re.search(r'^\| timemae_fineall \(quick\) \(changed: [^|]*pretrain_inputs=train[,)][^|]*\| 0 \|', text, re.M)
    assert re.search(r'timemae bench BasicMotions --methods timemae_fineall .*--pretrain-inputs train --quick', text)
    assert not re.search(r'--methods timemae_finelast .*--pretrain-inputs', text)
    assert not re.search(r'^\| timemae_finelast[^|]*pretrain_inputs', text, re.M)


@needs_uea
def test_tokenizer_table_compares_like_for_like_only(bench_run, tmp_path):
    "A codebook run and a Gumbel run that differ in another setting (here the pretraining length) are not compared."
    out, _ = bench_run
    def edit(r):
        r['quick'] = False                                                     # the table leaves quick runs out
        if r['name'] == 'timemae_finelast_gumbel': r['settings']['pretraining']['epochs'] = 7
    copy_results(out, tmp_path, edit, 'timemae_fine*.json')
    table = render_report(tmp_path, tmp_path / 'B.md').split("## Tokenizer: codebook (paper) against Gumbel (authors' code)")[1]
    assert re.search(r'^\| BasicMotions \| fineall \|', table, re.M)
    assert not re.search(r'^\| BasicMotions \| finelast \|', table, re.M)


def test_probe_and_authors_reports_are_sections_of_the_page(tmp_path):
    (tmp_path / 'probe').mkdir(); (tmp_path / 'authors_preset').mkdir()
    (tmp_path / 'probe' / 'PROBE.md').write_text('# Linear probes\n\n| run | HAR |\n|---|---|\n| untrained | 90.0 |\n\n## Per protocol\n')
    (tmp_path / 'authors_preset' / 'README.md').write_text("# The authors' recipe\n\n| data set | gap |\n")
    text = render_report(tmp_path, tmp_path / 'B.md')
    assert '## Representation quality: linear probes on validation' in text and '| untrained | 90.0 |' in text
    assert '### Per protocol' in text and '# Linear probes' not in text        # headings sit under the page's own
    assert "## The authors' recipe, reproduced" in text and '| data set | gap |' in text


def test_included_reports_keep_their_links_working(tmp_path):
    "A report included into BENCHMARKS.md links its figures from where BENCHMARKS.md is, not from its own folder."
    from tsai_timemae.bench import _included_reports
    (tmp_path / 'benchmarks' / 'analyses').mkdir(parents=True)
    (tmp_path / 'benchmarks' / 'analyses' / 'ANALYSES.md').write_text(
        '## Analyses\n\n![masking](masking.png) see [the other](BasicMotions/ANALYSES.md), [web](https://x.org/a.png)\n')
    text = '\n'.join(_included_reports(tmp_path / 'benchmarks', tmp_path))
    assert '![masking](benchmarks/analyses/masking.png)' in text and '[the other](benchmarks/analyses/BasicMotions/ANALYSES.md)' in text
    assert '[web](https://x.org/a.png)' in text


@needs_uea
def test_a_cached_encoder_made_under_other_library_defaults_is_refused(bench_run, tmp_path):
    """Cache names hash only what the bench names; the settings it leaves to the library are recorded beside each
    encoder. If a default changed since, reusing the encoder would report what the old version produced: refused,
    with the setting and the files to delete named."""
    import shutil
    from tsai_timemae.bench import library_defaults
    out, _ = bench_run
    pre = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast', 0).read_text())['pretraining']
    assert pre['library_defaults'] == library_defaults('codebook')
    shutil.copytree(out / 'cache', tmp_path / 'cache')
    for meta in (tmp_path / 'cache').rglob('timemae_*.json'):
        r = json.loads(meta.read_text())
        write_json_atomic({**r, 'library_defaults': {**r['library_defaults'], 'pretrain.label_smoothing': 0.2}}, meta)
    with pytest.raises(ValueError, match=r"pretrain\.label_smoothing: 0\.2 then, 0\.0 now.*Delete .*\.pth"):
        run_benchmark(['BasicMotions'], ['timemae_finelast'], seeds=[0], out_dir=tmp_path, report=None, quick=True,
                      bar=False, **TINY)


@needs_uea
def test_results_and_encoders_of_other_data_under_the_same_name_are_refused(bench_run, tmp_path):
    """Result files and cache names are keyed by the data set's name (and the path as given), which other data can
    share: a folder called `data` in another working folder, a file changed in place. Skipping to the old result, or
    loading the old encoder, would report the other data's numbers; both are refused, naming what to do."""
    import shutil
    from tsai_timemae.data import data_fingerprint, load_dataset
    out, _ = bench_run
    rec = json.loads(result_path(out, 'BasicMotions', 'timemae_finelast', 0).read_text())
    ds = load_dataset('BasicMotions', None, *(bench_config('BasicMotions', True)[k] for k in ('valid_size', 'split_seed', 'pad_value')))
    assert rec['data']['sha1'] == data_fingerprint(ds) and rec['pretraining']['inputs_sha1'] == data_fingerprint(ds, ('train', 'valid'))
    copy_results(out, tmp_path, lambda r: r['data'].update(sha1='0123456789abcdef'))
    kw = dict(seeds=[0], out_dir=tmp_path, report=None, quick=True, bar=False, **TINY)
    with pytest.raises(ValueError, match=r"timemae_finelast\w*_seed0.json was made from other data than 'BasicMotions'.*--overwrite"):
        run_benchmark(['BasicMotions'], ['timemae_finelast'], **kw)
    shutil.copytree(out / 'cache', tmp_path / 'cache')
    for meta in (tmp_path / 'cache').rglob('timemae_*.json'):
        write_json_atomic({**json.loads(meta.read_text()), 'inputs_sha1': '0123456789abcdef'}, meta)
    with pytest.raises(ValueError, match=r'cached encoder .* was pretrained on other inputs.*delete .*\.pth'):
        run_benchmark(['BasicMotions'], ['timemae_finelast'], overwrite=True, **kw)


def test_paired_seeds_pairs_only_the_seeds_both_rows_have(tmp_path):
    "benchmarks/paired_seeds.py: differences per shared seed; label-study files and unpaired seeds stay out."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import paired_seeds
    def fake(name, seed, acc):
        (tmp_path / f'{name}_seed{seed}.json').write_text(json.dumps({'metrics': {'accuracy': acc}}))
    for s, (a, b) in enumerate([(.70, .60), (.65, .66), (.80, .70)]):
        fake('pre', s, a); fake('raw', s, b)
    fake('pre', 3, .99)                                                       # no untrained twin: left out
    (tmp_path / 'pre_labels0.1_seed0.json').write_text(json.dumps({'metrics': {'accuracy': 0.0}}))
    text = paired_seeds.paired_summary(tmp_path, 'pre', 'raw')
    assert '+10.00   -1.00  +10.00' in text and '2 of 3 seeds above (0 level)' in text and 'difference +6.33' in text
    fake('other', 0, .5)
    with pytest.raises(SystemExit, match='share 1 seed'):
        paired_seeds.paired_summary(tmp_path, 'pre', 'other')
    for s in range(3): fake('same', s, .6 + s / 10)                             # a tie on every seed: no test to run
    assert 'p = 1 (every difference is 0)' in paired_seeds.summarize(*[paired_seeds.accuracies(tmp_path, 'same')] * 2,
                                                                       tmp_path, 'same', 'same')
    # `--baseline-folder`: the same row of another run (a control repeated), seed by seed
    other = tmp_path / 'rerun'
    other.mkdir()
    for s, acc in enumerate([.6, .5, .8]): (other / f'same_seed{s}.json').write_text(json.dumps({'metrics': {'accuracy': acc}}))
    text = paired_seeds.paired_summary(tmp_path, 'same', 'same', other)
    assert f'{tmp_path} against {other}' in text and '+0.00  +20.00   +0.00' in text and '1 of 3 seeds above (2 level)' in text
    with pytest.raises(SystemExit, match=f'no result files pre_seed<k>.json in {other}$'):
        paired_seeds.paired_summary(tmp_path, 'pre', 'pre', other)


def test_paired_seeds_pairs_two_probe_tags_seed_by_seed_and_refuses_other_protocols(tmp_path):
    "--probe-against: two pretraining settings of one data set, each seed's pretrained score against the other's."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import paired_seeds
    def fake(tag, seed, score, **extra):
        (tmp_path / tag).mkdir(exist_ok=True)
        rec = {'seed': seed, 'dataset': 'D', 'protocol': 'cv5', 'folds': 5, 'epochs': 100, 'arch': {'window': 9},
               'final_score': score, 'untrained_score': .5, 'data': {'sha1': 'x'}, **extra}
        (tmp_path / tag / f'seed{seed}.json').write_text(json.dumps(rec))
    for s, (a, b) in enumerate([(.8, .7), (.6, .7), (.9, .7)]):
        fake('new', s, a, by_recording=False, augment=[]); fake('old', s, b)  # an older record lacks those two keys
    text = paired_seeds.probe_against(tmp_path / 'new', tmp_path / 'old')
    assert '+10.00  -10.00  +20.00' in text and '2 of 3 seeds above' in text and 'untrained, the same seeds: new 50.00, old 50.00' in text
    fake('longer', 0, .8, epochs=40); fake('longer', 1, .8)
    with pytest.raises(SystemExit, match=r'seed 0: not a paired comparison, they differ in epochs \(40 against 100\)'):
        paired_seeds.probe_against(tmp_path / 'longer', tmp_path / 'old')
    fake('otherdata', 0, .8, data={'sha1': 'y'})
    with pytest.raises(SystemExit, match=r'differ in data \(y against x\)'):
        paired_seeds.probe_against(tmp_path / 'otherdata', tmp_path / 'old')


def test_paired_seeds_refuses_pairs_that_cannot_be_compared(tmp_path):
    "A --quick smoke run, other labelled series or other data in either row is an error that names the seed."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import paired_seeds
    def fake(name, seed, **extra):
        (tmp_path / f'{name}_seed{seed}.json').write_text(json.dumps({'metrics': {'accuracy': .5}, **extra}))
    for s in range(2): fake('raw', s, data={'sha1': 'a'})
    fake('quick', 0, quick=True); fake('quick', 1)
    fake('other', 0, data={'sha1': 'a'}); fake('other', 1, data={'sha1': 'b'})
    fake('fewer', 0, labelled_idx=[0, 1]); fake('fewer', 1, labelled_idx=[0, 1])
    for row, why in [('quick', 'quick and raw, seed 0: a --quick'), ('other', 'seed 1: made from different data'),
                     ('fewer', 'seed 0: different labelled series')]:
        with pytest.raises(ValueError, match=why): paired_seeds.paired_summary(tmp_path, row, 'raw')


def test_paired_seeds_probe_pairs_each_record_with_its_own_untrained_score(tmp_path):
    "`--probe`: a probe tag's records, pretrained minus untrained per seed; untrained-only records stay out."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import paired_seeds
    for s, (f, u) in enumerate([(.74, .70), (.78, .80), (None, .9)]):
        (tmp_path / f'seed{s}.json').write_text(json.dumps({'seed': s, 'final_score': f, 'untrained_score': u}))
    pre, raw = paired_seeds.probe_scores(tmp_path)
    assert sorted(pre) == [0, 1]
    text = paired_seeds.summarize(pre, raw, tmp_path, 'pretrained', 'untrained')
    assert '+4.00   -2.00' in text and '1 of 2 seeds above' in text and 'difference +1.00' in text


def test_paired_seeds_probe_averages_each_fold_over_the_seeds(tmp_path):
    "`--probe`'s last line: fold k's difference is the mean over seeds of fold k; untrained-only records stay out."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
    import paired_seeds
    folds = {0: [[.5, .7], [.8, .8]], 1: [[.5, .5], [.8, .6]], 2: [[.9, None], [.9, None]]}
    for s, f in folds.items():
        (tmp_path / f'seed{s}.json').write_text(json.dumps({'seed': s, 'final_score': None if s == 2 else .7,
                                                            'untrained_score': .6, 'fold_scores': f}))
    assert paired_seeds.fold_differences(tmp_path) == pytest.approx([10., -10.])
    assert 'standard error over the 2 folds 10.00' in paired_seeds.fold_summary(tmp_path)


def test_the_regenerate_command_names_the_data_as_it_was_given(tmp_path):
    "A user's own file is found by its path, not by the name the report shows; a path with a space is quoted."
    rng = np.random.default_rng(0)
    folder = tmp_path / 'my data'
    folder.mkdir()
    y = np.arange(24) % 2
    np.savez(folder / 'mine.npz', X_train=rng.normal(size=(24, 2, 16)), y_train=y, X_test=rng.normal(size=(8, 2, 16)),
             y_test=y[:8])
    out = tmp_path / 'out dir'
    run_benchmark([str(folder / 'mine.npz')], ['timemae_linear_untrained'], seeds=[0], out_dir=out,
                  report=out / 'B.md', quick=True, bar=False, **TINY)
    text = (out / 'B.md').read_text()
    assert f"timemae bench '{folder / 'mine.npz'}' --methods timemae_linear_untrained" in text, text
    assert f"--out-dir '{out}' --report '{out / 'B.md'}'" in text


def test_one_encoder_recorded_under_two_cache_folders_is_one_pretraining():
    "A moved cache folder records one encoder under two paths: the pretraining table and plots count it once."
    hist = [{'epoch': 0, 'train_loss': 3., 'train_mcc': 1.5, 'train_ppl': 40., 'train_mrr': 0.5}]
    def rec(folder, seed):
        return {'dataset': 'D', 'seed': seed, 'quick': False, 'data': {'n_train': 100, 'n_valid': 0, 'seq_len': 64},
                'settings': {'pretraining': {'tokenizer': 'kmeans', 'vocab_size': 64, 'inputs': 'train', 'arch': {'window': 8}}},
                'pretraining': {'method': 'timemae', 'weights': f'{folder}/cache/D/timemae_kmeans_seed{seed}_abc.pth',
                                'history': hist}}
    records = [rec('old', 0), rec('new', 0), rec('old', 1)]
    row = next(l for l in bench._pretraining_section(records) if l.startswith('| D |'))
    assert row.split(' | ')[2] == '2'                                          # seeds 0 and 1, not 3 runs
    assert [seed for seed, *_ in bench._pretrain_curves(records, 'D')['TimeMAE (kmeans)']] == [0, 1]


def test_records_name_the_commit_of_the_code_that_made_them(tmp_path, monkeypatch):
    "Every record said tsai-timemae 0.1.0 whatever code ran; now the checkout's commit and whether it had changes."
    import subprocess
    repo = Path(bench.__file__).resolve().parent.parent
    head = subprocess.run(['git', '-C', str(repo), 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()
    code = bench.environment()['code']
    assert code['commit'] == head and isinstance(code['dirty'], bool)
    monkeypatch.setattr(bench, '__file__', str(tmp_path / 'tsai_timemae' / 'bench.py'))   # an installed copy
    assert bench.code_version() == {'commit': None, 'dirty': None}


def test_a_users_own_data_set_is_benchmarked_with_the_librarys_defaults_unless_told(tmp_path, capsys):
    """A data set the bench has no settings for gets `TimeMAEPretrain()`'s k-means codes and the window `TimeMAE`
    derives from the series length (what `timemae probe` measures there too), and the run says so; `--tokenizer` and
    `--window` still choose. The bench's own data sets keep their settings (Gumbel codes, as their results ran)."""
    from tsai_timemae.model import auto_window
    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    np.savez(tmp_path / 'mine.npz', X_train=rng.normal(size=(24, 2, 40)), y_train=y, X_test=rng.normal(size=(8, 2, 40)),
             y_test=y[:8])
    kw = dict(seeds=[0], report=None, quick=True, bar=False, **TINY)
    [p] = run_benchmark([str(tmp_path / 'mine.npz')], ['timemae_linear'], out_dir=tmp_path / 'a', **kw)
    r = json.loads(p.read_text())
    assert p.name.startswith('timemae_linear_kmeans') and r['settings']['pretraining']['tokenizer'] == 'kmeans'
    assert r['settings']['pretraining']['arch']['window'] == auto_window(40) == 4
    assert r['settings']['pretraining']['normalize_targets'] and r['settings']['pretraining']['beta'] == 1
    assert "mine: tokenizer kmeans, window 4 of 40 steps: the library's defaults" in capsys.readouterr().out
    [p] = run_benchmark([str(tmp_path / 'mine.npz')], ['timemae_linear'], out_dir=tmp_path / 'b', tokenizers=['gumbel'],
                        window=5, **kw)
    r = json.loads(p.read_text())
    assert r['settings']['pretraining']['tokenizer'] == 'gumbel' and r['settings']['pretraining']['arch']['window'] == 5
    assert 'library\'s defaults' not in capsys.readouterr().out
    assert bench.default_tokenizer('BasicMotions') == bench.default_tokenizer('UWave') == 'gumbel'   # an alias is its set
    assert bench.bench_config('UWave')['window'] == 12 and bench.default_tokenizer('mine.npz') == 'kmeans'
    # the report's command and reproduction check know these defaults: no --tokenizer or --window for the default run
    rows = summarize(load_results(tmp_path / 'a'))
    cmd = bench._command('mine', rows)
    assert '--tokenizer' not in cmd and '--window' not in cmd and set(bench._unexplained(rows[0])) == {'n_layers', 'd_model', 'd_ff', 'n_heads'}
    run_benchmark([str(tmp_path / 'mine.npz')], ['timemae_linear'], out_dir=tmp_path / 'c', seeds=[0], report=None,
                  quick=True, bar=False)                                       # the library's sizes: the command remakes it
    assert summarize(load_results(tmp_path / 'c'))[0]['reproduced']
    assert '--tokenizer gumbel --window 5' in bench._command('mine', summarize(load_results(tmp_path / 'b')))


def test_a_test_class_that_training_never_has_is_named_and_only_configured_sets_report_coverage(tmp_path):
    """No method can predict a class the training split lacks: the run warns with the accuracy ceiling. A report of
    one's own data set lists that data set under Coverage, not the bench's sets it never ran."""
    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    np.savez(tmp_path / 'mine.npz', X_train=rng.normal(size=(24, 2, 40)), y_train=y, X_test=rng.normal(size=(8, 2, 40)),
             y_test=np.array([0, 1, 0, 1, 0, 1, 2, 2]))
    with pytest.warns(UserWarning, match=r"mine: 2 of its 8 test series belong to 1 class\(es\) that no training "
                                         r"series has \(2\): .* at most 75.0%"):
        run_benchmark([str(tmp_path / 'mine.npz')], ['timemae_linear_untrained'], seeds=[0], out_dir=tmp_path / 'o',
                      report=tmp_path / 'o' / 'B.md', quick=True, bar=False, **TINY)
    coverage = (tmp_path / 'o' / 'B.md').read_text().split('## Coverage')[1]
    assert '| mine | quick runs only |' in coverage and 'HAR' not in coverage
    # a validation file with a class training lacks: tsai encodes it as the first class, so the loss that chooses the
    # epoch would count those series as that class (it warned of an accuracy ceiling, which was not what happens)
    np.savez(tmp_path / 'val.npz', X_train=rng.normal(size=(24, 2, 40)), y_train=y, X_valid=rng.normal(size=(4, 2, 40)),
             y_valid=np.array([0, 1, 5, 5]), X_test=rng.normal(size=(8, 2, 40)), y_test=y[:8])
    with pytest.raises(ValueError, match=r"val: 2 of its 4 validation series belong to 1 class\(es\) that no training "
                                         r"series has \(5\)\. tsai would encode them as the first training class, so the "
                                         r"validation loss that chooses the epoch would count them as that class"):
        run_benchmark([str(tmp_path / 'val.npz')], ['timemae_linear_untrained'], seeds=[0], out_dir=tmp_path / 'v',
                      report=None, quick=True, bar=False, **TINY)
    assert not (tmp_path / 'v').exists()                             # refused before any run
    # label-fraction runs read no validation split: nothing to say about it
    import warnings
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        run_benchmark([str(tmp_path / 'val.npz')], ['timemae_linear_untrained'], seeds=[0], out_dir=tmp_path / 'f',
                      report=None, quick=True, bar=False, label_fractions=[0.5], **TINY)
    assert not [w for w in seen if 'validation series belong' in str(w.message)]


def test_series_shorter_than_the_window_are_refused_before_any_run_with_the_flag_that_fixes_it(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    np.savez(tmp_path / 'short.npz', X_train=rng.normal(size=(24, 2, 6)), y_train=y, X_test=rng.normal(size=(8, 2, 6)),
             y_test=y[:8])
    with pytest.raises(ValueError, match=r"short's series have 6 steps, fewer than TimeMAE's window of 8: pass --window 6 or less"):
        run_benchmark([str(tmp_path / 'short.npz')], ['timemae_linear'], seeds=[0], out_dir=tmp_path / 'o', report=None,
                      quick=True, bar=False, window=8, **TINY)
    assert not (tmp_path / 'o').exists()                            # nothing ran, and the folder it made is gone
    (tmp_path / 'kept').mkdir()                                     # a folder that existed stays
    with pytest.raises(ValueError, match='fewer than TimeMAE'):
        run_benchmark([str(tmp_path / 'short.npz')], ['timemae_linear'], seeds=[0], out_dir=tmp_path / 'kept' / 'a' / 'b',
                      report=None, quick=True, bar=False, window=8, **TINY)
    assert (tmp_path / 'kept').is_dir() and not any((tmp_path / 'kept').iterdir())
    # a window of the whole series makes one patch: nothing to mask. Refused before any run, with a window that works;
    # training from scratch takes it
    with pytest.raises(ValueError, match=r'at least 2 patches .* 6 steps make 1 with a window of 6: pass --window 3 '):
        run_benchmark([str(tmp_path / 'short.npz')], ['timemae_linear'], seeds=[0], out_dir=tmp_path / 'o', report=None,
                      quick=True, bar=False, window=6, **TINY)
    assert not (tmp_path / 'o').exists()
    run_benchmark([str(tmp_path / 'short.npz')], ['timemae_scratch'], seeds=[0], out_dir=tmp_path / 'o', report=None,
                  quick=True, bar=False, window=6, **TINY)


def test_the_pretraining_table_keeps_configurations_apart_and_counts_seeds():
    "Two pretrainings of one seed (windows 10 and 5) were averaged into one row that said 2 seeds."
    def record(seed, window, name):
        return {'dataset': 'BasicMotions', 'seed': seed, 'quick': False, 'data': {'n_train': 32, 'n_valid': 8, 'seq_len': 100},
                'settings': {'pretraining': {'tokenizer': 'kmeans', 'vocab_size': 16, 'inputs': 'train+valid',
                                             'arch': {'window': window}}},
                'pretraining': {'method': 'timemae', 'vocab_size': 16, 'weights': f'cache/{name}.pth',
                                'history': [{'train_mcc': 2.0, 'train_ppl': 12.0, 'train_mrr': 0.5}]}}
    rows = [l for l in bench._pretraining_section([record(0, 10, 'a'), record(0, 5, 'b'), record(1, 10, 'c')])
            if l.startswith('| BasicMotions')]
    assert rows[0].startswith('| BasicMotions | TimeMAE (kmeans) | 2 | 1 |'), rows   # seeds 0 and 1 at window 10
    assert rows[1].startswith('| BasicMotions | TimeMAE (kmeans) (other settings) | 1 | 1 |'), rows
    same_seed = [l for l in bench._pretraining_section([record(0, 10, 'a'), record(0, 10, 'b')]) if l.startswith('| Basic')]
    assert '| 2 runs, seeds [0] |' in same_seed[0], same_seed


def test_a_run_given_a_data_folder_regenerates_with_it(tmp_path, monkeypatch):
    """A report made from `timemae bench BasicMotions --root /my/data` printed `timemae bench BasicMotions ...`, which
    found no such data set (or another copy of it) instead of rerunning the rows."""
    import shutil
    from tsai_timemae.data import sktime_bundled_folder
    root = tmp_path / 'my data'
    shutil.copytree(sktime_bundled_folder('BasicMotions'), root / 'BasicMotions')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'out'
    run_benchmark(['BasicMotions'], ['inceptiontimeplus'], seeds=[0], root=root, out_dir=out, report=out / 'B.md',
                  quick=True, bar=False, **TINY)
    r = json.loads(result_path(out, 'BasicMotions', 'inceptiontimeplus', 0).read_text())
    assert r['data_root'] == str(root)
    text = (out / 'B.md').read_text()
    assert f"timemae bench BasicMotions --methods inceptiontimeplus --seeds 0 --root '{root}'" in text
    assert f"`timemae bench BasicMotions --root '{root}'`" in text          # the coverage table too


def test_the_recorded_epoch_is_the_one_fastai_keeps_when_a_validation_loss_is_nan():
    "fastai's SaveModelCallback never keeps a NaN epoch; np.argmin picked the first NaN, so the record named another epoch."
    hist = lambda *v: [{'valid_loss': x} for x in v]
    assert bench._best_epoch(hist(.5, float('nan'), .3)) == 2
    assert bench._best_epoch(hist(float('nan'), .5, .7)) == 1
    assert bench._best_epoch(hist(float('nan'), float('nan'))) is None
    assert bench._best_epoch([{'accuracy': .5}, {'accuracy': float('nan')}], 'accuracy') == 0


def test_a_training_whose_validation_loss_is_nan_at_every_epoch_is_named(tmp_path, monkeypatch):
    "Nothing to reload: the run says the training diverged and names the learning rate, not fastai's missing best.pth."
    import torch
    from fastai.losses import CrossEntropyLossFlat
    from tsai.data.core import TSClassification, get_ts_dls
    from tsai.learner import ts_learner
    from tsai_timemae.model import TimeMAE
    monkeypatch.chdir(tmp_path)
    X, y = np.random.default_rng(0).normal(size=(24, 1, 16)).astype('float32'), np.array([0, 1] * 12)
    dls = get_ts_dls(X, y, splits=[list(range(16)), list(range(16, 24))], tfms=[None, TSClassification()], bs=8)
    ce = CrossEntropyLossFlat()
    learn = ts_learner(dls, TimeMAE, window=4, n_layers=1, d_model=16, d_ff=32, n_heads=2,
                       loss_func=lambda out, targ: ce(out, targ) * float('nan'))
    ds = bench.TSDataset(name='toy', X_train=X[:16], y_train=y[:16], X_valid=X[16:], y_valid=y[16:], X_test=X[16:], y_test=y[16:])
    with pytest.raises(ValueError, match=r'valid_loss was NaN at every one of the 2 epochs.*Lower the learning rate \(0\.001\)'):
        bench.fit_select_score(learn, bench.Training(epochs=2, lr=1e-3, selection='valid_loss'), ds, bar=False)
