// The deliberately failing test: `npx playwright test -c red` runs only red/, with the
// example's own settings (the normal run, `npx playwright test`, never sees it).
import config from '../playwright.config.mjs';

export default { ...config, testDir: '.' };
