"""The speed benchmark's functions on a minimal configuration (structure and positive numbers, never timings),
and the CPU fast paths it motivated keep torch's maths."""
import copy
import json

import pytest
import torch
import torch.nn as nn

from tsai_timemae.model import TimeMAEEncoderLayer, fast_dropout, multihead_attention
from tsai_timemae.speed import (check_targets, measure_fineall, measure_inference, measure_pretrain, run_benchmark,
                                run_isolated)

TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32)
SHAPE = dict(c_in=3, seq_len=32, bs=8, window=8)
FAST = dict(n_steps=2, warmup=1, budget=5.)


# -- measurements ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('method', ['timemae', 'mvp'])
def test_measure_pretrain_reports_positive_throughput_memory_and_flops(method):
    r = measure_pretrain(method, **SHAPE, arch=TINY, **{**FAST, 'budget': 60.})  # 2 steps: a busy machine's stall is not a fault
    assert r['status'] == 'ok' and r['n_timed'] == 2
    for k in ('step_ms', 'samples_per_s', 's_per_1000', 'peak_rss_mb', 'gflop_per_step', 'achieved_gflops', 'setup_s'):
        assert r[k] > 0, k  # setup_s: the one-off work before the first step (TimeMAE's tokenizer fit), timed apart
    assert 0 <= r['train_mem_mb'] <= r['peak_rss_mb']


def test_a_peak_read_below_the_memory_before_the_fit_is_no_growth_not_a_negative_one(monkeypatch):
    """Linux keeps the peak-RSS mark with approximate counters: after memory freed during a tiny fit it read up to
    ~0.3 MB below the RSS before it, and `train_mem_mb` came out negative (the memory target then read as met)."""
    from tsai_timemae import speed
    monkeypatch.setattr(speed, '_peak_rss', lambda reset_ok: 2**20)  # a mark below the RSS before the fit
    r = measure_pretrain('timemae', **SHAPE, arch=TINY, **{**FAST, 'budget': 60.})
    assert r['train_mem_mb'] == 0 and r['peak_rss_mb'] > 0


@pytest.mark.parametrize('method', ['timemae', 'mvp'])
def test_fineall_and_inference_report_positive_throughput(method):
    for f in (measure_fineall, measure_inference):
        r = f(method, **SHAPE, arch=TINY, n_classes=3, **FAST)
        assert r['status'] == 'ok' and r['samples_per_s'] > 0 and r['n_timed'] >= 1


def test_isolated_task_runs_in_a_subprocess_and_reports_every_job():
    task = dict(method='timemae', **SHAPE, arch=TINY, jobs=['pretrain', 'isfinite'], threads=1, **FAST)
    res = run_isolated(task, time_limit=300)
    assert res['pretrain']['status'] == 'ok' and res['pretrain']['samples_per_s'] > 0
    assert res['isfinite']['us'] > 0


def test_isolated_task_over_its_memory_cap_is_reported_not_raised():
    task = dict(method='timemae', **SHAPE, arch=TINY, jobs=['pretrain'], threads=1, **FAST)
    res = run_isolated(task, time_limit=300, mem_cap_gb=0.05)  # Python + torch alone are over 50 MB
    assert res['pretrain']['status'].startswith('over memory cap')


