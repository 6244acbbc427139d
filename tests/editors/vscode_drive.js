// Drive VS Code (code-server) in headless Chromium as a person would, with the cnnshape-ls extension
// installed. Usage: node vscode_drive.js CONFIG.json   (see test_vscode.py for the fields)
// Writes a JSON report to config.report; exits 0 when every step ran (the assertions are in pytest).
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const report = { steps: [], errors: [] };
const t0 = Date.now();
const log = (...a) => console.log(`[vscode ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const save = () => fs.writeFileSync(config.report, JSON.stringify(report, null, 2));
const shot = (page, name) => page.screenshot({ path: path.join(config.shots, name) });

async function poll(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) {
      return last;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// The text of every rendered line of the editor, inlay hints included (Monaco draws a hint as a
// span of injected text inside the line).
const editorLines = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.monaco-editor .view-lines .view-line')]
    .map((el) => ({ top: parseFloat(el.style.top) || 0, text: el.innerText.replace(/\u00a0/g, ' ') }))
    .sort((a, b) => a.top - b.top).map((l) => l.text));

// Inlay hint spans: the injected-text spans Monaco styles with dynamic classes.
const hintTexts = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.monaco-editor .view-lines .view-line span[class*="dyn-rule"]')]
    .map((el) => el.textContent.replace(/\u00a0/g, ' ').trim()).filter((t) => t.length > 0));

const hoverText = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.monaco-hover:not(.hidden) .monaco-hover-content, .monaco-hover:not(.hidden) .hover-contents')]
    .map((el) => el.innerText).join('\n'));

async function closeHover(page) {
  await page.keyboard.press('Escape');
  const empty = await page.locator('.part.sidebar').boundingBox();
  if (empty) {
    await page.mouse.move(empty.x + empty.width / 2, empty.y + empty.height - 20);
  }
  await page.waitForTimeout(300);
}

async function goTo(page, line, column) {
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 5000 });
  await page.keyboard.type(`${line}:${column}`);
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
}

async function step(page, name, fn) {
  const start = Date.now();
  try {
    const value = await fn();
    report.steps.push({ name, ok: true, ms: Date.now() - start });
    log(`ok   ${name}`);
    return value;
  } catch (err) {
    report.steps.push({ name, ok: false, ms: Date.now() - start, error: String(err && err.message || err) });
    report.errors.push(`${name}: ${err && err.message || err}`);
    log(`FAIL ${name}: ${err && err.message || err}`);
    await page.screenshot({ path: path.join(config.outdir, `fail-${name}.png`) }).catch(() => {});
    throw err;
  } finally {
    save();
  }
}

/** The cold open's end: the first `# out:` hint drawn, in ms after the click on the file (report.firstHintMs). */
async function firstHint(page) {
  // polled in the page every 50 ms (poll() takes 250 ms steps): the figure is the click-to-hints time
  await page.waitForFunction(() => [...document.querySelectorAll('.monaco-editor .view-lines .view-line span[class*="dyn-rule"]')]
    .some((el) => el.textContent.replace(/\u00a0/g, ' ').includes('# out:')), null, { timeout: 90000, polling: 50 });
  if (report.openedAt) {
    report.firstHintMs = Date.now() - report.openedAt;
    log(`first hint drawn at ${new Date().toISOString()}: ${report.firstHintMs} ms after opening the file`);
  }
}

(async () => {
  fs.mkdirSync(config.shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
  page.on('console', (m) => {
    if (/cnnshape|languageclient|error/i.test(m.text())) {
      log('console:', m.text().slice(0, 300));
    }
  });
  try {
    await step(page, 'open-workbench', async () => {
      await page.goto(config.url);
      await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    });

    if (config.trust === 'decline') {
      // Workspace trust is on: VS Code asks; the user does not trust the folder (Restricted Mode).
      await step(page, 'decline-trust', async () => {
        const no = page.locator('.monaco-dialog-box .monaco-button', { hasText: "No, I don't trust the authors" });
        await no.waitFor({ timeout: 30000 });
        await no.click();
        await page.locator('.monaco-dialog-box').waitFor({ state: 'detached', timeout: 10000 });
      });
    }

    if (config.openWhenRunning) {
      // The user opens the folder, then a file: the extension starts on the folder (workspaceContains), and
      // the file is clicked once its status says the server runs. The click then meets a warm server.
      await step(page, 'server-before-file', async () => {
        const item = page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'cnnshape' });
        await poll(async () => (await item.locator('.codicon-check').count()) > 0, 60000,
          'the cnnshape status (server running) before any file is open');
        report.serverRunningAt = Date.now();
        report.editorsBeforeOpen = await page.locator('.tabs-container .tab').count();
      });
    }

    await step(page, 'open-file', async () => {
      // Click the file in the Explorer, as a person would (Quick Open is flaky in code-server).
      const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: config.file });
      await row.waitFor({ timeout: 60000 });
      await row.click();
      report.openedAt = Date.now(); // cold open: from this click to the first hint drawn (the extension starts now)
      log(`file opened at ${new Date(report.openedAt).toISOString()}`);
      await page.waitForSelector('.monaco-editor .view-lines', { timeout: 30000 });
    });

    if (config.toasts) {
      // The server cannot start: what the user is told (every message shown), and the status bar.
      report.toasts = await step(page, 'toasts', async () => {
        const toasts = page.locator('.notifications-toasts .notification-toast');
        await poll(async () => (await toasts.allInnerTexts()).some((t) => t.includes(config.toasts)), 60000,
          `a message saying "${config.toasts}"`);
        await page.waitForTimeout(5000); // any other message the start-up would add
        await shot(page, 'toasts.png');
        return toasts.allInnerTexts();
      });
      report.statusbar = await page.locator('#workbench\\.parts\\.statusbar').innerText().catch(() => '');
    } else if (config.blocks) {
      // A block built several times: the shared line's hint, and the hover listing its instances.
      report.blocks = await step(page, 'shared-block-line', async () => {
        await firstHint(page);
        await poll(async () => (await editorLines(page)).some((l) => l.includes('x = self.conv(x)') && l.includes('×19')),
          90000, 'the shared-line hint');
        const line = page.locator('.monaco-editor .view-line', { hasText: 'x = self.conv(x)' }).first();
        const token = line.locator('span', { hasText: /conv/ }).last();
        const box = await token.boundingBox();
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        let hover = '';
        await poll(async () => {
          hover = await hoverText(page);
          return hover.includes('instances');
        }, 15000, 'the shared-line hover');
        await page.waitForTimeout(300);
        await shot(page, 'vscode-blocks.png');
        return { lines: await editorLines(page), hover };
      });
    } else {
    report.hints = await step(page, 'inlay-hints', async () => {
      await firstHint(page);
      await poll(async () => (await editorLines(page)).some((l) => l.includes('# out: (BS, 8, 30, 30)') && l.includes('relu1')),
        90000, 'the # out: inlay hints');

      await page.waitForSelector('.monaco-editor .squiggly-error', { timeout: 30000 });
      await page.waitForTimeout(500);
      await shot(page, config.hintsShot || 'vscode-hints.png');
      return { hints: await hintTexts(page), lines: await editorLines(page) };
    });

    report.statusbar = await page.locator('#workbench\\.parts\\.statusbar').innerText().catch(() => '');
    if (config.only !== 'hints') {
      await moreSteps(page);
    }
    }
    report.ok = report.errors.length === 0;
  } catch (err) {
    report.ok = false;
    if (!report.errors.length) {
      report.errors.push(String(err && err.stack || err));
    }
  } finally {
    save();
    await browser.close().catch(() => {});
  }
  log(report.ok ? 'done' : 'failed');
  process.exit(report.ok ? 0 : 1);
})().catch((err) => {
  report.errors.push(String(err && err.stack || err));
  save();
  process.exit(2);
});

