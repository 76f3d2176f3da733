"""Finding likely duplicate contacts and accounts, reviewing them, and merging them.

**Finding** (``duplicates_scan``) never compares all pairs. Each *blocking pass* asks the database for the
live records sorted by one key (the phone number; last then first name; first then last name; the account
then last name; the email domain then last name) and streams them. A record is compared only with the
records just before it in that order that share the pass's *block key* (same phone, same last name and
first initial, ...), at most ``WINDOW`` of them. Small blocks are thus compared completely, and an
oversized block (a switchboard number, every "Smith, J.") only between neighbours in sort order, where
near-identical names sit. A scan costs at most ``passes × records × WINDOW`` comparisons and holds one
fetched chunk of rows and ``WINDOW`` prepared records in memory, plus the pairs it finds. Each pair gets a
score from 0 to 100 and reasons a person can check ("similar name (92)", "same phone", "same company");
pairs scoring at least ``MIN_SCORE`` are stored as ``DuplicateCandidate`` rows. A pair someone marked "not
duplicates" stays dismissed however often it is found again.

**Merging** (``contact_merge``, ``account_merge``) keeps one record (the survivor) with the values chosen
per field, moves everything attached to the other record onto it, and soft-deletes the other record with
``merged_into`` set, keeping its values, so nothing is lost and the audit trail of both stays readable.
Other apps move their own rows by registering a mover (see ``register_merge_mover``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, F, Model, Q, QuerySet, Value
from django.db.models.functions import StrIndex, Substr
from django.utils import timezone
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein
from rapidfuzz.utils import default_process

from rapport.contacts import normalise
from rapport.contacts.models import (
    Account,
    ConsentChange,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactTag,
    CustomField,
    DuplicateCandidate,
    DuplicateScan,
    LifecycleChange,
    LifecycleStage,
    ObjectType,
)
from rapport.contacts.services import (
    ACCOUNT_AUDITED,
    CONTACT_AUDITED,
    _creates_cycle,
    _diff,
    _require,
    _scoped,
    _snapshot,
)
from rapport.contacts.validation import Lookups, derive_account, derive_contact
from rapport.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from rapport.core.models import AuditEntry, User
from rapport.core.services import audit_entry

# --- Finding -----------------------------------------------------------------------------------------

WINDOW = 30
"""How many earlier records of the same block each record is compared with."""

MIN_SCORE = 75
"""Pairs scoring below this are not stored."""

MAX_PAIRS = 250_000
"""Above this many pairs in one scan only the best are kept, so a pathological database can't exhaust memory."""

CHUNK_SIZE = 2_000
SCAN_STALE_AFTER = dt.timedelta(hours=1)
"""A queued or running scan older than this is assumed lost (a worker died) and no longer blocks a new one."""

