// Drive VS Code (code-server) in headless Chromium on a Jupyter notebook, with the cnnshape-ls extension
// installed: open the .ipynb from the Explorer, wait for the # out: hints in a cell and the squiggle, hover
// it, apply the quick fix from the Ctrl+. menu and save. Usage: node vscode_notebook_drive.js CONFIG.json
// (fields: see test_vscode_notebook.py). Writes a JSON report; the assertions are in pytest.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const report = { steps: [], errors: [] };
const t0 = Date.now();
const log = (...a) => console.log(`[notebook ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const save = () => fs.writeFileSync(config.report, JSON.stringify(report, null, 2));
const shot = (page, name) => page.screenshot({ path: path.join(config.shots, name) });

async function poll(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const value = await fn();
    if (value) {
      return value;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// Every rendered line of every cell editor, inlay hints included, in the order the notebook shows them.
const cellLines = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.notebook-editor .cell-editor-container .monaco-editor .view-lines')].flatMap((lines) =>
    [...lines.querySelectorAll('.view-line')]
      .map((el) => ({ top: parseFloat(el.style.top) || 0, text: el.innerText.replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top).map((l) => l.text)));

const hintTexts = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.notebook-editor .monaco-editor .view-line span[class*="dyn-rule"]')]
    .map((el) => el.textContent.replace(/\u00a0/g, ' ').trim()).filter((t) => t.length > 0));

const hoverText = (page) => page.evaluate(() =>
  [...document.querySelectorAll('.monaco-hover:not(.hidden) .monaco-hover-content, .monaco-hover:not(.hidden) .hover-contents')]
    .map((el) => el.innerText).join('\n'));

// Scroll the notebook with the mouse wheel, as a person would, until the squiggle is well inside the view
// (the notebook's list scrolls itself; scrollIntoView does not move it).
async function scrollToSquiggle(page) {
  const squiggle = page.locator('.notebook-editor .monaco-editor .squiggly-error').first();
  await page.mouse.move(800, 450);
  for (let i = 0; i < 40; i++) {
    const box = await squiggle.boundingBox();
    if (box && box.y > 250 && box.y < 600) {
      break;
    }
    await page.mouse.wheel(0, box && box.y < 250 ? -120 : 120);
    await page.waitForTimeout(150);
  }
  await page.waitForTimeout(500);
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

(async () => {
  fs.mkdirSync(config.shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  page.on('console', (m) => {
    if (/cnnshape|languageclient|notebook.*error/i.test(m.text())) {
      log('console:', m.text().slice(0, 300));
    }
  });
  try {
    await step(page, 'open-workbench', async () => {
      await page.goto(config.url);
      await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    });

    await step(page, 'open-notebook', async () => {
      const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: config.file });
      await row.waitFor({ timeout: 60000 });
      await page.waitForTimeout(3000);  // the built-in ipynb extension registers the notebook type
      await row.click();
      const cells = '.notebook-editor .cell-editor-container .monaco-editor .view-lines';
      try {
        await page.waitForSelector(cells, { timeout: 20000 });
      } catch (err) {
        // opened as JSON text: "Reopen Editor With..." the Jupyter Notebook editor, as a person would
        await page.keyboard.press('F1');
        await page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 10000 });
        await page.keyboard.type('Reopen Editor With');
        await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Reopen Editor With' }).first().waitFor({ timeout: 10000 });
        await page.keyboard.press('Enter');
        const choice = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Jupyter Notebook' }).first();
        await choice.waitFor({ timeout: 10000 });
        await choice.click();
        report.reopened = true;
        await page.waitForSelector(cells, { timeout: 60000 });
      }
    });

    report.hints = await step(page, 'hints-in-a-cell', async () => {
      await poll(async () => (await cellLines(page)).some((l) => l.includes(config.hintLine) && l.includes(config.hint)),
        120000, 'the # out: hint in the model cell');
      await page.waitForSelector('.notebook-editor .monaco-editor .squiggly-error', { timeout: 30000 });
      await page.waitForTimeout(800);
      await scrollToSquiggle(page);
      await shot(page, 'vscode-notebook-hints.png');
      return { hints: await hintTexts(page), lines: await cellLines(page) };
    });

    report.diagnostic = await step(page, 'diagnostic-hover', async () => {
      report.squigglesBefore = await page.locator('.notebook-editor .monaco-editor .squiggly-error').count();
      await scrollToSquiggle(page);
      const box = await page.locator('.notebook-editor .monaco-editor .squiggly-error').first().boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const text = await poll(async () => {
        const t = await hoverText(page);
        return t.includes('cannot be multiplied') ? t : '';
      }, 20000, 'the diagnostic hover');
      await page.waitForTimeout(300);
      await shot(page, 'vscode-notebook-diagnostic.png');
      await page.keyboard.press('Escape');
      return text;
    });

    report.quickfix = await step(page, 'quick-fix', async () => {
      await scrollToSquiggle(page);
      const box = await page.locator('.notebook-editor .monaco-editor .squiggly-error').first().boundingBox();
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);  // the cursor on the squiggle
      await page.waitForTimeout(500);
      await page.keyboard.press('Control+.');
      const menu = page.locator('.action-widget');
      await menu.waitFor({ state: 'visible', timeout: 15000 });
      const item = menu.locator('.monaco-list-row', { hasText: config.fixTitle });
      await item.first().waitFor({ timeout: 15000 });
      const items = await menu.locator('.monaco-list-row').allInnerTexts();
      await page.waitForTimeout(300);
      await shot(page, 'vscode-notebook-quickfix.png');
      const focused = await menu.locator('.monaco-list-row.focused').first().innerText().catch(() => '');
      if (focused.includes(config.fixTitle)) {
        await page.keyboard.press('Enter');
      } else {
        const at = await item.first().boundingBox();
        await page.mouse.click(at.x + at.width / 2, at.y + at.height / 2);
      }
      await poll(async () => (await cellLines(page)).some((l) => l.includes(config.fixedText)), 15000, 'the edit');
      await page.keyboard.press('Escape');  // leave the cell editor: Ctrl+S saves the notebook
      await page.keyboard.press('Control+S');
      await poll(async () => fs.readFileSync(config.filePath, 'utf8').includes(config.fixedText), 20000, 'the notebook saved');
      await poll(async () => (await page.locator('.notebook-editor .monaco-editor .squiggly-error').count()) === 0, 30000,
        'the error squiggle to go');
      return { items: items.map((t) => t.replace(/\s+/g, ' ').trim()), focused: focused.trim() };
    });
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
