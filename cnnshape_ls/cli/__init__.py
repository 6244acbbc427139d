"""The ``cnnshape`` command line: ``check``, ``annotate`` and ``serve``.

``cnnshape-ls`` and ``python -m cnnshape_ls`` start the language server (:func:`serve_main`).
"""

from __future__ import annotations

import argparse
import importlib
import os
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

    check = commands.add_parser(
        "check", help="analyze files or folders and report shapes and problems",
        description="Analyze files or folders. A folder is walked for *.py files and *.ipynb notebooks, leaving "
                    "out what .gitignore ignores (git itself is never run) and saying how many it left out; a "
                    "file named here is always checked.",
        epilog="exit codes: 0 clean (no shape errors); 1 shape errors found; 2 usage or I/O error, or nothing "
               "to check (no Python files found under the folders given).")
    add_analysis_options(check)
    check.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text",
                       help="text: a per-layer table and diagnostics; json: the contract's form; sarif: SARIF "
                            "2.1.0; github: GitHub Actions annotations (::error file=...,line=...::message)")
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
    add_serve_options(serve)
    serve.set_defaults(handler=None)
    return parser


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The server's options: the one place they are parsed, for ``cnnshape serve`` and ``cnnshape-ls`` alike."""
    parser.add_argument("--tcp", metavar="HOST:PORT", type=tcp_address,
                        help="listen on a TCP socket instead of stdio")
    parser.add_argument("--stdio", action="store_true", help="use stdio (the default)")


def tcp_address(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (or :PORT), not {text!r}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """``cnnshape COMMAND ...``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:  # argparse: --help, --version, or a usage error (exit code 2)
        return int(exit_.code or 0) if isinstance(exit_.code, int) or exit_.code is None else EXIT_USAGE
    if args.command == "serve":
        return _serve(args)
    # the analyzed code may hold invalid escapes: parsing it must not print Python's warnings
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    module = importlib.import_module(args.handler)
    try:
        return module.run(args)
    except BrokenPipeError:  # ``cnnshape check . | head``: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 128 + 13  # what a tool stopped by SIGPIPE exits with


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``cnnshape-ls`` and ``python -m cnnshape_ls``: the language server."""
    parser = argparse.ArgumentParser(prog="cnnshape-ls", description="the cnnshape language server")
    add_serve_options(parser)
    return _serve(parser.parse_args(list(argv) if argv is not None else sys.argv[1:]))


def _serve(args: argparse.Namespace) -> int:
    # imported here: the check and annotate commands never load pygls
    from ..server import run

    return run(args.tcp)


__all__ = ["build_parser", "main", "serve_main"]
