"""How much the frozen k-means codes moved when their statistics stopped counting the padding (session 49).

**Why.** Before session 49, `KMeansTokenizer` and `RandomProjectionTokenizer` fitted each channel's mean and std over
the raw patches *with* the zeros that pad a series' last patch to a whole window, and coded that padding as a raw 0.
They now fit over the series' own steps and read the padding as the channel's mean (`real_steps`). On inputs scaled
as the benchmarks scale them (`TSStandardize(by_var=True)` over the pretraining inputs) the channel means are about 0,
so the change is a uniform rescaling of each channel by sqrt(T / (T + padding)). This script measures what that did to
the codes every committed run was trained with: the share of patches whose code is unchanged and the adjusted Rand
index of the two codings (1: the same partition, whatever the code numbers), for each data set here, at the window
the bench uses and at the library's derived window (`auto_window`), with the library's default vocabulary.

    python benchmarks/tokenizer_padding.py            # under a minute; prints a markdown table

"Before" is the same tokenizer fitted without `real` (every value counts, padding coded as a raw 0): exactly the
earlier statistics, apart from the flat-channel rule, which no channel here meets.
"""
import argparse

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from tsai_timemae.data import load_dataset
from tsai_timemae.model import auto_window
from tsai_timemae.probe import probe_defaults
from tsai_timemae.tokenizers import default_vocab_size, make_tokenizer, raw_patches, real_steps

# the names the bench knows them by, so that each gets the bench's window
DATASETS = ('HAR', 'Epilepsy', 'UWaveGestureLibrary', 'BasicMotions', 'ECG200', 'UEA/Epilepsy', 'GunPoint', 'JapaneseVowels')


def compare(X: torch.Tensor, window: int, seed: int = 0) -> dict:
    "Codes of the tokenizer fitted with and without the padding marked, on the pretraining inputs `X` `[n, c, T]`."
    n, c, T = X.shape
    p = raw_patches(X, window).flatten(-2)                                # [n, patches, c * window]
    real = real_steps(T, window, c).expand(p.shape)
    vocab = default_vocab_size('kmeans', p.shape[0] * p.shape[1])
    flat, flat_real = p.reshape(-1, p.shape[-1]), real.reshape(-1, p.shape[-1])
    make = lambda: make_tokenizer('kmeans', d_model=8, vocab_size=vocab, c_in=c, window=window, seed=seed)
    after = make().fit(flat, flat_real).frozen_codes(p, real[0]).reshape(-1).numpy()
    before = make().fit(flat).frozen_codes(p).reshape(-1).numpy()
    return {'pad': (-T) % window, 'vocab': vocab, 'same': float((after == before).mean()),
            'ari': float(adjusted_rand_score(before, after))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print('| data set | length | window | padding steps | codes | codes unchanged | adjusted Rand index |')
    print('|---|---|---|---|---|---|---|')
    for name in DATASETS:
        ds = load_dataset(name, require_test=False)
        X = torch.from_numpy(np.concatenate([ds.X_train, ds.X_valid]).astype('float32'))
        X = (X - X.mean((0, 2), keepdim=True)) / X.std((0, 2), keepdim=True)  # TSStandardize(by_var=True), every input
        T = X.shape[-1]
        windows = {}
        for window, which in ((probe_defaults(name, T)['window'], 'bench'), (auto_window(T), 'derived')):
            windows.setdefault(window, []).append(which)
        for window, which in sorted(windows.items()):
            r = compare(X, window)
            print(f"| {name} | {T} | {window} ({', '.join(which)}) | {r['pad']} | {r['vocab']} | {100 * r['same']:.1f}% | {r['ari']:.3f} |",
                  flush=True)


if __name__ == '__main__':
    main()