# Mailbox providers: sharing one says nothing about working at the same company.
FREE_MAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com hotmail.com hotmail.co.uk
    hotmail.fr hotmail.de outlook.com outlook.de live.com live.co.uk msn.com aol.com icloud.com me.com mac.com
    gmx.de gmx.net gmx.com gmx.at gmx.ch web.de t-online.de freenet.de arcor.de mail.com email.com proton.me
    protonmail.com pm.me yandex.ru yandex.com mail.ru qq.com 163.com 126.com orange.fr free.fr laposte.net
    wanadoo.fr sfr.fr libero.it virgilio.it btinternet.com sky.com comcast.net verizon.net att.net
    sbcglobal.net zoho.com fastmail.com hey.com seznam.cz wp.pl o2.pl interia.pl onet.pl bluewin.ch
    """.split()  # noqa: SIM905
)

# Shared mailboxes: two people writing from info@ are not thereby the same person.
ROLE_MAILBOXES = frozenset(
    """
    info sales contact office admin hello support mail team marketing service kontakt enquiries inquiries
    billing accounts hr jobs careers noreply post webmaster help press invoices buero
    """.split()  # noqa: SIM905
)

# Common short forms of first names, mapped to one canonical form.
_NICKNAMES = {
    "robert": "bob rob robbie bobby",
    "william": "bill will billy willy",
    "james": "jim jimmy jamie",
    "michael": "mike mick mickey mikey",
    "david": "dave davey",
    "daniel": "dan danny",
    "thomas": "tom tommy",
    "christopher": "chris",
    "matthew": "matt",
    "nicholas": "nick nicky",
    "alexander": "alex sasha",
    "andrew": "andy drew",
    "anthony": "tony",
    "joseph": "joe joey josef sepp",
    "steven": "steve stephen stevie",
    "benjamin": "ben benny",
    "samuel": "sam sammy",
    "edward": "ed eddie ted teddy",
    "richard": "rick rich dick richie",
    "charles": "charlie chuck",
    "john": "jack johnny",
    "johannes": "hans",
    "katherine": "kate katie kathy cathy catherine kathryn",
    "elizabeth": "liz beth betty eliza",
    "jennifer": "jen jenny",
    "susan": "sue susie",
    "margaret": "meg maggie peggy",
    "patricia": "pat patty trish",
    "rebecca": "becky",
    "jessica": "jess jessie",
    "victoria": "vicky tori",
    "deborah": "debbie deb",
}
NICKNAMES = {short: full for full, shorts in _NICKNAMES.items() for short in shorts.split()}

# Words that say what kind of company it is, not which one ("Acme Inc." is "Acme GmbH").
LEGAL_FORMS = frozenset(
    """
    the inc incorporated ltd limited llc llp lp plc corp corporation co company gmbh mbh ag kg ohg ug se sa sas
    sarl srl spa bv nv oy ab as asa aps pty pte kk sl sp zoo holding holdings
    """.split()  # noqa: SIM905
)


def _words(text: str) -> str:
    """Lower-case words of a key, punctuation dropped, single-spaced (``o'Brien-Smith`` → ``o brien smith``)."""
    return " ".join(default_process(text).split()) if text else ""


def company_core(name: str) -> str:
    """The distinctive part of a company name: words without legal forms (``Acme, Inc.`` → ``acme``)."""
    words: list[str] = []
    initials = ""
    for word in _words(name).split():
        # Initials written with dots ("S.A.", "S.à r.l.", "J.P.") become one word again: "sa", "sarl", "jp".
        if len(word) == 1:
            initials += word
            continue
        if initials:
            words.append(initials)
            initials = ""
        words.append(word)
    if initials:
        words.append(initials)
    core = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(core or words)


class ContactFacts(NamedTuple):
    """What the finder compares about one contact, prepared once per pass."""

    id: int
    first: str
    last: str
    phone: str
    local: str  # email local part without dots, dashes, underscores and +tags
    distinctive: bool  # whether the local part says more than the name (see ``_distinctive_local``)
    email_domain: str
    account_id: int | None
    company: str  # the account's core name
    company_domain: str


class AccountFacts(NamedTuple):
    """What the finder compares about one account."""

    id: int
    name: str
    core: str
    domain: str
    parent_id: int | None
    country: str


CONTACT_SCAN_FIELDS = (
    "id",
    "first_name_key",
    "last_name_key",
    "email",
    "phone",
    "account_id",
    "account__name_key",
    "account__domain",
)
ACCOUNT_SCAN_FIELDS = ("id", "name_key", "domain", "parent_id", "country")


def contact_facts(row: Sequence[Any]) -> ContactFacts:
    """Prepare a row of ``CONTACT_SCAN_FIELDS`` for comparison."""
    pk, first, last, email, phone, account_id, account_name, account_domain = row
    local, _, domain = (email or "").partition("@")
    local = local.split("+", 1)[0].replace(".", "").replace("_", "").replace("-", "")
    first, last = _words(first), _words(last)
    return ContactFacts(
        pk,
        first,
        last,
        phone or "",
        local,
        _distinctive_local(local, first, last),
        domain,
        account_id,
        company_core(account_name or ""),
        account_domain or "",
    )


def account_facts(row: Sequence[Any]) -> AccountFacts:
    """Prepare a row of ``ACCOUNT_SCAN_FIELDS`` for comparison."""
    pk, name_key, domain, parent_id, country = row
    return AccountFacts(pk, _words(name_key), company_core(name_key), domain or "", parent_id, country or "")


ONE_EDIT = 85.0
"""The similarity given to names one typo apart (a letter wrong, missing, extra or two swapped), however short."""


def _spelling_similarity(a: str, b: str) -> float:
    ratio = fuzz.ratio(a, b)
    if ratio >= ONE_EDIT or abs(len(a) - len(b)) > 1 or len(a) < 3 or len(b) < 3:
        return ratio
    # Short names lose much of their ratio to one typo ("kim" and "kmi" score 67); one edit is one edit.
    return ONE_EDIT if DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1 else ratio


def _first_name_similarity(a: str, b: str) -> float:
    if a == b:
        return 100.0
    a_first, b_first = a.split()[0], b.split()[0]
    if len(a_first) == 1 or len(b_first) == 1:
        # "J." and "John": an initial agrees with any name starting with it, and says no more.
        return 90.0 if a_first[0] == b_first[0] else 0.0
    if NICKNAMES.get(a_first, a_first) == NICKNAMES.get(b_first, b_first):
        return 90.0
    return max(_spelling_similarity(a, b), _spelling_similarity(a_first, b_first))


def _last_name_similarity(a: str, b: str) -> float:
    if a == b:
        return 100.0
    # token_set_ratio lets "garcia" match "garcia lopez" (a double surname written in part).
    return max(_spelling_similarity(a, b), fuzz.token_set_ratio(a, b) if " " in a or " " in b else 0.0)


NAME_PART_MIN = 80
"""Both the first and the last name must be at least this similar, or the names belong to different people."""


def _name_parts_similarity(first_a: str, last_a: str, first_b: str, last_b: str) -> float | None:
    if first_a and first_b and last_a and last_b:
        first = _first_name_similarity(first_a, first_b)
        last = _last_name_similarity(last_a, last_b)
        if first < NAME_PART_MIN or last < NAME_PART_MIN:
            return 0.0
        return (first + last) / 2
    if last_a and last_b:  # a first name missing on one side: the last name alone counts for less
        last = _last_name_similarity(last_a, last_b)
        return 0.0 if last < NAME_PART_MIN else 0.85 * last
    if first_a and first_b:
        first = _first_name_similarity(first_a, first_b)
        return 0.0 if first < NAME_PART_MIN else 0.85 * first
    return None


def name_similarity(a: ContactFacts, b: ContactFacts) -> float | None:
    """How alike two people's names are (0-100), allowing for typos, initials, nicknames and swapped
    first and last names; ``None`` when either has no name to compare."""
    direct = _name_parts_similarity(a.first, a.last, b.first, b.last)
    if direct is None or direct >= 100 or not (a.first and a.last and b.first and b.last):
        return direct
    # Swapped names are tried only when their initials agree: typos seldom hit the first letter, and
    # most comparisons (different people in one block) are spared a second look.
    if a.first[0] != b.last[0] or a.last[0] != b.first[0]:
        return direct
    swapped = _name_parts_similarity(a.first, a.last, b.last, b.first)
    return max(direct, swapped or 0.0)


def _email_similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    ratio = fuzz.ratio(a, b)
    short, long = (a, b) if len(a) < len(b) else (b, a)
    # "jsmith" and "johnsmith": an initial in place of the first name.
    if len(short) >= 4 and short[0] == long[0] and long.endswith(short[1:]):
        ratio = max(ratio, 90.0)
    return ratio


def _distinctive_local(local: str, first: str, last: str) -> bool:
    """Whether an email's local part says more than the name: not a shared mailbox, nor made of the name.

    Two John Smiths both writing from john.smith@ at different companies share only their name.
    """
    if len(local) < 4 or local in ROLE_MAILBOXES:
        return False
    first, last = first.replace(" ", ""), last.replace(" ", "")
    return local not in {first, last, first + last, last + first, first[:1] + last, last + first[:1]}


def _name_reason(similarity: float) -> str:
    return "same name" if similarity >= 99.5 else f"similar name ({similarity:.0f})"


def contact_similarity(a: ContactFacts, b: ContactFacts) -> tuple[float, list[str]]:
    """Score (0-100) how likely two contacts are the same person, with the reasons for the score.

    Names decide first: two people whose first or last names differ clearly are never paired, however
    much else they share (colleagues share a company and a switchboard number). Then agreeing evidence
    adds to the name's weight: the same phone, the same company (account, company name or email
    domain), a similar email address; two different companies count against.
    """
    names = name_similarity(a, b)
    if names is not None and names <= 0:
        return 0.0, []
    score = 0.7 * names if names is not None else 20.0
    reasons = [_name_reason(names)] if names is not None else []
    if a.phone and a.phone == b.phone:
        score += 35
        reasons.append("same phone")
    corporate = a.email_domain and a.email_domain not in FREE_MAIL_DOMAINS
    if a.account_id is not None and a.account_id == b.account_id:
        score += 25
        reasons.append("same company")
    elif a.company and b.company and (company := fuzz.token_sort_ratio(a.company, b.company)) >= 90:
        score += 20
        reasons.append("same company name" if company >= 99.5 else f"similar company name ({company:.0f})")
    elif corporate and a.email_domain == b.email_domain:
        score += 20
        reasons.append("same email domain")
    elif (a.company_domain and a.company_domain == b.email_domain) or (
        b.company_domain and b.company_domain == a.email_domain
    ):
        score += 20
        reasons.append("email at the company's domain")
    elif a.account_id is not None and b.account_id is not None:
        score -= 25
        reasons.append("different companies")
    # Addresses made of the name (john.smith@, j.smith@) repeat the name; only other ones add evidence.
    if a.local and b.local and (a.distinctive or b.distinctive):
        if a.local == b.local:
            score += 25
            reasons.append("same email name")
        elif (email := _email_similarity(a.local, b.local)) >= 80:
            score += 15
            reasons.append(f"similar email ({email:.0f})")
    return max(0.0, min(100.0, score)), reasons


def _numbers(name: str) -> list[str]:
    return _DIGITS.findall(name)


_DIGITS = re.compile(r"\d+")

ACCOUNT_NAME_MIN = 88
"""Accounts with different domains (or none) must have names at least this similar to be paired."""


def account_similarity(a: AccountFacts, b: AccountFacts) -> tuple[float, list[str]]:
    """Score (0-100) how likely two accounts are the same company, with the reasons for the score.

    The same web domain is strong evidence by itself; otherwise the names, without legal forms, must be
    near-identical, and different domains (unless only the ending differs, ``acme.com`` and ``acme.de``)
    and different countries count against. An account and its own parent or child are never paired:
    someone already said they are different companies.
    """
    if a.parent_id == b.id or b.parent_id == a.id:
        return 0.0, []
    names = fuzz.token_sort_ratio(a.core, b.core) if a.core and b.core else fuzz.ratio(a.name, b.name)
    if _numbers(a.name) != _numbers(b.name):
        names = 0.0  # "Store 12" and "Store 13", "Acme 1" and "Acme 10": numbered siblings, not typos
    if a.domain and a.domain == b.domain:
        return 80 + 0.2 * names, ["same domain", *([_name_reason(names)] if names >= 60 else [])]
    if names < ACCOUNT_NAME_MIN:
        return 0.0, []
    score, reasons = names, [_name_reason(names)]
    if a.domain and b.domain:
        if _domain_stem(a.domain) == _domain_stem(b.domain):
            reasons.append("similar domain")
        else:
            score -= 15
            reasons.append("different domains")
    if a.country and b.country and a.country != b.country:
        score -= 15
        reasons.append("different countries")
    return score, reasons


def _domain_stem(domain: str) -> str:
    """The distinctive label of a domain, hyphens dropped (``www.hanse-solar.co.uk`` → ``hansesolar``)."""
    labels = domain.split(".")[:-1] or [domain]
    return max(labels, key=len).replace("-", "")


@dataclass
class ScanResult:
    """What one scan did: records read (over all passes), pairs compared, oversized blocks, pairs kept."""

    object_type: str
    records: int = 0
    comparisons: int = 0
    capped_blocks: int = 0
    pairs: int = 0
    min_score: float = MIN_SCORE


@dataclass(frozen=True)
class _Pass:
    """One blocking pass: rows sorted so that each block is contiguous, and the block key of a row."""

    name: str
    rows: QuerySet[Any]
    key: Callable[[Sequence[Any]], Hashable | None]


def _contact_passes() -> list[_Pass]:
    live = Contact.objects.all()
    fields = CONTACT_SCAN_FIELDS
    return [
        _Pass("phone", live.exclude(phone="").order_by("phone", "id").values_list(*fields), lambda r: r[4]),
        _Pass(
            "last name, first initial",
            live.exclude(last_name_key="").order_by("last_name_key", "first_name_key", "id").values_list(*fields),
            lambda r: (r[2], r[1][:1]),
        ),
        # Finds typos in the last name, which the pass above puts in different blocks.
        _Pass(
            "first name, last initial",
            live.exclude(first_name_key="")
            .exclude(last_name_key="")
            .order_by("first_name_key", "last_name_key", "id")
            .values_list(*fields),
            lambda r: (r[1], r[2][:1]),
        ),
        # Finds nicknames at one company ("Bob Smith", "Robert Smith"), which differ from the first letter on.
        _Pass(
            "account, last name",
            live.filter(account__isnull=False)
            .exclude(last_name_key="")
            .order_by("account_id", "last_name_key", "first_name_key", "id")
            .values_list(*fields),
            lambda r: (r[5], r[2]),
        ),
        # The same for people at a company that has no account yet, known by their email domain.
        _Pass(
            "email domain, last name",
            live.exclude(email="")
            .exclude(last_name_key="")
            .annotate(email_domain=Substr("email", StrIndex("email", Value("@")) + 1))
            .order_by("email_domain", "last_name_key", "first_name_key", "id")
            .values_list(*fields),
            lambda r: (domain, r[2]) if (domain := _corporate_domain(r[3])) else None,
        ),
    ]


def _corporate_domain(email: str) -> str | None:
    domain = email.partition("@")[2]
    return domain if domain and domain not in FREE_MAIL_DOMAINS else None


def _account_passes() -> list[_Pass]:
    live = Account.objects.all()
    fields = ACCOUNT_SCAN_FIELDS
    return [
        _Pass("domain", live.exclude(domain="").order_by("domain", "id").values_list(*fields), lambda r: r[2]),
        # Near-identical names sort next to each other ("acme corp", "acme corporation", "acme, inc.").
        _Pass("name", live.order_by("name_key", "id").values_list(*fields), lambda r: r[1][:3] or None),
    ]


Pair = tuple[int, int]
Match = tuple[float, list[str]]


@dataclass
class _Finder:
    """The state of one scan: pairs found so far and the counters."""

    result: ScanResult
    prepare: Callable[[Sequence[Any]], Any]
    compare: Callable[[Any, Any], Match]
    found: dict[Pair, Match] = field(default_factory=dict)

    def run(self, passes: Iterable[_Pass]) -> None:
        for blocking in passes:
            self._run_pass(blocking)

    def _run_pass(self, blocking: _Pass) -> None:
        # Each window entry is [row, facts]; facts are prepared only once a row has a neighbour to meet,
        # since most rows (unique phones, rare names) sit alone in their block.
        window: deque[list[Any]] = deque(maxlen=WINDOW)
        current: Hashable | None = None
        size = 0
        for row in blocking.rows.iterator(chunk_size=CHUNK_SIZE):
            self.result.records += 1
            key = blocking.key(row)
            if key is None:
                continue
            if key != current:
                window.clear()
                current, size = key, 0
            size += 1
            if size == WINDOW + 2:
                self.result.capped_blocks += 1
            entry: list[Any] = [row, None]
            for earlier in window:
                self._compare(earlier, entry)
            window.append(entry)

    def _compare(self, earlier: list[Any], entry: list[Any]) -> None:
        a_id, b_id = earlier[0][0], entry[0][0]
        pair = (a_id, b_id) if a_id < b_id else (b_id, a_id)
        if pair in self.found:
            return
        if earlier[1] is None:
            earlier[1] = self.prepare(earlier[0])
        if entry[1] is None:
            entry[1] = self.prepare(entry[0])
        self.result.comparisons += 1
        score, reasons = self.compare(earlier[1], entry[1])
        if score >= self.result.min_score:
            self.found[pair] = (round(score, 1), reasons)
            if len(self.found) > MAX_PAIRS:
                self._prune()

    def _prune(self) -> None:
        """Keep the better half of the pairs and raise the bar for the rest of the scan."""
        keep = heapq.nlargest(MAX_PAIRS // 2, self.found.items(), key=lambda item: item[1][0])
        self.found = dict(keep)
        self.result.min_score = max(self.result.min_score, min(match[0] for match in self.found.values()))


def _claim_scan(object_type: str, scan_id: int | None, now: dt.datetime) -> DuplicateScan:
    """Mark the requested (or oldest queued) scan as running, or start a new one when none is queued."""
    queued = DuplicateScan.objects.filter(object_type=object_type, status=DuplicateScan.Status.QUEUED)
    if scan_id is not None:
        queued = queued.filter(pk=scan_id)
    for scan in queued.order_by("requested_at", "id")[:5]:
        # The conditional update makes the claim safe when several workers pick up scans at once.
        claimed = DuplicateScan.objects.filter(pk=scan.pk, status=DuplicateScan.Status.QUEUED).update(
            status=DuplicateScan.Status.RUNNING, started_at=now
        )
        if claimed:
            scan.status, scan.started_at = DuplicateScan.Status.RUNNING, now
            return scan
    return DuplicateScan.objects.create(
        object_type=object_type, status=DuplicateScan.Status.RUNNING, requested_at=now, started_at=now
    )


def duplicates_scan(*, object_type: str, scan_id: int | None = None) -> ScanResult:
    """Find likely duplicate pairs among live contacts or accounts and store them as candidates.

    Pairs found again keep their status (a dismissed pair stays dismissed) with a fresh score and reasons;
    open pairs not found again (records changed, merged or deleted) are removed. The run is recorded as a
    ``DuplicateScan`` (the queued one ``duplicates_scan_request`` made, if any).
    """
    if object_type not in ObjectType.values:
        raise invalid("object_type", f"{object_type!r} is not contact or account.")
    started = timezone.now()
    scan = _claim_scan(object_type, scan_id, started)
    result = ScanResult(object_type)
    try:
        if object_type == ObjectType.CONTACT:
            finder = _Finder(result, contact_facts, contact_similarity)
            finder.run(_contact_passes())
        else:
            finder = _Finder(result, account_facts, account_similarity)
            finder.run(_account_passes())
        _store_candidates(object_type, finder.found, started)
    except Exception as exc:
        DuplicateScan.objects.filter(pk=scan.pk).update(
            status=DuplicateScan.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
        )
        raise
    result.pairs = len(finder.found)
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=DuplicateScan.Status.DONE,
        finished_at=timezone.now(),
        records=min(result.records, 2**31 - 1),
        comparisons=result.comparisons,
        pairs=result.pairs,
    )
    return result


def _store_candidates(object_type: str, found: Mapping[Pair, Match], started: dt.datetime) -> None:
    with transaction.atomic():
        batch: list[DuplicateCandidate] = []
        for (first_id, second_id), (score, reasons) in found.items():
            batch.append(
                DuplicateCandidate(
                    object_type=object_type,
                    first_id=first_id,
                    second_id=second_id,
                    score=score,
                    reasons=reasons,
                    found_at=started,
                )
            )
            if len(batch) >= 1000:
                _upsert(batch)
                batch = []
        _upsert(batch)
        DuplicateCandidate.objects.filter(
            object_type=object_type, status=DuplicateCandidate.Status.OPEN, found_at__lt=started
        ).delete()


def _upsert(candidates: list[DuplicateCandidate]) -> None:
    # The status is not among the updated fields: dismissed and merged pairs keep theirs.
    DuplicateCandidate.objects.bulk_create(
        candidates,
        update_conflicts=True,
        unique_fields=["object_type", "first_id", "second_id"],
        update_fields=["score", "reasons", "found_at"],
    )


def duplicates_scan_request(*, actor: User | None, object_type: str) -> tuple[DuplicateScan, bool]:
    """Queue a background scan, unless one for the same records is already queued or running.

    Returns the scan and whether it is new. The task is enqueued only once the transaction commits.
    """
    _require(actor, "records.merge")
    if object_type not in ObjectType.values:
        raise invalid("object_type", f"{object_type!r} is not contact or account.")
    from rapport.contacts.tasks import duplicates_scan_task

    now = timezone.now()
    with transaction.atomic():
        pending = (
            DuplicateScan.objects.select_for_update()
            .filter(
                object_type=object_type,
                status__in=[DuplicateScan.Status.QUEUED, DuplicateScan.Status.RUNNING],
                requested_at__gte=now - SCAN_STALE_AFTER,
            )
            .order_by("-requested_at")
            .first()
        )
        if pending is not None:
            return pending, False
        scan = DuplicateScan.objects.create(object_type=object_type, requested_by=actor, requested_at=now)
        transaction.on_commit(lambda: duplicates_scan_task(object_type))
    return scan, True


def duplicate_scan_latest(*, object_type: str) -> DuplicateScan | None:
    """The most recently requested scan of contacts or accounts, whatever its state."""
    return (
        DuplicateScan.objects.filter(object_type=object_type)
        .select_related("requested_by")
        .order_by("-requested_at", "-id")
        .first()
    )


# --- Reading pairs -----------------------------------------------------------------------------------


@dataclass
class DuplicatePair:
    """A stored candidate pair with both records loaded."""

    candidate: DuplicateCandidate
    first: Any  # Contact or Account
    second: Any

    @property
    def older(self) -> Any:
        """The record created first: the default survivor of a merge."""
        return min(self.first, self.second, key=lambda r: (r.created_at, r.pk))


def _model(object_type: str) -> type[Contact] | type[Account]:
    if object_type == ObjectType.CONTACT:
        return Contact
    if object_type == ObjectType.ACCOUNT:
        return Account
    raise invalid("object_type", f"{object_type!r} is not contact or account.")


def _records(actor: User | None, object_type: str, ids: Iterable[int]) -> dict[int, Any]:
    """Live records the actor may see, with what the duplicate pages show about them, by id."""
    model = _model(object_type)
    records = _scoped(model.objects.filter(pk__in=list(ids)), actor)
    if model is Contact:
        records = records.select_related("account", "owner")
    else:
        records = records.select_related("owner", "parent", "partner_organisation").annotate(
            contact_count=Count("contacts", filter=Q(contacts__deleted_at__isnull=True))
        )
    return {r.pk: r for r in records}


def _open_candidates(actor: User | None, object_type: str) -> QuerySet[DuplicateCandidate]:
    """Open pairs whose two records are both live and visible to the actor."""
    visible = _scoped(_model(object_type).objects.all(), actor).values("pk")
    return DuplicateCandidate.objects.filter(
        object_type=object_type,
        status=DuplicateCandidate.Status.OPEN,
        first_id__in=visible,
        second_id__in=visible,
    )


def duplicate_pairs_page(
    *, actor: User | None, object_type: str, page: int | str | None = 1, per_page: int = 25
) -> Page[Any]:
    """One page of open pairs, best first, as ``DuplicatePair`` objects, in a fixed number of queries."""
    paginator: Paginator[Any] = Paginator(_open_candidates(actor, object_type).order_by("-score", "id"), per_page)
    current = paginator.get_page(page)
    candidates = list(current.object_list)
    records = _records(actor, object_type, {i for c in candidates for i in (c.first_id, c.second_id)})
    current.object_list = [
        DuplicatePair(c, records[c.first_id], records[c.second_id])
        for c in candidates
        if c.first_id in records and c.second_id in records
    ]
    return current


def duplicates_for_record(
    *, actor: User | None, object_type: str, record_id: int, limit: int = 5
) -> list[DuplicatePair]:
    """The open pairs one contact or account is part of, best first (for its record page); two queries."""
    candidates = list(
        _open_candidates(actor, object_type)
        .filter(Q(first_id=record_id) | Q(second_id=record_id))
        .order_by("-score", "id")[:limit]
    )
    records = _records(actor, object_type, {i for c in candidates for i in (c.first_id, c.second_id)})
    return [
        DuplicatePair(c, records[c.first_id], records[c.second_id])
        for c in candidates
        if c.first_id in records and c.second_id in records
    ]


def duplicates_for_contact(*, actor: User | None, contact_id: int, limit: int = 5) -> list[DuplicatePair]:
    """The open pairs a contact is part of, best first (see ``duplicates_for_record``)."""
    return duplicates_for_record(actor=actor, object_type=ObjectType.CONTACT, record_id=contact_id, limit=limit)


def duplicate_get(*, actor: User | None, candidate_id: int) -> DuplicatePair:
    """A stored pair whose two records are live and visible to the actor, or ``NotFound``."""
    try:
        candidate = DuplicateCandidate.objects.get(pk=candidate_id)
    except (DuplicateCandidate.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No duplicate pair with id {candidate_id}.") from None
    records = _records(actor, candidate.object_type, (candidate.first_id, candidate.second_id))
    if candidate.first_id not in records or candidate.second_id not in records:
        raise NotFound(f"No duplicate pair with id {candidate_id}.")
    return DuplicatePair(candidate, records[candidate.first_id], records[candidate.second_id])


def duplicate_dismiss(*, actor: User | None, via: str, candidate_id: int) -> DuplicateCandidate:
    """Mark a pair "not duplicates": later scans keep it out of the open list."""
    _require(actor, "records.merge")
    with transaction.atomic():
        pair = duplicate_get(actor=actor, candidate_id=candidate_id)
        candidate = pair.candidate
        if candidate.status != DuplicateCandidate.Status.DISMISSED:
            old = candidate.status
            candidate.status = DuplicateCandidate.Status.DISMISSED
            candidate.save(update_fields=["status"])
            audit_entry(
                actor=actor,
                via=via,
                object_type="duplicate",
                object_id=candidate.pk,
                action=AuditEntry.Action.UPDATE,
                changes={"status": [old, candidate.status]},
                note=f"{candidate.object_type}s #{candidate.first_id} and #{candidate.second_id} are not duplicates",
            ).save()
    return candidate


# --- Merging -----------------------------------------------------------------------------------------

MergeMover = Callable[[int, int], None]
"""Moves one app's rows from the merged-away record to the survivor: ``mover(survivor_id, other_id)``."""

MERGE_MOVERS: dict[str, list[MergeMover]] = {ObjectType.CONTACT: [], ObjectType.ACCOUNT: []}
"""Movers called, in order, inside every merge of that object type, after both rows are locked."""


def register_merge_mover(object_type: str, mover: MergeMover) -> MergeMover:
    """Have ``mover(survivor_id, other_id)`` called inside every merge of contacts or accounts.

    Every app that keeps rows pointing at a contact or account registers one at start-up (in its
    ``AppConfig.ready``), so a merge moves everything and loses nothing: the tracking app moves events,
    the sales app moves opportunities, and so on. A mover runs in the merge's transaction, after both
    records are locked and before the merged-away record's audit entry is written; it should update in
    bulk (``.filter(contact_id=other_id).update(contact_id=survivor_id)``) and may raise a
    ``RapportError`` to refuse the merge, which then changes nothing. Registering the same function
    twice has no effect.
    """
    if object_type not in MERGE_MOVERS:
        raise ValueError(f"{object_type!r} is not contact or account.")
    if mover not in MERGE_MOVERS[object_type]:
        MERGE_MOVERS[object_type].append(mover)
    return mover


def _move_contact_consent_history(survivor_id: int, other_id: int) -> None:
    ConsentChange.objects.filter(contact_id=other_id).update(contact_id=survivor_id)


def _move_contact_stage_history(survivor_id: int, other_id: int) -> None:
    LifecycleChange.objects.filter(contact_id=other_id).update(contact_id=survivor_id)


def _move_account_stage_history(survivor_id: int, other_id: int) -> None:
    LifecycleChange.objects.filter(account_id=other_id).update(account_id=survivor_id)


def _repoint_merged_contacts(survivor_id: int, other_id: int) -> None:
    # Records merged into the other one earlier now lead straight to the survivor.
    Contact.all_objects.filter(merged_into_id=other_id).update(merged_into_id=survivor_id)


def _repoint_merged_accounts(survivor_id: int, other_id: int) -> None:
    Account.all_objects.filter(merged_into_id=other_id).update(merged_into_id=survivor_id)


register_merge_mover(ObjectType.CONTACT, _move_contact_consent_history)
register_merge_mover(ObjectType.CONTACT, _move_contact_stage_history)
register_merge_mover(ObjectType.CONTACT, _repoint_merged_contacts)
register_merge_mover(ObjectType.ACCOUNT, _move_account_stage_history)
register_merge_mover(ObjectType.ACCOUNT, _repoint_merged_accounts)

SURVIVOR, OTHER = "survivor", "other"
CUSTOM_PREFIX = "custom."

CONTACT_MERGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("job_title", "Job title"),
    ("seniority", "Seniority"),
    ("department", "Department"),
    ("account_id", "Account"),
    ("owner_id", "Owner"),
    ("lifecycle_stage", "Lifecycle stage"),
    ("source", "Source"),
    ("street", "Street"),
    ("postal_code", "Postal code"),
    ("city", "City"),
    ("region", "Region"),
    ("country", "Country"),
    ("external_id", "External id"),
)
ACCOUNT_MERGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("domain", "Domain"),
    ("industry", "Industry"),
    ("size_band", "Size"),
    ("annual_revenue", "Annual revenue"),
    ("currency", "Currency"),
    ("country", "Country"),
    ("region", "Region"),
    ("city", "City"),
    ("owner_id", "Owner"),
    ("partner_organisation_id", "Partner organisation"),
    ("parent_id", "Parent account"),
    ("lifecycle_stage", "Lifecycle stage"),
    ("external_id", "External id"),
)
CONSENT_FIELDS = tuple((f"consent_{c.value}", f"Consent: {c.label}") for c in ConsentChannel)