def test_run_benchmark_writes_tables_plot_and_report(tmp_path):
    (tmp_path / 'notes.md').write_text('### Notes\nhand-written findings')
    res = run_benchmark(tmp_path, threads=1, bs=8, sweep_bs=8, lengths=(32, 64), windows=(8, 16), n_steps=1, warmup=1,
                        budget=5., isolate=False, profile=True, arch={'timemae': TINY, 'mvp': TINY}, c_in=3, verbose=False)
    for f in ('results.json', 'har.csv', 'sweep.csv', 'length_sweep.png', 'speed.md', 'profile_timemae.txt'):
        assert (tmp_path / f).stat().st_size > 0, f
    assert set(res['har']) == {'timemae', 'mvp'}
    assert res['har']['timemae']['matmul']['gflops'] > 0 and res['har']['timemae']['profile']['ops']
    assert len(res['sweep']) == 2 * 4 and all(r['status'] == 'ok' and r['s_per_1000'] > 0 for r in res['sweep'])
    assert [t['status'] for t in res['targets']][2:] == ['not measured'] * 4  # no 512 / 8192 in this sweep
    md = (tmp_path / 'speed.md').read_text()
    assert md.startswith('## Speed and memory') and 'hand-written findings' in md and 'length_sweep.png' in md
    assert json.loads((tmp_path / 'results.json').read_text())['config']['bs'] == 8
    # the report names the defaults each column ran with (the page's figures are of those) and the commit
    env = json.loads((tmp_path / 'results.json').read_text())['env']
    assert env['models']['timemae_pretrain']['tokenizer'] == 'kmeans' and env['models']['tstplus']['d_model'] == 128
    assert "tokenizer 'kmeans'" in md and 'not at equal size' in md and 'set-up before the first step' in md
    # the page's rewrite command runs as printed (it said "add `--report-only`", which the measuring options refuse)
    import re
    from tsai_timemae.cli import main
    rewrite = re.search(r'`(timemae speed --report-only --out [^`]+)`', md).group(1)
    assert rewrite == f'timemae speed --report-only --out {tmp_path}'
    (tmp_path / 'speed.md').unlink()
    assert main(rewrite.split()[1:]) in (0, None) and (tmp_path / 'speed.md').read_text() == md
    import shlex, shutil
    spaced = tmp_path / 'a b'                                      # a folder name the printed command must quote
    spaced.mkdir()
    for f in ('results.json', 'notes.md'): shutil.copy(tmp_path / f, spaced / f)
    assert main(['speed', '--report-only', '--out', str(spaced)]) in (0, None)
    again = re.search(r'`(timemae speed --report-only --out [^`]+)`', (spaced / 'speed.md').read_text()).group(1)
    (spaced / 'speed.md').unlink()
    assert main(shlex.split(again)[1:]) in (0, None) and (spaced / 'speed.md').is_file()


def test_the_sweep_plot_takes_memory_figures_of_zero(tmp_path):
    """Small models can show no memory growth (peak RSS = RSS before the fit): every figure 0 left the log-scaled
    axis without a value above 0, and matplotlib failed the whole `timemae speed` run (CI, intermittently)."""
    from tsai_timemae.speed import plot_sweep
    rows = [dict(method=m, seq_len=L, window=w, bs=8, status='ok', s_per_1000=1. * L, train_mem_mb=0.)
            for m, w in (('timemae', 16), ('mvp', None)) for L in (32, 64)]
    rows.append(dict(method='mvp', seq_len=128, window=None, bs=8, status='out of memory'))
    plot_sweep(rows, tmp_path / 'p.png', threads=1)
    assert (tmp_path / 'p.png').stat().st_size > 1000


def test_a_memory_figure_of_zero_beside_others_is_marked_not_dropped(tmp_path, monkeypatch):
    "With other figures above 0 the axis stays logarithmic, and a run measured at 0 MB vanished from it without a mark."
    from tsai_timemae import speed
    figs = []
    monkeypatch.setattr(speed, 'save_figure', lambda fig, path, **k: figs.append(fig))
    rows = [dict(method='timemae', seq_len=L, window=16, bs=8, status='ok', s_per_1000=1. * L, train_mem_mb=m)
            for L, m in ((128, 0.), (512, 5.), (2048, 20.))]
    speed.plot_sweep(rows, tmp_path / 'p.png', threads=1)
    mem = figs[0].axes[1]
    assert mem.get_yscale() == 'log' and '0' in [t.get_text() for t in mem.texts]
    assert any(l.get_marker() == 'v' and list(l.get_xdata()) == [128] for l in mem.get_lines())


def test_the_recorded_command_repeats_the_run_however_it_was_started():
    "`python benchmarks/speed.py --out X` recorded `timemae speed X` (argv[2:] assumed `timemae speed ...`)."
    import argparse
    from tsai_timemae.speed import add_args, command_of
    p = argparse.ArgumentParser()
    add_args(p)
    assert command_of(p.parse_args([])) == 'timemae speed'
    assert command_of(p.parse_args(['--out', 'my dir', '--lengths', '128', '512', '--no-profile'])) == \
        "timemae speed --out 'my dir' --lengths 128 512 --no-profile"


def test_targets_report_met_and_not_met():
    ok = dict(status='ok')
    sweep = [dict(method='timemae', seq_len=512, window=8, s_per_1000=1., train_mem_mb=10., **ok),
             dict(method='mvp', seq_len=512, window=None, s_per_1000=30., train_mem_mb=100., **ok),
             dict(method='timemae', seq_len=512, window=16, s_per_1000=1., **ok),
             dict(method='timemae', seq_len=8192, window=16, s_per_1000=25., **ok)]
    har = {'timemae': {'pretrain': dict(samples_per_s=900., **ok)}, 'mvp': {'pretrain': dict(samples_per_s=100., **ok)}}
    assert [t['status'] for t in check_targets(dict(har=har, sweep=sweep))] == ['met', 'not met', 'met', 'met', 'not met',
                                                                                'not measured']


