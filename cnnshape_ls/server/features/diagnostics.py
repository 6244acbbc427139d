"""Diagnostics: pushed with the document version to clients without pull support, pulled by the others."""

from __future__ import annotations

from lsprotocol import types

from ..convert import diagnostic


def items(server, view) -> list[types.Diagnostic]:
    codec = server.workspace.position_codec
    return [diagnostic(codec, view.lines, f, view.settings.batch_name) for f in view.findings]


def publish(server, state, view) -> None:
    if server.pull_diagnostics:
        if server.supports("workspace", "diagnostics", "refresh_support"):
            server.workspace_diagnostic_refresh(None)
        return
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=state.uri, diagnostics=items(server, view), version=view.version))


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC,
                    types.DiagnosticOptions(identifier="cnnshape", inter_file_dependencies=True,
                                            workspace_diagnostics=False))
    async def pull(ls, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        if not ls.is_open(uri):
            return types.RelatedFullDocumentDiagnosticReport(items=[])  # not opened: not read from disk either
        if uri not in ls.documents:
            ls.analyse(uri)
        view = await ls.view(uri, wait=True)
        found = items(ls, view) if view is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=found)
