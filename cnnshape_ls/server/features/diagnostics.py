"""Diagnostics pulled by clients that pull them (the server pushes them to the others when an analysis lands)."""

from __future__ import annotations

from lsprotocol import types

from ..convert import snapshot_diagnostics


def items(server, snapshot, uri: str | None = None) -> list[types.Diagnostic]:
    return snapshot_diagnostics(server.workspace, snapshot, uri)


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC,
                    types.DiagnosticOptions(identifier="cnnshape", inter_file_dependencies=True,
                                            workspace_diagnostics=False))
    async def pull(ls, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        if not ls.is_open(uri):
            return types.RelatedFullDocumentDiagnosticReport(items=[])  # not opened: not read from disk either
        if uri not in ls.documents:
            ls.analyze(uri)
        snapshot = await ls.snapshot(uri, wait=True)
        found = items(ls, snapshot, uri) if snapshot is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=found)
