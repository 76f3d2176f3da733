"""Finding likely duplicate contacts and accounts: what is paired, what isn't, and how scans store pairs."""

from __future__ import annotations

import random

import pytest
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein

from rapport.contacts import duplicates, normalise
from rapport.contacts.duplicates import WINDOW, duplicates_scan
from rapport.contacts.models import (
    Account,
    Contact,
    DuplicateCandidate,
    DuplicateScan,
    ObjectType,
)
from rapport.core.errors import Forbidden, ValidationFailed
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def person(first: str, last: str, *, email: str = "", phone: str = "", account: Account | None = None) -> Contact:
    return ContactFactory(first_name=first, last_name=last, email=email, phone=phone, account=account)


def company(name: str, domain: str = "", **kwargs) -> Account:
    return AccountFactory(name=name, domain=domain, **kwargs)


def open_pairs(object_type: str = ObjectType.CONTACT) -> dict[frozenset[int], DuplicateCandidate]:
    return {
        frozenset((c.first_id, c.second_id)): c
        for c in DuplicateCandidate.objects.filter(object_type=object_type, status=DuplicateCandidate.Status.OPEN)
    }


def pair_of(a, b) -> frozenset[int]:
    return frozenset((a.pk, b.pk))


# --- Contacts ----------------------------------------------------------------------------------------


def test_finds_a_typo_in_the_name_at_the_same_company():
    # Given two spellings of one name at the same account
    acme = company("Acme", "acme.com")
    a = person("Jonathan", "Smith", email="jonathan.smith@acme.com", account=acme)
    b = person("Jonathon", "Smith", email="js1980@gmail.com", account=acme)

    # When the contacts are scanned
    result = duplicates_scan(object_type=ObjectType.CONTACT)

    # Then exactly that pair is stored, ordered by id, with its reasons
    assert result.pairs == 1
    candidate = open_pairs()[pair_of(a, b)]
    assert (candidate.first_id, candidate.second_id) == (a.pk, b.pk)
    assert candidate.reasons == ["similar name (94)", "same company"]
    assert candidate.score == 90.6


@pytest.mark.parametrize(
    ("first_a", "last_a", "first_b", "last_b", "name_reason"),
    [
        ("JOHN", "SMITH", "John", "Smith", "same name"),
        ("J.", "Smith", "John", "Smith", "similar name (95)"),
        ("Smith", "John", "John", "Smith", "same name"),  # first and last name swapped
        ("Jürgen", "Müller", "Juergen", "Mueller", "similar name (92)"),
    ],
)
def test_finds_the_same_phone_with_different_name_formatting(first_a, last_a, first_b, last_b, name_reason):
    a = person(first_a, last_a, phone="+14155550100")
    b = person(first_b, last_b, phone="+14155550100", email="jsm@example.net")

    duplicates_scan(object_type=ObjectType.CONTACT)

    candidate = open_pairs()[pair_of(a, b)]
    assert candidate.reasons == [name_reason, "same phone"]
    assert candidate.score >= 95


def test_finds_similar_email_addresses_with_the_same_name():
    a = person("John", "Smith", email="j.smith@acme.com")
    b = person("John", "Smith", email="john.smith@acme.com")
    c = person("John", "Smith", email="jsmith1975@gmail.com")
    d = person("John", "Smith", email="jsmith1975@yahoo.com")
    e = person("Jon", "Smith", email="jsmith1957@hotmail.com")

    duplicates_scan(object_type=ObjectType.CONTACT)

    pairs = open_pairs()
    # Addresses made of the name add nothing, but a shared company domain does ...
    assert pairs[pair_of(a, b)].reasons == ["same name", "same email domain"]
    assert pairs[pair_of(a, b)].score == 90
    # ... and so does an address of one's own, at any provider, the same or nearly so.
    assert pairs[pair_of(c, d)].reasons == ["same name", "same email name"]
    assert pairs[pair_of(c, d)].score == 95
    assert pairs[pair_of(c, e)].reasons == ["similar name (93)", "similar email (90)"]
    # The same name with nothing else in common is not enough.
    assert set(pairs) == {pair_of(a, b), pair_of(c, d), pair_of(c, e), pair_of(d, e)}


def test_finds_nicknames_at_the_same_company():
    acme = company("Acme")
    bob = person("Bob", "Smith", email="bob@acme.com", account=acme)
    robert = person("Robert", "Smith", email="robert.smith@acme.com", account=acme)

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert open_pairs()[pair_of(bob, robert)].reasons == ["similar name (95)", "same company"]


