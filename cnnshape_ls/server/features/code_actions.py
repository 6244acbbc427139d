"""Quick fixes for each fixable diagnostic, ``source.fixAll.cnnshape``, and "Annotate layer shapes"."""

from __future__ import annotations

from lsprotocol import types

from ...analysis.edits import fixes_to_apply
from ...display import CannotAnnotate, annotate_edits
from ..convert import OtherFiles, diagnostic, fix_edit, read_file, workspace_edit
from ..notebooks import cells_edit

FIX_ALL = "source.fixAll.cnnshape"
ANNOTATE = "source.annotate.cnnshape"


def annotate_edit(ls, uri: str, snapshot) -> types.WorkspaceEdit:
    """The ``# out:`` comments ``cnnshape annotate`` writes (none in a buffer that does not tokenize)."""
    try:
        edits = [e.edit for e in annotate_edits(snapshot.analysis, snapshot.text, snapshot.settings.batch_name)]
    except CannotAnnotate:
        edits = []
    return document_edit(ls, uri, snapshot, edits)


def document_edit(ls, uri: str, snapshot, edits) -> types.WorkspaceEdit:
    """Edits of the analyzed text as a workspace edit: of the file ``uri``, or of a notebook's cells."""
    if snapshot.cells is not None:
        return cells_edit(ls.workspace.position_codec, snapshot, edits)
    return workspace_edit(ls.workspace.position_codec, snapshot.lines, uri, edits)


def fix_all_edit(ls, uri: str, snapshot) -> types.WorkspaceEdit | None:
    """The fixes ``cnnshape check --fix`` applies (one pass of it): never a fix of another file (an imported
    block's), which is left to the quick fix the user picks."""
    edits = [edit for fix in fixes_to_apply(snapshot.text, snapshot.findings) for edit in fix.edits]
    if not edits:
        return None
    return document_edit(ls, uri, snapshot, edits)


def register(server) -> None:
    kinds = [types.CodeActionKind.QuickFix, FIX_ALL, ANNOTATE]

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=kinds))
    async def code_actions(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        located = await ls.locate(uri)
        if located is None:
            return []
        snapshot, frame = located  # a notebook's cell: its part of the notebook's program
        only = params.context.only or []

        def wanted(kind: str) -> bool:
            return not only or any(kind == k or kind.startswith(str(k) + ".") for k in only)

        codec = ls.workspace.position_codec
        actions: list[types.CodeAction] = []
        first, last = frame.program_line(params.range.start.line), frame.program_line(params.range.end.line)
        if wanted(types.CodeActionKind.QuickFix):
            others = OtherFiles(ls.workspace.text_documents, read_file)
            changes = ls.supports("workspace", "workspace_edit", "document_changes")
            for finding in snapshot.findings:
                if not finding.fixes or finding.span.end_line < first or finding.span.line > last:
                    continue
                if not frame.holds(finding.span.line):
                    continue
                diag = diagnostic(codec, snapshot.lines, finding, snapshot.settings.batch_name, others,
                                  uri if frame.count is None else None)  # a cell: related places left out
                diag.range = frame.range(diag.range)
                # a fix of another file is never preferred: editors apply preferred fixes without a pick
                preferred = not finding.fixes[0].elsewhere
                for i, fix in enumerate(finding.fixes):
                    actions.append(types.CodeAction(
                        title=fix.title, kind=types.CodeActionKind.QuickFix, diagnostics=[diag],
                        is_preferred=preferred and i == 0,
                        edit=cells_edit(codec, snapshot, fix.edits, others) if snapshot.cells is not None else
                        fix_edit(codec, snapshot.lines, uri, snapshot.version, fix, others, changes)))
        if wanted(FIX_ALL):
            edit = fix_all_edit(ls, uri, snapshot)
            if edit is not None:
                actions.append(types.CodeAction(title="Fix all shape errors (cnnshape)", kind=FIX_ALL, edit=edit))
        if wanted(ANNOTATE) and snapshot.analysis.models:
            actions.append(types.CodeAction(title="Annotate layer shapes", kind=ANNOTATE,
                                            edit=annotate_edit(ls, uri, snapshot)))
        return actions