// The squiggle's hover, a layer's hover, the quick fix (applied and saved), the annotate command.
async function moreSteps(page) {
  report.diagnostic = await step(page, 'diagnostic-hover', async () => {
    report.squigglesBefore = await page.locator('.monaco-editor .squiggly-error').count();
    const squiggle = page.locator('.monaco-editor .squiggly-error').first();
    const box = await squiggle.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const text = await poll(async () => {
      const t = await hoverText(page);
      return t.includes('cannot be multiplied') ? t : '';
    }, 15000, 'the diagnostic hover');
    await page.waitForTimeout(300);
    await shot(page, 'vscode-diagnostic.png');
    await closeHover(page);
    return text;
  });

  report.hover = await step(page, 'layer-hover', async () => {
    const line = page.locator('.monaco-editor .view-line', { hasText: "('conv1'" });
    const token = line.locator('span', { hasText: /^Conv2d$|^nn\.Conv2d$|Conv2d/ }).last();
    const box = await token.boundingBox();
    await page.mouse.move(box.x + box.width - 12, box.y + box.height / 2);
    const text = await poll(async () => {
      const t = await hoverText(page);
      return t.includes('H_out') ? t : '';
    }, 15000, 'the layer hover');
    await page.waitForTimeout(300);
    await shot(page, 'vscode-hover.png');
    await closeHover(page);
    return text;
  });

  report.quickfix = await step(page, 'quick-fix', async () => {
    await page.locator('.monaco-editor .view-lines').first().click({ position: { x: 5, y: 5 } });
    await goTo(page, config.fixLine, config.fixColumn);
    await page.keyboard.press('Control+.');
    const menu = page.locator('.action-widget');
    await menu.waitFor({ state: 'visible', timeout: 15000 });
    const item = menu.locator('.monaco-list-row', { hasText: config.fixTitle });
    await item.first().waitFor({ timeout: 15000 });
    const items = await menu.locator('.monaco-list-row').allInnerTexts();
    await page.waitForTimeout(300);
    await shot(page, 'vscode-quickfix.png');
    // The preferred fix comes first and is selected: Enter applies it, as a person would.
    const focused = await menu.locator('.monaco-list-row.focused').first().innerText().catch(() => '');
    if (focused.includes(config.fixTitle)) {
      await page.keyboard.press('Enter');
    } else {
      const box = await item.first().boundingBox();
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    }
    await poll(async () => (await editorLines(page)).some((l) => l.includes(config.fixedText)), 10000, 'the edit');
    await page.keyboard.press('Control+S');
    await poll(async () => fs.readFileSync(config.filePath, 'utf8').includes(config.fixedText), 15000, 'the file saved');
    await poll(async () => (await page.locator('.monaco-editor .squiggly-error').count()) === 0, 20000,
      'the error squiggle to go');
    return { items: items.map((t) => t.replace(/\s+/g, ' ').trim()), focused: focused.trim() };
  });

  report.annotate = await step(page, 'annotate-command', async () => {
    // Command Palette: "cnnshape: Annotate File with # out: Comments".
    await page.keyboard.press('F1');
    await page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 10000 });
    await page.keyboard.type('cnnshape: Annotate File');
    const entry = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Annotate File' }).first();
    await entry.waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
    await poll(async () => (await editorLines(page)).some((l) => l.includes("('relu1', nn.ReLU()),  # out: (BS, 8, 30, 30)")),
      15000, 'the # out: comments');
    await page.waitForTimeout(500);
    return { lines: await editorLines(page), hints: await hintTexts(page) };
  });

  const summaryTable = async () => {
    let table = '';
    await poll(async () => {
      for (const frame of page.frames()) {
        const text = await frame.evaluate(() => document.body ? document.body.innerText : '').catch(() => '');
        if (text.includes('Total params:')) {
          table = text;
          return true;
        }
      }
      return false;
    }, 20000, 'the summary table');
    return table;
  };

  report.lensSummary = await step(page, 'summary-code-lens', async () => {
    // The code lens over the model ("82,928 params · ..."): the summary panel beside the editor.
    const tabsBefore = await page.locator('.tabs-container .tab').allInnerTexts();
    const lens = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'params' }).first();
    await lens.waitFor({ timeout: 15000 });
    await lens.click();
    const table = await summaryTable();
    await page.waitForTimeout(300);
    const tabsAfter = await page.locator('.tabs-container .tab').allInnerTexts();
    // closed again: the Command Palette below opens it anew
    await page.locator('.tabs-container .tab', { hasText: 'Summary:' }).locator('.codicon-close').click();
    await poll(async () => (await page.locator('.tabs-container .tab', { hasText: 'Summary:' }).count()) === 0,
      10000, 'the summary tab to close');
    return { table, tabsBefore, tabsAfter };
  });

  report.summary = await step(page, 'summary-command', async () => {
    // Command Palette: "cnnshape: Show Model Summary": one view beside the editor, the CLI's table in it.
    await page.locator('.tabs-container .tab', { hasText: config.file }).click();
    const tabsBefore = await page.locator('.tabs-container .tab').allInnerTexts();
    await page.keyboard.press('F1');
    await page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 10000 });
    await page.keyboard.type('cnnshape: Show Model Summary');
    const entry = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Show Model Summary' }).first();
    await entry.waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
    const table = await summaryTable();
    await page.waitForTimeout(500);
    await shot(page, 'vscode-summary.png');
    const tabsAfter = await page.locator('.tabs-container .tab').allInnerTexts();
    const toasts = await page.locator('.notifications-toasts .notification-toast').allInnerTexts();
    return { table, tabsBefore, tabsAfter, toasts };
  });
}
