"""Document lifecycle and configuration: open, change, close, settings changes."""

from __future__ import annotations

from lsprotocol import types


def register(server) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:
        ls.init_options = params.initialization_options

    @server.feature(types.INITIALIZED)
    async def initialized(ls, params: types.InitializedParams) -> None:
        await ls.refresh_configuration()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        if params.text_document.language_id not in ("python", "", None):
            return
        ls.analyze(params.text_document.uri)
        if ls.verifier is not None and ls.verifier.client is None:
            # the torch worker (its torch import and warm-up) starts with the first file, while the user reads
            # it: not with the server, which an editor may start for a folder no model is ever opened in
            ls.verifier.start_warm(ls.settings(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyze(uri)
        for other in ls.dependents_of(uri):
            ls.analyze(other)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        for other in ls.dependents_of(params.text_document.uri):
            ls.analyze(other)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        state = ls.documents.pop(params.text_document.uri, None)
        if state is not None and state.pending is not None:
            state.pending.cancel()
        if not ls.pull_diagnostics:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and "cnnshape" in settings and not ls.supports("workspace", "configuration"):
            ls.client_sections[""] = settings["cnnshape"]
            for uri in list(ls.documents):
                ls.analyze(uri)
            return
        await ls.refresh_configuration()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls, params=None) -> None:
        ls.scheduler.shutdown()
        if ls.verifier is not None:
            ls.verifier.shutdown()