# -- the fast CPU paths keep torch's maths --------------------------------------------------------------------------
@pytest.mark.parametrize('norm_first', [False, True])
def test_encoder_layer_matches_torch_layer(norm_first):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 2, 32, 0.2, activation='gelu', batch_first=True, norm_first=norm_first)
    new = TimeMAEEncoderLayer(16, 2, 32, 0.2, activation='gelu', batch_first=True, norm_first=norm_first)
    new.load_state_dict(ref.state_dict())
    assert list(new.state_dict()) == list(ref.state_dict())
    x = torch.randn(4, 7, 16)
    ref.eval(), new.eval()
    with torch.no_grad():  # torch's fused eval fast path against our flash-attention path
        torch.testing.assert_close(new(x), ref(x), atol=1e-5, rtol=1e-5)
    mask, pad = torch.rand(7, 7) > .7, torch.zeros(4, 7, dtype=torch.bool)
    mask.fill_diagonal_(False)
    pad[:, -2:] = True
    torch.testing.assert_close(new(x, mask, pad), ref(x, mask, pad), atol=1e-5, rtol=1e-5)
    ref0, new0 = copy.deepcopy(ref).train(), copy.deepcopy(new).train()  # training maths and gradients, dropout off
    for m in (ref0, new0):
        for mod in m.modules():
            if isinstance(mod, nn.Dropout): mod.p = 0.
        m.self_attn.dropout = 0.
    xr, xn = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref0(xr).pow(2).sum().backward()
    new0(xn).pow(2).sum().backward()
    torch.testing.assert_close(xn.grad, xr.grad, atol=1e-4, rtol=1e-4)


def test_cross_attention_matches_torch():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)
    q, kv = torch.randn(4, 5, 16), torch.randn(4, 7, 16)
    torch.testing.assert_close(multihead_attention(mha, q, kv, training=True), mha(q, kv, kv, need_weights=False)[0])
    per_head = torch.rand(4 * 2, 5, 7) > .7                        # torch's 3-D mask: one per sample and head
    per_head[..., 0] = False
    torch.testing.assert_close(multihead_attention(mha, q, kv, attn_mask=per_head),
                               mha(q, kv, kv, attn_mask=per_head, need_weights=False)[0])


def test_fast_dropout_is_dropout():
    torch.manual_seed(0)
    y = fast_dropout(torch.ones(400, 500), 0.2)
    assert abs((y == 0).float().mean().item() - 0.2) < 0.01 and abs(y.mean().item() - 1) < 0.02
    assert y.unique().tolist() == [0., pytest.approx(1.25, rel=1e-4)]
    x = torch.randn(50, 60, requires_grad=True)
    out = fast_dropout(x, 0.3)
    out.sum().backward()
    assert torch.equal(x.grad != 0, out != 0)                      # gradient flows exactly where values were kept
    torch.manual_seed(1); a = fast_dropout(torch.ones(99), .5)
    torch.manual_seed(1); b = fast_dropout(torch.ones(99), .5)
    assert torch.equal(a, b)                                       # seeded like the rest of torch
    x = torch.randn(10)
    assert fast_dropout(x, 0.2, training=False) is x and fast_dropout(x, 0.) is x and not fast_dropout(x, 1.).any()


