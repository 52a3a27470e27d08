"""`benchmarks/analyses.py --quick`: every analysis runs at toy size, draws its figure and its section of the report,
and `--report-only` redraws them from the run files alone."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ('masking', 'ablations', 'model_size', 'pretrain_size', 'tsne')


def _script(name: str):
    "A fresh module of `benchmarks/{name}.py`, to run its `main` in this process (a subprocess spent about 10 s importing tsai)."
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'{name}_script', ROOT / 'benchmarks' / f'{name}.py')
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def analyses(*args, cwd=ROOT) -> str:
    "`python benchmarks/analyses.py *args` run from `cwd`, in this process -> what it printed."
    import contextlib, io
    printed, before = io.StringIO(), os.getcwd()
    os.chdir(cwd)  # (contextlib.chdir is Python 3.11's; the project supports 3.10)
    try:
        with contextlib.redirect_stdout(printed): _script('analyses').main(list(args))
    finally: os.chdir(before)
    return printed.getvalue()


def test_quick_analyses_write_figures_and_report(tmp_path):
    out = tmp_path / 'analyses'
    analyses('--quick', '--threads', '1', '--out', str(out))
    for name in FIGURES:
        png = out / f'{name}.png'
        assert png.is_file() and png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000, name
    report = (out / 'ANALYSES.md').read_text()
    for title in ('Masking (paper 4.2.6)', 'Ablations (paper 4.2.7)', 'Model size (paper 4.2.4)',
                  'Pretraining-set size (paper 4.2.5)', 'Visualisation (paper 4.2.8)'):
        assert f'## {title}' in report, title
    for row in ('| random, 0.6 |', '| span, 0.6 |', '| w/o MCC (alpha=0) |', '| w/o MRR (beta=0) |',
                '| w/o decoupling |', '| d_model=8 |', '| n_layers=2 |', '| 50% |', '| 100% |', '| pretrained |'):
        assert row in report, row
    assert 'not run' not in report and 'Reading:' in report and 'Quick run' in report
    assert f'python benchmarks/analyses.py --quick --threads 1 --out {out}' in report
    # two seeds each; the 50% share pretrains on 20 of the 40 series for the default run's number of steps
    runs = sorted((out / 'runs').glob('*/*/seed*.json'))
    assert len(runs) == 2 * 10 and {p.name for p in runs} == {'seed0.json', 'seed1.json'}
    by = {(p.parent.name, p.name): json.loads(p.read_text()) for p in runs}
    half, default = by['fraction=0.5', 'seed0.json'], by['default', 'seed0.json']
    assert half['data']['n_pretrain'] == 20 and half['steps'] == default['steps'] and half['protocol'] == 'cv5'
    # the control: the share pretrained with the number of codes the run on every input had (40 x 10 patches: 16)
    pinned = by['fraction=0.5_full_codes', 'seed0.json']
    assert pinned['settings']['pretrain'] == {'vocab_size': 16} and pinned['data']['n_pretrain'] == 20
    assert "| 50%, 100%'s codes |" in report and '| codes |' in report
    tsne = json.loads((out / 'tsne.json').read_text())   # from the default run of seed 0, the very encoder probed
    assert len(tsne['untrained']['points']) == len(tsne['pretrained']['points']) == len(tsne['y']) == tsne['pretrained']['n']
    assert tsne['seed'] == 0 and tsne['final_score'] == default['final_score']

    # the report and figures again from the run files alone: the same report, nothing rerun
    (out / 'ANALYSES.md').unlink()
    for name in FIGURES: (out / f'{name}.png').unlink()
    stdout = analyses('--report-only', '--out', str(out))
    assert 'seed 0:' not in stdout and (out / 'ANALYSES.md').read_text() == report
    assert all((out / f'{name}.png').is_file() for name in FIGURES)
    assert sorted((out / 'runs').glob('*/*/seed*.json')) == runs


def analyses_fails(*args) -> str:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'analyses.py'), *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout[-2000:]
    return r.stderr


def committed_copy(tmp_path, name='BasicMotions'):
    "A copy of a committed analyses folder (run files, settings, t-SNE) to try commands on."
    import shutil
    out = tmp_path / name
    shutil.copytree(ROOT / 'benchmarks' / 'analyses' / name, out, ignore=shutil.ignore_patterns('*.png', '*.md'))
    return out


def test_report_only_refuses_flags_it_would_ignore(tmp_path):
    out = committed_copy(tmp_path)
    err = analyses_fails('--report-only', '--seeds', '0', '--only', 'masking', '--out', str(out))
    assert 'would be ignored' in err and '--seeds --only' in err and 'analyses.json' in err
    assert not (out / 'ANALYSES.md').exists()


def test_runs_with_other_shared_settings_are_refused_before_anything_is_written(tmp_path):
    out = committed_copy(tmp_path)
    saved = (out / 'analyses.json').read_text()
    err = analyses_fails('--dataset', 'BasicMotions', '--epochs', '100', '--out', str(out))
    assert 'epochs 50, now 100' in err and 'another --out' in err
    assert (out / 'analyses.json').read_text() == saved   # the saved settings still describe the runs there


def test_a_t_sne_drawn_with_other_settings_is_not_shown(tmp_path):
    out = committed_copy(tmp_path)
    (out / 'tsne.json').write_text((ROOT / 'benchmarks' / 'analyses' / 'tsne.json').read_text())  # UEA/Epilepsy's
    stdout = analyses('--report-only', '--out', str(out))
    assert 'drawn with other settings' in stdout
    report = (out / 'ANALYSES.md').read_text()
    assert '| pretrained |' not in report and not (out / 'tsne.png').exists()


def test_repeated_values_run_once_and_the_report_names_the_threads_used():
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import analyses
    cfg = analyses.config(analyses.parse_args(['--seeds', '0', '0', '1', '--mask-ratios', '0.3', '0.3']))
    assert cfg['seeds'] == [0, 1] and cfg['mask_ratios'] == [0.3]
    assert [analyses._threads(n) for n in (1, 2, None)] == ['one CPU thread', '2 CPU threads', "torch's default CPU threads"]


def test_only_reports_the_analyses_its_command_runs(tmp_path):
    "`--only masking`: the other sections say they are not part of the report, even when their runs are in the folder."
    out = committed_copy(tmp_path)  # every analysis's run files, made by the full command
    settings = json.loads((out / 'analyses.json').read_text())
    settings['config']['only'] = ['masking']
    (out / 'analyses.json').write_text(json.dumps(settings))
    analyses('--report-only', '--out', str(out))
    report = (out / 'ANALYSES.md').read_text()
    assert '![masking](masking.png)' in report and '| random, 0.6 |' in report
    for title in ('Ablations (paper 4.2.7)', 'Model size (paper 4.2.4)', 'Pretraining-set size (paper 4.2.5)',
                  'Visualisation (paper 4.2.8)'):
        section = report.split(f'## {title}')[1].split('\n## ')[0]
        assert 'Not part of this report: its command runs `--only masking`' in section, title
    assert '![ablations]' not in report and '| w/o MCC (alpha=0) |' not in report and '![tsne]' not in report
    assert '--only masking' in report.split('```')[1]  # the regenerate command says so too


def test_the_protocol_says_what_the_default_run_recorded_not_a_copy_of_the_defaults(monkeypatch):
    """The report's protocol line and the 'default' point of the mask-ratio sweep were copies of the library's defaults
    (mask ratio 0.6, k-means codes, ...): a changed default would have been described wrongly. Both now read them."""
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import analyses
    from tsai_timemae.pretrain import TimeMAEPretrain
    import inspect
    assert analyses.default_mask_ratio() == inspect.signature(TimeMAEPretrain).parameters['mask_ratio'].default
    rec = json.loads((ROOT / 'benchmarks/analyses/runs/UEA-Epilepsy/default/seed0.json').read_text())
    assert analyses._pretraining_text(rec) == ('k-means codewords, MCC + MRR onto normalised momentum targets, '
                                               'alpha = beta = 1, mask ratio 0.6 at random, decoupled encoder')
    e = rec['settings']['effective']['pretrain']
    e.update(tokenizer='gumbel', beta=5., normalize_targets=False, mask_ratio=0.5, masking='span', decoupled=False)
    assert analyses._pretraining_text(rec) == ('gumbel codewords, MCC + MRR onto momentum targets, alpha = 1, beta = 5, '
                                               'mask ratio 0.5 in spans, mask tokens in the encoder')


def test_the_committed_reports_are_what_their_run_files_give(tmp_path):
    """The other tests compare a report with itself; the committed ANALYSES.md files (their means, spreads and marks)
    must be what `--report-only` makes from the committed run files (a copy of the folder, run from a copy's root)."""
    import shutil
    shutil.copytree(ROOT / 'benchmarks' / 'analyses', tmp_path / 'benchmarks' / 'analyses')
    for rel in ('benchmarks/analyses', 'benchmarks/analyses/BasicMotions'):
        analyses('--report-only', '--out', rel, cwd=tmp_path)
        assert (tmp_path / rel / 'ANALYSES.md').read_text() == (ROOT / rel / 'ANALYSES.md').read_text(), rel


def test_plot_examples_draws_the_figures_14_plots_shows(tmp_path, monkeypatch, capsys):
    """`benchmarks/plot_examples.py` regenerates the two figures the plots notebook links (1 epoch here: seconds; in
    this process, which has imported tsai already)."""
    import torch
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the script sets it where it is unset: not for the later tests
    _script('plot_examples').main(['--epochs', '1', '--threads', str(torch.get_num_threads()), '--out', str(tmp_path)])
    printed = capsys.readouterr().out
    assert printed.count('Wrote ') == 2 and ' s at ' in printed, printed
    for name in ('basicmotions_show_masks.png', 'basicmotions_embeddings.png'):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000, name
        assert (ROOT / 'benchmarks' / 'plots' / name).is_file(), name   # the committed figure the notebook links
    assert sorted(p.name for p in tmp_path.iterdir()) == ['basicmotions_embeddings.png', 'basicmotions_show_masks.png']
