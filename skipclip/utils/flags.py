"""argparse the same way in every command: one name per idea, old names kept as hidden aliases
for a release, and help that shows a default only where there is one. Imports nothing of skipclip.

``add_with_aliases(parser, "--new", ["--old"], ...)`` accepts ``--old`` as a second spelling that
``--help`` does not list; :func:`renamed_in` finds the old spellings in a command line, so the CLI
can say what they are now called.
"""

from __future__ import annotations

import argparse
import re

# old spelling -> new spelling, filled by alias() as the commands build their parsers
RENAMED: dict[str, str] = {}


def alias(action: argparse.Action, *old: str) -> argparse.Action:
    """Accept ``old`` spellings for ``action`` (added with ``add_argument``), hidden from ``--help``.

    The action must have been added to a parser whose ``_option_string_actions`` then also maps
    the old spellings; :func:`add_with_aliases` does both.
    """
    action.hidden_aliases = tuple(old)
    for name in old:
        RENAMED[name] = action.option_strings[0]
    return action


def add_with_aliases(parser, names, old=(), **kwargs) -> argparse.Action:
    """``parser.add_argument(*names, *old, **kwargs)`` with ``old`` hidden from ``--help``."""
    names = [names] if isinstance(names, str) else list(names)
    if "dest" in kwargs and "action" not in kwargs and "choices" not in kwargs:
        kwargs.setdefault("metavar", names[0].lstrip("-").upper().replace("-", "_"))  # not the old dest's name
    return alias(parser.add_argument(*names, *old, **kwargs), *old)


def renamed_in(argv: list[str]) -> list[tuple[str, str]]:
    """``(old, new)`` for each renamed flag spelled the old way in ``argv`` (before ``--``)."""
    found = []
    for token in argv:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        if name in RENAMED and (name, RENAMED[name]) not in found:
            found.append((name, RENAMED[name]))
    return found


_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj):`~?([^`]+)`")


def plain(text: str) -> str:
    """Docstring text as plain text for ``--help``: Sphinx roles become the bare name
    (``:class:`~a.b.C``` -> ``C``), double backquotes go."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return text.replace("``", "")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with:

    - ``(default: X)`` only where there is a default worth saying: not for ``None``, ``False``,
      empty lists, or help that already names its default;
    - hidden aliases left out of the option list;
    - Sphinx markup removed from descriptions.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or "default" in text
            or "%(default)" in text
            or not action.option_strings
            or isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction, argparse._VersionAction))
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "hidden_aliases", ())
        if not hidden:
            return super()._format_action_invocation(action)
        shown = argparse.Action(
            [s for s in action.option_strings if s not in hidden],
            action.dest,
            nargs=action.nargs,
            metavar=action.metavar,
            choices=action.choices,
        )
        return super()._format_action_invocation(shown)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(plain(text), width, indent)


__all__ = ["HelpFormatter", "RENAMED", "add_with_aliases", "alias", "plain", "renamed_in"]
