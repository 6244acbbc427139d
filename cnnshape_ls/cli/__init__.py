"""The ``cnnshape`` command line: ``check``, ``annotate`` and ``serve``.

``cnnshape-ls`` and ``python -m cnnshape_ls`` start the language server (:func:`serve_main`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import warnings
from collections.abc import Sequence

from .. import __version__

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from .check import add_analysis_options

    parser = argparse.ArgumentParser(
        prog="cnnshape", description="Static shape analysis for PyTorch models: every layer's output shape, "
                                     "and the mistakes torch would only report at run time.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="analyse files or folders and report shapes and problems",
                                description="Analyse files or folders. Exit 0 when clean, 1 when shape errors are "
                                            "found, 2 on a usage or I/O error.")
    add_analysis_options(check)
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                       help="text: a per-layer table and diagnostics; json: the contract's form; sarif: SARIF 2.1.0")
    check.add_argument("--fix", action="store_true",
                       help="apply the preferred fix of each error and refresh stale # out: comments, in place")
    verify = check.add_mutually_exclusive_group()
    verify.add_argument("--verify", dest="verify", action="store_true",
                        help="also run the models under torch on the meta device (in a separate process) "
                             "and merge what it finds")
    verify.add_argument("--no-verify", dest="verify", action="store_false", help="static analysis only (default)")
    check.set_defaults(verify=False, handler="cnnshape_ls.cli.check")

    annotate = commands.add_parser("annotate", help="write or refresh # out: comments on layer lines",
                                   description="Write or refresh '# out: (BS, 16, 6, 6)' comments at the end of "
                                               "each layer line.")
    add_analysis_options(annotate)
    annotate.add_argument("--check", action="store_true",
                          help="change nothing; list missing or stale comments and exit 1 if there are any")
    annotate.set_defaults(handler="cnnshape_ls.cli.annotate")

    serve = commands.add_parser("serve", help="start the language server on stdio (or --tcp HOST:PORT)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    serve.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``cnnshape COMMAND ...``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:  # argparse: --help, --version, or a usage error (exit code 2)
        return int(exit_.code or 0) if isinstance(exit_.code, int) or exit_.code is None else EXIT_USAGE
    if args.command == "serve":
        return _serve(["--tcp", args.tcp] if args.tcp else (["--stdio"] if args.stdio else []))
    # the analysed code may hold invalid escapes: parsing it must not print Python's warnings
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    module = importlib.import_module(args.handler)
    return module.run(args)


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``cnnshape-ls`` and ``python -m cnnshape_ls``: the language server."""
    return _serve(list(argv) if argv is not None else sys.argv[1:])


ENTRY_POINTS = ("main", "serve_main", "run")
SERVER_MODULES = ("cnnshape_ls.server", "cnnshape_ls.server.server")


def _server_entry():
    """The function that starts the language server: ``main``, ``serve_main`` or ``run`` of the server package."""
    for name in SERVER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is not None and name.startswith(err.name):
                continue  # that module is not there (yet)
            raise
        for attr in ENTRY_POINTS:
            start = getattr(module, attr, None)
            if callable(start):
                return start
    return None


def _serve(argv: list[str]) -> int:
    try:
        start = _server_entry()
    except ImportError as err:
        print(f"cnnshape: the language server cannot start: {err}", file=sys.stderr)
        return EXIT_USAGE
    if start is None:
        print("cnnshape: the language server is not part of this version yet (no cnnshape_ls.server entry point)",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        takes_argv = bool(inspect.signature(start).parameters)
    except (TypeError, ValueError):
        takes_argv = True
    try:
        result = start(argv) if takes_argv else start()
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("cnnshape_ls."):
            raise
        print(f"cnnshape: the language server is incomplete in this version: {err}", file=sys.stderr)
        return EXIT_USAGE
    return result if isinstance(result, int) else 0


__all__ = ["build_parser", "main", "serve_main"]
