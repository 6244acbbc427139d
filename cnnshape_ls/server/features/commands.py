"""Commands editors bind: annotate the file, show a model summary, re-analyze."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from lsprotocol import types

from ...analysis.labels import rename_batch
from .code_actions import annotate_edit


def register(server) -> None:
    @server.command("cnnshape.annotate")
    async def annotate(ls, *args) -> dict:
        args = _arguments(args)
        uri = _first(args)
        snapshot = await ls.snapshot(uri, wait=True) if uri else None  # a notebook's cell: the whole notebook
        if snapshot is None:
            return {"applied": False}
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=annotate_edit(ls, uri, snapshot), label="Annotate layer shapes"))
        return {"applied": bool(result and result.applied)}

    @server.command("cnnshape.showSummary")
    async def show_summary(ls, *args) -> str:
        """The summary of the model named in the second argument, or of every model of the file: text, not
        a message (the editor shows it once, where it chooses)."""
        args = _arguments(args)
        uri = _first(args)
        name = args[1] if isinstance(args, list) and len(args) > 1 else None
        snapshot = await ls.snapshot(uri, wait=True) if uri else None
        if snapshot is None:
            return ""
        # The per-layer table `cnnshape check` prints, as plain text (editors show it in a panel or float).
        from ...cli.check import model_header, model_table  # the CLI's, imported when first asked for

        display = unquote(urlparse(uri).path).rsplit("/", 1)[-1] or uri  # the file's name, as editors title it
        tables = ["\n".join([model_header(display, m), *model_table(m)]) for m in snapshot.analysis.models
                  if name in (None, m.name)]
        return rename_batch("\n\n".join(tables), snapshot.settings.batch_name)

    @server.command("cnnshape.reanalyze")
    def reanalyze(ls, *args) -> None:
        for uri in list(ls.documents):
            ls.analyze(uri)


def _arguments(args: tuple) -> list:
    """pygls passes a command's arguments one by one; older clients wrap them in one list."""
    if len(args) == 1 and isinstance(args[0], list):
        return args[0]
    return list(args)


def _first(args) -> str | None:
    if isinstance(args, list) and args:
        value = args[0]
        if isinstance(value, dict):
            return value.get("uri")
        return value if isinstance(value, str) else None
    return None
