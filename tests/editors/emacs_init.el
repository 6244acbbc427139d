;;; emacs_init.el --- A user's init for cnnshape-ls in Emacs 30: the recipe of editors/emacs/README.md -*- lexical-binding: t -*-
;; (the test puts editors/emacs on the load-path with -L)
(require 'cnnshape-eglot)
(when (getenv "CNNSHAPE_SERVER")      ; where `pipx install .' put the server (docs/editors.md)
  (setq cnnshape-command (list (getenv "CNNSHAPE_SERVER"))))
(cnnshape-eglot-setup)
(add-hook 'python-base-mode-hook #'eglot-ensure)
;; Emacs 30: diagnostics as text at the end of the line, as Neovim's virtual text
(setq flymake-show-diagnostics-at-end-of-line t)
(setq inhibit-startup-screen t)
