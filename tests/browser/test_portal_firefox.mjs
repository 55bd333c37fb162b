// test_portal_firefox.mjs: the portal's browser test (tests/browser/portal.mjs) in Debian's firefox-esr, over
// WebDriver BiDi. Screenshots go to BUILD/screenshots/firefox/.
import { runPortal } from './portal.mjs';

await runPortal('firefox');
