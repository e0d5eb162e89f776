// Headless Chromium on the docs page of a default-configured service: sign
// in through the page (createSession, "Try it out"), then perform a write
// (createInstitution) with the token the page took from the sign-in.
// Usage: node docs.mjs BASE_URL EMAIL PASSWORD TOTP_CODE SCREENSHOT
import { chromium } from "playwright-core";

const [base, email, password, totp, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
const failures = [];
page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));

async function execute(id, body, expected) {
  const op = page.locator(`#${id}`);
  await op.locator(".opblock-summary").first().click();
  const text = op.locator("textarea.body-param__text");
  await text.waitFor();
  await text.fill(JSON.stringify(body));
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const got = (await status.innerText()).trim();
  if (!got.startsWith(String(expected))) {
    const answer = await op.locator(".live-responses-table .microlight").first().innerText().catch(() => "");
    failures.push(`${id}: ${got}, expected ${expected}: ${answer.slice(0, 400)}`);
  }
}

await page.goto(`${base}/docs`, { waitUntil: "load" });
await page.locator("#operations-Sessions-createSession").waitFor({ timeout: 20000 });
await execute("operations-Sessions-createSession", { email, password, totp }, 201);
await execute(
  "operations-Exchange-createInstitution",
  { name: "Made in the docs", kind: "employer", country: "NL", city: "Utrecht", sisterCity: false },
  201,
);
await page.screenshot({ path: screenshot, fullPage: false });
await browser.close();
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log("docs page: signed in through the page and created an institution (201)");
