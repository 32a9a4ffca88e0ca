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


def no_sideways_scrolling(page) -> bool:
    """Return True when the page fits the phone's width (nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def card_sources(page) -> set[str]:
    return {text.strip() for text in page.locator("ol.result-list .card-source").all_inner_texts()}


def test_filter_form_chooses_a_party_and_the_results_keep_to_it(page, live_server):
    page.goto(live_server + "/")
    page.locator("details.options > summary").click()
    page.get_by_label("Partei", exact=True).select_option("LINKE")
    page.get_by_label("Sortierung", exact=True).select_option("date")
    submit_question(page, "Wie viele Straftaten hat die Polizei bearbeitet?")
    assert "party=LINKE" in page.url and "sort=date" in page.url
    # LINKE asked 19/10041, 19/10281 and 19/10282; the sidecar of 17/10866 spells the party "Die Linke": the same.
    assert card_sources(page) and card_sources(page) <= {"Drucksache 19/10041", "Drucksache 19/10281",
                                                         "Drucksache 19/10282", "Drucksache 17/10866"}
    assert page.get_by_label("Partei", exact=True).input_value() == "LINKE"
    assert no_sideways_scrolling(page)


def test_facet_link_adds_its_filter_to_the_search(page, live_server):
    page.goto(live_server + "/")
    submit_question(page, "Schule")
    facets = page.locator("nav.facets")
    link = facets.get_by_role("link", name="Senatsverwaltung für Bildung, Jugend und Familie")
    link.click()
    page.wait_for_url(lambda url: "authority=" in url)
    assert "q=Schule" in page.url
    # The answers of the Bildungsverwaltung in the corpus.
    assert card_sources(page) <= {"Drucksache 19/10048", "Drucksache 19/10270", "Drucksache 19/10290",
                                  "Drucksache 19/21969"}
    assert page.locator("nav.facets [aria-current=true]").first.inner_text().startswith(
        "Senatsverwaltung für Bildung, Jugend und Familie")
    assert no_sideways_scrolling(page)


def test_document_page_shows_the_whole_answer_and_links_back_and_forth(page, live_server):
    page.goto(live_server + "/")
    submit_question(page, "Gibt es Solaranlagen auf den Dächern öffentlicher Gebäude in Pankow?")
    page.locator("ol.result-list > li").first.get_by_role("link", name="Ganze Anfrage lesen").click()
    page.wait_for_url(lambda url: "/documents/S19-10006" in url)
    assert page.locator("h1").inner_text() == "Wann kommen die Solaranlagen nach Pankow?"
    expected = page.request.get(live_server + "/api/documents/S19-10006").json()["chunks"]
    sections = page.locator("section.doc-chunk")
    assert sections.count() == len(expected)
    assert no_sideways_scrolling(page)
    # A section's permalink opens the chunk page, which leads back to the section in its document.
    sections.nth(1).get_by_role("link", name="Dauerlink zu diesem Abschnitt").click()
    page.wait_for_url(lambda url: "/chunks/" in url)
    assert page.locator("blockquote.citation").inner_text().strip() == expected[1]["citation"]["text"]
    page.locator("a.in-context").click()
    page.wait_for_url(lambda url: "/documents/S19-10006#" in url)
    anchor = page.url.rsplit("#", 1)[1]
    assert page.locator(f"section.doc-chunk[id='{anchor}']").is_visible()
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