def test_does_not_pair_different_people_with_common_first_names_at_different_companies():
    acme, globex, initech = company("Acme"), company("Globex"), company("Initech")
    person("John", "Smith", email="john.smith@acme.com", account=acme)
    person("John", "Miller", email="john.miller@globex.com", account=globex)
    person("John", "Muller", email="john@initech.com", account=initech)
    person("John", "Smith", email="john@globex.com", account=globex)  # same name, another company
    person("John", "Smith", email="john.smith@initech.com", account=initech)  # the same name in the address, too
    person("Maria", "Garcia", email="maria@acme.com", account=acme)
    person("Maria", "Gomez", email="maria.gomez@gmail.com")

    result = duplicates_scan(object_type=ObjectType.CONTACT)

    assert result.comparisons > 0
    assert open_pairs() == {}


def test_does_not_pair_colleagues_who_share_a_company_and_a_switchboard_number():
    acme = company("Acme", "acme.de")
    person("Anna", "Schmidt", email="anna.schmidt@acme.de", phone="+4930123456", account=acme)
    person("Jonas", "Schmidt", email="jonas.schmidt@acme.de", phone="+4930123456", account=acme)
    person("Info", "", email="info@acme.de", phone="+4930123456", account=acme)

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert open_pairs() == {}


def test_the_same_name_alone_is_not_enough():
    person("John", "Smith")
    person("John", "Smith")

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert open_pairs() == {}


def test_deleted_and_merged_contacts_are_not_scanned():
    a = person("Grace", "Hopper", phone="+15550000001")
    gone = person("Grace", "Hopper", phone="+15550000001")
    Contact.all_objects.filter(pk=gone.pk).update(deleted_at="2024-01-01T00:00:00Z")

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert open_pairs() == {}
    assert a.pk


# --- Accounts ----------------------------------------------------------------------------------------


def test_finds_accounts_with_the_same_domain():
    alphabet = company("Alphabet", "google.com")
    google = company("Google", "google.com")
    company("Globex", "globex.com")

    duplicates_scan(object_type=ObjectType.ACCOUNT)

    pairs = open_pairs(ObjectType.ACCOUNT)
    assert list(pairs) == [pair_of(alphabet, google)]
    assert pairs[pair_of(alphabet, google)].reasons == ["same domain"]
    assert pairs[pair_of(alphabet, google)].score >= 80


def test_finds_accounts_with_near_identical_names():
    a = company("Acme Corp")
    b = company("ACME, Inc.")
    c = company("Initech Solutions", "initech.com")
    d = company("Initech Solution")
    company("Globex")
    company("Globus")

    duplicates_scan(object_type=ObjectType.ACCOUNT)

    pairs = open_pairs(ObjectType.ACCOUNT)
    assert set(pairs) == {pair_of(a, b), pair_of(c, d)}
    assert pairs[pair_of(a, b)].reasons == ["same name"]
    assert pairs[pair_of(a, b)].score == 100
    assert pairs[pair_of(c, d)].reasons == ["similar name (97)"]


def test_same_names_with_different_domains_or_countries_count_less():
    a = company("Hanse Solar GmbH", "hansesolar.de", country="DE")
    b = company("Hanse Solar AG", "hanse-solar.com", country="DE")
    c = company("Hanse Solar Ltd", "hansesolarworld.co.uk", country="DE")
    d = company("Hanse Solar S.A.", "", country="FR")

    duplicates_scan(object_type=ObjectType.ACCOUNT)

    pairs = open_pairs(ObjectType.ACCOUNT)
    assert pairs[pair_of(a, b)].reasons == ["same name", "similar domain"]  # only the ending and a hyphen differ
    assert pairs[pair_of(a, b)].score == 100
    assert pairs[pair_of(a, c)].reasons == ["same name", "different domains"]
    assert pairs[pair_of(a, c)].score == 85
    assert pairs[pair_of(a, d)].reasons == ["same name", "different countries"]
    assert pairs[pair_of(a, d)].score == 85


def test_an_account_and_its_own_child_are_not_paired():
    parent = company("Acme")
    company("Acme Inc", parent=parent)

    duplicates_scan(object_type=ObjectType.ACCOUNT)

    assert open_pairs(ObjectType.ACCOUNT) == {}


# --- Storing pairs -----------------------------------------------------------------------------------


def test_dismissed_pairs_stay_dismissed_on_rescan(world):
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelace", phone="+441234567890")
    duplicates_scan(object_type=ObjectType.CONTACT)
    candidate = open_pairs()[pair_of(a, b)]
    duplicates.duplicate_dismiss(actor=world.admin, via="page", candidate_id=candidate.pk)

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert open_pairs() == {}
    assert DuplicateCandidate.objects.get().status == DuplicateCandidate.Status.DISMISSED


