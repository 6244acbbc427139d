"""A code lens over each model: parameters and input -> output (``cnnshape.codeLens.enabled``)."""

from __future__ import annotations

from lsprotocol import types

from ...analysis.result import shown_models
from ...display import lens_title


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls, params: types.CodeLensParams) -> list[types.CodeLens]:
        located = await ls.locate(params.text_document.uri)
        if located is None or not located[0].settings.code_lens_enabled:
            return []
        snapshot, frame = located  # a notebook's cell: the models whose line is in it
        lenses = []
        for model in shown_models(snapshot.analysis.models):  # a block is shown through its instances
            if not frame.holds(max(model.line, 1)):
                continue
            line = max(model.line - 1 - frame.offset, 0)
            where = types.Range(start=types.Position(line=line, character=0),
                                end=types.Position(line=line, character=0))
            lenses.append(types.CodeLens(range=where, command=types.Command(
                title=lens_title(model, snapshot.settings.batch_name), command="cnnshape.showSummary",
                arguments=[params.text_document.uri, model.name])))
        return lenses
