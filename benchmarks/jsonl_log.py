"""One JSON object per line: the append-only results of the ablation scripts (`benchmarks/ablation/*.jsonl`), each
line one run, written when that run ends, so a stopped script keeps every run it finished."""
import fcntl
import json
import os
from pathlib import Path

from tsai_timemae.weights import atomic_write


def log_record(record: dict, path) -> None:
    """Print the record and add it to `path` as one line. The file is rewritten whole and renamed into place, not
    appended to: a script stopped while writing leaves the file as it was, never a torn line that the next record
    would be glued onto (and lost with). Scripts run side by side into one file take turns (a lock on its folder),
    so each rewrite starts from the last one's file and no record is lost."""
    line = json.dumps(record)
    print(line, flush=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # released when the descriptor closes, also if the process dies
        old = path.read_bytes() if path.exists() else b''
        if old and not old.endswith(b'\n'): old += b'\n'
        atomic_write(path, lambda f: f.write(old + line.encode() + b'\n'))
    finally: os.close(folder)


def read_records(path) -> list[dict]:
    "Every record of `path`; a line that is not JSON is named, with what to do about it."
    records = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip(): continue
        try: records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f'line {i} of {path} is not JSON ({e}): a run stopped while writing it? Delete that line '
                             'and rerun the command that made it.') from None
    return records
