;;; emacs_probe.el --- Emacs 30 + Eglot + editors/emacs/cnnshape-eglot.el, in batch -*- lexical-binding: t -*-
;; emacs --batch -Q -L editors/emacs -l emacs_probe.el   with PROBE_FILE (the model) and PROBE_REPORT (JSON).
;; Reads back what Emacs shows: the inlay hint overlays, the Flymake diagnostics, the hover; applies the
;; preferred quick fix as picking the default action would, and saves. The assertions are in test_emacs.py.
(require 'cl-lib)
(require 'json)
(require 'cnnshape-eglot)
;; Settings as a user writes them (the test passes them as JSON): the names of docs/configuration.md.
(when (getenv "CNNSHAPE_PROBE_SETTINGS")
  (setq cnnshape-settings (let ((json-object-type 'plist) (json-key-type 'keyword))
                            (json-read-from-string (getenv "CNNSHAPE_PROBE_SETTINGS")))))
(when (getenv "CNNSHAPE_SERVER")      ; where `pipx install .' put the server (docs/editors.md)
  (setq cnnshape-command (list (getenv "CNNSHAPE_SERVER"))))
(cnnshape-eglot-setup)

(defvar probe-report (list :errors nil))
(defun probe-put (key value) (setq probe-report (plist-put probe-report key value)))
(defun probe-log (fmt &rest args) (princ (concat (apply #'format fmt args) "\n")))
(defun probe-save ()
  (with-temp-file (getenv "PROBE_REPORT")
    (insert (let ((json-encoding-pretty-print nil)) (json-encode probe-report)))))
(defun probe-fail (what)
  (probe-put :errors (append (plist-get probe-report :errors) (list what)))
  (probe-log "FAIL %s" what)
  (probe-save)
  (kill-emacs 1))
(defmacro probe-wait (seconds what &rest cond)
  `(with-timeout (,seconds (probe-fail ,what))
     (while (not (progn ,@cond)) (accept-process-output nil 0.05))))

(let* ((file (getenv "PROBE_FILE"))
       (dir (file-name-directory file))
       ;; "line,character" (0-based): the shared-blocks test hovers there, waits for no error, fixes nothing
       (hover-at (and (getenv "CNNSHAPE_PROBE_HOVER")
                      (mapcar #'string-to-number (split-string (getenv "CNNSHAPE_PROBE_HOVER") ",")))))
  (probe-put :emacs emacs-version)
  (setq project-find-functions (list (lambda (_d) (cons 'transient dir))))
  (find-file file)
  (python-mode)
  (flymake-mode 1)
  (eglot-ensure)
  (run-hooks 'post-command-hook)          ; eglot-ensure connects from post-command-hook
  (probe-wait 30 "eglot did not connect" (eglot-current-server))
  (let ((server (eglot-current-server)))
    (probe-put :server (plist-get (eglot--server-info server) :name))
    (probe-put :command (process-command (jsonrpc--process server)))
    (probe-put :inlay_hints_mode (and (boundp 'eglot-inlay-hints-mode) eglot-inlay-hints-mode))
    ;; Flymake diagnostics (pushed by the server, or pulled: whichever it chose)
    (unless hover-at
      (probe-wait 30 "no error diagnostic"
                  (cl-some (lambda (d) (eq (flymake-diagnostic-type d) 'eglot-error)) (flymake-diagnostics))))
    (probe-put :diagnostics
               (vconcat (mapcar (lambda (d)
                                  (list :line (line-number-at-pos (flymake-diagnostic-beg d))
                                        :text (buffer-substring-no-properties (flymake-diagnostic-beg d)
                                                                              (flymake-diagnostic-end d))
                                        :type (symbol-name (flymake-diagnostic-type d))
                                        :message (flymake-diagnostic-text d)))
                                (flymake-diagnostics))))
    ;; Inlay hints: eglot-inlay-hints-mode draws them as overlays over the visible part of the window; in
    ;; batch there is no window, so ask for the whole buffer as a redisplay would.
    (eglot--update-hints-1 (point-min) (point-max))
    (let (hints)
      (probe-wait 15 "no inlay hint overlays"
                  (setq hints (cl-remove-if-not (lambda (o) (overlay-get o 'eglot--inlay-hint))
                                                (overlays-in (point-min) (point-max)))))
      (probe-put :hints
                 (vconcat (mapcar (lambda (o)
                                    (list :line (line-number-at-pos (overlay-start o))
                                          :text (substring-no-properties
                                                 (or (overlay-get o 'before-string)
                                                     (overlay-get o 'after-string) ""))))
                                  (sort hints (lambda (a b) (< (overlay-start a) (overlay-start b))))))))
    ;; Hover on conv1's Conv2d (line 10), or where CNNSHAPE_PROBE_HOVER says
    (goto-char (point-min)) (forward-line (if hover-at (car hover-at) 9)) (forward-char (if hover-at (cadr hover-at) 20))
    (probe-put :hover (plist-get (plist-get (jsonrpc-request server :textDocument/hover
                                                             (eglot--TextDocumentPositionParams))
                                            :contents)
                                 :value))
    (when hover-at
      (probe-put :done t)
      (probe-save)
      (eglot-shutdown server)
      (kill-emacs 0))
    ;; The quick fix on fc2's in_features: the preferred action, the default of M-x eglot-code-actions.
    (goto-char (point-min)) (forward-line 18) (forward-char 23)
    (let* ((actions (eglot-code-actions (point) nil "quickfix"))
           (preferred (cl-find-if (lambda (a) (eq (plist-get a :isPreferred) t)) actions))
           (eglot-confirm-server-edits nil))
      (probe-put :actions (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
      (unless preferred (probe-fail "no preferred quick fix"))
      (eglot-execute server preferred))
    (probe-put :fixed_line (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
    (save-buffer)
    (probe-wait 15 "the error stayed after the fix"
                (not (cl-some (lambda (d) (eq (flymake-diagnostic-type d) 'eglot-error)) (flymake-diagnostics))))
    ;; M-x cnnshape-annotate, then throw the change away
    (let ((eglot-confirm-server-edits nil)) (cnnshape-annotate))
    (probe-put :annotated (buffer-substring-no-properties (point-min) (point-max)))
    (revert-buffer t t)
    (probe-put :done t)
    (probe-save)
    (eglot-shutdown server)))
(kill-emacs 0)
