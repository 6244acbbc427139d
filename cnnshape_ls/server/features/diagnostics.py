"""Diagnostics pulled by clients that pull them (the server pushes them to the others when an analysis lands)."""

from __future__ import annotations

from lsprotocol import types

from ..notebooks import Frame, frame_diagnostics


def items(server, snapshot, frame: Frame) -> list[types.Diagnostic]:
    """The diagnostics of the document ``frame`` shows: a file's, or a notebook cell's."""
    return frame_diagnostics(server.workspace, snapshot, frame)


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC,
                    types.DiagnosticOptions(identifier="cnnshape", inter_file_dependencies=True,
                                            workspace_diagnostics=False))
    async def pull(ls, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        if not ls.is_open(uri):
            return types.RelatedFullDocumentDiagnosticReport(items=[])  # not opened: not read from disk either
        if ls.owner(uri) not in ls.documents:
            ls.analyze(uri)
        located = await ls.locate(uri, wait=True)
        found = items(ls, *located) if located is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=found)
