"""The dashboard's end-to-end journey in a real headless Chromium.

Playwright (PyPI) drives Debian's `chromium` through `executable_path`: no
browser is downloaded. Starts its own local server on a fresh data
directory, then: sign up -> confirm from the outbox -> password -> enrol
TOTP (code computed from the page's secret) -> log out -> log in with TOTP
-> create a channel, a template with two languages and a project -> run the
Python example with the new keys -> the log entry and the chart appear ->
a backup code signs in once (the second use is refused) -> a second client,
with JavaScript off, cannot see the first one's project by URL -> the admin
sees both clients and the queue page. Every page is screenshotted into
SCREENSHOTS (default target/dashboard-screenshots). Any Content-Security-
Policy violation or page error fails the run.

    python infra/dashboard_browser_test.py --server target/.../secure2fa
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple 42"


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def fail(message: str) -> None:
    raise AssertionError(message)


class Journey:
    def __init__(self, base: str, creds: dict, shots: Path):
        self.base = base
        self.creds = creds
        self.shots = shots
        self.count = 0
        self.problems: list[str] = []

    def watch(self, page: Page) -> Page:
        """Fails the run on a CSP violation, a script error or a 5xx."""
        def console(m):
            # A page answered 4xx on purpose is reported as a failed load; the
            # responses are checked below instead.
            if m.type == "error" and not m.text.startswith("Failed to load resource"):
                self.problems.append(f"console: {m.text}")

        def response(r):
            asset = r.request.resource_type in ("stylesheet", "script", "image", "font")
            if r.status >= 500 or (asset and r.status >= 400):
                self.problems.append(f"{r.status} {r.request.resource_type} {r.url}")

        page.on("console", console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", response)
        return page

    def shot(self, page: Page, name: str, scripts: bool = True) -> None:
        self.count += 1
        page.screenshot(path=str(self.shots / f"{self.count:02d}-{name}.png"), full_page=True)
        if scripts:
            self.accessible_basics(page, name)

    def accessible_basics(self, page: Page, name: str) -> None:
        """Every field has a label, one h1 comes first, no heading level is skipped."""
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')]
            .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        if unlabelled:
            self.problems.append(f"{name}: fields without a label: {unlabelled}")
        levels = page.evaluate("() => [...document.querySelectorAll('h1,h2,h3,h4')].map(h => +h.tagName[1])")
        skipped = any(b > a + 1 for a, b in zip(levels, levels[1:]))
        if not levels or levels[0] != 1 or levels.count(1) != 1 or skipped:
            self.problems.append(f"{name}: headings out of order: {levels}")

    def outbox(self) -> list[dict]:
        with urllib.request.urlopen(self.creds["outbox_url"]) as r:
            return json.load(r)

    def mailed_link(self, to: str, path: str) -> str:
        for _ in range(50):
            for m in self.outbox():
                if m["to"] == to:
                    found = re.search(re.escape(path) + r"\?token=[A-Za-z0-9_-]+", m["body"])
                    if found:
                        return self.base + found.group(0)
            time.sleep(0.1)
        fail(f"no mail to {to} with a {path} link")

    def sign_up(self, page: Page, email: str, tag: str, scripts: bool = True) -> str:
        """Signs up, confirms, sets the password and enrols: the TOTP secret."""
        page.goto(self.base + "/signup")
        self.shot(page, scripts=scripts, name=f"{tag}-signup")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
        self.shot(page, scripts=scripts, name=f"{tag}-check-your-mail")
        link = self.mailed_link(email, "/confirm")
        page.goto(link)
        self.shot(page, scripts=scripts, name=f"{tag}-choose-password")
        page.get_by_label("New password").fill(PASSWORD)
        page.get_by_label("Repeat it").fill(PASSWORD)
        page.get_by_role("button", name="Save the password").click()
        expect(page.get_by_text("Your address is confirmed")).to_be_visible()
        self.shot(page, scripts=scripts, name=f"{tag}-login-confirmed")
        self.password_step(page, email)
        expect(page.get_by_role("heading", name="Link an authenticator")).to_be_visible()
        page.get_by_role("button", name="Show the QR code").click()
        expect(page.locator("figure.qr svg")).to_be_visible()
        self.shot(page, scripts=scripts, name=f"{tag}-enrol-totp")
        secret = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
        self.shot(page, scripts=scripts, name=f"{tag}-backup-codes")
        return secret

    def password_step(self, page: Page, email: str, password: str = PASSWORD) -> None:
        if "/login" not in page.url:
            page.goto(self.base + "/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Continue").click()

    def totp_step(self, page: Page, secret: str, last_code: list[str]) -> None:
        """Enters a code of a time step not used before (each is accepted once)."""
        totp = pyotp.TOTP(secret)
        while totp.now() in last_code:
            time.sleep(1)
        code = totp.now()
        last_code.append(code)
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        page.get_by_label("Code from your authenticator app").fill(code)
        page.get_by_role("button", name="Sign in", exact=True).click()

    def log_out(self, page: Page) -> None:
        page.get_by_role("button", name="Log out", exact=True).click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def run(base: str, creds: dict, shots: Path, chromium: str) -> None:
    j = Journey(base, creds, shots)
    alice = "alice@example.com"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = j.watch(browser.new_context(viewport={"width": 1200, "height": 900}).new_page())

        secret = j.sign_up(page, alice, "a")
        codes = [c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]
        if len(codes) != 10:
            fail(f"10 backup codes expected, saw {len(codes)}")
        used = [pyotp.TOTP(secret).now()]
        page.get_by_role("link", name="Continue to the dashboard").click()
        expect(page.get_by_role("heading", name="Logs")).to_be_visible()
        j.log_out(page)

        # Back in with the password and a TOTP code.
        j.password_step(page, alice)
        j.totp_step(page, secret, used)
        expect(page.get_by_role("heading", name="Logs")).to_be_visible()
        j.shot(page, "a-home-empty")

        # A channel (the outbox), a template in two languages, a project.
        nav(page, "Channels")
        j.shot(page, "a-channels")
        page.get_by_label("Provider").select_option("outbox")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Title").fill("Outbox mail")
        page.get_by_label("Sends").select_option("email")
        j.shot(page, "a-channel-new")
        page.get_by_role("button", name="Create the channel").click()
        expect(page.get_by_role("heading", name="Outbox mail")).to_be_visible()
        j.shot(page, "a-channel")

        nav(page, "Templates")
        page.get_by_role("link", name="New template").click()
        page.get_by_label("Title").fill("Sign-in code")
        page.get_by_label("Body").fill("no code here")
        page.get_by_role("button", name="Create the template").click()
        expect(page.locator("#template-error")).to_contain_text("must contain {{ OTP_CODE }}")
        j.shot(page, "a-template-error-in-place")
        page.get_by_label("Body").fill("Your {{ PROJECT_NAME }} code is {{ OTP_CODE }}.")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview-body")).to_have_text("Your Your project code is 123456.")
        page.get_by_role("button", name="Create the template").click()
        expect(page.get_by_role("link", name="en (default)")).to_be_visible()
        page.get_by_label("Add a language").fill("fr")
        page.get_by_role("button", name="Add").click()
        page.get_by_label("Subject (email)").fill("Votre code")
        page.get_by_label("Body").fill("Votre code {{ OTP_CODE }} pour {{ PROJECT_NAME }}.")
        # The preview follows the typing (the script posts the form for a preview).
        expect(page.locator("#preview-body")).to_have_text("Votre code 123456 pour Your project.")
        page.get_by_role("button", name="Save this version").click()
        expect(page.get_by_role("link", name="fr")).to_be_visible()
        j.shot(page, "a-template-editor")

        nav(page, "Projects")
        page.get_by_role("link", name="New project").click()
        page.get_by_label("Title", exact=True).fill("Shop login")
        j.shot(page, "a-project-new")
        page.get_by_role("button", name="Create the project").click()
        expect(page.get_by_role("heading", name="Project “Shop login” created")).to_be_visible()
        j.shot(page, "a-project-created")
        public_key = page.locator("#public-key").inner_text().strip()
        secret_key = page.locator("#secret-key").inner_text().strip()
        if secret_key not in page.locator("#snippet").inner_text():
            fail("the integration snippet does not carry the new secret key")
        page.get_by_role("link", name="Go to the project").click()
        project_url = page.url
        if secret_key in page.content():
            fail("the secret key is rendered again after its creation page")
        j.shot(page, "a-project")

        # The README's Python example against these keys.
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"base_url": base, "public_key": public_key, "secret_key": secret_key}, f)
        example = subprocess.run(
            [sys.executable, str(ROOT / "examples/python/example.py"), "--credentials", f.name,
             "--user-id", "shopper-1"],
            cwd=ROOT / "examples/python", capture_output=True, text=True, timeout=60)
        os.unlink(f.name)
        if example.returncode != 0:
            fail(f"the Python example failed: {example.stdout}{example.stderr}")

        nav(page, "Logs")
        page.get_by_label("Project").select_option(label="Shop login")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#logs")).to_contain_text("otp.approved")
        expect(page.locator("#chart-sent rect.bar").last).to_be_visible()
        j.shot(page, "a-home-logs-and-charts")

        page.goto(project_url + "/end-users")
        expect(page.locator("#end-users")).to_contain_text("shopper-1")
        page.get_by_role("link", name="shopper-1").click()
        expect(page.get_by_role("heading", name="Logs of shopper-1")).to_be_visible()
        j.shot(page, "a-end-users")

        page.goto(base + "/account")
        j.shot(page, "a-account")

        # A backup code signs in once.
        j.log_out(page)
        for attempt in range(2):
            j.password_step(page, alice)
            expect(page.get_by_role("heading", name="Second step")).to_be_visible()
            page.get_by_text("Lost your device? Use a backup code").click()
            page.get_by_label("Backup code").fill(codes[0])
            page.get_by_role("button", name="Sign in with a backup code").click()
            if attempt == 0:
                expect(page.get_by_role("heading", name="Logs")).to_be_visible()
                j.log_out(page)
            else:
                expect(page.get_by_role("alert")).to_contain_text("wrong, expired or already used")
                j.shot(page, "a-backup-code-refused")

        # A second client, with JavaScript off: every step works without it,
        # and the first client's project is not found by its URL.
        context_b = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 780})
        page_b = j.watch(context_b.new_page())
        j.sign_up(page_b, "bob@example.com", "b-nojs-360px", scripts=False)
        page_b.get_by_role("link", name="Continue to the dashboard").click()
        expect(page_b.get_by_role("heading", name="Logs")).to_be_visible()
        j.shot(page_b, "b-nojs-360px-home", scripts=False)
        response = page_b.goto(project_url)
        if response is None or response.status != 404:
            fail(f"another client's project answered {response and response.status}, not 404")
        expect(page_b.get_by_role("heading", name="Not found")).to_be_visible()
        j.shot(page_b, "b-other-clients-project-404", scripts=False)
        response = page_b.goto(base + "/admin/clients")
        if response is None or response.status != 403:
            fail(f"a non-admin got {response and response.status} on the admin page, not 403")

        # At 360 px the pages fit the width (checked with scripts on).
        narrow = j.watch(browser.new_context(viewport={"width": 360, "height": 780}).new_page())
        for path in ["/login", "/signup"]:
            narrow.goto(base + path)
            scroll = narrow.evaluate("document.documentElement.scrollWidth")
            if scroll > 360:
                fail(f"{path} is {scroll} px wide at a 360 px viewport")

        # The admin (the demo client) sees both clients and the queues.
        admin = creds["login"]
        page_c = j.watch(browser.new_context(viewport={"width": 1200, "height": 900}).new_page())
        page_c.goto(base + "/login")
        j.password_step(page_c, admin["email"], admin["password"])
        j.totp_step(page_c, admin["totp_secret"], [])
        nav(page_c, "Admin")
        expect(page_c.locator("#clients")).to_contain_text(alice)
        expect(page_c.locator("#clients")).to_contain_text("bob@example.com")
        j.shot(page_c, "admin-clients")
        page_c.get_by_role("link", name="Queue health").click()
        expect(page_c.locator("#queues")).to_contain_text("delivery")
        j.shot(page_c, "admin-queues")

        browser.close()
    if j.problems:
        fail("browser problems:\n" + "\n".join(j.problems))
    print(f"dashboard journey passed; {j.count} screenshots in {shots}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="the secure2fa binary")
    parser.add_argument("--screenshots", default=str(ROOT / "target/dashboard-screenshots"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    shots = Path(args.screenshots)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    data = Path(tempfile.mkdtemp())
    log = open(data / "server.log", "w")
    server = subprocess.Popen([args.server, "serve", "--data-dir", str(data), "--addr", "127.0.0.1:0"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        creds_path = data / "dev-credentials.json"
        for _ in range(100):
            if creds_path.exists() and creds_path.stat().st_size > 0:
                break
            time.sleep(0.1)
        else:
            fail("the local server did not start: " + (data / "server.log").read_text())
        creds = json.loads(creds_path.read_text())
        run(creds["base_url"], creds, shots, args.chromium)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
