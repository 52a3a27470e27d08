"""One JSON object per line: the append-only results of the ablation scripts (`benchmarks/ablation/*.jsonl`), each
line one run, written when that run ends, so a stopped script keeps every run it finished."""
import json
from pathlib import Path


def log_record(record: dict, path) -> None:
    "Print the record and append it to `path` as one line, in one write."
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, 'a') as fh: fh.write(line + '\n')


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
