"""One module per LSP feature; each registers its handlers on the server."""

from __future__ import annotations

from . import code_actions, code_lens, commands, diagnostics, documents, hover, inlay_hints, notebook_documents


def register_all(server) -> None:
    for feature in (documents, notebook_documents, diagnostics, inlay_hints, hover, code_actions, code_lens,
                    commands):
        feature.register(server)
