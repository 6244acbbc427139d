// cnnshape-ls for VS Code: starts the language server (`python -m cnnshape_ls`) with the interpreter from
// `cnnshape.python`, else the Python extension's active environment, else `python3`, and restarts it when
// that interpreter changes.
import * as vscode from 'vscode';
import { execFile } from 'child_process';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import type { PythonExtension } from '@vscode/python-extension';

const SECTION = 'cnnshape';
const PACKAGE = 'cnnshape-ls';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let status: vscode.StatusBarItem;
let python: PythonExtension | undefined;
let starting: Promise<void> = Promise.resolve();
let currentInterpreter: string | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('cnnshape-ls');
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

  python = await loadPythonExtension();
  if (python) {
    context.subscriptions.push(
      python.environments.onDidChangeActiveEnvironmentPath(async () => {
        if (configuredPython()) {
          return; // cnnshape.python wins over the Python extension's choice
        }
        const next = await resolveInterpreter();
        if (next.command !== currentInterpreter) {
          await restart(`the Python extension's environment changed to ${next.command}`);
        }
      }),
    );
  }
  await start();
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

async function resolveInterpreter(): Promise<Interpreter> {
  const configured = configuredPython();
  if (configured) {
    return { command: configured, source: 'cnnshape.python' };
  }
  if (python) {
    try {
      const resource = vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
      const active = python.environments.getActiveEnvironmentPath(resource);
      const env = await python.environments.resolveEnvironment(active);
      const exe = env?.executable.uri?.fsPath;
      if (exe) {
        return { command: exe, source: "the Python extension's active environment" };
      }
    } catch (err) {
      log(`cannot read the Python extension's active environment: ${err}`);
    }
  }
  return { command: process.platform === 'win32' ? 'python' : 'python3', source: 'the PATH' };
}

type Probe = { ok: true; version: string } | { ok: false; reason: 'no-python' | 'no-package'; detail: string };

function serverCwd(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function probe(interpreter: string): Promise<Probe> {
  // What `python -m cnnshape_ls` needs, imported the way the server will be (same folder, same PATH).
  const code = 'import cnnshape_ls, pygls, lsprotocol; print(cnnshape_ls.__version__)';
  return new Promise((resolve) => {
    execFile(interpreter, ['-c', code], { timeout: 30000, cwd: serverCwd() }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ ok: true, version: stdout.trim() });
      } else if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES') {
        resolve({ ok: false, reason: 'no-python', detail: String(err.message) });
      } else {
        resolve({ ok: false, reason: 'no-package', detail: (stderr || err.message).trim() });
      }
    });
  });
}

// ------------------------------------------------------------------------------------------ server life

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
  const interpreter = await resolveInterpreter();
  currentInterpreter = interpreter.command;
  log(`interpreter: ${interpreter.command} (from ${interpreter.source})`);
  setStatus('$(sync~spin) cnnshape', `Starting cnnshape-ls with ${interpreter.command}`);

  const found = await probe(interpreter.command);
  if (!found.ok) {
    log(found.detail);
    setStatus('$(warning) cnnshape', 'cnnshape-ls is not running: see the log', true);
    void reportMissing(interpreter, found.reason); // not awaited: the message waits for the user
    return;
  }
  log(`cnnshape-ls ${found.version}; workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: verification off'}`);

  const serverOptions: ServerOptions = {
    command: interpreter.command,
    args: ['-m', 'cnnshape_ls'],
    transport: TransportKind.stdio,
    options: { cwd: serverCwd(), env: { ...process.env, PYTHONUNBUFFERED: '1' } },
  };
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
    initializationOptions: { [SECTION]: { ...settingsSection(), workspaceTrusted: vscode.workspace.isTrusted } },
    synchronize: { configurationSection: SECTION },
    middleware: {
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
  const next = new LanguageClient('cnnshape-ls', 'cnnshape-ls', serverOptions, clientOptions);
  next.onDidChangeState((e) => {
    if (e.newState === State.Running) {
      setStatus('$(check) cnnshape', `cnnshape-ls ${found.version} (${interpreter.command})`);
    } else if (e.newState === State.Stopped) {
      setStatus('$(circle-slash) cnnshape', 'cnnshape-ls stopped: see the log', true);
    }
  });
  client = next;
  try {
    await next.start();
  } catch (err) {
    client = undefined;
    log(`the server did not start: ${err}`);
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

async function reportMissing(interpreter: Interpreter, reason: 'no-python' | 'no-package'): Promise<void> {
  if (reason === 'no-python') {
    const choice = await vscode.window.showErrorMessage(
      `cnnshape-ls: the Python interpreter "${interpreter.command}" (from ${interpreter.source}) was not found. ` +
        'Set cnnshape.python to the Python of the environment that has PyTorch.',
      'Open Settings', 'Show Log');
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'cnnshape.python');
    } else if (choice === 'Show Log') {
      output.show(true);
    }
    return;
  }
  const choice = await vscode.window.showErrorMessage(
    `cnnshape-ls is not installed in ${interpreter.command} (from ${interpreter.source}).`,
    'Install cnnshape-ls', 'Choose Interpreter', 'Show Log');
  if (choice === 'Install cnnshape-ls') {
    await install(interpreter.command);
  } else if (choice === 'Choose Interpreter') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'cnnshape.python');
  } else if (choice === 'Show Log') {
    output.show(true);
  }
}

async function install(interpreter: string): Promise<void> {
  output.show(true);
  log(`${interpreter} -m pip install ${PACKAGE}`);
  const ok = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Installing ${PACKAGE}...` },
    () => new Promise<boolean>((resolve) => {
      const child = execFile(interpreter, ['-m', 'pip', 'install', PACKAGE], { timeout: 600000 }, (err) => resolve(!err));
      child.stdout?.on('data', (d) => output.append(String(d)));
      child.stderr?.on('data', (d) => output.append(String(d)));
    }),
  );
  if (ok) {
    void vscode.window.showInformationMessage(`${PACKAGE} installed in ${interpreter}.`);
    await restart('cnnshape-ls installed');
  } else {
    void vscode.window.showErrorMessage(`pip could not install ${PACKAGE} in ${interpreter}: see the log.`, 'Show Log')
      .then((c) => c && output.show(true));
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

async function showModelSummary(): Promise<void> {
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
  if (models.length > 1) {
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
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: text });
  await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
}

// ------------------------------------------------------------------------------------------ helpers

function log(message: string): void {
  output.appendLine(`[client ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function setStatus(text: string, tooltip: string, warn = false): void {
  status.text = text;
  status.tooltip = tooltip;
  status.backgroundColor = warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  status.show();
}
