"""Diagnostics pulled by clients that pull them (the server pushes them to the others when an analysis lands)."""

from __future__ import annotations

from lsprotocol import types

from ..convert import view_diagnostics


def items(server, view) -> list[types.Diagnostic]:
    return view_diagnostics(server.workspace, view)


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC,
                    types.DiagnosticOptions(identifier="cnnshape", inter_file_dependencies=True,
                                            workspace_diagnostics=False))
    async def pull(ls, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        if uri not in ls.documents:
            ls.analyse(uri)
        view = await ls.view(uri, wait=True)
        found = items(ls, view) if view is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=found)
