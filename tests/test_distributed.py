"""Data-parallel training on two CPU processes (torchrun, gloo): every rank ends with the same model, only rank 0
prints and writes the encoder. The runs launch tests/ddp_worker.py (every mode that must succeed in one launch: each
launch first imports tsai in both processes); each rank starts from its own seed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsai_timemae.distributed import accelerate_available, mean_over_ranks, sum_over_ranks, timemae_distrib_ctx

WORKER = Path(__file__).resolve().parent / 'ddp_worker.py'
N_PROC, EPOCHS = 2, 2

needs_ddp = pytest.mark.skipif(
    not accelerate_available() or not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason='needs accelerate (pip install -e ".[dist]" in a clone) and torch.distributed with gloo')


MODES = ('supervised', 'pretrain', 'pretrain_tail', 'pretrain_novalid', 'same_seed')  # same_seed last: it seeds alike


def _launch(out: Path, modes: str) -> subprocess.CompletedProcess:
    "Run the worker's `modes` (comma-separated) on N_PROC CPU processes."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(N_PROC),
           str(WORKER), str(out), modes, str(EPOCHS)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=out)


@pytest.fixture(scope='module')
def ddp_runs(tmp_path_factory) -> Path:
    "Every mode of `MODES` in one launch; each wrote into its own folder of the returned one."
    out = tmp_path_factory.mktemp('ddp')
    r = _launch(out, ','.join(MODES))
    failed = next((m for m in MODES if not all((out / m / f'done{k}').is_file() for k in range(N_PROC))), None)
    assert r.returncode == 0, (f'torchrun failed ({r.returncode}) in mode {failed} (the modes before it finished):\n'
                               f'{r.stdout[-3000:]}\n{r.stderr[-6000:]}')
    return out


def _results(out: Path) -> dict:
    "What each rank of one mode wrote."
    res = {}
    for rank in range(N_PROC):
        res[rank] = dict(init=torch.load(out / f'init{rank}.pt'), final=torch.load(out / f'final{rank}.pt'),
                         stdout=(out / f'stdout{rank}.txt').read_text(),
                         saves=(out / f'saves{rank}.txt').read_text().split('\n'),
                         record=json.loads((out / f'record{rank}.json').read_text()), out=str(out))
    return res


@pytest.fixture(scope='module')
def supervised_run(ddp_runs):
    return _results(ddp_runs / 'supervised')


@pytest.fixture(scope='module')
def pretrain_run(ddp_runs):
    return ddp_runs / 'pretrain', _results(ddp_runs / 'pretrain')


@pytest.fixture(scope='module')
def pretrain_tail_run(ddp_runs):
    return _results(ddp_runs / 'pretrain_tail')


def _assert_same_on_every_rank(res):
    states = [res[r]['final'] for r in range(N_PROC)]
    assert all(s.keys() == states[0].keys() for s in states)
    differ = [k for k in states[0] for s in states[1:] if not torch.equal(states[0][k], s[k])]
    assert not differ, f'parameters or buffers differ across ranks after fit: {differ}'
    # the ranks did start apart (each its own seed): the wrapping, not the seeds, made them equal
    inits = [res[r]['init'] for r in range(N_PROC)]
    assert any(not torch.equal(inits[0][k], inits[1][k]) for k in inits[0])


def _assert_rank0_prints_the_table(res):
    names = res[0]['record']['names']
    assert all(n in res[0]['stdout'] for n in names if n != 'time'), res[0]['stdout']
    for r in range(1, N_PROC): assert res[r]['stdout'] == '', f'rank {r} printed:\n{res[r]["stdout"]}'


@needs_ddp
def test_supervised_ranks_end_identical(supervised_run):
    _assert_same_on_every_rank(supervised_run)
    assert supervised_run[0]['record']['model_type'] == 'TimeMAE'


@needs_ddp
def test_finelast_trains_only_the_head_on_every_rank(supervised_run):
    "FineLast under data parallelism: the wrapped model's backbone stays frozen (rank 0's start, broadcast), the head learns."
    out = Path(supervised_run[0]['out'])
    start, finals = torch.load(out / 'finelast_init0.pt'), [torch.load(out / f'finelast_final{r}.pt') for r in range(N_PROC)]
    assert all(torch.equal(finals[0][k], f[k]) for f in finals[1:] for k in f)
    backbone = [k for k in start if k.startswith('backbone.')]
    assert backbone and all(torch.equal(start[k], finals[0][k]) for k in backbone)
    assert any(not torch.equal(start[k], finals[0][k]) for k in start if k.startswith('head.'))


@needs_ddp
def test_supervised_only_rank0_prints_and_recorder_is_averaged(supervised_run):
    _assert_rank0_prints_the_table(supervised_run)
    # mean_over_ranks averages during the fit, and is the identity for one rank alone afterwards (no hang)
    for r in range(N_PROC):
        rec = supervised_run[r]['record']
        assert rec['rank_means'] == [{'rank': (N_PROC - 1) / 2, 'note': None}] * EPOCHS
        assert rec['process_group_after_fit']
    assert supervised_run[0]['record']['alone_after_fit'] == {'rank': 0.}
    # fastai gathers the losses and its metrics: every rank records the same values (up to float32 rounding)
    vals = [supervised_run[r]['record']['values'] for r in range(N_PROC)]
    assert len(vals[0]) == EPOCHS and all(row == pytest.approx(row0, rel=1e-5) for v in vals for row, row0 in zip(v, vals[0]))


@needs_ddp
def test_supervised_validation_scores_each_series_once(supervised_run):
    """10 validation series, shares of 5, batches of 4: each rank reads its own share (tsai read an unshuffled batch as
    a slice past it, so ranks scored other ranks' series and, with batches of different sizes, could not gather)."""
    rec = supervised_run[0]['record']
    preds = rec['preds']
    # fastai gathers batch by batch (rank 0's first, rank 1's first, ...): the same series, in another order
    assert preds['n'] == 10 and sorted(preds['targets']) == sorted(preds['valid_targets'])
    # and each of the 10 once: the labels alone (5 'a', 5 'b') would not tell a series scored twice from one left out
    X = np.random.default_rng(0).standard_normal((33, 3, 40)).astype(np.float32)   # the worker's data
    mean, std = rec['standardize']['mean'][0], rec['standardize']['std'][0]
    np.testing.assert_allclose(sorted(preds['first_values']), sorted((X[23:33, 0, 0] - mean) / std), rtol=1e-4, atol=1e-5)


def _assert_rank0s_standardization_everywhere(res):
    "`TSStandardize` fitted on one batch sees another batch on each rank (own seeds): the ranks must share rank 0's."
    stats = [res[r]['record']['standardize'] for r in range(N_PROC)]
    assert all(s == stats[0] for s in stats[1:]), stats


@needs_ddp
def test_supervised_ranks_standardize_alike(supervised_run): _assert_rank0s_standardization_everywhere(supervised_run)


@needs_ddp
def test_pretraining_ranks_standardize_alike(pretrain_run): _assert_rank0s_standardization_everywhere(pretrain_run[1])


def _encoder_saves(res, rank):
    return [s for s in res[rank]['saves'] if 'timemae_encoder' in s]


@needs_ddp
def test_pretraining_ranks_end_identical(pretrain_run):
    _, res = pretrain_run
    _assert_same_on_every_rank(res)
    rec = res[0]['record']
    assert rec['model_type'] == 'TimeMAEPretrainer' and rec['loss_type'] == 'TimeMAELoss'
    # backbone, decoupled encoder (decoder + mask token), tokenizer and momentum target are all compared
    prefixes = {k.split('.')[0] for k in res[0]['final']}
    assert {'backbone', 'decoder', 'mask_token', 'tokenizer', 'target'} <= prefixes, prefixes
    # the momentum target moved away from its start (EMA ran) and is the same on every rank
    assert any(not torch.equal(res[0]['init'][k], res[0]['final'][k]) for k in res[0]['final'] if k.startswith('target.'))


@needs_ddp
def test_pretraining_only_rank0_prints_and_writes_the_encoder(pretrain_run):
    out, res = pretrain_run
    _assert_rank0_prints_the_table(res)
    assert len(_encoder_saves(res, 0)) >= 1
    for r in range(1, N_PROC): assert _encoder_saves(res, r) == [], f'rank {r} wrote the encoder: {_encoder_saves(res, r)}'
    files = sorted(p.name for p in (out / 'models').iterdir())
    assert files == ['timemae_encoder.pth', 'timemae_encoder_state.pth'], files  # no temporary file left behind
    saved = torch.load(out / 'models' / 'timemae_encoder.pth', weights_only=True)
    saved = saved.get('state_dict', saved) if isinstance(saved, dict) else saved
    final = res[0]['final']  # the saved encoder is the final backbone
    backbone = {k: v for k, v in final.items() if k.startswith('backbone.')}
    assert saved.keys() == backbone.keys()
    for k, v in saved.items(): assert torch.equal(v, backbone[k]), k


@needs_ddp
def test_ranks_seeded_alike_draw_their_own_masks(ddp_runs):
    """A user's script seeds every process alike (or not at all: torch's default seed is fixed), yet each rank must
    mask its share of the batch differently, or the global batch holds one mask pattern once per process."""
    tmp_path = ddp_runs / 'same_seed'
    masks = [torch.load(tmp_path / f'masks{rank}.pt') for rank in range(N_PROC)]
    assert len(masks[0]) == len(masks[1]) > 0
    first = [torch.cat([t.flatten().float() for t in m[0] if isinstance(t, torch.Tensor)]) for m in masks]
    assert first[0].shape == first[1].shape and not torch.equal(first[0], first[1]), 'both ranks drew the same masks'
    # their own draws, one model: the weights, the tokenizer's centroids and every buffer still agree after the fit
    finals = [torch.load(tmp_path / f'final{rank}.pt') for rank in range(N_PROC)]
    differ = [k for k in finals[0] if not torch.equal(finals[0][k], finals[1][k])]
    assert not differ, f'parameters or buffers differ across ranks after fit: {differ}'


@needs_ddp
def test_the_pretraining_state_holds_every_ranks_own_random_state(pretrain_run):
    "Each rank seeds itself differently; resuming must give each rank its own streams back, not rank 0's."
    from tsai_timemae.pretrain import _rng_states_of_rank
    out, _ = pretrain_run
    state = torch.load(out / 'models' / 'timemae_encoder_state.pth', weights_only=False)
    by_rank = state['rng_by_rank']
    assert len(by_rank) == N_PROC and torch.equal(state['rng']['torch'], by_rank[0]['torch'])
    for r in range(N_PROC): assert torch.equal(by_rank[r]['torch'], torch.load(out / f'rng{r}.pt')), f'rank {r}'
    assert not torch.equal(by_rank[0]['torch'], by_rank[1]['torch'])
    assert _rng_states_of_rank(state, 1, N_PROC) is by_rank[1]
    assert _rng_states_of_rank(state, 1, 3) is by_rank[0]                 # another number of processes: rank 0's


@needs_ddp
def test_pretraining_history_is_averaged_over_ranks(pretrain_run):
    "The callback's history (training and validation MCC/MRR parts, losses) is a mean over ranks: the same on every rank."
    _, res = pretrain_run
    hist = [res[r]['record']['history'] for r in range(N_PROC)]
    assert len(hist[0]) == EPOCHS and all(h == hist[0] for h in hist)
    assert [row['epoch'] for row in hist[0]] == list(range(EPOCHS))
    assert all(type(row['epoch']) is int for row in hist[0])  # not averaged into floats


@needs_ddp
def test_pretraining_progress_columns_are_averaged_over_ranks(pretrain_run):
    _, res = pretrain_run
    vals = [res[r]['record']['values'] for r in range(N_PROC)]
    names = res[0]['record']['names'][1:]
    differ = sorted({n for v in vals[1:] for row0, row in zip(vals[0], v) for n, a, b in zip(names, row0, row)
                     if a != pytest.approx(b, rel=1e-5)})
    assert not differ, f'recorded columns differ across ranks (rank-local values, not averaged): {differ}'
    hist = res[0]['record']['history']  # and the table shows what the history keeps (fastai's moving average of the
    for row, h in zip(vals[0], hist):   # training loss as `train_loss_smooth`: its `train_loss` is the exact mean)
        for n, v in zip(names, row):
            key = 'train_loss_smooth' if n == 'train_loss' else n
            if key in h: assert v == pytest.approx(h[key], rel=1e-5), n


@needs_ddp
def test_pretraining_perplexity_pools_the_code_counts_of_every_rank(pretrain_run):
    """`ppl` and `mcc_norm` (training and validation) come from the code counts of all ranks together, as one
    process would count them: a mean of per-rank perplexities reads low when the ranks see different codes."""
    from tsai_timemae.pretrain import code_stats
    _, res = pretrain_run
    hist, local = res[0]['record']['history'], [res[r]['record']['local_code_sums'] for r in range(N_PROC)]
    for epoch, row in enumerate(hist):
        for split, prefix in (('train', 'train_'), ('valid', '')):
            sums = [local[r][epoch][split] for r in range(N_PROC)]
            assert sums[0]['code_counts'] != sums[1]['code_counts']  # the ranks did see different codes
            pooled = code_stats(torch.tensor([s['code_counts'] for s in sums]).sum(0), sum(s['ce_sum'] for s in sums),
                                sum(s['n_codes'] for s in sums))
            per_rank = [code_stats(**s)['ppl'] for s in sums]
            assert row[prefix + 'ppl'] == pytest.approx(pooled['ppl'], rel=1e-6), (split, epoch, per_rank)
            assert row[prefix + 'mcc_norm'] == pytest.approx(pooled['mcc_norm'], rel=1e-6), (split, epoch)
            assert pooled['ppl'] != pytest.approx(sum(per_rank) / N_PROC, rel=1e-6)  # the mean would differ


N_VALID = 7  # the worker's validation series: DistributedDL pads them to 8, so rank 1 scores the first one again


def _assert_validation_counts_each_series_once(res, *, repeat_alone: bool):
    """Every epoch's validation columns are means over the 7 validation series, each counted once: the ranks' counted
    batches hold 7 series, `valid_loss` is their loss per series, and the validation code counts (`ppl`, `mcc_norm`)
    pool 7 series' masked patches, not 8."""
    names = res[0]['record']['names']
    for epoch in range(EPOCHS):
        batches = [b for r in range(N_PROC) for b in res[r]['record']['valid_batches'][epoch]]
        counted = [b for b in batches if b['counted']]
        assert sum(b['n'] for b in counted) == N_VALID, batches
        # a batch of the repeat alone still runs (every rank must take part in the forward pass) but is not counted
        assert any(not b['counted'] and b['n'] == 1 for b in res[1]['record']['valid_batches'][epoch]) == repeat_alone
        for col, key in (('valid_loss', 'loss'), ('mrr', 'mrr')):  # a loss part column as fastai's valid_loss
            per_series = sum(b[key] * b['n'] for b in counted) / N_VALID
            for r in range(N_PROC):
                assert res[r]['record']['values'][epoch][names.index(col) - 1] == pytest.approx(per_series, rel=1e-5), col
        local = [res[r]['record']['local_code_sums'][epoch]['valid'] for r in range(N_PROC)]
        per_series = local[0]['n_codes'] / sum(b['n'] for b in res[0]['record']['valid_batches'][epoch] if b['counted'])
        assert sum(s['n_codes'] for s in local) == pytest.approx(N_VALID * per_series)


@needs_ddp
def test_pretraining_validation_counts_each_series_once(pretrain_run):
    "Rank 1's last validation batch holds 3 series and a repeat of the first: the repeat is cut off before the loss."
    _, res = pretrain_run
    assert [b['n'] for b in res[1]['record']['valid_batches'][0]] == [3]
    _assert_validation_counts_each_series_once(res, repeat_alone=False)


@needs_ddp
def test_pretraining_validation_batch_of_the_repeat_alone_is_not_counted(pretrain_tail_run):
    "In batches of 3, rank 1's last validation batch is the repeat alone: it runs on one series and counts for none."
    assert [b['n'] for b in pretrain_tail_run[1]['record']['valid_batches'][0]] == [3, 1]
    _assert_validation_counts_each_series_once(pretrain_tail_run, repeat_alone=True)


@needs_ddp
def test_pretraining_without_a_validation_split(ddp_runs):
    """Pretraining on every series, with no validation split, works in one process (the training loss is the monitor);
    data-parallel, fastai's DistributedDL divided by the empty validation loader's size after the first epoch."""
    tmp_path = ddp_runs / 'pretrain_novalid'
    res = _results(tmp_path)
    _assert_same_on_every_rank(res)
    assert 'training loss' in res[0]['stdout'] and 'no validation loss' in res[0]['stdout'], res[0]['stdout']
    history = res[0]['record']['history']
    assert len(history) == EPOCHS and all(h['train_mrr'] == h['train_mrr'] for h in history)  # numbers, not NaN
    assert _encoder_saves(res, 0) and _encoder_saves(res, 1) == []
    assert sorted(p.name for p in (tmp_path / 'models').iterdir()) == ['timemae_encoder.pth', 'timemae_encoder_state.pth']


def test_padded_in_batch_counts_the_repeats_that_end_the_last_shares():
    """Every batch of fastai's own `DistributedDL` (its broadcast stubbed: one process plays each rank): the repeats
    `padded_in_batch` counts are the batch's indices past the data set's end, also when they fill several ranks' shares."""
    from fastai.data.load import DataLoader
    from fastai.distributed import DistributedDL

    from tsai_timemae.distributed import padded_in_batch
    found = 0
    for n, world, bs in [(7, 2, 4), (7, 2, 3), (7, 3, 2), (5, 4, 2), (1, 2, 1), (1, 4, 2), (8, 2, 3)]:
        scored, repeats = set(), 0  # the series already scored, by the ranks in order: a second time is a repeat
        for rank in range(world):
            ddl = DistributedDL(DataLoader(list(range(n)), bs=bs), rank=rank, world_size=world)
            ddl._broadcast = lambda t, rank: list(t)
            ddl.before_iter()
            share = ddl.get_idxs()
            for start in range(0, len(share), bs):
                b = share[start:start + bs]
                ddl.i = start + len(b)  # where `after_batch` leaves it when the learner sees the batch
                expected = sum(i in scored for i in b)
                scored.update(b)
                assert padded_in_batch(ddl, len(b)) == expected, (n, world, bs, rank, b)
                repeats += expected
        assert scored == set(range(n)) and repeats == -(-n // world) * world - n
        found += repeats
    assert found > 0
    assert padded_in_batch(object(), 4) == 0  # another loader: nothing to cut


def test_single_process_is_a_no_op():
    "Without a launcher the context manager yields the learner untouched and means are the values themselves."
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    learn = Learner(DataLoaders(device='cpu'), torch.nn.Linear(1, 1), loss_func=torch.nn.MSELoss())
    with timemae_distrib_ctx(learn) as l: assert l is learn and type(l.model) is torch.nn.Linear
    vals = {'mcc': 1.5, 'note': None}
    assert mean_over_ranks(vals) == vals
    sums = sum_over_ranks({'code_counts': torch.tensor([3, 0, 1]), 'n_codes': 4}, learn)
    assert torch.equal(sums['code_counts'], torch.tensor([3., 0., 1.], dtype=torch.float64)) and float(sums['n_codes']) == 4


_NO_ACCELERATE = '''
import importlib.abc, os, sys
class NoAccelerate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'accelerate': raise ModuleNotFoundError(f'No module named {name!r}')
sys.meta_path.insert(0, NoAccelerate())
import tsai_timemae.all, tsai_timemae.distributed as d
from fastai.data.core import DataLoaders
from fastai.learner import Learner
import torch
assert not d.accelerate_available()
learn = Learner(DataLoaders(device='cpu'), torch.nn.Linear(1, 1), loss_func=torch.nn.MSELoss())
with d.timemae_distrib_ctx(learn): pass  # one process: nothing to do
os.environ['WORLD_SIZE'] = '2'
try:
    with d.timemae_distrib_ctx(learn): pass
except ImportError as e: assert 'pip install' in str(e); print('ok')
'''


def test_imports_without_accelerate():
    "accelerate is optional: the library imports without it, and only a launched run asks for it."
    r = subprocess.run([sys.executable, '-c', _NO_ACCELERATE], capture_output=True, text=True, timeout=120,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0 and r.stdout.strip().endswith('ok'), r.stdout[-1000:] + r.stderr[-3000:]


@pytest.mark.skipif(not accelerate_available(), reason='needs accelerate')
def test_patch_is_idempotent():
    from fastai.distributed import DistributedDL

    from tsai_timemae.distributed import patch_distributed_dl_for_cpu
    patch_distributed_dl_for_cpu()
    patched = DistributedDL._broadcast
    assert patch_distributed_dl_for_cpu() is False and DistributedDL._broadcast is patched
    from tsai_timemae.distributed import patch_distributed_dl_for_empty_loaders
    patch_distributed_dl_for_empty_loaders()
    patched = DistributedDL.get_idxs
    assert patch_distributed_dl_for_empty_loaders() is False and DistributedDL.get_idxs is patched
    assert patched._fastai is not patched  # fastai's own, not the patch calling itself


def test_rank_share_batches_are_read_by_index_and_leave_the_loader_as_it_was():
    """`DistributedDL`'s batches of a tsai validation loader: this rank's indices in their order (the padded share
    [4, 5, 6, 0] ends with a repeat of the first series; `sort=True` must not move it, or unpadding drops a real
    series), and nothing is left on the loader: loaders made from it later read their own data."""
    from types import SimpleNamespace
    import numpy as np
    from tsai.all import get_ts_dls
    from tsai_timemae.distributed import _create_batches_of_rank_share
    X = np.arange(10 * 2 * 4, dtype=np.float32).reshape(10, 2, 4)
    dls = get_ts_dls(X, splits=(list(range(3)), list(range(3, 10))), bs=2)
    valid = dls.valid
    valid.sort = True
    before = dict(vars(valid))
    batches = list(_create_batches_of_rank_share(SimpleNamespace(dl=valid), [4, 5, 6, 0]))
    got = [np.asarray(b[0]) for b in batches]
    expected = X[3:][[4, 5, 6, 0]]
    assert len(got) == 2 and np.array_equal(np.concatenate(got), expected)
    # only what any iteration sets (the batch's indices, the dataset's iterator); no method, shuffle and sort as they were
    assert set(vars(valid)) - set(before) <= {'idxs', 'input_idxs', 'it'} and 'create_batch' not in vars(valid)
    assert valid.shuffle is False and valid.sort is True
    new = valid.new_dl(np.full((3, 2, 4), -1., dtype=np.float32))
    assert np.array_equal(np.asarray(new.one_batch()[0]), np.full((3, 2, 4), -1.))


def test_a_batch_larger_than_each_processs_share_is_refused_before_anything_trains(basic_motions):
    """fastai's DistributedDL gives each process ceil(n / world) series and drops an incomplete training batch: a bs
    above that share trained on nothing (NaN loss, the untrained encoder saved as pretrained). One process caps bs."""
    from tsai.all import get_ts_dls
    from tsai_timemae.distributed import check_rank_share
    import numpy as np
    X = np.concatenate([basic_motions[0], basic_motions[2]])[:64]
    dls = get_ts_dls(X, splits=(list(range(64)), []), bs=48)
    with pytest.raises(ValueError, match=r'With 2 processes each gets 32 of the 64 training series, fewer than the batch '
                                         r'size bs=48.*Pass bs=32 or less'):
        check_rank_share(dls.train, 2)
    check_rank_share(dls.train, 1)                                         # one process: tsai's own loader
    check_rank_share(get_ts_dls(X, splits=(list(range(64)), []), bs=32).train, 2)
    # tsai's partial_n: an epoch draws 32 series, which the processes share (bs 24 passed and no process trained)
    half = get_ts_dls(X, splits=(list(range(64)), []), bs=24, partial_n=0.5)
    with pytest.raises(ValueError, match=r'each gets 16 of the 32 training series drawn per epoch \(partial_n=32\), fewer '
                                         r'than the batch size bs=24.*Pass bs=16 or less'):
        check_rank_share(half.train, 2)


def test_more_processes_than_gpus_is_refused_with_the_fix(monkeypatch):
    "The process of LOCAL_RANK 1 on a machine with one GPU got torch's 'invalid device ordinal', which names no fix."
    from tsai_timemae import distributed
    monkeypatch.setattr(distributed, 'num_distrib', lambda: 2)
    monkeypatch.setattr(distributed, 'accelerate_available', lambda: True)
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: pytest.fail(f'set_device({d}) with one GPU'))
    with pytest.raises(ValueError, match=r'2 processes were launched on a machine with 1 GPU\(s\), so the process of '
                                         r'LOCAL_RANK=1 has none: launch at most 1 .*cpu=True'):
        with distributed.timemae_distrib_ctx(object()): pass
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    with pytest.raises(ValueError, match=r'cpu=False asks for GPU processes, but torch sees no GPU here: pass cpu=True'):
        with distributed.timemae_distrib_ctx(object(), cpu=False): pass


def test_only_rank_0_shows_the_packages_warnings_and_an_error_filter_stops_every_rank(monkeypatch):
    "Every launched process runs the same script on the same data: each showed every warning again, word for word."
    import warnings
    from tsai_timemae.notices import TimeMAEWarning, timemae_warn
    for blanket in (False, True):  # with and without tsai's blanket ignore in the filters
        for rank, world, shown in (('0', '2', 1), ('1', '2', 0), ('1', None, 1)):  # RANK alone: no launcher, one process
            monkeypatch.setenv('RANK', rank)
            if world is None: monkeypatch.delenv('WORLD_SIZE', raising=False)
            else: monkeypatch.setenv('WORLD_SIZE', world)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                if blanket: warnings.filterwarnings('ignore', category=UserWarning)
                timemae_warn('said once')
            assert len([w for w in caught if w.category is TimeMAEWarning]) == shown, (blanket, rank)
            with warnings.catch_warnings():
                warnings.simplefilter('error', TimeMAEWarning)
                if blanket: warnings.filterwarnings('ignore', category=UserWarning)
                with pytest.raises(TimeMAEWarning, match='said once'): timemae_warn('said once')


def test_sync_bn_is_passed_on_and_refused_on_cpu_processes(monkeypatch):
    "fastai's own spelling, `distrib_ctx(sync_bn=...)`, gave a raw TypeError (sync_bn given twice)."
    from tsai_timemae import distributed
    monkeypatch.setattr(distributed, 'num_distrib', lambda: 2)
    monkeypatch.setattr(distributed, 'accelerate_available', lambda: True)
    with pytest.raises(ValueError, match='sync_bn=True converts BatchNorm layers to SyncBatchNorm, which needs CUDA'):
        with distributed.timemae_distrib_ctx(object(), cpu=True, sync_bn=True): pass


@pytest.fixture(scope='module')
def refused_runs(tmp_path_factory):
    "The launch whose fits must be refused (the last one ends it): what the launch printed, and the folder."
    out = tmp_path_factory.mktemp('ddp_refused')
    return _launch(out, 'refused_fits,different_data'), out


@needs_ddp
def test_lr_find_inside_the_context_and_fastais_own_context_are_refused_on_every_rank(refused_runs):
    """lr_find inside timemae_distrib_ctx hung every process until the launcher's timeout; fastai's `learn.distrib_ctx`
    passed as 'inside the context' and failed at the first batch with 'Found no NVIDIA driver' (on GPUs: each rank
    standardised with its own statistics, without a word)."""
    r, out = refused_runs
    for rank in range(N_PROC):
        refused = json.loads((out / 'refused_fits' / f'refused{rank}.json').read_text())
        assert 'lr_find inside timemae_distrib_ctx would hang' in refused['lr_find'] and 'with python' in refused['lr_find']
        assert "runs under fastai's learn.distrib_ctx" in refused['fastai_ctx'], refused['fastai_ctx']
        assert 'timemae_distrib_ctx(learn)' in refused['fastai_ctx']


@needs_ddp
def test_processes_that_built_different_data_are_refused_before_training(refused_runs):
    "A split drawn without a seed differs per process: some ranks would train on others' validation series."
    r, tmp_path = refused_runs
    tmp_path = tmp_path / 'different_data'
    assert r.returncode != 0 and not list(tmp_path.glob('trained*.txt'))
    assert "processes built different data: rank 1's training series are not rank 0's" in r.stderr, r.stderr[-3000:]
    assert 'random_state=0' in r.stderr


@needs_ddp
def test_a_state_written_by_two_processes_resumes_in_one(pretrain_run, tmp_path):
    """The state listed the transforms of fastai's DistributedDL wrapper (none), so resuming it in one process (or one
    process's state in two) was refused as 'other settings (tfms.after_batch: [] there, ['TSStandardize'] now)'."""
    import shutil
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    out = pretrain_run[0]
    state = torch.load(out / 'models' / 'timemae_encoder_state.pth', weights_only=False)
    assert state['world_size'] == 2 and [t.split('(')[0] for t in state['settings']['tfms']['after_batch']] == ['TSStandardize']
    shutil.copytree(out / 'models', tmp_path / 'models')
    X = np.random.default_rng(0).standard_normal((33, 3, 40)).astype(np.float32)   # the worker's data and settings
    set_seed(100)
    dls = get_ts_dls(X, splits=(list(range(23)), list(range(23, 30))), bs=4, batch_tfms=TSStandardize(by_var=True))
    cb = TimeMAEPretrain(target_dir=tmp_path / 'models', n_decoder_layers=1, momentum=0.9, save_every=1, resume=True)
    learn = ts_learner(dls, TimeMAE, cbs=cb, window=8, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(EPOCHS, 1e-3)     # finished there: nothing trains
    assert len(cb.history) == EPOCHS
    # a state written by two processes before the fix lists no transforms: it resumes, unchecked on them
    state['settings']['tfms'] = {'after_item': [], 'after_batch': []}
    torch.save(state, tmp_path / 'models' / 'timemae_encoder_state.pth')
    learn = ts_learner(dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path / 'models', n_decoder_layers=1, momentum=0.9,
                                                         save_every=1, resume=True), window=8, d_model=16, n_layers=1,
                       n_heads=2, d_ff=32)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(EPOCHS, 1e-3)


def test_a_fit_under_the_launcher_outside_the_context_is_refused_with_the_fix(udls, monkeypatch, tmp_path):
    "torchrun sets WORLD_SIZE; without timemae_distrib_ctx fastai failed at the first batch: 'Default process group ...'."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), **SMALL)
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(RuntimeError, match=r'launched in 2 processes .* not inside timemae_distrib_ctx\(learn\)'):
        learn.fit(1, 1e-3)
    with pytest.raises(RuntimeError, match='lr_find too'):
        learn.lr_find(show_plot=False)
    # after the context its process group lives on: validate and get_preds on every process work and pass, while a
    # fit would train each process on its own copy without a word, and is refused
    from tsai_timemae.distributed import check_fit_inside_context
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    with pytest.raises(RuntimeError, match='not inside timemae_distrib_ctx'):
        check_fit_inside_context(learn)
    check_fit_inside_context(learn, training=False)


def test_the_commands_refuse_to_run_under_the_launcher(monkeypatch, capsys):
    from tsai_timemae.cli import main
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert main(['demo', '--draws', '0']) == 2                # refused before its own checks (draws 0 is one)
    assert 'run it without torchrun' in capsys.readouterr().err
