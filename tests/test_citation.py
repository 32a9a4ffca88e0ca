"""Citation text: German, ready to paste, built only from the fields a document has."""
import pytest

from web_fixtures import app, client, searcher  # noqa: F401  (fixtures)

from qa_service.citation import citation, citation_text, page_url, pages_phrase
from qa_service.documents import Asker, Chunk, Document

URL = "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-10041.pdf"


def make_doc(**overrides):
    values = dict(
        document_id="S19-10041", drucksache="19/10041", wahlperiode=19, doc_type="Schriftliche Anfrage",
        title="Delikte der EG Quer: Straftaten & Ordnungswidrigkeiten von Querdenker*innen & Gegner*innen der "
              "Anti-Corona-Maßnahmen",
        askers=(Asker("Anne Helm", "LINKE"), Asker("Niklas Schrader", "LINKE")),
        answered_on="2021-11-22", authority="Senatsverwaltung für Inneres und Sport", source_url=URL,
    )
    values.update(overrides)
    return Document(**values)


def make_chunk(kind="qa", numbers=("5a",), pages=(3,), label=None):
    label = label or ("+".join(numbers) if kind == "qa" else kind)
    return Chunk(chunk_id=f"S19-10041#{label}", document_id="S19-10041", kind=kind, numbers=numbers,
                 frage="Frage?", antwort="Antwort.", pages=pages)


def test_two_askers_of_one_party_share_the_party_and_the_full_example_matches():
    text = citation_text(make_doc(), make_chunk())
    assert text == (
        "Antwort des Senats vom 22.11.2021 auf die Schriftliche Anfrage der Abgeordneten Anne Helm und Niklas "
        "Schrader (LINKE), Drucksache 19/10041, „Delikte der EG Quer: Straftaten & Ordnungswidrigkeiten von "
        "Querdenker*innen & Gegner*innen der Anti-Corona-Maßnahmen“, Antwort zu Frage 5 a, S. 3, " + URL)


def test_single_asker_uses_des_abgeordneten():
    doc = make_doc(askers=(Asker("Jan Lehmann", "SPD"),))
    assert "auf die Schriftliche Anfrage des Abgeordneten Jan Lehmann (SPD), Drucksache" in citation_text(
        doc, make_chunk())


def test_askers_of_different_parties_each_get_their_party():
    doc = make_doc(askers=(Asker("A Eins", "GRÜNE"), Asker("B Zwei", "SPD")))
    assert "der Abgeordneten A Eins (GRÜNE) und B Zwei (SPD)," in citation_text(doc, make_chunk())


def test_party_only_askers_are_members_of_the_fraction():
    doc = make_doc(doc_type="Kleine Anfrage", askers=(Asker(None, "Die Linke"),))
    assert "auf die Kleine Anfrage von Mitgliedern der Fraktion Die Linke, Drucksache" in citation_text(
        doc, make_chunk())


def test_joint_answer_names_every_frage():
    assert "Antwort zu den Fragen 6 und 7, S. 3" in citation_text(make_doc(), make_chunk(numbers=("6", "7")))
    assert "Antwort zu den Fragen 1.1 und 1.1.1," in citation_text(make_doc(), make_chunk(numbers=("1.1", "1.1.1")))
    assert "Antwort zu den Fragen 9 a, 9 b und 9 c," in citation_text(
        make_doc(), make_chunk(numbers=("9a", "9b", "9c")))


def test_vorbemerkung_is_named_as_such():
    text = citation_text(make_doc(), make_chunk(kind="vorbemerkung", numbers=(), pages=(1,)))
    assert text.endswith("Anti-Corona-Maßnahmen“, Vorbemerkung, S. 1, " + URL)


@pytest.mark.parametrize("pages, expected", [((3,), "S. 3"), ((2, 3), "S. 2–3"), ((2, 3, 4), "S. 2–4"),
                                             ((2, 4), "S. 2, 4"), ((), "")])
def test_pages_are_a_single_page_a_run_or_a_list(pages, expected):
    assert pages_phrase(pages) == expected


def test_multi_page_chunk_cites_the_page_run():
    assert "Antwort zu Frage 1, S. 1–2, https://" in citation_text(make_doc(), make_chunk(numbers=("1",), pages=(1, 2)))


def test_missing_fields_are_left_out_not_invented():
    doc = Document(document_id="x", title="Nur ein Titel")
    text = citation_text(doc, make_chunk(numbers=("2",), pages=()))
    assert text == "Antwort des Senats auf die Anfrage, „Nur ein Titel“, Antwort zu Frage 2"
    assert "None" not in text
    assert citation(doc, make_chunk())["url"] is None


def test_title_line_breaks_are_collapsed_but_the_title_is_kept_in_full():
    doc = make_doc(title="Delikte der EG Quer: Straftaten\nvon Querdenker*innen")
    assert "„Delikte der EG Quer: Straftaten von Querdenker*innen“" in citation_text(doc, make_chunk())


def test_citation_dict_has_text_and_pdf_link():
    cite = citation(make_doc(), make_chunk())
    assert cite["url"] == URL
    assert cite["text"].startswith("Antwort des Senats vom 22.11.2021")


def test_page_url_opens_the_pdf_at_the_chunks_first_page_and_the_text_keeps_the_plain_link():
    cite = citation(make_doc(), make_chunk(pages=(4, 3, 5)))
    assert cite["page_url"] == URL + "#page=3"
    assert cite["url"] == URL
    assert cite["text"].endswith(", S. 3–5, " + URL)


def test_page_url_without_pages_is_the_document_link_and_without_link_none():
    assert page_url(make_doc(), make_chunk(pages=())) == URL
    assert page_url(make_doc(source_url=None), make_chunk()) is None
    # A link that has a fragment already gets the page instead of a second fragment.
    assert page_url(make_doc(source_url=URL + "#view=fit"), make_chunk(pages=(2,))) == URL + "#page=2"


def test_api_and_web_page_link_the_pdf_at_the_page(client):
    body = client.get("/api/chunks/S19-10041%235a").get_json()
    assert body["citation"]["page_url"] == URL + f"#page={min(body['pages'])}"
    result = client.get("/api/ask", query_string={"q": "Delikte der EG Quer", "drucksache": "19/10041"}).get_json()
    assert all(r["citation"]["page_url"] == URL + f"#page={min(r['pages'])}" for r in result["results"])
    html = client.get("/chunks/S19-10041%235a").get_data(as_text=True)
    assert f'href="{URL}#page={min(body["pages"])}"' in html
