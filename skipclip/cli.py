"""The ``skipclip`` command. Each subcommand lives in ``skipclip/commands/<name>.py`` and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports (torch,
PyAV) stay inside ``run`` so that ``--help`` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module; a command is listed in the order a new user meets it
COMMANDS = [
    "demo",
    "synth",
    "pretrain",
    "prepare",
    "doctor",
    "finetune",
    "evaluate",
    "export",
    "features",
    "reproduce",
    "visualize",
    "bench",
    "config",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skipclip",
        description=(
            "Skip-Clip: self-supervised video representation learning by ranking future frames "
            "against a context clip. Start with `skipclip demo`."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from skipclip._version import __version__
    from skipclip.commands.flags import HelpFormatter

    parser.add_argument("--version", action="version", version=f"skipclip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"skipclip.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"skipclip.commands.{name}":
                continue  # not built yet
            raise
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=HelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def setup_logging() -> None:
    """skipclip's own log lines (what a YAML file merged onto, an unused GPU, a skipped video) on
    stderr, INFO and above, once per process."""
    import logging

    logger = logging.getLogger("skipclip")
    if any(getattr(h, "_skipclip", False) for h in logger.handlers):
        return

    class Format(logging.Formatter):
        def format(self, record):
            text = record.getMessage()
            return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"

    class Stderr(logging.StreamHandler):  # the sys.stderr of the moment (tests swap it)
        stream = property(lambda self: sys.stderr, lambda self, value: None)

    handler = Stderr()
    handler.setFormatter(Format())
    handler._skipclip = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 never kills a report
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    from skipclip.commands.flags import renamed_in

    for old, new in renamed_in(sys.argv[1:] if argv is None else argv):
        print(f"skipclip: note: {old} is now {new}; the old name goes in a later release", file=sys.stderr)
    setup_logging()
    from skipclip.commands.defaults import check_data
    from skipclip.errors import SkipClipError

    try:
        check_data(getattr(args, "data", None))  # before any heavy import: a wrong path fails at once
    except SkipClipError as exc:
        print(f"skipclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    from skipclip.utils.quiet import quiet_lightning

    quiet_lightning()  # no "GPU available" banners or tips in any command
    from skipclip.utils.malloc import keep_freed_memory

    keep_freed_memory()  # ~12-15 % faster CPU steps: no page faults for each step's activations
    import warnings

    from skipclip.utils.quiet import one_line_warnings

    one_line_warnings()  # skipclip's own: one line, no source
    # a deprecation inside Lightning's own code, not the user's to act on
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)`.*")
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from skipclip.errors import Terminated

    try:
        return int(args._module.run(args) or 0)
    except SkipClipError as exc:  # the user's to fix: one line; anything else is a bug, with its traceback
        print(f"skipclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:  # SIGTERM: a scheduler's preemption or `kill`; the run is marked interrupted
        print(f"skipclip {args.command}: terminated (SIGTERM); --resume continues the run", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"skipclip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
