"""python -m train {emotion,seatbelt,eyes,phone} ...: train a model; python -m train soup RUN RUN ...: average
runs of one network. See each module's docstring."""

import argparse
import logging
import sys

from dmsd.errors import DmsdError


def main(argv: list[str] | None = None) -> int:
    from train import emotion, eyes, phone, seatbelt, soup

    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    tasks = parser.add_subparsers(dest="task", required=True)
    for name, module in (
        ("emotion", emotion),
        ("seatbelt", seatbelt),
        ("eyes", eyes),
        ("phone", phone),
        ("soup", soup),
    ):
        sub = tasks.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except DmsdError as exc:
        print(f"python -m train: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
