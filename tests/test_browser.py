"""The web page in a real headless browser (Debian's Chromium via Playwright) against the real server."""
from __future__ import annotations

from pathlib import Path

import pytest

from web_fixtures import live_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Launch headless Chromium once for this module."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run scripts/setup.sh --test (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def dialogs():
    """Collect the messages of every JavaScript dialog (alert, confirm) a page opens."""
    return []


@pytest.fixture
def page(browser, live_server, dialogs):
    """Open a fresh phone-sized page (clipboard allowed for the server's origin); dialogs are recorded, dismissed."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def submit_question(page, question: str) -> None:
    """Type `question` into the form, submit it and wait for the result page."""
    page.get_by_label("Ihre Frage").fill(question)
    page.get_by_role("button", name="Suchen", exact=True).click()
    page.wait_for_url(lambda url: "q=" in url)
    page.wait_for_load_state()


def test_form_submit_shows_answer_with_citation_and_copy_button(page, live_server):
    page.goto(live_server + "/")
    submit_question(page, "Gibt es Solaranlagen auf den Dächern öffentlicher Gebäude in Pankow?")

    first = page.locator("ol.result-list > li").first
    assert "Drucksache 19/10006" in first.locator(".card-source").inner_text()
    citation = first.locator("blockquote.citation")
    assert citation.is_visible()
    citation_text = citation.inner_text().strip()
    assert citation_text.startswith("Antwort des Senats")
    assert "Drucksache 19/10006" in citation_text and citation_text.endswith("S19-10006.pdf")

    button = first.get_by_role("button", name="Zitat kopieren")
    assert button.is_visible()  # JavaScript revealed it
    button.click()
    status = first.locator(".copy-status")
    status.wait_for(state="visible")
    page.wait_for_function("el => el.textContent.length > 0", arg=status.element_handle())
    assert status.inner_text() == "Zitat kopiert."
    assert page.evaluate("navigator.clipboard.readText()") == citation_text

    # The permalink opens the chunk's own page with the same citation.
    first.get_by_role("link", name="Dauerlink zu dieser Antwort").click()
    page.wait_for_url(lambda url: "/chunks/" in url)
    assert page.locator("blockquote.citation").inner_text().strip() == citation_text


def test_script_in_query_is_shown_as_text_and_never_runs(page, live_server, dialogs):
    page.goto(live_server + "/")
    submit_question(page, "<script>alert(1)</script>")
    heading = page.locator("#ergebnisse .query")
    assert heading.inner_text() == "<script>alert(1)</script>"
    assert page.get_by_label("Ihre Frage").input_value() == "<script>alert(1)</script>"
    assert dialogs == []
    assert page.locator("script:not([src])").count() == 0


def test_result_page_links_its_feed_and_the_link_returns_the_feed(page, live_server):
    import feedparser
    import requests

    page.goto(live_server + "/")
    submit_question(page, "Solaranlagen in Pankow")
    alternate = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
    assert alternate.count() == 1
    subscribe = page.get_by_role("link", name="Diese Suche abonnieren")
    assert subscribe.is_visible()
    href = subscribe.get_attribute("href")
    assert alternate.get_attribute("href") == href and "q=Solaranlagen" in href
    response = requests.get(live_server + href, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.entries
    assert all(entry.link.startswith(live_server + "/chunks/") for entry in feed.entries)
