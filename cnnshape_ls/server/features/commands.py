"""Commands editors bind: annotate the file, show a model summary, re-analyze."""

from __future__ import annotations

from lsprotocol import types

from ...display import model_summary
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
        args = _arguments(args)
        uri = _first(args)
        name = args[1] if isinstance(args, list) and len(args) > 1 else None
        snapshot = await ls.snapshot(uri, wait=True) if uri else None
        if snapshot is None:
            return ""
        text = "\n\n".join(model_summary(m, snapshot.settings.batch_name) for m in snapshot.analysis.models
                           if name in (None, m.name))
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info,
                                                       message=text.replace("**", "").replace("`", "")))
        return text

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
