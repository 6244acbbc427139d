// cnnshape-ls for VS Code: starts the language server (`python -m cnnshape_ls`) the extension carries in
// bundled/libs (the server and its pure-Python dependencies, put there by `npm run package`; see BOOT), with the
// interpreter from `cnnshape.python`, else the Python extension's active environment, else `python3`, and
// restarts it when that interpreter changes. Torch is only looked up in that interpreter, for verification.
import * as vscode from 'vscode';
import { execFile } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';
import {
  CloseAction,
  ErrorAction,
  ErrorHandler,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  ShowMessageNotification,
  MessageType,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import type { PythonExtension } from '@vscode/python-extension';

const SECTION = 'cnnshape';
const MIN_PYTHON = [3, 10];
// What the server says once when the interpreter has no torch: shown here as the status, not as a popup.
const NO_TORCH = /torch verification is off: torch is not installed/;
// workspaceState: the interpreter the Python extension chose here last time. The next start uses it at once
// instead of waiting for the Python extension to activate and discover its environments (seconds); the
// Python extension is asked afterwards, and a different answer restarts the server.
const LAST_INTERPRETER = 'cnnshape.lastInterpreter';
// Set by esbuild's banner (esbuild.mjs): when VS Code began loading dist/extension.js, for the start-up log.
declare const cnnshapeLoadStart: number | undefined;

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let status: vscode.StatusBarItem;
let python: PythonExtension | undefined;
let pythonLoading: Promise<PythonExtension | undefined> | undefined;
let state: vscode.Memento | undefined;
let starting: Promise<void> = Promise.resolve();
let currentInterpreter: string | undefined;
let libs = '';
let activatedAt = 0;
let firstHintsLogged = false;
let summaryPanel: vscode.WebviewPanel | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  activatedAt = Date.now();
  state = context.workspaceState;
  libs = context.asAbsolutePath(path.join('bundled', 'libs'));
  output = vscode.window.createOutputChannel('cnnshape-ls');
  // The start-up's first steps, for the log: how long the extension host had been up, how long loading this
  // module took (VS Code loads it and the extension's storage together).
  const loaded = typeof cnnshapeLoadStart === 'number' ? `, dist/extension.js loaded in ${activatedAt - cnnshapeLoadStart} ms` : '';
  log(`activated: extension host up for ${Math.round(process.uptime() * 1000)} ms${loaded}; ` +
    `${vscode.workspace.textDocuments.some((d) => d.languageId === 'python') ? 'a Python file is open' : 'no Python file open yet'}`);
  status = vscode.window.createStatusBarItem('cnnshape.status', vscode.StatusBarAlignment.Right, 100);
  status.name = 'cnnshape-ls';
  status.command = 'cnnshape.showLog';
  context.subscriptions.push(output, status);

  context.subscriptions.push(
    vscode.commands.registerCommand('cnnshape.restartServer', () => restart('restart requested')),
    vscode.commands.registerCommand('cnnshape.annotateFile', annotateFile),
    vscode.commands.registerCommand('cnnshape.showModelSummary', showModelSummary),
    vscode.commands.registerCommand('cnnshape.showLog', () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // The server reads the other settings live (workspace/didChangeConfiguration, then
      // workspace/configuration); the interpreter needs a new server process.
      if (event.affectsConfiguration(`${SECTION}.python`)) {
        const next = await resolveInterpreter();
        if (next.command !== currentInterpreter) {
          await restart(`cnnshape.python changed to ${next.command}`);
        }
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => restart('workspace trusted: torch verification allowed')),
  );

  // The server starts now; the Python extension is loaded beside it (it may take seconds to activate) and is
  // waited for only when nothing else says which interpreter to use.
  pythonLoading = loadPythonExtension().then((api) => {
    python = api;
    if (api) {
      context.subscriptions.push(api.environments.onDidChangeActiveEnvironmentPath(() =>
        followPythonExtension("the Python extension's environment changed")));
    }
    return api;
  });
  await start();
  if (!configuredPython() && vscode.extensions.getExtension('ms-python.python')) {
    // Started with the interpreter of the last start: check it against the Python extension's choice now.
    void pythonLoading.then(() => followPythonExtension("the Python extension's active environment"));
  }
}

/** Restart with the Python extension's environment when it is not the one the server runs with. */
async function followPythonExtension(why: string): Promise<void> {
  if (configuredPython()) {
    return; // cnnshape.python wins over the Python extension's choice
  }
  const next = await resolveInterpreter();
  if (next.command !== currentInterpreter) {
    await restart(`${why}: ${next.command}`);
  }
}

export async function deactivate(): Promise<void> {
  await stop();
}

// ------------------------------------------------------------------------------------------ interpreter

async function loadPythonExtension(): Promise<PythonExtension | undefined> {
  if (!vscode.extensions.getExtension('ms-python.python')) {
    return undefined;
  }
  try {
    const { PythonExtension } = await import('@vscode/python-extension');
    return await PythonExtension.api();
  } catch (err) {
    log(`the Python extension's API is not available: ${err}`);
    return undefined;
  }
}

function configuredPython(): string | undefined {
  // `cnnshape.python` is a restricted setting: in an untrusted workspace VS Code only returns the
  // user's own value, never one the workspace's settings.json sets.
  const value = vscode.workspace.getConfiguration(SECTION).get<string | null>('python');
  return value && value.trim() ? expandVariables(value.trim()) : undefined;
}

function expandVariables(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  return value
    .replace(/\$\{workspaceFolder\}/g, folder)
    .replace(/^~(?=\/|\\|$)/, process.env.HOME ?? process.env.USERPROFILE ?? '~')
    .replace(/\$\{env:([^}]+)\}/g, (_m, name: string) => process.env[name] ?? '');
}

