"""``python -m grader.samples``: the demo's sample submissions (``grader.course_release.samples``),
or ``--class N``, a synthetic class (``grader.course_release.samples_class``)."""
from __future__ import annotations

from pathlib import Path

from grader.course_release.samples import write_samples


def main(argv=None):
    """``python -m grader.samples``: the demo's samples; ``--class N``: a synthetic class
    (``grader.course_release.samples_class``) under ``--out``, with what its report must count."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.samples")
    parser.add_argument("--class", dest="size", type=int, default=None, metavar="N",
                        help="N synthetic submissions per lesson (complete, partial, blank, wrong)")
    parser.add_argument("--lessons", nargs="*", default=None, help="lessons of the class (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/class"))
    args = parser.parse_args(argv)
    if args.size is None:
        for path in write_samples():
            print(f"wrote {path}")
        return
    from grader.course_release.samples_class import write_class

    folder = write_class(args.size, args.out, args.lessons, args.seed)
    print(f"wrote {folder} and {args.out / 'expected.json'}")


if __name__ == "__main__":
    main()
