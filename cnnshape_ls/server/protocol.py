"""The protocol's edges, where pygls 2.1 leaves a client without an answer or the log with a traceback.

- A request whose params do not fit the method's type: pygls fails while decoding, before it knows the
  request, logs a traceback and answers nothing. Here it is answered with ``InvalidParams``.
- A request after ``shutdown``: pygls drops it unanswered. Here it gets ``InvalidRequest``, as the LSP
  specification asks; a notification then is ignored.
- ``exit`` without ``shutdown``: pygls means to exit with code 1, but its ``SystemExit`` is swallowed by its
  own main loop and the process exits 0. Here the code is kept on the server and returned by ``run``.
- A request before ``initialize``: pygls runs it against a workspace that does not exist yet. Here it
  gets ``ServerNotInitialized``; a notification then is ignored.
- ``didChange`` of a document that was never opened: pygls raises ``KeyError`` and reports it as a server
  error. Here it is ignored (the server analyzes only what the client opened, never a file from disk).
- ``$/cancelRequest`` of a request already answered: a client may send it while the answer is on its way (VS
  Code does on every edit for the hints it asked for), and the protocol allows it. pygls logs a warning on
  stderr for each ("Cancel notification for unknown message id"), which editors show in their server log.
  Here it is ignored quietly; and a cancel naming a request the server sent is not the client's to make.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any
from urllib.parse import unquote

import attrs
from cattrs.errors import ClassValidationError
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, RPCRequest
from pygls.protocol.language_server import lsp_method

logger = logging.getLogger(__name__)

EXIT_WITHOUT_SHUTDOWN = 1


@attrs.define
class UndecodableMessage:
    """A message whose params could not be decoded; a request among them gets an error answer."""

    id: Any
    method: str
    jsonrpc: str
    error: Exception


class CnnshapeProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict) or "jsonrpc" not in data or "method" not in data:
            return super().structure_message(data)
        try:
            message_type = self.get_message_type(data["method"])
            if message_type is None:  # a method LSP does not define: answered "method not found", params or not
                message_type = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
                data = {**data, "params": data.get("params")}
            return self._converter.structure(data, message_type)
        except ClassValidationError as err:
            return UndecodableMessage(data.get("id"), str(data.get("method")), str(data.get("jsonrpc")),
                                      JsonRpcInvalidParams(f"invalid params for {data.get('method')}: "
                                                           f"{_first_problem(err)}"))
        except Exception as err:  # noqa: BLE001 - anything else the decoder trips on
            return UndecodableMessage(data.get("id"), str(data.get("method")), str(data.get("jsonrpc")),
                                      JsonRpcInvalidParams(f"invalid params for {data.get('method')}: "
                                                           f"{type(err).__name__}"))

    def handle_message(self, message: Any) -> None:
        if isinstance(message, UndecodableMessage):
            if message.id is None or isinstance(message.id, (dict, list)):
                logger.info("ignored a notification with invalid params: %s", message.method)
                return
            self._answer_error(message.id, message.error)
            return
        method = getattr(message, "method", None)
        if self._workspace is None and method not in (types.INITIALIZE, types.EXIT):
            if isinstance(message, RPCRequest):
                self._answer_error(message.id, JsonRpcServerNotInitialized(
                    f"{message.method}: the server is not initialized yet (send initialize first)"))
                return
            if method is not None:
                return  # a notification before initialize: nothing to act on yet
        if self._shutdown and method != types.EXIT:
            if isinstance(message, RPCRequest):
                self._answer_error(message.id, JsonRpcInvalidRequest(
                    f"{message.method}: the server is shutting down (shutdown was received)"))
            return  # notifications and answers after shutdown: nothing to do
        super().handle_message(message)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        if msg_id in self._result_types:
            logger.debug("ignored a cancel of the server's own request %s", msg_id)
            return
        if msg_id not in self._request_futures:
            logger.debug("ignored a cancel of request %s: answered already", msg_id)
            return
        super()._handle_cancel_notification(msg_id)

    def _answer_error(self, msg_id: Any, error: Exception) -> None:
        response = error.to_response_error() if hasattr(error, "to_response_error") else \
            JsonRpcInternalError(str(error)).to_response_error()
        self._send_response(msg_id, None, response)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args) -> Generator[Any, Any, None]:
        self._server.exit_code = 0 if self._shutdown else EXIT_WITHOUT_SHUTDOWN
        yield from super().lsp_exit(*args)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if self.workspace.text_documents.get(unquote(params.text_document.uri)) is None:
            logger.info("ignored didChange of a document that is not open: %s", params.text_document.uri)
            return
        yield from super().lsp_text_document__did_change(params)


def _first_problem(err: ClassValidationError) -> str:
    """One readable line from cattrs' exception group: the first leaf's message."""
    leaf: BaseException = err
    while getattr(leaf, "exceptions", None):
        leaf = leaf.exceptions[0]  # an ExceptionGroup: cattrs nests one per attribute
    return f"{type(leaf).__name__}: {leaf}"[:200]


__all__ = ["CnnshapeProtocol", "EXIT_WITHOUT_SHUTDOWN"]
