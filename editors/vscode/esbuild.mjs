// Bundle the extension and its dependencies into dist/extension.js (vscode is provided by the editor).
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const ctx = await esbuild.context({
  entryPoints: ['src/extension.ts'],
  bundle: true,
  outfile: 'dist/extension.js',
  external: ['vscode'],
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  sourcemap: !production,
  minify: production,
  logLevel: 'info',
  // When VS Code began loading the bundle: the extension logs how long the load took (the start-up's steps).
  banner: { js: "'use strict'; var cnnshapeLoadStart = Date.now();" },
});
if (watch) {
  await ctx.watch();
} else {
  await ctx.rebuild();
  await ctx.dispose();
}