@dataclass
class MergeField:
    """One field whose values differ between two records being merged, and whose value survives by default."""

    name: str  # a model field, "consent_<channel>" or "custom.<key>"
    label: str
    survivor_value: Any
    other_value: Any
    survivor_display: str
    other_display: str
    default: str  # SURVIVOR or OTHER


def _empty(value: object) -> bool:
    return value in (None, "", [], {}) or value == ConsentStatus.UNKNOWN


def _default_side(name: str, survivor_value: object, other_value: object) -> str:
    if name.startswith("consent_"):
        # Never turn a refusal into consent without someone choosing so.
        if survivor_value == ConsentStatus.DENIED:
            return SURVIVOR
        if other_value == ConsentStatus.DENIED:
            return OTHER
    return OTHER if _empty(survivor_value) and not _empty(other_value) else SURVIVOR


def _display(record: Any, name: str, value: object) -> str:
    if value in (None, ""):
        return ""
    related = {"account_id": "account", "owner_id": "owner", "parent_id": "parent"}
    if name in related:
        target = getattr(record, related[name], None)
        return str(target) if target is not None and target.pk == value else f"#{value}"
    if name == "partner_organisation_id":
        return str(record.partner_organisation) if record.partner_organisation_id == value else f"#{value}"
    if name == "lifecycle_stage":
        return str(LifecycleStage(str(value)).label) if value in LifecycleStage.values else str(value)
    if name == "seniority":
        return str(record.get_seniority_display())
    if name == "size_band":
        return str(record.get_size_band_display())
    if name == "phone":
        return normalise.phone_display(str(value))
    if name == "country":
        return f"{normalise.country_name(str(value))} ({value})"
    if name.startswith("consent_"):
        return str(ConsentStatus(str(value)).label) if value in ConsentStatus.values else str(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _own_parent(account: Account, pair_ids: set[int]) -> int | None:
    """An account's parent, unless it is one of the pair (which would point at itself after the merge)."""
    return None if account.parent_id in pair_ids else account.parent_id


def merge_fields(*, object_type: str, survivor: Any, other: Any) -> list[MergeField]:
    """The fields whose values differ between two records, in page order, each with its default side.

    By default the survivor's value is kept, but an empty survivor value takes the other's, and a
    channel's consent stays denied if either record denies it. Custom fields are compared per key.
    Seniority is offered only when either record's was set by hand (otherwise it follows the job title).
    """
    if object_type == ObjectType.CONTACT:
        plain = [
            (n, label)
            for n, label in CONTACT_MERGE_FIELDS
            if n != "seniority" or survivor.seniority_manual or other.seniority_manual
        ]
        plain += list(CONSENT_FIELDS)
    else:
        plain = list(ACCOUNT_MERGE_FIELDS)
    pair_ids = {survivor.pk, other.pk}
    fields: list[MergeField] = []
    for name, label in plain:
        if name == "parent_id":
            a, b = _own_parent(survivor, pair_ids), _own_parent(other, pair_ids)
        else:
            a, b = getattr(survivor, name), getattr(other, name)
        if a != b:
            fields.append(
                MergeField(
                    name, label, a, b, _display(survivor, name, a), _display(other, name, b), _default_side(name, a, b)
                )
            )
    keys = sorted(set(survivor.custom) | set(other.custom))
    labels = dict(CustomField.objects.filter(object_type=object_type, key__in=keys).values_list("key", "label"))
    for key in keys:
        a, b = survivor.custom.get(key), other.custom.get(key)
        if a != b:
            name = CUSTOM_PREFIX + key
            fields.append(
                MergeField(
                    name,
                    labels.get(key, key),
                    a,
                    b,
                    _display(survivor, name, a),
                    _display(other, name, b),
                    _default_side(name, a, b),
                )
            )
    return fields


def _resolve_choices(
    fields: Sequence[MergeField], choices: Mapping[str, str] | None, allowed: set[str]
) -> dict[str, str]:
    """Check the user's choices and fill in the defaults; choices for fields that don't differ are ignored."""
    errors = []
    for name, side in (choices or {}).items():
        if name not in allowed and not name.startswith(CUSTOM_PREFIX):
            errors.append(FieldError(f"choices.{name}", "is not a field that can be chosen in a merge."))
        elif side not in (SURVIVOR, OTHER):
            errors.append(FieldError(f"choices.{name}", f"choose 'survivor' or 'other', not {side!r}."))
    if errors:
        raise ValidationFailed("The merge choices are not valid.", errors)
    return {f.name: (choices or {}).get(f.name, f.default) for f in fields}


def _merge_ids(survivor_id: object, other_id: object, label: str) -> tuple[int, int]:
    try:
        survivor, other = int(str(survivor_id)), int(str(other_id))
    except ValueError:
        raise invalid("survivor_id", f"give the ids of the two {label}s to merge as whole numbers.") from None
    if survivor == other:
        raise invalid("other_id", f"a {label} can't be merged with itself; choose two different {label}s.")
    return survivor, other


def _lock_pair(model: type[Any], actor: User | None, survivor_id: int, other_id: int, label: str) -> tuple[Any, Any]:
    """Lock both rows (in id order, so two merges of one pair can't deadlock) and check they may be merged."""
    rows = {
        r.pk: r
        for r in _scoped(model.all_objects.filter(pk__in=[survivor_id, other_id]), actor)
        .select_for_update(of=("self",))
        .order_by("pk")
    }
    for pk in (survivor_id, other_id):
        record = rows.get(pk)
        if record is None:
            raise NotFound(f"No {label} with id {pk}.")
        if record.merged_into_id is not None:
            raise Conflict(
                f"{label.capitalize()} #{pk} was already merged into #{record.merged_into_id}.",
                existing_id=record.merged_into_id,
            )
        if record.deleted_at is not None:
            raise Conflict(f"{label.capitalize()} #{pk} is deleted; restore it before merging.")
    return rows[survivor_id], rows[other_id]


def _take(survivor: Any, other: Any, fields: Sequence[MergeField], picks: Mapping[str, str]) -> None:
    """Set the survivor's values from the other record where the other side was picked."""
    custom = dict(survivor.custom)
    for f in fields:
        if picks[f.name] != OTHER:
            continue
        if f.name.startswith(CUSTOM_PREFIX):
            key = f.name[len(CUSTOM_PREFIX) :]
            if f.other_value is None:
                custom.pop(key, None)
            else:
                custom[key] = f.other_value
            continue
        setattr(survivor, f.name, f.other_value)
        if f.name == "seniority":
            survivor.seniority_manual = other.seniority_manual
        # The value keeps its provenance: where the other record got it, and when.
        if f.name in other.provenance:
            survivor.provenance[f.name] = other.provenance[f.name]
    survivor.custom = custom


def _soft_delete_merged(model: type[Any], other: Any, survivor: Any, now: dt.datetime) -> None:
    # Done before the survivor is saved: the unique email and external id constraints cover live rows
    # only, so this frees the other record's values for the survivor to take.
    model.all_objects.filter(pk=other.pk).update(
        deleted_at=now, merged_into_id=survivor.pk, updated_at=now, version=F("version") + 1
    )


def _merge_audits(
    *,
    actor: User | None,
    via: str,
    label: str,
    survivor: Any,
    other: Any,
    changes: Mapping[str, Sequence[object]],
    now: dt.datetime,
) -> list[AuditEntry]:
    return [
        audit_entry(
            actor=actor,
            via=via,
            object_type=label,
            object_id=survivor.pk,
            action=AuditEntry.Action.MERGE,
            changes=changes,
            note=f"merged from {label} #{other.pk}",
            at=now,
        ),
        audit_entry(
            actor=actor,
            via=via,
            object_type=label,
            object_id=other.pk,
            action=AuditEntry.Action.MERGE,
            changes={"deleted_at": [None, now], "merged_into_id": [None, survivor.pk]},
            note=f"merged into #{survivor.pk}",
            at=now,
        ),
    ]


def _mark_candidate_merged(object_type: str, a: int, b: int) -> None:
    DuplicateCandidate.objects.filter(object_type=object_type, first_id=min(a, b), second_id=max(a, b)).update(
        status=DuplicateCandidate.Status.MERGED
    )


def contact_merge(
    *,
    actor: User | None,
    via: str,
    survivor_id: int,
    other_id: int,
    choices: Mapping[str, str] | None = None,
) -> Contact:
    """Merge two contacts into the survivor and return it.

    ``choices`` maps field names (``email``, ``consent_sms``, ``custom.<key>``) to ``"survivor"`` or
    ``"other"`` for fields whose values differ; the rest follow ``merge_fields``' defaults. The survivor
    keeps the older creation time and the tags of both; the other contact's consent and lifecycle
    histories, and whatever registered movers handle, move to it. The other contact is soft-deleted with
    ``merged_into`` set and its values kept; both get an audit entry. Needs ``records.merge``; a contact
    the actor can't see is ``NotFound``, a merged or deleted one a ``Conflict``.
    """
    _require(actor, "records.merge")
    survivor_id, other_id = _merge_ids(survivor_id, other_id, "contact")
    now = timezone.now()
    with transaction.atomic():
        survivor, other = _lock_pair(Contact, actor, survivor_id, other_id, "contact")
        fields = merge_fields(object_type=ObjectType.CONTACT, survivor=survivor, other=other)
        allowed = {n for n, _ in CONTACT_MERGE_FIELDS} | {n for n, _ in CONSENT_FIELDS}
        picks = _resolve_choices(fields, choices, allowed)
        before = _snapshot(survivor, CONTACT_AUDITED)
        old_created = survivor.created_at
        survivor_tags = dict(ContactTag.objects.filter(contact_id=survivor.pk).values_list("tag_id", "tag__name"))
        other_tags = dict(ContactTag.objects.filter(contact_id=other.pk).values_list("tag_id", "tag__name"))

        _take(survivor, other, fields, picks)
        survivor.created_at = min(survivor.created_at, other.created_at)
        derive_contact(survivor, Lookups.load(actor=actor, object_type=ObjectType.CONTACT))
        _soft_delete_merged(Contact, other, survivor, now)
        survivor.version = F("version") + 1
        survivor.save()

        ContactTag.objects.filter(contact_id=other.pk).exclude(tag_id__in=list(survivor_tags)).update(
            contact_id=survivor.pk
        )
        ContactTag.objects.filter(contact_id=other.pk).delete()
        for mover in MERGE_MOVERS[ObjectType.CONTACT]:
            mover(survivor.pk, other.pk)

        after = _snapshot(survivor, CONTACT_AUDITED)
        changes = _diff(before, after)
        if survivor.created_at != old_created:
            changes["created_at"] = [old_created, survivor.created_at]
        all_tags = {**other_tags, **survivor_tags}
        if set(all_tags) != set(survivor_tags):
            changes["tags"] = [sorted(survivor_tags.values()), sorted(all_tags.values())]
        AuditEntry.objects.bulk_create(
            _merge_audits(
                actor=actor, via=via, label="contact", survivor=survivor, other=other, changes=changes, now=now
            )
        )
        source = f"merged from contact #{other.pk}"
        if after["lifecycle_stage"] != before["lifecycle_stage"]:
            LifecycleChange.objects.create(
                contact_id=survivor.pk,
                from_stage=str(before["lifecycle_stage"]),
                to_stage=str(after["lifecycle_stage"]),
                at=now,
                actor=actor,
                via=via,
            )
        ConsentChange.objects.bulk_create(
            [
                ConsentChange(
                    contact_id=survivor.pk,
                    channel=name.removeprefix("consent_"),
                    status=str(after[name]),
                    previous=str(before[name]),
                    at=now,
                    actor=actor,
                    via=via,
                    source=source,
                )
                for name, _ in CONSENT_FIELDS
                if after[name] != before[name]
            ]
        )
        _mark_candidate_merged(ObjectType.CONTACT, survivor.pk, other.pk)
    survivor.refresh_from_db()
    return survivor


def account_merge(
    *,
    actor: User | None,
    via: str,
    survivor_id: int,
    other_id: int,
    choices: Mapping[str, str] | None = None,
) -> Account:
    """Merge two accounts into the survivor and return it.

    Works as ``contact_merge`` does (choices per field and custom-field key, the older creation time, the
    other soft-deleted with ``merged_into``, audit entries on both); in addition the other account's
    contacts and child accounts move to the survivor, each with an audit entry of its own.
    """
    _require(actor, "records.merge")
    survivor_id, other_id = _merge_ids(survivor_id, other_id, "account")
    now = timezone.now()
    with transaction.atomic():
        survivor, other = _lock_pair(Account, actor, survivor_id, other_id, "account")
        fields = merge_fields(object_type=ObjectType.ACCOUNT, survivor=survivor, other=other)
        picks = _resolve_choices(fields, choices, {n for n, _ in ACCOUNT_MERGE_FIELDS})
        before = _snapshot(survivor, ACCOUNT_AUDITED)
        old_created = survivor.created_at

        _take(survivor, other, fields, picks)
        if survivor.parent_id in (survivor.pk, other.pk):
            survivor.parent_id = None
        survivor.created_at = min(survivor.created_at, other.created_at)
        derive_account(survivor, Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT))
        _soft_delete_merged(Account, other, survivor, now)
        moved_contacts = _move_rows(
            Contact, "account_id", other.pk, survivor.pk, actor=actor, via=via, now=now, label="contact"
        )
        moved_children = _move_rows(
            Account,
            "parent_id",
            other.pk,
            survivor.pk,
            actor=actor,
            via=via,
            now=now,
            label="account",
            exclude=survivor.pk,
        )
        if survivor.parent_id is not None and _creates_cycle(survivor.pk, survivor.parent_id):
            raise invalid(
                "parent_id",
                "the chosen parent account sits below these accounts; choose the other parent or none.",
            )
        survivor.version = F("version") + 1
        survivor.save()
        for mover in MERGE_MOVERS[ObjectType.ACCOUNT]:
            mover(survivor.pk, other.pk)

        after = _snapshot(survivor, ACCOUNT_AUDITED)
        changes = _diff(before, after)
        if survivor.created_at != old_created:
            changes["created_at"] = [old_created, survivor.created_at]
        if moved_contacts:
            changes["contacts"] = [None, f"{moved_contacts} moved here"]
        if moved_children:
            changes["child accounts"] = [None, f"{moved_children} moved here"]
        AuditEntry.objects.bulk_create(
            _merge_audits(
                actor=actor, via=via, label="account", survivor=survivor, other=other, changes=changes, now=now
            )
        )
        if after["lifecycle_stage"] != before["lifecycle_stage"]:
            LifecycleChange.objects.create(
                account_id=survivor.pk,
                from_stage=str(before["lifecycle_stage"]),
                to_stage=str(after["lifecycle_stage"]),
                at=now,
                actor=actor,
                via=via,
            )
        _mark_candidate_merged(ObjectType.ACCOUNT, survivor.pk, other.pk)
    survivor.refresh_from_db()
    return survivor


def _move_rows(
    model: type[Model],
    column: str,
    old: int,
    new: int,
    *,
    actor: User | None,
    via: str,
    now: dt.datetime,
    label: str,
    exclude: int | None = None,
) -> int:
    """Point every row (live or deleted) of ``model`` from one account to another; audit the live ones."""
    rows = model.all_objects.filter(**{column: old})  # type: ignore[attr-defined]
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    live = list(rows.filter(deleted_at__isnull=True).values_list("pk", flat=True))
    rows.update(**{column: new, "updated_at": now, "version": F("version") + 1})
    AuditEntry.objects.bulk_create(
        [
            audit_entry(
                actor=actor,
                via=via,
                object_type=label,
                object_id=pk,
                action=AuditEntry.Action.UPDATE,
                changes={column: [old, new]},
                note=f"account #{old} merged into #{new}",
                at=now,
            )
            for pk in live
        ],
        batch_size=500,
    )
    return len(live)