interface Interpreter {
  command: string;
  source: string;
}

async function resolveInterpreter(quick = false): Promise<Interpreter> {
  const configured = configuredPython();
  if (configured) {
    return { command: configured, source: 'cnnshape.python' };
  }
  const last = state?.get<string>(LAST_INTERPRETER);
  if (quick && !python && last && existsSync(last)) {
    return { command: last, source: "the Python extension's choice at the last start; asking it again" };
  }
  const api = python ?? await pythonLoading;
  if (api) {
    try {
      const resource = vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
      const active = api.environments.getActiveEnvironmentPath(resource);
      const env = await api.environments.resolveEnvironment(active);
      const exe = env?.executable.uri?.fsPath;
      if (exe) {
        void state?.update(LAST_INTERPRETER, exe);
        return { command: exe, source: "the Python extension's active environment" };
      }
    } catch (err) {
      log(`cannot read the Python extension's active environment: ${err}`);
    }
  }
  return { command: process.platform === 'win32' ? 'python' : 'python3', source: 'the PATH' };
}

type Probe =
  | { ok: true; version: string; torch: boolean }
  | { ok: false; reason: 'no-python' | 'old-python'; detail: string };

function serverCwd(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function probe(interpreter: string): Promise<Probe> {
  // The server comes from bundled/libs; the interpreter only has to be recent enough. Torch is looked up
  // (not imported: that takes seconds) for the status line.
  const code = 'import sys, importlib.util as u; print("%d.%d" % sys.version_info[:2]); ' +
    'print(u.find_spec("torch") is not None)';
  return new Promise((resolve) => {
    execFile(interpreter, ['-c', code], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const missing = code === 'ENOENT' || code === 'EACCES';
        resolve({ ok: false, reason: missing ? 'no-python' : 'old-python', detail: (stderr || err.message).trim() });
        return;
      }
      const [version, torch] = stdout.trim().split(/\s+/);
      const [major, minor] = version.split('.').map(Number);
      if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
        resolve({ ok: false, reason: 'old-python', detail: `Python ${version}; cnnshape-ls needs ${MIN_PYTHON.join('.')} or later` });
        return;
      }
      resolve({ ok: true, version, torch: torch === 'True' });
    });
  });
}

// `python -m cnnshape_ls` from bundled/libs, put first on the server's own sys.path (so the interpreter needs
// nothing installed, and an older cnnshape-ls there does not count). Not through PYTHONPATH: the torch
// worker the server starts would inherit it, and the bundled attrs or typing_extensions would shadow the
// project's own next to torch. The folder the server starts in is no place to import from either.
const BOOT = 'import os, runpy, sys; libs = sys.argv.pop(1); ' +
  'sys.version_info >= (3, 10) or sys.exit("cnnshape-ls needs Python 3.10 or later, not %d.%d" % sys.version_info[:2]); ' +
  'sys.path[:] = [libs] + [p for p in sys.path if p not in ("", os.getcwd())]; ' +
  'runpy.run_module("cnnshape_ls", run_name="__main__", alter_sys=True)';

