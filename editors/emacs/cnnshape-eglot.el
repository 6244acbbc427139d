;;; cnnshape-eglot.el --- cnnshape-ls with Eglot: PyTorch tensor shapes while you type -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "29.1") (eglot "1.14"))
;; Keywords: languages, tools
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; The language server cnnshape-ls (`pipx install .' from a clone) shows the output shape of each layer of a
;; PyTorch model as an inlay hint (`# out: (BS, 16, 6, 6)'), the shape errors as diagnostics (Flymake)
;; with quick fixes, and hovers (ElDoc) with the formula and the parameter count.
;;
;;   (add-to-list 'load-path "/path/to/cnnshape-ls/editors/emacs")
;;   (require 'cnnshape-eglot)
;;   (cnnshape-eglot-setup)                      ; python-mode and python-ts-mode use cnnshape-ls
;;   (add-hook 'python-base-mode-hook #'eglot-ensure)   ; or M-x eglot in a Python buffer
;;
;; Without this file, the recipe is two forms:
;;
;;   (add-to-list 'eglot-server-programs
;;                '((python-mode python-ts-mode)
;;                  "python3" "-m" "cnnshape_ls" :initializationOptions (:cnnshape (:batchName "BS"))))
;;   (setq-default eglot-workspace-configuration '(:cnnshape (:batchName "BS")))
;;
;; Eglot runs one server per major mode: this replaces pylsp/pyright in Python buffers unless you
;; keep them with a multiplexer such as rassumfrassum or lspx.

;;; Code:

(require 'cl-lib)
(require 'eglot)

(defgroup cnnshape nil
  "PyTorch tensor shapes from the cnnshape-ls language server."
  :group 'eglot
  :prefix "cnnshape-")

(defcustom cnnshape-command nil
  "The command that starts the server, a list such as (\"~/.local/bin/cnnshape-ls\"): where
`pipx install .' or `uv tool install .' put it.  Nil: `python -m cnnshape_ls' with `cnnshape-python'.
The torch verification then runs in the interpreter `:python' of `cnnshape-settings' names (the server's
own, pipx's, has no torch)."
  :type '(choice (const :tag "python -m cnnshape_ls" nil) (repeat :tag "Command" string)))

(defcustom cnnshape-python nil
  "The Python interpreter that runs `python -m cnnshape_ls' when `cnnshape-command' is nil (it needs
the package installed: `pip install .' from a clone).
Nil: the Python of $VIRTUAL_ENV or $CONDA_PREFIX, else python3 on the PATH."
  :type '(choice (const :tag "Automatic" nil) (file :tag "Interpreter")))

(defcustom cnnshape-settings nil
  "The `cnnshape' settings as a plist, the names of docs/configuration.md.
For example (:batchName \"N\" :hints (:style \"arrow\") :verify (:enabled :json-false)).
They reach the server as initializationOptions and as the answer to workspace/configuration.
Whether a project is trusted (torch verification runs its model code) comes from Emacs 30's
`trusted-content' (see `cnnshape-eglot-trusted-p'), not from here, unless you set :workspaceTrusted."
  :type 'plist)
(put 'cnnshape-settings 'risky-local-variable t) ; a project's .dir-locals.el must not set it

(defun cnnshape-eglot--python ()
  "The interpreter for the server."
  (or cnnshape-python
      (cl-loop for prefix in (list (getenv "VIRTUAL_ENV") (getenv "CONDA_PREFIX"))
               for exe = (and prefix (> (length prefix) 0) (expand-file-name "bin/python" prefix))
               when (and exe (file-executable-p exe)) return exe)
      (executable-find "python3")
      "python"))

(defun cnnshape-eglot--settings ()
  "`cnnshape-settings' as a JSON object (never null)."
  (or cnnshape-settings (make-hash-table)))

(defclass cnnshape-eglot-server (eglot-lsp-server) ()
  :documentation "cnnshape-ls, which asks for its inlay hints to be drawn again when an analysis lands.")

(cl-defmethod eglot-client-capabilities ((_server cnnshape-eglot-server))
  "Eglot's capabilities, plus `workspace/inlayHint/refresh' (Eglot 1.17 does not announce it).
Without it the hints asked for before the first analysis lands stay empty until the next edit or scroll."
  (let* ((caps (copy-sequence (cl-call-next-method)))
         (workspace (copy-sequence (plist-get caps :workspace))))
    (plist-put caps :workspace (plist-put workspace :inlayHint '(:refreshSupport t)))))

(cl-defmethod eglot-handle-request ((server cnnshape-eglot-server) (_method (eql workspace/inlayHint/refresh))
                                    &rest _)
  "Draw the inlay hints of SERVER's buffers again, in every window that shows them."
  (dolist (buffer (eglot--managed-buffers server))
    (eglot--when-live-buffer buffer
      (when (bound-and-true-p eglot-inlay-hints-mode)
        (dolist (window (get-buffer-window-list buffer nil t))
          (if (fboundp 'eglot--update-hints-1)
              (eglot--update-hints-1 (window-start window) (window-end window t))
            (jit-lock-refontify (window-start window) (window-end window t)))))))
  nil)

(defun cnnshape-eglot-trusted-p (root)
  "Whether Emacs trusts the project folder ROOT: t or `:json-false' (nil without a ROOT).
Emacs 30's `trusted-content' decides: ROOT is trusted when it is listed there, or lies in a folder that
is (an entry ending in \"/\"), or `trusted-content' is `:all'.  Torch verification runs the model
code, so cnnshape-ls runs it only in a trusted project.  Emacs 29 has no `trusted-content': there a
project is not trusted unless you put :workspaceTrusted t in `cnnshape-settings' yourself."
  (when root
    (if (and (fboundp 'trusted-content-p)
             (with-temp-buffer
               ;; `trusted-content-p' asks about the current buffer's file: ask it about the folder itself
               (setq-local buffer-file-truename
                           (abbreviate-file-name (file-name-as-directory (file-truename root))))
               (trusted-content-p)))
        t
      :json-false)))

(defun cnnshape-eglot-initialization-options (root)
  "The initializationOptions for a server of the project at ROOT: `cnnshape-settings', and whether
the project is trusted (`cnnshape-eglot-trusted-p'), unless `cnnshape-settings' says it itself."
  (let ((settings (cnnshape-eglot--settings))
        (trusted (cnnshape-eglot-trusted-p root)))
    (when (and trusted (not (and (listp settings) (plist-member settings :workspaceTrusted))))
      (setq settings (append (and (listp settings) settings) (list :workspaceTrusted trusted))))
    (list :cnnshape settings)))

(defun cnnshape-eglot--command ()
  "The command line that starts the server."
  (if cnnshape-command
      (cons (expand-file-name (car cnnshape-command)) (cdr cnnshape-command))
    (list (cnnshape-eglot--python) "-m" "cnnshape_ls")))

(defun cnnshape-eglot-contact (&optional _interactive)
  "The Eglot contact for cnnshape-ls: the command and its initializationOptions."
  `(cnnshape-eglot-server
    ,@(cnnshape-eglot--command)
    :initializationOptions
    ,(lambda (server)
       (cnnshape-eglot-initialization-options
        (or (ignore-errors (project-root (eglot--project server))) default-directory)))))

(defvar cnnshape-eglot--previous-configuration nil
  "The default `eglot-workspace-configuration' before `cnnshape-eglot-setup'.")

(defun cnnshape-eglot-workspace-configuration (server)
  "The previous workspace configuration of SERVER, with the `cnnshape' section added."
  (let* ((previous cnnshape-eglot--previous-configuration)
         (base (if (functionp previous) (funcall previous server) previous)))
    (if (plist-member base :cnnshape)
        base
      (append base (list :cnnshape (cnnshape-eglot--settings))))))

;;;###autoload
(defun cnnshape-eglot-setup ()
  "Use cnnshape-ls for Python buffers in Eglot, with `cnnshape-settings' for its settings."
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode) . cnnshape-eglot-contact))
  (unless (eq (default-value 'eglot-workspace-configuration) #'cnnshape-eglot-workspace-configuration)
    (setq cnnshape-eglot--previous-configuration (default-value 'eglot-workspace-configuration))
    (setq-default eglot-workspace-configuration #'cnnshape-eglot-workspace-configuration))
  ;; Eglot turns inlay hints on in managed buffers; make sure a user setting did not leave them off.
  (add-hook 'eglot-managed-mode-hook #'cnnshape-eglot--hints)
  ;; With `flymake-show-diagnostics-at-end-of-line', the hint first, then the diagnostic.
  (when (fboundp 'flymake--highlight-line)
    (advice-add 'flymake--highlight-line :filter-return #'cnnshape-eglot--diagnostics-after-hints)))

(defun cnnshape-eglot--diagnostics-after-hints (overlay)
  "Give the end-of-line overlay of Flymake's OVERLAY a priority above the hints' (0).
Both are `before-string's at the end of the line, drawn in order of increasing
priority: with equal ones the diagnostic could come first and push the hint
onto the next screen line."
  (let ((eol (and (overlayp overlay) (overlay-get overlay 'eol-ov))))
    (when (and (overlayp eol) (not (overlay-get eol 'priority)))
      (overlay-put eol 'priority 1)))
  overlay)

(defun cnnshape-eglot--hints ()
  (when (and (eglot-managed-p) (fboundp 'eglot-inlay-hints-mode)
             (if (fboundp 'eglot-server-capable)
                 (eglot-server-capable :inlayHintProvider)
               (eglot--server-capable :inlayHintProvider)))
    (eglot-inlay-hints-mode 1)))

;;;###autoload
(defun cnnshape-annotate ()
  "Write `# out:' comments on every layer line of the buffer (undo restores it)."
  (interactive)
  (eglot-code-actions (point-min) (point-max) "source.annotate.cnnshape" t))

;;;###autoload
(defun cnnshape-fix-all ()
  "Apply every preferred shape fix of the buffer."
  (interactive)
  (eglot-code-actions (point-min) (point-max) "source.fixAll.cnnshape" t))

;;;###autoload
(defun cnnshape-show-summary (&optional model)
  "Show the summary of MODEL (all models when nil) of this buffer."
  (interactive (list (let ((name (read-string "Model (empty: all): "))) (and (> (length name) 0) name))))
  (let ((text (jsonrpc-request (eglot--current-server-or-lose) :workspace/executeCommand
                               (list :command "cnnshape.showSummary"
                                     :arguments (vconcat (list (plist-get (eglot--TextDocumentIdentifier) :uri))
                                                         (and model (list model)))))))
    (with-help-window "*cnnshape summary*"
      (princ (if (and (stringp text) (> (length text) 0)) text "No model found.")))))

(provide 'cnnshape-eglot)
;;; cnnshape-eglot.el ends here
