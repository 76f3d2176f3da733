"""Reproducible synthetic data for the benchmarks: import files and a million-contact database."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Eva",
    "Felix",
    "Greta",
    "Hans",
    "Ines",
    "Jonas",
    "Karin",
    "Lena",
    "Marco",
    "Nina",
    "Olaf",
    "Paula",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tara",
    "Uwe",
    "Vera",
    "Wim",
    "Xenia",
    "Yusuf",
    "Zoe",
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "Sophie",
    "Lucas",
    "Emma",
    "Louis",
    "Chloé",
    "Jürgen",
    "Søren",
    "Ingrid",
    "Pablo",
    "Lucía",
    "Giulia",
    "Matteo",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "Nielsen",
    "Jensen",
    "Hansen",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "O'Brien",
    "Murphy",
    "Kelly",
    "van Dijk",
    "de Jong",
    "Jansen",
    "Visser",
]
TITLES = [
    "CEO",
    "CFO",
    "CTO",
    "Founder",
    "VP Sales",
    "VP Marketing",
    "Head of IT",
    "Director of Finance",
    "Sales Director",
    "Marketing Manager",
    "Product Manager",
    "Account Executive",
    "Software Engineer",
    "Data Analyst",
    "Marketing Intern",
    "Geschäftsführer",
    "Directeur Commercial",
    "Office Manager",
    "Team Lead Support",
    "Consultant",
]
COUNTRIES = [
    ("DE", "+49 30 {:07d}"),
    ("US", "+1 415 555 {:04d}"),
    ("GB", "+44 20 7946 {:04d}"),
    ("FR", "+33 1 42 {:06d}"),
    ("ES", "+34 91 {:07d}"),
    ("SE", "+46 8 {:07d}"),
    ("NL", "+31 20 {:07d}"),
]
CITIES = {
    "DE": "Berlin",
    "US": "San Francisco",
    "GB": "London",
    "FR": "Paris",
    "ES": "Madrid",
    "SE": "Stockholm",
    "NL": "Amsterdam",
}
STAGES = ["subscriber", "lead", "lead", "lead", "mql", "sql", "opportunity", "customer", "customer", "evangelist"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics", "Education", "Media"]
HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Job Title",
    "Company Name",
    "City",
    "Country/Region",
    "Lifecycle Stage",
    "Tags",
]
MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone Number": "phone",
    "Job Title": "job_title",
    "Company Name": "company",
    "City": "city",
    "Country/Region": "country",
    "Lifecycle Stage": "lifecycle_stage",
    "Tags": "tags",
}


def _phone(country_index: int, n: int) -> str:
    pattern = COUNTRIES[country_index][1]
    width = int(pattern.split("{:0")[1].split("d")[0])
    return pattern.format(n % (10**width))


def person(rng: random.Random, n: int) -> list[str]:
    """One realistic contact row (in HEADER order) numbered ``n``."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    ci = rng.randrange(len(COUNTRIES))
    company = n % 20_000
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    return [
        first,
        last,
        f"{local}.{n}@company{company}.example",
        _phone(ci, n),
        rng.choice(TITLES),
        f"Company {company} {INDUSTRIES[company % len(INDUSTRIES)]}",
        CITIES[COUNTRIES[ci][0]],
        COUNTRIES[ci][0],
        rng.choice(STAGES),
        rng.choice(["", "newsletter", "webinar;trade-show", "vip"]),
    ]


def import_rows(rows: int, seed: int = 7) -> Iterator[list[str]]:
    """Rows of an import file: ~5% repeat an earlier email (duplicates) and ~1% are invalid."""
    rng = random.Random(seed)
    recent: list[list[str]] = []
    for n in range(rows):
        roll = rng.random()
        if roll < 0.05 and recent:
            row = list(rng.choice(recent))
            row[4] = rng.choice(TITLES)  # the duplicate brings a newer title
        elif roll < 0.06:
            row = person(rng, n)
            kind = rng.randrange(3)
            if kind == 0:
                row[2] = f"{row[0].lower()}@"  # invalid email
            elif kind == 1:
                row[3] = "12"  # unreadable phone
            else:
                row[7] = "Atlantis"  # unknown country
        else:
            row = person(rng, n)
            if len(recent) < 5000:
                recent.append(row)
            else:
                recent[rng.randrange(5000)] = row
        yield row


def write_import_file(path: Path, rows: int, seed: int = 7) -> Path:
    """Write an import CSV with ``rows`` data rows."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(import_rows(rows, seed))
    return path
