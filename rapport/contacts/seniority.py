"""Seniority derived from a job title, in English and the common forms of other languages.

Each level has patterns; a title gets the highest level any pattern matches, so "Founder & CEO" is
``c_level`` and "Senior Vice President, Sales" is ``vp``. A title that matches nothing is ``ic``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapport.contacts.models import Seniority
from rapport.contacts.normalise import key

_PATTERNS: list[tuple[Seniority, list[str]]] = [
    (
        Seniority.C_LEVEL,
        [
            r"\bchief\b.*\bofficer\b",
            r"\bchief (?:executive|financial|technology|technical|operating|marketing|revenue|information|"
            r"data|product|people|sales|digital|security|strategy|customer|commercial|legal|medical|"
            r"scientific|growth|experience|human resources)\b",
            r"\bc[a-z]?[eftoimrspdhl]o\b",  # CEO, CFO, CTO, COO, CIO, CMO, CRO, CSO, CPO, CDO, CHRO-ish
            r"\bchro\b",
            r"\bciso\b",
            r"\bcxo\b",
            r"(?<!vice )(?<!vice-)(?<!vice)\bpresident(?:e|a)?\b",
            r"\bpresident-directeur\b",
            r"\bpdg\b",
            r"\b(?:co-?)?founders?\b",
            r"\b(?:co-?)?fondat(?:eur|rice|ore)\b",
            r"\bgrunder(?:in)?\b",
            r"\bfundador(?:a)?\b",
            r"(?<!product )(?<!process )(?<!business )(?<!account )(?<!data )(?<!service )\bowner\b",
            r"\binhaber(?:in)?\b",
            r"\bproprietaire\b",
            r"\bmanaging director\b",
            r"\bgeschaftsfuhrer(?:in)?\b",
            r"\bgeschaftsfuhrende[r]?\b",
            r"\bverkstallande direktor\b",
            r"\badministrerende direktor\b",
            r"\badm\.? dir\b",
            r"\btoimitusjohtaja\b",
            r"\bvd\b",
            r"\balgemeen directeur\b",
            r"\bmanaging partner\b",
            r"\bvorstand\b",
            r"\bvorstandsvorsitzende[r]?\b",
            r"\bdirect(?:eur|rice) general(?:e)?\b",
            r"\bdirector general\b",
            r"\bdirector ejecutivo\b",
            r"\bconsejer[oa] delegad[oa]\b",
            r"\bamministratore delegato\b",
            r"\bchair(?:man|woman|person)?\b",
            r"\bexecutive director\b",
        ],
    ),
    (
        Seniority.VP,
        [
            r"\bvice[- ]?president[e]?\b",
            r"\bvice[- ]?presidente?\b",
            r"\bvizeprasident(?:in)?\b",
            r"\bvicepresident[ea]?\b",
            r"\b(?:s|e|a|g|r)?vp\b",
            r"\bhead of\b",
            r"\bhead,",
            r"\b(?:global|regional|group) head\b",
            r"\bhead (?:of )?(?:sales|marketing|engineering|product|operations|finance|it|hr|growth|design|data)\b",
            r"\bbereichsleiter(?:in)?\b",
            r"\bdirect(?:or|eur|rice) (?:de|del|des|of) (?:division|area)\b",
        ],
    ),
    (
        Seniority.DIRECTOR,
        [
            r"\bdirector[a]?\b",
            r"\bdirect(?:eur|rice)\b",
            r"\b\w*direktor(?:in)?\b",  # also Swedish/Danish compounds: forsaljningsdirektor, salgsdirektor
            r"\bdiret(?:or|ora)\b",
            r"\bdirett(?:ore|rice)\b",
            r"\bdir\b",
            r"\babteilungsleiter(?:in)?\b",
            r"\bhoofd\b",
        ],
    ),
    (
        Seniority.MANAGER,
        [
            r"\bmanager(?:in)?\b",
            r"\bmgr\b",
            r"\bmanaging\b",
            r"\bgerente\b",
            r"\bresponsable\b",
            r"\bresponsabile\b",
            r"\bteam ?lead(?:er)?\b",
            r"\btech(?:nical)? lead\b",
            r"\bsupervisor[a]?\b",
            r"\b\w*leiter(?:in)?\b",  # Teamleiter, Projektleiter, Vertriebsleiter
            r"\b\w+chef\b",  # Scandinavian compounds: marknadschef, inkopschef
            r"\bpaallikko\b",
            r"\bgruppenleiter(?:in)?\b",
            r"\bchef (?:de|d')\b",
            r"\bjef[ea] de\b",
            r"\bforeman\b",
        ],
    ),
    (
        Seniority.INTERN,
        [
            r"\bintern(?:ship)?\b",
            r"\btrainee\b",
            r"\bpraktikant(?:in)?\b",
            r"\bwerkstudent(?:in)?\b",
            r"\bworking student\b",
            r"\bstagiaire\b",
            r"\bstagista\b",
            r"\bapprentie?\b",
            r"\bapprenti(?:ce)?\b",
            r"\bazubi\b",
            r"\bauszubildende[r]?\b",
            r"\bbecari[oa]\b",
            r"\bestagiari[oa]\b",
            r"\btirocinante\b",
            r"\bstudent\b",
        ],
    ),
]

# "Executive Assistant to the CEO" is an assistant, not a CEO: drop what follows "assistant to".
_ASSISTANT_TO = re.compile(
    r"\b(assistant|assistent(?:in)?|secretary|sekretar(?:in)?|adjoint(?:e)?|aide)\b\s+(?:to|of|for|des|der|du|de)\b.*"
)

_COMPILED = [(level, re.compile("|".join(f"(?:{p})" for p in patterns))) for level, patterns in _PATTERNS]
_ORDER = list(Seniority)


@lru_cache(maxsize=8192)
def derive(title: str) -> str:
    """Return the seniority level for a job title, or ``""`` when there is no title."""
    text = _ASSISTANT_TO.sub(r"\1", key(title).replace("&", " and "))
    if not text:
        return ""
    best: Seniority | None = None
    for level, pattern in _COMPILED:
        if pattern.search(text) and (best is None or _ORDER.index(level) > _ORDER.index(best)):
            best = level
    if best is None:
        return Seniority.IC.value
    return best.value