// ------------------------------------------------------------------------------------------ server life

/** A client whose errors before the server first ran go to the log only: a server that does not come up is
 * reported once, by startNow, with the reason the probe found ("couldn't create connection to server" said
 * nothing the user could act on). */
class Client extends LanguageClient {
  ran = false;

  override error(message: string, data?: unknown, showNotification: boolean | 'force' = true): void {
    super.error(message, data, this.ran ? showNotification : false);
  }
}

/** What the server gets for the `cnnshape` section: no empty interpreter, no verification when untrusted. */
function normalize(raw: unknown): Record<string, unknown> {
  const section = { ...((raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>) };
  if (typeof section.python !== 'string' || !section.python.trim()) {
    delete section.python;
  } else {
    section.python = expandVariables(section.python.trim());
  }
  if (!vscode.workspace.isTrusted) {
    section.verify = { ...((section.verify ?? {}) as Record<string, unknown>), enabled: false };
  }
  return section;
}

function settingsSection(): Record<string, unknown> {
  // The `cnnshape` section as a plain object: {"input": ..., "hints": {"enabled": ...}, "verify": {...}}.
  return normalize(JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION))));
}

async function start(): Promise<void> {
  starting = starting.then(startNow, startNow);
  return starting;
}

async function startNow(): Promise<void> {
  const interpreter = await resolveInterpreter(true);
  currentInterpreter = interpreter.command;
  log(`interpreter: ${interpreter.command} (from ${interpreter.source}), ${since()}`);
  setStatus('$(sync~spin) cnnshape', `Starting cnnshape-ls with ${interpreter.command}`);

  if (path.isAbsolute(interpreter.command) && !existsSync(interpreter.command)) {
    const detail = `${interpreter.command} does not exist`;
    log(detail);
    setStatus('$(warning) cnnshape', 'cnnshape-ls is not running: see the log', true);
    void reportUnusable(interpreter, { reason: 'no-python', detail }); // not awaited: it waits for the user
    return;
  }
  // An interpreter given by its path is asked for its version and torch while the server starts, not before:
  // the answer only explains a failed start and fills the status line (BOOT itself refuses a Python older
  // than 3.10). A bare command (`python3`) may not be on the PATH at all: asked first.
  const probeStart = Date.now();
  const asked = probe(interpreter.command).then((found) => {
    const torch = found.ok && !found.torch ? `; no torch in ${interpreter.command}: shapes from reading the code, not verified` : '';
    log((found.ok ? `Python ${found.version}` : found.detail) + ` (${Date.now() - probeStart} ms to ask); server from ${libs}; ` +
      `workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: verification off'}${torch}`);
    return found;
  });
  if (!path.isAbsolute(interpreter.command)) {
    const found = await asked;
    if (!found.ok) {
      setStatus('$(warning) cnnshape', 'cnnshape-ls is not running: see the log', true);
      void reportUnusable(interpreter, found); // not awaited: the message waits for the user
      return;
    }
  }

  const serverOptions: ServerOptions = {
    command: interpreter.command,
    args: ['-c', BOOT, libs],
    transport: TransportKind.stdio,
    options: { cwd: serverCwd(), env: { ...process.env, PYTHONUNBUFFERED: '1' } },
  };
  let restarts: ErrorHandler | undefined; // the client's own handler: restarts a server that ran, up to 4 times
  const clientOptions: LanguageClientOptions = {
    // Jupyter notebooks' Python cells too: the server syncs them as notebook documents (LSP 3.17) and
    // analyzes a notebook's cells in order as one program; hints, fixes and hovers come per cell.
    documentSelector: [
      { scheme: 'file', language: 'python' },
      { scheme: 'untitled', language: 'python' },
      { notebook: 'jupyter-notebook', language: 'python' },
    ],
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // A server that does not come up is reported once, below, with the reason the probe found: not started
    // again and again, which is what the client does with a server that exits. Once it ran, the usual restarts.
    initializationFailedHandler: () => false,
    errorHandler: {
      error: (error, message, count) => (next.ran && restarts ? restarts.error(error, message, count)
        : { action: ErrorAction.Shutdown, handled: true }),
      closed: () => (next.ran && restarts ? restarts.closed() : { action: CloseAction.DoNotRestart, handled: true }),
    },
    initializationOptions: { [SECTION]: { ...settingsSection(), workspaceTrusted: vscode.workspace.isTrusted } },
    synchronize: { configurationSection: SECTION },
    middleware: {
      // The server's code lens runs cnnshape.showSummary, whose answer is the table: it opens the panel here.
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        for (const lens of lenses ?? []) {
          if (lens.command?.command === 'cnnshape.showSummary') {
            lens.command = { ...lens.command, command: 'cnnshape.showModelSummary',
              arguments: [String(lens.command.arguments?.[1] ?? '')] };
          }
        }
        return lenses;
      },
      // When the first hints arrive, for the log: the cold open's last steps.
      provideInlayHints: async (document, range, token, next) => {
        const asked = Date.now();
        const hints = await next(document, range, token);
        if (!firstHintsLogged && hints && hints.length > 0) {
          firstHintsLogged = true;
          log(`first hints: ${hints.length}, ${Date.now() - activatedAt} ms after activation ` +
            `(asked for ${asked - activatedAt} ms after it, answered in ${Date.now() - asked} ms)`);
        }
        return hints;
      },
      workspace: {
        // Answers to workspace/configuration, normalized like initializationOptions.
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return result.map((item, i) => (params.items[i]?.section === SECTION ? normalize(item) : item));
        },
      },
    },
  };
  const next = new Client('cnnshape-ls', 'cnnshape-ls', serverOptions, clientOptions);
  restarts = next.createDefaultErrorHandler();
  // The server's one message about a missing torch becomes this status line (the probe found the same).
  next.onNotification(ShowMessageNotification.type, (message) => {
    if (NO_TORCH.test(message.message)) {
      log(message.message);
      return;
    }
    const show = message.type === MessageType.Error ? vscode.window.showErrorMessage
      : message.type === MessageType.Warning ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(message.message);
  });
  next.onDidChangeState((e) => {
    if (e.newState === State.Running) {
      next.ran = true;
      log(`server running (initialize answered), ${since()}`);
      void asked.then((found) => {
        if (client !== next || !next.isRunning() || !found.ok) {
          return;
        }
        const torchNote = found.torch ? '' : `no torch in ${interpreter.command}: shapes from reading the code, not verified`;
        setStatus(torchNote ? '$(check) cnnshape (no torch)' : '$(check) cnnshape',
          `cnnshape-ls with ${interpreter.command} (Python ${found.version})` + (torchNote ? `\n${torchNote}` : ''));
      });
    } else if (e.newState === State.Stopped) {
      setStatus('$(circle-slash) cnnshape', 'cnnshape-ls stopped: see the log', true);
    }
  });
  client = next;
  log(`starting the server, ${since()}`);
  // start() rejects when the server cannot be spawned; when it exits before answering initialize (and is not
  // restarted, above) it resolves without the client running.
  const failure = await next.start().then(() => (next.isRunning() ? undefined : 'it exited before answering'),
    (err) => String(err));
  if (failure !== undefined) {
    client = undefined;
    log(`the server did not start: ${failure}`);
    const found = await asked;
    if (!found.ok) {
      setStatus('$(warning) cnnshape', 'cnnshape-ls is not running: see the log', true);
      void reportUnusable(interpreter, found); // not awaited: the message waits for the user
      return;
    }
    setStatus('$(error) cnnshape', 'cnnshape-ls failed to start: see the log', true);
    void vscode.window.showErrorMessage(
      `cnnshape-ls did not start with ${interpreter.command}.`, 'Show Log', 'Restart').then((choice) => {
      if (choice === 'Show Log') {
        output.show(true);
      } else if (choice === 'Restart') {
        void restart('restart requested');
      }
    });
  }
}

