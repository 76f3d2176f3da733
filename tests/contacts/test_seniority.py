"""Seniority derived from job titles, in English and other languages."""

import pytest

from rapport.contacts.seniority import derive


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("", ""),
        ("Chief Executive Officer", "c_level"),
        ("CEO", "c_level"),
        ("Co-Founder & CTO", "c_level"),
        ("Founder", "c_level"),
        ("President", "c_level"),
        ("Geschäftsführer", "c_level"),
        ("Managing Director", "c_level"),
        ("PDG", "c_level"),
        ("Directeur Général", "c_level"),
        ("Chief Marketing Officer", "c_level"),
        ("Vice President, Sales", "vp"),
        ("Senior Vice President of Engineering", "vp"),
        ("SVP Marketing", "vp"),
        ("EVP", "vp"),
        ("VP Engineering", "vp"),
        ("Head of Marketing", "vp"),
        ("Vizepräsident Vertrieb", "vp"),
        ("Vicepresidente de Ventas", "vp"),
        ("Director of Sales", "director"),
        ("Sr. Director, Product", "director"),
        ("Directrice marketing", "director"),
        ("Abteilungsleiter IT", "director"),
        ("Marketing Manager", "manager"),
        ("Team Lead", "manager"),
        ("Teamleiterin Vertrieb", "manager"),
        ("Gerente de Ventas", "manager"),
        ("Software Engineer", "ic"),
        ("Product Owner", "ic"),
        ("Account Executive", "ic"),
        ("Executive Assistant to the CEO", "ic"),
        ("Marketing Intern", "intern"),
        ("Werkstudent", "intern"),
        ("Praktikantin Marketing", "intern"),
        ("Stagiaire", "intern"),
        ("Internal Auditor", "ic"),
        ("International Sales Representative", "ic"),
    ],
)
def test_title_maps_to_seniority(title, level):
    assert derive(title) == level