def test_a_rescan_updates_the_stored_pair_instead_of_adding_another():
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelase", phone="+441234567890")
    duplicates_scan(object_type=ObjectType.CONTACT)
    first = open_pairs()[pair_of(a, b)]
    Contact.objects.filter(pk=b.pk).update(last_name="Lovelace", last_name_key="lovelace")

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert DuplicateCandidate.objects.count() == 1
    again = DuplicateCandidate.objects.get()
    assert again.pk == first.pk
    assert again.reasons == ["same name", "same phone"]
    assert again.found_at > first.found_at


def test_open_pairs_not_found_again_are_removed():
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelace", phone="+441234567890")
    duplicates_scan(object_type=ObjectType.CONTACT)
    assert pair_of(a, b) in open_pairs()
    Contact.all_objects.filter(pk=b.pk).update(deleted_at="2024-01-01T00:00:00Z")

    duplicates_scan(object_type=ObjectType.CONTACT)

    assert DuplicateCandidate.objects.count() == 0


def test_a_pair_whose_record_was_deleted_leaves_the_open_list_at_once(world):
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelace", phone="+441234567890")
    duplicates_scan(object_type=ObjectType.CONTACT)
    Contact.all_objects.filter(pk=b.pk).update(deleted_at="2024-01-01T00:00:00Z")

    page = duplicates.duplicate_pairs_page(actor=world.admin, object_type=ObjectType.CONTACT)

    assert page.paginator.count == 0
    assert duplicates.duplicates_for_contact(actor=world.admin, contact_id=a.pk) == []


def test_duplicates_for_contact_lists_the_open_pairs_of_one_contact(world):
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelace", phone="+441234567890")
    person("Alan", "Turing", phone="+441234567891")
    duplicates_scan(object_type=ObjectType.CONTACT)

    found = duplicates.duplicates_for_contact(actor=world.admin, contact_id=b.pk)

    assert [(p.first.pk, p.second.pk) for p in found] == [(a.pk, b.pk)]


def test_a_scan_records_its_run():
    person("Ada", "Lovelace", phone="+441234567890")
    person("Ada", "Lovelace", phone="+441234567890")

    result = duplicates_scan(object_type=ObjectType.CONTACT)

    scan = DuplicateScan.objects.get()
    assert scan.status == DuplicateScan.Status.DONE
    assert (scan.pairs, scan.comparisons, scan.records) == (1, result.comparisons, result.records)
    assert scan.started_at is not None and scan.finished_at is not None


def test_a_scan_of_an_unknown_type_is_refused():
    with pytest.raises(ValidationFailed):
        duplicates_scan(object_type="opportunity")


def test_a_scan_request_runs_the_task_after_commit_and_is_not_doubled(world, django_capture_on_commit_callbacks):
    a = person("Ada", "Lovelace", phone="+441234567890")
    b = person("Ada", "Lovelace", phone="+441234567890")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scan, created = duplicates.duplicates_scan_request(actor=world.admin, object_type=ObjectType.CONTACT)
        again, created_again = duplicates.duplicates_scan_request(actor=world.marketer, object_type=ObjectType.CONTACT)

    # Nothing ran before the commit; the second request joined the first.
    assert (created, created_again, again.pk) == (True, False, scan.pk)
    assert len(callbacks) == 1
    assert DuplicateCandidate.objects.count() == 0
    callbacks[0]()  # the commit: the (immediate-mode) task runs and claims the queued scan
    scan.refresh_from_db()
    assert scan.status == DuplicateScan.Status.DONE
    assert scan.requested_by == world.admin
    assert pair_of(a, b) in open_pairs()


@pytest.mark.parametrize("role_user", ["rep", "agent", "partner"])
def test_roles_that_may_not_merge_may_not_request_scans(world, role_user):
    with pytest.raises(Forbidden):
        duplicates.duplicates_scan_request(actor=getattr(world, role_user), object_type=ObjectType.CONTACT)


# --- Scale -------------------------------------------------------------------------------------------

FIRST_NAMES = """
    james mary robert patricia john jennifer michael linda david elizabeth william barbara richard susan joseph
    jessica thomas sarah charles karen christopher lisa daniel nancy matthew betty anthony margaret mark sandra
    donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth carol kevin amanda brian
    melissa george deborah timothy stephanie ronald rebecca edward sharon jason laura jeffrey cynthia ryan
    kathleen jacob amy gary angela nicholas shirley eric anna jonathan brenda stephen pamela larry emma justin
    nicole scott helen brandon samantha benjamin katherine samuel christine gregory debra alexander rachel
""".split()  # noqa: SIM905
LAST_NAMES = """
    smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson
    anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis
    robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall rivera
    campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart
    morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim
    cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo
    sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan bell coleman butler
    henderson barnes gonzales fisher vasquez simmons romero jordan patterson alexander hamilton graham reynolds
    griffin wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford
    castro marshall owens harrison fernandez mcdonald woods washington kennedy wells vargas henry chen freeman
    webb tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw snyder mason dixon
    munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren mills meyer rice
    schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer
    hawkins arnold pierce vazquez hansen peters santos hart bradley knight elliott cunningham duncan armstrong
    hudson carroll lane riley andrews alvarado ray delgado berry perkins hoffman johnston matthews pena richards
    contreras willis carpenter lawrence sandoval guerrero george chapman rios estrada ortega watkins greene
    nunez wheeler valdez harper burke larson santiago maldonado morrison franklin carlson
""".split()  # noqa: SIM905