async function stop(): Promise<void> {
  const old = client;
  client = undefined;
  if (old && old.needsStop()) {
    try {
      await old.stop(5000);
    } catch (err) {
      log(`stopping the server: ${err}`);
    }
  }
}

async function restart(reason: string): Promise<void> {
  log(`restarting: ${reason}`);
  starting = starting.then(async () => {
    await stop();
    await startNow();
  });
  return starting;
}

async function reportUnusable(interpreter: Interpreter, found: { reason: 'no-python' | 'old-python'; detail: string }):
  Promise<void> {
  const what = found.reason === 'no-python'
    ? `the Python interpreter "${interpreter.command}" (from ${interpreter.source}) was not found`
    : `"${interpreter.command}" (from ${interpreter.source}) cannot run it: ${found.detail.split('\n').pop()}`;
  const choice = await vscode.window.showErrorMessage(
    `cnnshape-ls: ${what}. Set cnnshape.python to a Python 3.10 or later (the one with PyTorch, for verification).`,
    'Choose Interpreter', 'Show Log');
  if (choice === 'Choose Interpreter') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'cnnshape.python');
  } else if (choice === 'Show Log') {
    output.show(true);
  }
}

// ------------------------------------------------------------------------------------------ commands

function pythonEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'python') {
    void vscode.window.showWarningMessage('cnnshape: open a Python file first.');
    return undefined;
  }
  return editor;
}

