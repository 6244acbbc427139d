"""Notebook document lifecycle (LSP 3.17 ``notebookDocument/*``): open, change, close.

pygls keeps the notebook and its cells' text in the workspace before these handlers run; each handler
(re)analyzes the notebook as one program (:mod:`cnnshape_ls.server.notebooks`).
"""

from __future__ import annotations

from lsprotocol import types


def register(server) -> None:
    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.analyze(params.notebook_document.uri)
        if ls.verifier is not None and ls.verifier.client is None:  # the torch worker starts with the first file
            ls.verifier.start_warm(ls.settings(params.notebook_document.uri))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeNotebookDocumentParams) -> None:
        ls.analyze(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        state = ls.documents.pop(uri, None)
        if state is not None and state.pending is not None:
            state.pending.cancel()
        ls.publish_cells(uri, None)  # clears every cell it pushed diagnostics to (pushed to whatever the client)
        ls.published_cells.pop(uri, None)
