// test_portal.mjs: the portal's browser test (tests/browser/portal.mjs) in Debian's Chromium, over CDP.
import { runPortal } from './portal.mjs';

await runPortal('chromium');
