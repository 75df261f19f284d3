"""The admin UI in real headless Chromium (Debian's chromium + chromedriver, through
Selenium): sign in, see the overview charts filled from real traffic, create a key and use
it with the OpenAI SDK, revoke it (the next call is refused), read the request log. Saves a
screenshot of each page to docs/images/ui-<page>.png."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from .conftest import MASTER_KEY, Served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = (
            f"headless Chromium is not installed ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver"
        )
        if os.environ.get("LITEGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1360,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def shoot(driver: object, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(IMAGES / f"ui-{name}.png"))  # type: ignore[attr-defined]


def click_and_load(driver: object, element: object) -> None:
    """Click a submit button and wait until the next page replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")  # type: ignore[attr-defined]
    element.click()  # type: ignore[attr-defined]

    def replaced(_driver: object) -> bool:
        # Chromedriver reports a node of the old document as "stale" or, while the new one
        # loads, as "does not belong to the document": either means the page was replaced.
        try:
            return bool(expected_conditions.staleness_of(page)(_driver))
        except WebDriverException:
            return True

    WebDriverWait(driver, 30).until(replaced)


def test_browser_walkthrough(served: Served, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver: object = browser
    find = driver.find_element  # type: ignore[attr-defined]
    go = driver.get  # type: ignore[attr-defined]
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    for i in range(8):
        client.chat.completions.create(
            model="m" if i % 3 else "other", messages=[{"role": "user", "content": f"hi {i}"}]
        )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    client.close()

    # Sign in.
    go(served.url + "/ui/login")
    shoot(driver, "login")
    find(By.ID, "credential").send_keys(MASTER_KEY)
    click_and_load(driver, find(By.ID, "sign-in"))
    assert driver.current_url.endswith("/ui/overview")  # type: ignore[attr-defined]
    assert MASTER_KEY not in driver.page_source  # type: ignore[attr-defined]

    # The overview's charts fill up from the traffic above.
    session = served.sign_in()
    served.wait_logged(9, session)
    go(served.url + "/ui/overview?range=1h")
    assert int(find(By.ID, "total-requests").text) >= 9
    assert int(find(By.ID, "total-errors").text) >= 1
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")  # type: ignore[attr-defined]
    assert len(charts) == 4
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.ok")  # type: ignore[attr-defined]
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.err")  # type: ignore[attr-defined]
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.cost")  # type: ignore[attr-defined]
    shoot(driver, "overview")

    # An organization, a team in it, then a key in the team; the secret is shown once and
    # works with the OpenAI SDK.
    go(served.url + "/ui/orgs")
    form = find(By.ID, "create-org")
    form.find_element(By.NAME, "name").send_keys("acme")
    form.find_element(By.NAME, "max_budget").send_keys("500")
    click_and_load(driver, form.find_element(By.TAG_NAME, "button"))
    assert "acme" in find(By.ID, "orgs").text
    shoot(driver, "orgs")

    go(served.url + "/ui/teams")
    form = find(By.ID, "create-team")
    form.find_element(By.NAME, "name").send_keys("platform")
    Select(form.find_element(By.NAME, "org_id")).select_by_visible_text("acme")
    form.find_element(By.NAME, "rpm_limit").send_keys("600")
    click_and_load(driver, form.find_element(By.TAG_NAME, "button"))
    assert "acme" in find(By.XPATH, "//tr[td[text()='platform']]").text
    shoot(driver, "teams")

    go(served.url + "/ui/users")
    form = find(By.ID, "create-user")
    form.find_element(By.NAME, "email").send_keys("ann@example.test")
    form.find_element(By.NAME, "name").send_keys("Ann")
    Select(form.find_element(By.NAME, "team_id")).select_by_visible_text("platform")
    click_and_load(driver, form.find_element(By.TAG_NAME, "button"))
    assert "ann@example.test" in find(By.ID, "users").text
    shoot(driver, "users")

    go(served.url + "/ui/keys")
    find(By.ID, "key-name").send_keys("ci-bot")
    Select(find(By.ID, "create-key").find_element(By.NAME, "team_id")).select_by_visible_text(
        "platform"
    )
    find(By.ID, "create-key").find_element(By.NAME, "rpm_limit").send_keys("60")
    click_and_load(driver, find(By.ID, "create"))
    secret = find(By.ID, "secret").text.strip()
    assert secret.startswith("sk-")
    shoot(driver, "key-created")
    user = openai.OpenAI(base_url=served.url + "/v1", api_key=secret, max_retries=0)
    answer = user.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "with my new key"}]
    )
    assert answer.choices[0].message.content

    # Rotate it from its page: a new secret, and the old one works for the grace period.
    go(served.url + "/ui/keys")
    go(find(By.XPATH, "//tr/td/a[text()='ci-bot']").get_attribute("href"))
    Select(find(By.ID, "grace_period")).select_by_visible_text("1 hour")
    shoot(driver, "key-edit")
    click_and_load(driver, find(By.ID, "rotate"))
    assert "rotated" in find(By.TAG_NAME, "h1").text
    rotated = find(By.ID, "secret").text.strip()
    assert rotated.startswith("sk-") and rotated != secret
    renewed = openai.OpenAI(base_url=served.url + "/v1", api_key=rotated, max_retries=0)
    for sdk in (user, renewed):
        assert sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    renewed.close()

    # Revoke the old one: the next call with it is refused.
    go(served.url + "/ui/keys")
    assert secret not in driver.page_source  # type: ignore[attr-defined]
    row = find(By.XPATH, "//tr[td/a[text()='ci-bot']]")
    assert "platform" in row.text
    shoot(driver, "keys")
    click_and_load(driver, row.find_element(By.NAME, "revoke"))
    row = find(By.XPATH, "//tr[td/a[text()='ci-bot']]")
    assert "revoked" in row.text
    with pytest.raises(openai.AuthenticationError):
        user.chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])
    user.close()

    # The request log lists the calls, the new key's among them; filters narrow it.
    served.wait_logged(13, session)
    deadline = time.monotonic() + 30
    while True:  # the request log is written in batches, off the calls' path
        go(served.url + "/ui/requests")
        table = find(By.ID, "requests").text
        if ("404" in table and "401" in table) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "404" in table and "nope" in table and "401" in table
    shoot(driver, "requests")
    find(By.NAME, "model").send_keys("other")
    click_and_load(driver, find(By.CSS_SELECTOR, "form.filters button"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#requests tbody tr")  # type: ignore[attr-defined]
    assert len(rows) == 3 and all(" other " in f" {r.text} " for r in rows)

    # The remaining pages, for the screenshots.
    go(served.url + "/ui/spend?by=model")
    assert re.search(r"\$\d", find(By.ID, "spend-total").text)
    shoot(driver, "spend")
    go(served.url + "/ui/models")
    assert "m#0" in find(By.ID, "deployments").text
    shoot(driver, "models")
    go(served.url + "/ui/config")
    assert MASTER_KEY not in driver.page_source  # type: ignore[attr-defined]
    shoot(driver, "config")

    # Sign out: the pages need signing in again.
    click_and_load(driver, find(By.CSS_SELECTOR, "form.who button"))
    go(served.url + "/ui/keys")
    assert driver.current_url.endswith("/ui/login")  # type: ignore[attr-defined]
