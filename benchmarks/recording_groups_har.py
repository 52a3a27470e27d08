"""What `recording_groups` finds on HAR's training and validation windows, and so what `--by-recording` holds out.

UCI HAR cut each subject's recording into 128-step windows overlapping by half, and dropped the windows at activity
changes. `recording_groups` chains windows whose halves match exactly, so a dropped window ends a chain: the groups are
unbroken stretches of one activity (bouts), several per subject, and a `StratifiedGroupKFold` over them holds out bouts
while the same subjects stay in the fit set. The data here carry no subject ids, so the split by subject that would
hold out people cannot be made from them. Prints the number of groups, how many hold a single label, groups per label
and group sizes:

    python benchmarks/recording_groups_har.py
"""
import collections

import numpy as np

from tsai_timemae.bench import load_dataset
from tsai_timemae.data import recording_groups


def main():
    ds = load_dataset('HAR')
    X, y = np.concatenate([ds.X_train, ds.X_valid]), np.concatenate([ds.y_train, ds.y_valid])
    g = recording_groups(X)
    labels = collections.defaultdict(set)
    for gi, yi in zip(g, y): labels[gi].add(str(yi))
    sizes = np.bincount(g)
    print(f'{len(X)} training and validation windows of shape {X.shape[1:]}: {len(sizes)} groups')
    print(f'groups holding a single label: {sum(len(v) == 1 for v in labels.values())} of {len(sizes)}')
    per = collections.Counter(next(iter(v)) for v in labels.values() if len(v) == 1)
    print('groups per label: ' + ', '.join(f'{k}: {n}' for k, n in sorted(per.items())))
    print(f'windows per group: median {np.median(sizes):.0f}, min {sizes.min()}, max {sizes.max()}')


if __name__ == '__main__':
    main()
