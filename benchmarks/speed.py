"""`python benchmarks/speed.py [options]` is `timemae speed [options]`: the speed and memory benchmark (issue 4).
Defaults write results, plot and speed.md to benchmarks/speed/; `--help` lists the options."""
import argparse
import sys

from tsai_timemae.speed import add_args, run

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    add_args(parser)
    sys.exit(run(parser.parse_args()))
