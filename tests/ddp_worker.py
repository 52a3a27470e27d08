"""One process of a distributed run, launched by tests/test_distributed.py:

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py OUT_DIR MODE[,MODE...] [EPOCHS]

MODE is one of supervised, pretrain, pretrain_tail, pretrain_novalid, same_seed, refused_fits, different_data. Several modes run one
after another in the same processes (each from its own seed, into OUT_DIR/MODE), so the suite pays the two processes'
start (importing tsai: about 12 s) once for all of them; a single mode writes into OUT_DIR itself.

Each rank seeds itself differently (so only the distributed wrapping can make the models equal), trains a tiny
TimeMAE on tiny synthetic data (the same data on every rank) inside `timemae_distrib_ctx`, and writes into OUT_DIR:
`init{rank}.pt` / `final{rank}.pt` (the model's state before and after the fit; a supervised run then fits FineLast
too: `finelast_init{rank}.pt` / `finelast_final{rank}.pt`), `stdout{rank}.txt` (what the fit
printed), `saves{rank}.txt` (every `torch.save` target, one a line) and `record{rank}.json` (the recorder's names
and values, and the pretraining callback's history); a pretraining run also saves its whole state every epoch
(`save_every=1`) and writes `rng{rank}.pt`, the rank's torch random state after each epoch (the last one stays).
`pretrain_tail` pretrains as `pretrain` does, with validation batches of 3 (rank 1's last one is a padding repeat
alone), and records each rank's validation batches; `pretrain_novalid` without a validation split. `same_seed` seeds every rank alike, as a user's script does, pretrains one epoch and writes only `masks{rank}.pt`, the
masks that rank drew, and `final{rank}.pt`. `refused_fits` writes `refused{rank}.json`, what `lr_find` inside the context and a fit
under fastai's own `distrib_ctx` raised. `different_data` gives rank 1 another split, which must be refused."""
import contextlib
import json
import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

import numpy as np  # noqa: E402
from fastai.torch_core import get_model, rank_distrib, set_seed  # noqa: E402


_SAVES_LOG = []  # the file the current mode's `torch.save` targets go to


def _log_saves(path: Path):
    "Record where every `torch.save` of this process writes (a path, or an open file's name) into `path` from now on."
    if not _SAVES_LOG:
        save = torch.save
        def logged(obj, f, *args, **kwargs):
            name = getattr(f, 'name', f)
            if isinstance(name, int): name = os.readlink(f'/proc/self/fd/{name}')  # a file opened with os.fdopen
            with open(_SAVES_LOG[-1], 'a') as log: print(name, file=log)
            return save(obj, f, *args, **kwargs)
        torch.save = logged
    _SAVES_LOG.append(path)
    path.touch()


def _rank_mean_recorder():
    "A callback that averages each rank's number with `mean_over_ranks` after every epoch of the fit."
    from fastai.callback.core import Callback

    from tsai_timemae.distributed import mean_over_ranks

    class RankMean(Callback):
        order = 60  # after the Recorder
        def before_fit(self): self.means = []
        def after_epoch(self): self.means.append(mean_over_ranks({'rank': float(rank_distrib()), 'note': None}, self.learn))
    return RankMean()


def _state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in get_model(model).state_dict().items()}


