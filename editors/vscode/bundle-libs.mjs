// Put the language server and its pure-Python dependencies in bundled/libs, from this checkout, so that
// the .vsix needs no package index: the extension runs them with whatever Python it finds
// (PYTHONPATH=bundled/libs). Run by `npm run package` (vscode:prepublish). The Python that runs pip:
// $CNNSHAPE_BUNDLE_PYTHON, else python3.
import { execFileSync } from 'child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join, resolve } from 'path';
import { fileURLToPath } from 'url';

const here = dirname(fileURLToPath(import.meta.url));
const checkout = resolve(here, '..', '..');
const target = join(here, 'bundled', 'libs');
const python = process.env.CNNSHAPE_BUNDLE_PYTHON || (process.platform === 'win32' ? 'python' : 'python3');

rmSync(join(here, 'bundled'), { recursive: true, force: true });
const pip = (args) => execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
  '--no-compile', '--no-warn-script-location', '--root-user-action=ignore', '--target', target, ...args], { stdio: 'inherit' });
// The server's dependencies as pyproject.toml lists them (pygls, lsprotocol, jedi, ... and theirs: cattrs,
// attrs, parso, typing_extensions), as pure-Python wheels that run on any Python the server supports. pip
// drops a requirement whose marker does not hold for the Python running it, so the markers are cut off and
// what only Python 3.10 needs is named (tomli; exceptiongroup, cattrs' there).
const dependencies = execFileSync(python, ['-c', [
  'import json, sys',
  'try:\n import tomllib\nexcept ImportError:\n import tomli as tomllib',
  `print(json.dumps(tomllib.load(open(${JSON.stringify(join(checkout, 'pyproject.toml'))}, "rb"))["project"]["dependencies"]))`,
].join('\n')], { encoding: 'utf8' });
pip(['--platform', 'any', '--implementation', 'py', '--python-version', '3.10', '--only-binary=:all:',
  ...JSON.parse(dependencies).map((r) => r.split(';')[0].trim()), 'exceptiongroup>=1.1.1']);
// Then the server itself, from a copy of this checkout's package (pip builds in the source folder, and a
// build/ left there from before would ship modules since deleted). No torch: verification uses the user's
// own environment.
const source = mkdtempSync(join(tmpdir(), 'cnnshape-bundle-'));
try {
  for (const name of ['pyproject.toml', 'README.md', 'cnnshape_ls']) {
    cpSync(join(checkout, name), join(source, name), { recursive: true, filter: (p) => !p.includes('__pycache__') });
  }
  pip(['--no-deps', source]);
} finally {
  rmSync(source, { recursive: true, force: true });
}

// Nothing that only runs from a shell, and no bytecode pip may have left (compiled below, for all alike).
rmSync(join(target, 'bin'), { recursive: true, force: true });
// jedi's stubs of third-party packages (27 MB of 33): the server never asks jedi about them.
rmSync(join(target, 'jedi', 'third_party', 'typeshed', 'stubs'), { recursive: true, force: true });
rmSync(join(target, 'jedi', 'third_party', 'django-stubs'), { recursive: true, force: true });
const prune = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name === '__pycache__') {
        rmSync(path, { recursive: true, force: true });
      } else {
        prune(path);
      }
    }
  }
};
prune(target);
// Bytecode for the Python that built it (Debian 12's and Ubuntu 24.04's python3 are 3.11/3.12): a cold start
// then imports instead of compiling (lsprotocol's types alone take a second). Checked by nothing but the
// interpreter's version, so unpacking the .vsix, which sets new file times, does not make it stale; other
// versions compile on first use as usual.
// Only what the server imports (not jedi and parso, which it never does): 1 MB more in the .vsix, not 2.
execFileSync(python, ['-m', 'compileall', '-q', '-j', '0', '--invalidation-mode', 'unchecked-hash',
  ...['cnnshape_ls', 'pygls', 'lsprotocol', 'cattrs', 'attrs', 'attr', 'typing_extensions.py'].map((n) => join(target, n))],
{ stdio: 'inherit' });
for (const name of ['cnnshape_ls', 'pygls', 'lsprotocol', 'cattrs', 'attrs', 'jedi', 'parso']) {
  if (!existsSync(join(target, name))) {
    throw new Error(`bundled/libs has no ${name}`);
  }
}
if (existsSync(join(target, 'torch'))) {
  throw new Error('bundled/libs must not hold torch');
}
console.log(`bundled the server into ${target}`);
