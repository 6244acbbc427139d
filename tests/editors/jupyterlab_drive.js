// Drive JupyterLab (with jupyterlab-lsp) in headless Chromium on a notebook: wait for cnnshape-ls's error
// in the model's cell (a CodeMirror lint range), hover it, take a screenshot.
// Usage: node jupyterlab_drive.js CONFIG.json  (fields: see test_jupyterlab.py). Writes a JSON report.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const report = { errors: [] };
const save = () => fs.writeFileSync(config.report, JSON.stringify(report, null, 2));

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

(async () => {
  const browser = await chromium.launch({ executablePath: config.chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  try {
    await page.goto(config.url);
    await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 90000 });
    const error = page.locator('.jp-Notebook .cm-lintRange-error').first();
    await error.waitFor({ timeout: 90000 });
    // a message box of the server (verification's trust notice) may sit over the notebook: close it
    for (const dialog of await page.locator('.jp-Dialog .jp-mod-accept').all()) {
      await dialog.click().catch(() => {});
    }
    const newsNo = page.locator('.jp-toast-button', { hasText: 'No' });
    if (await newsNo.count()) {
      await newsNo.first().click().catch(() => {});
    }
    await error.scrollIntoViewIfNeeded();
    report.errorText = await error.innerText();
    report.cellText = await error.locator('xpath=ancestor::div[contains(@class, "jp-Cell")][1]').innerText();
    const box = await error.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    report.tooltip = await poll(async () => {
      const text = await page.evaluate(() => [...document.querySelectorAll('.cm-tooltip-lint, .cm-tooltip')]
        .map((el) => el.innerText).join('\n'));
      return text.includes('cannot be multiplied') ? text : '';
    }, 20000, 'the diagnostic tooltip');
    await page.waitForTimeout(400);
    await page.screenshot({ path: config.shot });
    report.ok = true;
  } catch (err) {
    report.ok = false;
    report.errors.push(String(err && err.stack || err));
    await page.screenshot({ path: config.shot.replace('.png', '-fail.png') }).catch(() => {});
  } finally {
    save();
    await browser.close().catch(() => {});
  }
  process.exit(report.ok ? 0 : 1);
})();
