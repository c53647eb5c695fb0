// Playwright config of the example: Chromium is the one build.py uses ($BLAZEN_CHROMIUM, else
// chromium/google-chrome on PATH), never a downloaded one; the site is the repository's
// built dist/ (python build.py), with this project's site/ mounted at /app/.
import { defineConfig } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, findChromium } from '../../dist/testing/blazen-playwright.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  testDir: here('tests'),
  outputDir: here('test-results'),
  workers: 1,
  timeout: 60_000,
  use: {
    launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
    blazenDist: here('../../dist'),
    blazenMounts: { app: here('site') },
  },
});