def test_the_speed_page_links_its_plot_from_its_own_folder_and_titles_the_runs_threads(tmp_path, monkeypatch):
    """speed.md linked its plot relative to the folder the command ran in (broken from speed.md's own folder), and
    `--report-only` titled the plot with this process's threads, not the measured run's."""
    from tsai_timemae import speed
    from tsai_timemae.bench import render_report
    titles = []
    monkeypatch.setattr(speed, 'save_figure', lambda fig, path, **k: titles.append(fig._suptitle.get_text()))
    rows = [dict(method='timemae', seq_len=L, window=8, bs=8, status='ok', s_per_1000=1. * L, train_mem_mb=10.) for L in (32, 64)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try: speed.plot_sweep(rows, tmp_path / 'p.png', threads=2)
    finally: torch.set_num_threads(threads)
    assert titles == ['Pretraining, batch 8, 2 CPU threads']
    out = tmp_path / 'bench'
    (out / 'speed').mkdir(parents=True)
    (out / 'results').mkdir()
    (out / 'speed' / 'speed.md').write_text('## Speed and memory\n\n![length sweep](length_sweep.png)\n')
    assert '![length sweep](bench/speed/length_sweep.png)' in render_report(out, tmp_path / 'BENCHMARKS.md')


def test_the_speed_page_shows_the_windows_the_sweep_ran_and_judges_throughput_only_at_its_settings():
    """`--windows 4` was measured but shown as "not run" (the columns were fixed at w8 and w16), and a run at batch 2
    judged the HAR throughput target, which is for batch 128 at 2 threads, as not met."""
    from tsai_timemae.speed import _sweep_table, check_targets
    rows = [dict(method=m, seq_len=16, window=w, bs=2, status='ok', s_per_1000=s, train_mem_mb=10.)
            for m, w, s in (('timemae', 4, 8.7), ('timemae_attn0', 4, 9.1), ('mvp', None, 22.))]
    head, _, row = _sweep_table(rows)
    assert 'TimeMAE w4 s/1000' in head and 'w4, no attn dropout s/1000' in head and 'w8' not in head and 'not run' not in row
    assert row.startswith('| 16 | 8.70 | 9.10 | 22.00 | 2.5x |')
    har = {'timemae': {'pretrain': {'samples_per_s': 41.}}, 'mvp': {'pretrain': {'samples_per_s': 4.}}}
    for config, env, status in (({'bs': 2}, {'threads': 1}, 'not comparable (run at batch 2, 1 thread;'),
                                ({'bs': 128, 'arch': {'timemae': {'d_model': 8}}}, {'threads': 2}, 'not comparable (run at batch 128, 2 threads, another model'),
                                ({'bs': 128}, {'threads': 2}, 'not met')):
        first = check_targets({'har': har, 'sweep': rows, 'config': config, 'env': env})[0]
        assert first['status'].startswith(status) and first['measured'] == '41 samples/s'
    # the ratios too: TimeMAE's lead over MVP grows with the batch (1.7x at batch 4, 1 thread; 16x at 128, 2 threads)
    ratio = check_targets({'har': har, 'sweep': rows, 'config': {'bs': 4, 'sweep_bs': 32}, 'env': {'threads': 1}})[1]
    assert ratio['measured'] == '10.2x' and ratio['status'].startswith('not comparable (run at batch 4, 1 thread;')
    assert check_targets({'har': har, 'sweep': rows, 'config': {'bs': 128}, 'env': {'threads': 2}})[1]['status'] == 'met'
    sweep = [dict(method=m, seq_len=n, window=w, bs=4, status='ok', s_per_1000=s, train_mem_mb=10.)
             for m, n, w, s in (('timemae', 512, 8, 1.), ('mvp', 512, None, 30.))]
    row = check_targets({'har': har, 'sweep': sweep, 'config': {'bs': 128, 'sweep_bs': 4}, 'env': {'threads': 2}})[2]
    assert row['status'] == 'not comparable (run at batch 4, 2 threads; the target is for batch 32, 2 threads, the default model)'

def test_the_length_sweep_runs_lengths_shortest_first_and_each_window_once():
    """`--lengths 8192 128` reported 128 as 'skipped ... at a shorter length' once MVP failed 8192, and `--windows 8 8`
    measured TimeMAE twice at one window (two rows, one column)."""
    from tsai_timemae.speed import length_sweep
    calls = []
    def run(task):
        calls.append((task['method'], task['seq_len'], task.get('window')))
        ok = task['method'] != 'mvp' or task['seq_len'] < 100
        return {'pretrain': dict(status='ok' if ok else 'out of memory', s_per_1000=1., train_mem_mb=1.)}
    rows = length_sweep(run, lengths=(200, 32, 32), windows=(8, 8, 4), bs=2, attn0_windows=(4, 4))
    assert [(r['method'], r['seq_len'], r['window']) for r in rows] == [
        ('timemae', 32, 8), ('timemae', 32, 4), ('timemae_attn0', 32, 4), ('mvp', 32, None),
        ('timemae', 200, 8), ('timemae', 200, 4), ('timemae_attn0', 200, 4), ('mvp', 200, None)]
    assert [r['status'] for r in rows if r['method'] == 'mvp'] == ['ok', 'out of memory']
    assert len(calls) == len(rows)