def main(out: Path, mode: str, epochs: int = 2):
    from tsai.all import TSClassification, TSStandardize, accuracy, get_ts_dls, ts_learner

    from tsai_timemae.distributed import mean_over_ranks, timemae_distrib_ctx
    from tsai_timemae.model import TimeMAE

    rank = rank_distrib()
    _log_saves(out / f'saves{rank}.txt')
    rng = np.random.default_rng(0)  # the data: the same in every process
    X = rng.standard_normal((33, 3, 40)).astype(np.float32)
    y = np.array(['a', 'b'] * 17)[:33]
    splits = (list(range(23)), list(range(23, 30)))  # odd sizes: DistributedDL pads both
    # the model's initialisation, dropout, masks and the batch `TSStandardize` fits on: different in every process
    set_seed(100 + rank)
    standardize = TSStandardize(by_var=True)
    arch = dict(window=8, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    cb = None
    if mode == 'supervised':
        # 10 validation series in shares of 5, batches of 4: tsai read the second batch as a slice of 4 past the share
        splits = (splits[0], list(range(23, 33)))
        dls = get_ts_dls(X, y, splits=splits, tfms=[None, TSClassification()], bs=4, batch_tfms=standardize)
        learn = ts_learner(dls, TimeMAE, metrics=accuracy, **arch)
    elif mode in ('pretrain', 'pretrain_tail', 'pretrain_novalid'):
        from tsai_timemae.pretrain import TimeMAEPretrain
        if mode == 'pretrain_novalid': splits = (splits[0], [])  # every series trains: no validation loader
        # 7 validation series in shares of 4: rank 1's share ends with a repeat of the first series. In batches of 4
        # (pretrain) that batch holds 3 series and the repeat; in batches of 3 (pretrain_tail) it is the repeat alone
        dls = get_ts_dls(X, splits=splits, bs=4 if mode == 'pretrain' else [4, 3], batch_tfms=standardize)
        cb = TimeMAEPretrain(target_dir=out / 'models', n_decoder_layers=1, momentum=0.9, save_every=1)
        learn = ts_learner(dls, TimeMAE, cbs=cb, **arch)
        from fastai.callback.core import Callback
        class RngAfterEpoch(Callback):
            order = 99  # after the pretraining state is written: what that state must hold for this rank
            def after_epoch(self): torch.save(torch.get_rng_state(), out / f'rng{rank}.pt')
        learn.add_cb(RngAfterEpoch())
        class LocalCodeSums(Callback):
            "This rank's own code counts and cross-entropies of each epoch, before the callback pools them over ranks."
            order = cb.order - 1
            def before_fit(self): self.rows = []
            def after_epoch(self):
                valid = next(m for m in cb.part_metrics if m.part == 'ppl').sums
                self.rows.append({split: {k: torch.as_tensor(sums[k]).tolist() for k in ('code_counts', 'ce_sum', 'n_codes')}
                                  for split, sums in (('train', cb._train_sums), ('valid', valid))})
        local_sums = LocalCodeSums()
        learn.add_cb(local_sums)
        class ValidBatches(Callback):
            "Each validation batch this rank scored: its series, its loss, and whether its loss parts were counted."
            order = 99
            def before_fit(self): self.epochs = []
            def before_validate(self): self.epochs.append([])
            def after_loss(self):
                if self.training: return
                last = self.loss_func.last
                self.epochs[-1].append({'n': int(self.xb[0].shape[0]), 'loss': float(self.loss), 'counted': 'mrr' in last,
                                        'mrr': float(last['mrr']) if 'mrr' in last else None})
        valid_batches = ValidBatches()
        learn.add_cb(valid_batches)
    elif mode == 'same_seed':  # as a user's script: one seed in every process; record the masks each rank draws
        from tsai_timemae import pretrain
        set_seed(0)
        dls = get_ts_dls(X, splits=splits, bs=4, batch_tfms=standardize)
        learn = ts_learner(dls, TimeMAE, cbs=pretrain.TimeMAEPretrain(target_dir=out / 'models', n_decoder_layers=1), **arch)
        draw, masks = pretrain.MASKINGS['random'], []
        def logged(*args, **kwargs):
            out_ = draw(*args, **kwargs)
            masks.append([t.cpu() if isinstance(t, torch.Tensor) else t for t in (out_ if isinstance(out_, tuple) else (out_,))])
            return out_
        pretrain.MASKINGS['random'] = logged
        try:
            with open(os.devnull, 'w') as f, contextlib.redirect_stdout(f), timemae_distrib_ctx(learn):
                learn.fit_one_cycle(1, 1e-3)
        finally: pretrain.MASKINGS['random'] = draw  # the modes after this one draw as before
        torch.save(masks, out / f'masks{rank}.pt')
        torch.save(_state(learn.model), out / f'final{rank}.pt')
        return
    elif mode == 'refused_fits':  # two fits refused before their first batch on every rank: lr_find inside the context
        from tsai_timemae.pretrain import TimeMAEPretrain  # (it hung), and a fit under fastai's own distrib_ctx
        import fastai.distributed  # noqa: F401  (adds Learner.distrib_ctx)
        dls = get_ts_dls(X, splits=splits, bs=4, batch_tfms=standardize)
        learn = ts_learner(dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=out / 'models', n_decoder_layers=1), **arch)
        refused = {}
        for name, ctx, fit in (('lr_find', timemae_distrib_ctx, lambda: learn.lr_find(show_plot=False)),
                               ('fastai_ctx', lambda l: l.distrib_ctx(sync_bn=False, cpu=True), lambda: learn.fit_one_cycle(1, 1e-3))):
            try:
                with ctx(learn): fit()
                refused[name] = None
            except RuntimeError as e: refused[name] = str(e)
        (out / f'refused{rank}.json').write_text(json.dumps(refused))
        return
    elif mode == 'different_data':  # as a split drawn without a seed: each process its own (here rank 1 swaps two series)
        from tsai_timemae.pretrain import TimeMAEPretrain
        if rank == 1: splits = (splits[0][1:] + splits[1][:1], splits[1][1:] + splits[0][:1])
        dls = get_ts_dls(X, splits=splits, bs=4, batch_tfms=standardize)
        learn = ts_learner(dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=out / 'models', n_decoder_layers=1), **arch)
        with timemae_distrib_ctx(learn): learn.fit_one_cycle(1, 1e-3)
        (out / f'trained{rank}.txt').write_text('trained')  # never reached: the context refuses first
        return
    else:
        raise SystemExit(f'unknown mode {mode!r}')
    torch.save(_state(learn.model), out / f'init{rank}.pt')
    with open(out / f'stdout{rank}.txt', 'w') as f, contextlib.redirect_stdout(f):
        rank_mean = _rank_mean_recorder()
        with timemae_distrib_ctx(learn):
            learn.fit_one_cycle(epochs, 1e-3, cbs=rank_mean)
            rec = learn.recorder
            values = [[float(v) if v is not None else None for v in row] for row in rec.values]
            # on every rank: fastai gathers them (and the inputs, which say which series each prediction is of)
            preds = learn.get_preds(with_input=True) if mode == 'supervised' else None
    torch.save(_state(learn.model), out / f'final{rank}.pt')
    record = {'names': list(rec.metric_names), 'values': values,
              'model_type': type(learn.model).__name__, 'loss_type': type(learn.loss_func).__name__,
              'rank_means': rank_mean.means, 'process_group_after_fit': torch.distributed.is_initialized(),
              'standardize': {'mean': standardize.mean.flatten().tolist(), 'std': standardize.std.flatten().tolist()}}
    if preds is not None:
        inputs, probs, targets = preds
        record['preds'] = {'n': len(probs), 'targets': targets.tolist(), 'valid_targets': [int(t) for _, t in dls.valid_ds],
                           'first_values': inputs[:, 0, 0].tolist()}  # each scored series' first step (scaled)
    if rank == 0:  # one rank alone, after the distributed fit: must not wait for the others
        record['alone_after_fit'] = mean_over_ranks({'rank': 0.}, learn)
    if cb is not None:
        record['history'] = getattr(cb, 'history', None)
        record['weights_path'] = str(getattr(cb, 'weights_path', None))
        record['local_code_sums'] = local_sums.rows
        record['valid_batches'] = valid_batches.epochs
    (out / f'record{rank}.json').write_text(json.dumps(record, default=str))
    if mode == 'supervised':  # then FineLast in the same processes: the encoder frozen (FreezeEncoder), the head trains
        from tsai_timemae.transfer import FreezeEncoder
        learn = ts_learner(dls, TimeMAE, metrics=accuracy, cbs=FreezeEncoder(), **arch)
        torch.save(_state(learn.model), out / f'finelast_init{rank}.pt')
        with open(os.devnull, 'w') as f, contextlib.redirect_stdout(f), timemae_distrib_ctx(learn):
            learn.fit_one_cycle(1, 1e-2)
        torch.save(_state(learn.model), out / f'finelast_final{rank}.pt')


if __name__ == '__main__':
    out, modes = Path(sys.argv[1]), sys.argv[2].split(',')
    for mode in modes:
        where = out / mode if len(modes) > 1 else out
        where.mkdir(exist_ok=True)
        print(f"[ddp_worker] rank {os.environ.get('RANK', '?')}: mode {mode}", file=sys.stderr, flush=True)  # names a failure
        main(where, mode, *map(int, sys.argv[3:]))
        (where / f"done{os.environ.get('RANK', 0)}").touch()  # this mode finished on this rank