def _typo(name: str, rng: random.Random) -> str:
    """Swap two neighbouring letters inside the name (not the first), as a hurried typist would."""
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def _plausibly_one_name(a: Contact, b: Contact) -> bool:
    """Similar first and last names (allowing nicknames and one typo), possibly written the other way round."""

    def close(x: str, y: str) -> bool:
        x, y = duplicates.NICKNAMES.get(x, x), duplicates.NICKNAMES.get(y, y)
        return fuzz.ratio(x, y) >= 80 or DamerauLevenshtein.distance(x, y) <= 1

    straight = close(a.first_name_key, b.first_name_key) and close(a.last_name_key, b.last_name_key)
    swapped = close(a.first_name_key, b.last_name_key) and close(a.last_name_key, b.first_name_key)
    return straight or swapped


def test_a_scan_of_20000_contacts_finds_planted_duplicates_and_only_plausible_pairs():
    # Given 20,000 distinct people spread over 400 companies (no two with the same name at one company),
    # and 200 planted duplicates: a typo in the last name, or the same phone written for a new contact
    rng = random.Random(7)
    accounts = Account.objects.bulk_create(
        [Account(name=f"Company {i}", name_key=f"company {i}", domain=f"company{i}.example") for i in range(400)]
    )
    seen: set[tuple[str, str, int]] = set()
    contacts: list[Contact] = []
    while len(contacts) < 20_000:
        first, last, account = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(accounts)
        if (first, last, account.pk) in seen:
            continue
        seen.add((first, last, account.pk))
        n = len(contacts)
        contacts.append(
            Contact(
                first_name=first.title(),
                last_name=last.title(),
                first_name_key=first,
                last_name_key=last,
                email=f"{first}.{last}.{n}@{account.domain}",
                phone=f"+1415{n:07d}",
                account=account,
            )
        )
    Contact.objects.bulk_create(contacts, batch_size=1000)
    originals = rng.sample(contacts, 200)
    planted: list[Contact] = []
    for n, original in enumerate(originals):
        last = _typo(original.last_name_key, rng) if n % 2 == 0 else original.last_name_key
        planted.append(
            Contact(
                first_name=original.first_name,
                last_name=last.title(),
                first_name_key=original.first_name_key,
                last_name_key=last,
                email=f"dup{n}@mail.example",
                phone=original.phone if n % 2 else "",
                account=original.account if n % 2 == 0 else None,
            )
        )
    Contact.objects.bulk_create(planted, batch_size=1000)
    total = len(contacts) + len(planted)

    # When the contacts are scanned
    result = duplicates_scan(object_type=ObjectType.CONTACT)

    # Then every planted pair is found ...
    found = open_pairs()
    expected = {pair_of(o, p) for o, p in zip(originals, planted, strict=True)}
    missed = [
        (o.first_name_key, o.last_name_key, p.last_name_key)
        for o, p in zip(originals, planted, strict=True)
        if pair_of(o, p) not in found
    ]
    assert missed == []
    # ... every other pair is two people with near-identical names at one company (plausible to review) ...
    by_id = {c.pk: c for c in [*contacts, *planted]}
    for key in set(found) - expected:
        a, b = (by_id[i] for i in key)
        assert a.account_id == b.account_id
        assert _plausibly_one_name(a, b), (a.full_name, b.full_name)
    assert len(found) < 2 * len(expected)
    # ... and the work stayed far from all pairs: each record met at most WINDOW others per pass.
    assert result.records <= 5 * total
    assert result.comparisons <= result.records * WINDOW
    assert result.comparisons < 20 * total  # all pairs would be 200 million
    print(f"\n{total} contacts: {result.comparisons} comparisons, {len(found)} pairs")


def test_the_finders_name_rules_treat_keys_as_stored():
    # The scan compares the stored keys (lower case, unaccented), as the import and API write them.
    assert normalise.key("Jürgen Müller") == "jurgen muller"
    a = duplicates.contact_facts((1, "jurgen", "muller", "", "", None, "", ""))
    b = duplicates.contact_facts((2, "juergen", "mueller", "", "", None, "", ""))
    assert duplicates.name_similarity(a, b) == pytest.approx(92.3, abs=0.1)
