"""The language server: documents, settings and the analysis schedule; features live in ``features/``."""

from __future__ import annotations

import traceback
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .. import __version__
from ..analysis.imports import FileModuleLoader
from ..analysis.libraries import LibrarySources
from ..settings import Settings, settings_for
from .convert import snapshot_diagnostics
from .notebooks import NOTEBOOK_SYNC, Frame, cell_frames, frame_diagnostics, frame_of, notebook_of, program_of
from .protocol import CnnshapeProtocol
from .state import DocumentState, Scheduler, Snapshot


def uri_to_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None  # untitled: buffers have no file
    return unquote(parsed.path)


class CnnshapeServer(LanguageServer):
    """Holds per-document state; no global mutable state anywhere."""

    def __init__(self) -> None:
        super().__init__("cnnshape-ls", __version__, protocol_cls=CnnshapeProtocol,
                         notebook_document_sync=NOTEBOOK_SYNC)
        self.exit_code = 0
        """What the process exits with: 1 when the client sent ``exit`` without ``shutdown``."""
        self.documents: dict[str, DocumentState] = {}
        self.scheduler = Scheduler()
        self.init_options: Any = None
        self.client_sections: dict[str, Any] = {}
        """workspace/configuration answers by folder URI ("" for the whole workspace)."""
        self.reported_problems: set[str] = set()
        self.verifier: Any = None
        self.libraries: dict[Path | None, LibrarySources] = {}
        """Installed packages' sources by project folder, kept across analyses (lookups cost)."""
        self.published_cells: dict[str, dict[str, tuple]] = {}
        """What was last pushed to each notebook's cells, by cell URI: (version, diagnostics)."""

    # ------------------------------------------------------------------ capabilities of the client
    @property
    def pull_diagnostics(self) -> bool:
        caps = self.client_capabilities.text_document
        return caps is not None and caps.diagnostic is not None

    def supports(self, *path: str) -> bool:
        node: Any = self.client_capabilities
        for part in path:
            node = getattr(node, part, None)
            if node is None:
                return False
        return bool(node)

    # ------------------------------------------------------------------ folders and settings
    def folders(self) -> list[str]:
        return [f.uri for f in self.workspace.folders.values()] if self.workspace.folders else (
            [self.workspace.root_uri] if self.workspace.root_uri else [])

    def folder_of(self, uri: str) -> str | None:
        matches = [f for f in self.folders() if uri.startswith(f.rstrip("/") + "/")]
        return max(matches, key=len) if matches else None

    def settings(self, uri: str) -> Settings:
        path = uri_to_path(uri)
        folder = self.folder_of(uri)
        section = self.client_sections.get(folder or "", self.client_sections.get(""))
        stop = Path(uri_to_path(folder) or "/") if folder else None
        settings = settings_for(Path(path) if path else None, self.init_options, section, stop)
        for problem in settings.problems:
            if problem not in self.reported_problems:
                self.reported_problems.add(problem)
                self.log(problem, types.MessageType.Warning)
        return settings

    async def refresh_configuration(self) -> None:
        """Ask the client for the ``cnnshape`` section, per folder; re-analyze on change."""
        if not self.supports("workspace", "configuration"):
            return
        scopes = self.folders() or [""]
        try:
            items = [types.ConfigurationItem(section="cnnshape", scope_uri=s or None) for s in scopes]
            answers = await self.workspace_configuration_async(types.ConfigurationParams(items=items))
        except Exception as err:  # noqa: BLE001 - a client without the section: keep the defaults
            self.log(f"workspace/configuration failed: {err}")
            return
        for scope, answer in zip(scopes, answers or []):
            self.client_sections[scope] = answer
        for state in list(self.documents.values()):
            self.analyze(state.uri)

    # ------------------------------------------------------------------ documents
    def state(self, uri: str) -> DocumentState:
        if uri not in self.documents:
            self.documents[uri] = DocumentState(uri, uri_to_path(uri))
        return self.documents[uri]

    def loader(self) -> FileModuleLoader:
        roots = tuple(Path(p) for p in (uri_to_path(f) for f in self.folders()) if p)
        overlay = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            path = uri_to_path(uri)
            if path:
                overlay[path] = doc.source
        project = roots[0] if roots else None
        if project not in self.libraries:
            self.libraries[project] = LibrarySources(project)
        return FileModuleLoader(roots, overlay, self.libraries[project])

    def is_open(self, uri: str) -> bool:
        return unquote(uri) in self.workspace.text_documents

    def owner(self, uri: str) -> str:
        """The document analyzed for ``uri``: the notebook of a notebook's cell, else ``uri`` itself."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return notebook.uri if notebook is not None else uri

    def analyze(self, uri: str) -> None:
        """Analyze an open document; never one the client did not open (that would read it from disk).
        A notebook, or a cell of one, analyzes the notebook's cells as one program."""
        notebook = notebook_of(self.workspace, uri)
        if notebook is not None:
            workspace = self.workspace
            self.scheduler.schedule(self.state(notebook.uri), notebook.version,
                                    lambda: program_of(workspace, notebook), self.settings(notebook.uri),
                                    self.on_landed, self.on_error, self.loader())
            return
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            return
        state = self.state(uri)
        self.scheduler.schedule(state, document.version, lambda: document.source, self.settings(uri),
                                self.on_landed, self.on_error, self.loader())

    def dependents_of(self, uri: str) -> list[str]:
        """Open documents that may import ``uri`` (by module name): re-analyze them when it changes."""
        path = uri_to_path(uri)
        if not path:
            return []
        stem = Path(path).stem
        return [u for u, s in self.documents.items() if u != uri and s.snapshot is not None and stem in s.snapshot.text]

    async def on_landed(self, state: DocumentState, snapshot: Snapshot) -> None:
        """A new analysis: show it, then let torch check it."""
        self.show(state, snapshot)
        if self.verifier is not None:
            self.verifier.schedule(state, snapshot)

    async def on_verified(self, state: DocumentState, snapshot: Snapshot) -> None:
        """Torch's answer merged into the snapshot: show it again."""
        self.show(state, snapshot)

    def show(self, state: DocumentState, snapshot: Snapshot) -> None:
        """Diagnostics out (or a refresh for pulling clients), and hints and lenses asked for again."""
        if snapshot.cells is not None:
            # a notebook's cells are pushed to even where the client pulls: VS Code (vscode-languageclient 9)
            # pulls the diagnostics of documents open in tabs, and a notebook's cells are not
            self.publish_cells(state.uri, snapshot)
        elif not self.pull_diagnostics:
            found = snapshot_diagnostics(self.workspace, snapshot, state.uri)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=state.uri, diagnostics=found, version=snapshot.version))
        elif self.supports("workspace", "diagnostics", "refresh_support"):
            self.workspace_diagnostic_refresh(None)
        if self.supports("workspace", "inlay_hint", "refresh_support"):
            self.workspace_inlay_hint_refresh(None)
        if self.supports("workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)

    def publish_cells(self, notebook_uri: str, snapshot: Snapshot | None) -> None:
        """A notebook's diagnostics, pushed cell by cell: only to cells whose diagnostics or version changed
        since the last push (an edit in one cell changes one cell's, usually); a cell that left the notebook
        is cleared."""
        frames = cell_frames(snapshot) if snapshot is not None else []
        last = self.published_cells.get(notebook_uri, {})
        shown: dict[str, tuple] = {}
        for frame in frames:
            document = self.workspace.text_documents.get(unquote(frame.uri))
            version = document.version if document is not None else None
            found = frame_diagnostics(self.workspace, snapshot, frame)
            shown[frame.uri] = (version, [(d.range, d.message, d.severity, d.code, d.source) for d in found])
            if last.get(frame.uri) != shown[frame.uri]:
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                    uri=frame.uri, diagnostics=found, version=version))
        for gone in set(last) - set(shown):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
        self.published_cells[notebook_uri] = shown

    def on_error(self, err: BaseException) -> None:
        self.log("analysis failed: " + "".join(traceback.format_exception(err))[-2000:], types.MessageType.Error)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # noqa: BLE001 - not connected (tests), nothing to do
            pass

    async def snapshot(self, uri: str, wait: bool = False) -> Snapshot | None:
        """The last analysis of ``uri``; before the first one has landed, wait for it (a client asking
        for hints right after opening a file would otherwise get none, and not every client refreshes)."""
        state = self.documents.get(self.owner(uri))
        if state is None:
            return None
        if wait or state.snapshot is None:
            return await self.scheduler.wait(state)
        return state.snapshot

    async def locate(self, uri: str, wait: bool = False) -> tuple[Snapshot, Frame] | None:
        """The last analysis holding ``uri`` and where ``uri`` is in it: a file is all of its snapshot, a
        notebook's cell its part of the notebook's program."""
        snapshot = await self.snapshot(uri, wait)
        if snapshot is None:
            return None
        frame = frame_of(snapshot, uri)
        return (snapshot, frame) if frame is not None else None

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors go to the log, never to a popup."""
        self.log(f"cnnshape-ls error: {error!r}", types.MessageType.Error)


def create_server() -> CnnshapeServer:
    from .features import register_all
    from .verification import Verifier

    server = CnnshapeServer()
    server.verifier = Verifier(server)
    register_all(server)
    return server


def run(tcp: str | None = None) -> int:
    """Serve on stdio, or on ``tcp`` (``HOST:PORT``, already checked by the command line's parser)."""
    # the user's code may hold invalid escapes: parsing it must not print warnings into the log
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    server = create_server()
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return server.exit_code


__all__ = ["CnnshapeServer", "create_server", "run"]