async function runningClient(): Promise<LanguageClient | undefined> {
  await starting;
  if (!client || !client.isRunning()) {
    void vscode.window.showWarningMessage('cnnshape-ls is not running.', 'Show Log', 'Restart').then((c) => {
      if (c === 'Show Log') {
        output.show(true);
      } else if (c === 'Restart') {
        void restart('restart requested');
      }
    });
    return undefined;
  }
  return client;
}

async function annotateFile(): Promise<void> {
  const editor = pythonEditor();
  const lc = editor && await runningClient();
  if (!editor || !lc) {
    return;
  }
  // The server's "Annotate layer shapes" source action: one edit, undone with one Ctrl+Z.
  await vscode.commands.executeCommand('editor.action.sourceAction', {
    kind: 'source.annotate.cnnshape',
    apply: 'first',
  });
}

async function showModelSummary(model?: unknown): Promise<void> {
  const editor = pythonEditor();
  const lc = editor && await runningClient();
  if (!editor || !lc) {
    return;
  }
  const uri = lc.code2ProtocolConverter.asUri(editor.document.uri);
  // The model names are the arguments of the server's code lenses (one per model).
  const lenses = (await lc.sendRequest('textDocument/codeLens', { textDocument: { uri } }).catch(() => [])) as
    Array<{ command?: { command: string; title: string; arguments?: unknown[] } }> | null;
  const models = (lenses ?? [])
    .map((l) => l.command)
    .filter((c): c is { command: string; title: string; arguments?: unknown[] } => !!c && c.command === 'cnnshape.showSummary')
    .map((c) => ({ label: String(c.arguments?.[1] ?? ''), description: c.title }));
  let name: string | undefined;
  if (typeof model === 'string' && model) {
    name = model; // from the code lens over that model
  } else if (models.length > 1) {
    const picked = await vscode.window.showQuickPick(models, { placeHolder: 'Which model?' });
    if (!picked) {
      return;
    }
    name = picked.label;
  } else if (models.length === 1) {
    name = models[0].label;
  }
  let text: string | null;
  try {
    text = (await lc.sendRequest(ExecuteCommandRequest.type, {
      command: 'cnnshape.showSummary',
      arguments: name ? [uri, name] : [uri],
    })) as string | null;
  } catch (err) {
    log(`cnnshape.showSummary failed: ${err}`);
    void vscode.window.showErrorMessage(`cnnshape: the server could not show the summary (${err}).`, 'Show Log')
      .then((c) => c && output.show(true));
    return;
  }
  if (!text) {
    void vscode.window.showInformationMessage('cnnshape: no model found in this file.');
    return;
  }
  showSummaryPanel(name ?? path.basename(editor.document.uri.fsPath), text);
}

/** One view beside the editor with the summary table, as `cnnshape check` prints it; reused for the next one. */
function showSummaryPanel(title: string, text: string): void {
  if (!summaryPanel) {
    summaryPanel = vscode.window.createWebviewPanel('cnnshape.summary', '', {
      viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: false });
    summaryPanel.onDidDispose(() => { summaryPanel = undefined; });
  }
  summaryPanel.title = `Summary: ${title}`;
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  summaryPanel.webview.html = `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<style>body { color: var(--vscode-editor-foreground); background: var(--vscode-editor-background); }
pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }</style>
</head><body><pre>${escaped}</pre></body></html>`;
  summaryPanel.reveal(vscode.ViewColumn.Beside, true);
}

// ------------------------------------------------------------------------------------------ helpers

/** For the start-up log: the time since activation. */
function since(): string {
  return `${Date.now() - activatedAt} ms after activation`;
}

function log(message: string): void {
  output.appendLine(`[client ${new Date().toISOString().slice(11, 23)}] ${message}`);
}

function setStatus(text: string, tooltip: string, warn = false): void {
  status.text = text;
  status.tooltip = tooltip;
  status.backgroundColor = warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  status.show();
}
