"""A/B timing of one TimeMAE pretraining step (HAR shape: 9 x 128, batch 128, default model and TimeMAEPretrain) in
whichever source tree comes first on PYTHONPATH, one thread. Run it alternately against two checkouts, e.g. to see
that a refactor of the callback costs nothing:

    git worktree add /tmp/before <commit>
    for i in 1 2 3; do for t in /tmp/before .; do PYTHONPATH=$t OMP_NUM_THREADS=1 python benchmarks/speed_ab.py; done; done

It prints the median and fastest step (ms) after three warm-up steps; compare the two trees within one run only."""
import sys, time, warnings
warnings.filterwarnings('ignore')
import numpy as np, torch
torch.set_num_threads(1)
from fastai.callback.core import Callback
from tsai.all import get_ts_dls, ts_learner, TSStandardize
from tsai_timemae.all import TimeMAE, TimeMAEPretrain
import tsai_timemae
rng = np.random.default_rng(0)
X = rng.standard_normal((128 * 14, 9, 128)).astype('float32')
udls = get_ts_dls(X, splits=(list(range(128 * 13)), list(range(128 * 13, 128 * 14))), batch_tfms=[TSStandardize(by_var=True)], bs=128)
class T(Callback):
    order = 99
    def before_fit(self): self.times = []
    def before_batch(self):
        if self.training: self.t0 = time.perf_counter()
    def after_step(self): self.times.append(time.perf_counter() - self.t0)
t = T()
learn = ts_learner(udls, TimeMAE, cbs=[TimeMAEPretrain(save_best=False, verbose=False), t], seed=0)
with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
ms = np.array(t.times[3:]) * 1000
print(f"{tsai_timemae.__file__} step median {np.median(ms):.1f} ms, min {ms.min():.1f} ms, n {len(ms)}")
