"""A small pretraining run for tests/test_resume.py: BasicMotions (bundled with sktime), a tiny TimeMAE, 6 epochs of
fit_one_cycle, the whole state saved every epoch. `--kill-after K` ends the process with SIGKILL right after epoch K,
leaving a half-written temporary file as a kill during a write would; `--resume` runs the same call with resume=True."""
import argparse
import os
import signal
import tempfile

import torch
from fastai.callback.core import Callback
from fastai.torch_core import set_seed
from sktime.datasets import load_basic_motions
from tsai.all import TSStandardize, get_ts_dls, ts_learner

from tsai_timemae.all import TimeMAE, TimeMAEPretrain

p = argparse.ArgumentParser()
p.add_argument('out')
p.add_argument('--kill-after', type=int)
p.add_argument('--resume', action='store_true')
args = p.parse_args()
torch.set_num_threads(1)
set_seed(0, reproducible=True)  # before the data loaders: they draw their shuffling seed from Python's RNG

X, _ = load_basic_motions(split='train', return_type='numpy3D')
udls = get_ts_dls(X.astype('float32'), splits=(list(range(32)), list(range(32, 40))),
                  batch_tfms=[TSStandardize(by_var=True)], bs=8)
cb = TimeMAEPretrain(vocab_size=8, n_decoder_layers=1, target_dir=args.out, save_every=1, resume=args.resume, verbose=False)


class Crash(Callback):
    order = 99  # after the state of this epoch is written

    def after_epoch(self):
        if self.epoch != args.kill_after: return
        fd, _ = tempfile.mkstemp(dir=args.out, prefix=f'.timemae_encoder_state.pth.{os.getpid()}.', suffix='.tmp')
        os.write(fd, b'half a file'); os.close(fd)  # what a kill in the middle of the next write leaves behind
        os.kill(os.getpid(), signal.SIGKILL)


learn = ts_learner(udls, TimeMAE, cbs=cb, seed=0, window=10, d_model=16, n_layers=1, n_heads=2, d_ff=32)
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(6, 3e-3, cbs=[Crash()] if args.kill_after is not None else [])
