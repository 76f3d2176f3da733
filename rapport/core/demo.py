"""Demo data: a realistic, reproducible synthetic company for ``rapport demo`` and ``make run``.

``demo_load`` runs the steps in ``STEPS`` in order, in one transaction, each with its own random
generator seeded from the run's seed and the step's name, so the same seed always gives the same
records and a step added later (events, opportunities, tickets...) doesn't change the earlier ones'
data. A step receives the ``Demo`` run and writes through the apps' services (bulk ones for the big
tables), so every record has its audit, lifecycle and consent history like real data.

The names, companies, titles and places are compact lists kept here: no third-party faker at run time.
"""

from __future__ import annotations

import os
import random
import secrets
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models.functions import Lower

from rapport.contacts.models import Contact, CustomField, ImportJob, LifecycleStage, ObjectType, Party, SizeBand, Tag
from rapport.contacts.services import (
    Provenance,
    RowOutcome,
    RowStatus,
    accounts_upsert_batch,
    contacts_upsert_batch,
    custom_field_save,
)
from rapport.contacts.validation import Lookups
from rapport.core.db import statistics_refresh
from rapport.core.errors import FieldError, RapportError, ValidationFailed, invalid
from rapport.core.models import PartnerOrganisation, Role, Team, Territory, User, Via
from rapport.core.services import territory_save, user_create
from rapport.sales.demo import demo_sales

DEFAULT_CONTACTS = 2000
DEFAULT_SEED = 1
MAX_CONTACTS = 1_000_000
CONTACTS_PER_ACCOUNT = 7
BATCH_SIZE = 1000
LOGIN_FILE = "demo-login.txt"
ADMIN_USERNAME = "admin"
PROVENANCE_SOURCE = "Demo data"

# --- The company using Rapport: its teams, users and territories -------------------------------------

PARTNER_NAME = "Alpine Channel Partners"
PARTNER_DOMAIN = "alpinechannel.de"


@dataclass(frozen=True)
class DemoUser:
    """One member of the demo company's staff (or its partner)."""

    username: str
    first_name: str
    last_name: str
    role: str
    team: str | None = None
    partner: str | None = None

    @property
    def email(self) -> str:
        domain = PARTNER_DOMAIN if self.partner else "example.com"
        return f"{self.username}@{domain}"


# The tables below are laid out by hand to stay compact and readable.
# fmt: off
USERS: tuple[DemoUser, ...] = (
    DemoUser(ADMIN_USERNAME, "Alex", "Morgan", Role.ADMIN),
    DemoUser("emma.clarke", "Emma", "Clarke", Role.MARKETING, "Marketing"),
    DemoUser("lukas.berger", "Lukas", "Berger", Role.MARKETING, "Marketing"),
    DemoUser("daniel.reyes", "Daniel", "Reyes", Role.SALES_MANAGER, "Enterprise"),
    DemoUser("rachel.kim", "Rachel", "Kim", Role.SALES_MANAGER, "Mid-Market"),
    DemoUser("sophie.laurent", "Sophie", "Laurent", Role.SALES_MANAGER, "EMEA"),
    DemoUser("jordan.hayes", "Jordan", "Hayes", Role.SALES_REP, "Enterprise"),
    DemoUser("olivia.bennett", "Olivia", "Bennett", Role.SALES_REP, "Enterprise"),
    DemoUser("ethan.brooks", "Ethan", "Brooks", Role.SALES_REP, "Mid-Market"),
    DemoUser("chloe.walsh", "Chloe", "Walsh", Role.SALES_REP, "Mid-Market"),
    DemoUser("jonas.hoffmann", "Jonas", "Hoffmann", Role.SALES_REP, "EMEA"),
    DemoUser("lea.schneider", "Lea", "Schneider", Role.SALES_REP, "EMEA"),
    DemoUser("camille.moreau", "Camille", "Moreau", Role.SALES_REP, "EMEA"),
    DemoUser("erik.lindqvist", "Erik", "Lindqvist", Role.SALES_REP, "EMEA"),
    DemoUser("lucia.navarro", "Lucía", "Navarro", Role.SALES_REP, "EMEA"),
    DemoUser("priya.patel", "Priya", "Patel", Role.SERVICE_AGENT, "Customer Success"),
    DemoUser("tom.fischer", "Tom", "Fischer", Role.SERVICE_AGENT, "Customer Success"),
    DemoUser("katrin.vogel", "Katrin", "Vogel", Role.PARTNER, partner=PARTNER_NAME),
)


@dataclass(frozen=True)
class DemoTerritory:
    """A sales territory and the reps who work it; a lower priority number wins where two overlap."""

    name: str
    countries: tuple[str, ...]
    members: tuple[str, ...]
    regions: tuple[str, ...] = ()
    priority: int = 100

    def covers(self, country: str, region: str) -> bool:
        return country in self.countries and (not self.regions or region in self.regions)


TERRITORIES: tuple[DemoTerritory, ...] = (
    DemoTerritory("US West", ("US",), ("olivia.bennett",), ("CA", "WA", "OR", "CO", "AZ", "NV", "UT"), priority=10),
    DemoTerritory("North America", ("US", "CA"), ("jordan.hayes", "ethan.brooks")),
    DemoTerritory("UK & Ireland", ("GB", "IE"), ("chloe.walsh",)),
    DemoTerritory("DACH", ("DE", "AT", "CH"), ("jonas.hoffmann", "lea.schneider")),
    DemoTerritory("France & Benelux", ("FR", "BE", "NL", "LU"), ("camille.moreau",)),
    DemoTerritory("Nordics", ("SE", "NO", "DK", "FI", "IS"), ("erik.lindqvist",)),
    DemoTerritory("Southern Europe", ("ES", "PT", "IT"), ("lucia.navarro",)),
)
# Accounts outside every territory still need someone to look after them.
OUT_OF_TERRITORY_OWNER = "jordan.hayes"


def territory_for(country: str, region: str) -> DemoTerritory | None:
    """The demo territory a record in this country and region falls in (same rule as ``Territory.covers``)."""
    for territory in sorted(TERRITORIES, key=lambda t: (t.priority, t.name)):
        if territory.covers(country, region):
            return territory
    return None


# --- Where the customers are --------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    """A city with its region, telephone area code, postal code pattern (# digit, @ letter) and language."""

    name: str
    region: str
    area: str
    postal: str
    locale: str | None = None


@dataclass(frozen=True)
class Country:
    """A country customers are in: its language, currency, web domain, legal forms and cities."""

    code: str
    locale: str
    currency: str
    tld: str
    weight: int
    legal_forms: tuple[str, ...]
    cities: tuple[City, ...]


COUNTRIES: tuple[Country, ...] = (
    Country("US", "en_US", "USD", "com", 26, ("Inc.", "Inc.", "LLC", "Corp.", ""), (
        City("New York", "NY", "212", "100##"), City("San Francisco", "CA", "415", "941##"),
        City("Austin", "TX", "512", "787##"), City("Chicago", "IL", "312", "606##"),
        City("Boston", "MA", "617", "021##"), City("Seattle", "WA", "206", "981##"),
        City("Denver", "CO", "303", "802##"), City("Atlanta", "GA", "404", "303##"),
        City("Los Angeles", "CA", "213", "900##"), City("Miami", "FL", "305", "331##"),
        City("Minneapolis", "MN", "612", "554##"), City("Raleigh", "NC", "919", "276##"),
    )),
    Country("CA", "en_US", "CAD", "ca", 5, ("Inc.", "Ltd.", ""), (
        City("Toronto", "ON", "416", "M5@ #@#"), City("Vancouver", "BC", "604", "V6@ #@#"),
        City("Montréal", "QC", "514", "H2@ #@#", "fr"), City("Calgary", "AB", "403", "T2@ #@#"),
        City("Ottawa", "ON", "613", "K1@ #@#"),
    )),
    Country("GB", "en_GB", "GBP", "co.uk", 11, ("Ltd", "Ltd", "plc", ""), (
        City("London", "England", "20", "EC#@ #@@"), City("Manchester", "England", "161", "M# #@@"),
        City("Birmingham", "England", "121", "B# #@@"), City("Edinburgh", "Scotland", "131", "EH# #@@"),
        City("Bristol", "England", "117", "BS# #@@"), City("Leeds", "England", "113", "LS# #@@"),
        City("Glasgow", "Scotland", "141", "G# #@@"), City("Cardiff", "Wales", "29", "CF## #@@"),
    )),
    Country("IE", "en_GB", "EUR", "ie", 3, ("Ltd", "DAC"), (
        City("Dublin", "Leinster", "1", "D0# @###"), City("Cork", "Munster", "21", "T12 @###"),
        City("Galway", "Connacht", "91", "H91 @###"),
    )),
    Country("DE", "de", "EUR", "de", 13, ("GmbH", "GmbH", "GmbH", "AG", "GmbH & Co. KG", "SE"), (
        City("Berlin", "Berlin", "30", "10###"), City("München", "Bayern", "89", "80###"),
        City("Hamburg", "Hamburg", "40", "20###"), City("Frankfurt am Main", "Hessen", "69", "60###"),
        City("Köln", "Nordrhein-Westfalen", "221", "50###"), City("Stuttgart", "Baden-Württemberg", "711", "70###"),
        City("Düsseldorf", "Nordrhein-Westfalen", "211", "40###"), City("Leipzig", "Sachsen", "341", "04###"),
    )),
    Country("AT", "de", "EUR", "at", 3, ("GmbH", "GmbH", "AG"), (
        City("Wien", "Wien", "1", "1##0"), City("Graz", "Steiermark", "316", "80##"),
        City("Linz", "Oberösterreich", "732", "40##"), City("Salzburg", "Salzburg", "662", "50##"),
        City("Innsbruck", "Tirol", "512", "60##"),
    )),
    Country("CH", "de", "CHF", "ch", 4, ("AG", "AG", "GmbH"), (
        City("Zürich", "Zürich", "44", "80##"), City("Basel", "Basel-Stadt", "61", "40##"),
        City("Bern", "Bern", "31", "30##"), City("Genève", "Genève", "22", "12##", "fr"),
        City("Lausanne", "Vaud", "21", "10##", "fr"), City("Zug", "Zug", "41", "63##"),
    )),
    Country("FR", "fr", "EUR", "fr", 8, ("SAS", "SAS", "SA", "SARL"), (
        City("Paris", "Île-de-France", "1", "750##"), City("Lyon", "Auvergne-Rhône-Alpes", "4", "6900#"),
        City("Toulouse", "Occitanie", "5", "310##"), City("Nantes", "Pays de la Loire", "2", "440##"),
        City("Bordeaux", "Nouvelle-Aquitaine", "5", "330##"), City("Lille", "Hauts-de-France", "3", "590##"),
        City("Marseille", "Provence-Alpes-Côte d'Azur", "4", "130##"),
    )),
    Country("BE", "nl", "EUR", "be", 3, ("NV", "BV"), (
        City("Bruxelles", "Bruxelles-Capitale", "2", "10##", "fr"), City("Antwerpen", "Antwerpen", "3", "20##"),
        City("Gent", "Oost-Vlaanderen", "9", "90##"), City("Liège", "Liège", "4", "40##", "fr"),
    )),
    Country("NL", "nl", "EUR", "nl", 5, ("B.V.", "B.V.", "N.V."), (
        City("Amsterdam", "Noord-Holland", "20", "10## @@"), City("Rotterdam", "Zuid-Holland", "10", "30## @@"),
        City("Utrecht", "Utrecht", "30", "35## @@"), City("Eindhoven", "Noord-Brabant", "40", "56## @@"),
        City("Den Haag", "Zuid-Holland", "70", "25## @@"),
    )),
    Country("LU", "fr", "EUR", "lu", 1, ("S.A.", "S.à r.l."), (City("Luxembourg", "Luxembourg", "", "1###"),)),
    Country("SE", "sv", "SEK", "se", 4, ("AB",), (
        City("Stockholm", "Stockholm", "8", "11# ##"), City("Göteborg", "Västra Götaland", "31", "41# ##"),
        City("Malmö", "Skåne", "40", "21# ##"), City("Uppsala", "Uppsala", "18", "75# ##"),
    )),
    Country("NO", "no", "NOK", "no", 2, ("AS", "AS", "ASA"), (
        City("Oslo", "Oslo", "2", "01##"), City("Bergen", "Vestland", "55", "50##"),
        City("Trondheim", "Trøndelag", "73", "70##"), City("Stavanger", "Rogaland", "51", "40##"),
    )),
    Country("DK", "da", "DKK", "dk", 2, ("A/S", "ApS"), (
        City("København", "Hovedstaden", "3", "1###"), City("Aarhus", "Midtjylland", "8", "80##"),
        City("Odense", "Syddanmark", "6", "50##"),
    )),
    Country("FI", "fi", "EUR", "fi", 2, ("Oy", "Oy", "Oyj"), (
        City("Helsinki", "Uusimaa", "9", "001##"), City("Espoo", "Uusimaa", "9", "021##"),
        City("Tampere", "Pirkanmaa", "3", "331##"), City("Oulu", "Pohjois-Pohjanmaa", "8", "901##"),
    )),
    Country("ES", "es", "EUR", "es", 4, ("S.L.", "S.L.", "S.A."), (
        City("Madrid", "Madrid", "91", "280##"), City("Barcelona", "Cataluña", "93", "080##"),
        City("Valencia", "Comunidad Valenciana", "96", "460##"), City("Sevilla", "Andalucía", "95", "410##"),
        City("Bilbao", "País Vasco", "94", "480##"),
    )),
    Country("IT", "it", "EUR", "it", 3, ("S.p.A.", "S.r.l.", "S.r.l."), (
        City("Milano", "Lombardia", "02", "201##"), City("Roma", "Lazio", "06", "001##"),
        City("Torino", "Piemonte", "011", "101##"), City("Bologna", "Emilia-Romagna", "051", "401##"),
    )),
    Country("PT", "pt", "EUR", "pt", 1, ("Lda.", "S.A."), (
        City("Lisboa", "Lisboa", "21", "1###-###"), City("Porto", "Porto", "22", "4###-###"),
    )),
    Country("AU", "en_GB", "AUD", "com.au", 2, ("Pty Ltd",), (
        City("Sydney", "NSW", "2", "20##"), City("Melbourne", "VIC", "3", "30##"), City("Brisbane", "QLD", "7", "40##"),
    )),
)
COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}

# Rough exchange rates from US dollars, good enough for plausible revenues.
USD_RATES = {"USD": 1.0, "CAD": 1.36, "GBP": 0.79, "EUR": 0.92, "CHF": 0.88, "SEK": 10.5, "NOK": 10.7,
             "DKK": 6.9, "AUD": 1.52}

# --- People -------------------------------------------------------------------------------------------

NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en_US": (
        ("James", "Mary", "Michael", "Jennifer", "Robert", "Linda", "David", "Sarah", "William", "Jessica",
         "Christopher", "Emily", "Matthew", "Ashley", "Daniel", "Amanda", "Andrew", "Megan", "Joshua", "Lauren",
         "Ryan", "Rachel", "Brian", "Nicole", "Kevin", "Stephanie", "Jason", "Heather", "Tyler", "Kimberly",
         "Brandon", "Samantha", "Justin", "Rebecca", "Aaron", "Michelle", "Marcus", "Maria", "Carlos", "Grace"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
         "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
         "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
         "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell",
         "Patel", "Kim", "Chen", "Rivera", "Campbell", "Parker", "Evans", "Collins", "Stewart", "Murphy"),
    ),
    "en_GB": (
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Olivia", "Jack", "Emily", "Charlie", "Sophie",
         "Thomas", "Jessica", "James", "Lucy", "William", "Charlotte", "Joshua", "Hannah", "Alfie", "Chloe",
         "Samuel", "Ella", "Daniel", "Grace", "Joseph", "Poppy", "Henry", "Freya", "Callum", "Niamh",
         "Rory", "Aoife", "Seán", "Ciara", "Fiona", "Alistair", "Imogen", "Rhys", "Eilidh", "Gareth"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
         "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
         "Hughes", "Edwards", "Turner", "Harrison", "Cooper", "Ward", "Morris", "Lloyd", "Campbell", "MacDonald",
         "Murphy", "O'Brien", "Kelly", "Byrne", "Walsh", "O'Connor", "Fraser", "Patel", "Khan", "Ahmed"),
    ),
    "de": (
        ("Thomas", "Anna", "Michael", "Laura", "Andreas", "Julia", "Stefan", "Katharina", "Markus", "Sarah",
         "Christian", "Lisa", "Alexander", "Lena", "Tobias", "Sabine", "Jan", "Hannah", "Florian", "Sophie",
         "Matthias", "Claudia", "Sebastian", "Johanna", "Felix", "Franziska", "Lukas", "Jana", "Maximilian",
         "Nicole", "Jürgen", "Birgit", "Dominik", "Miriam", "Fabian", "Ursula", "Jonas", "Leonie", "Kai", "Petra"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
         "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
         "Huber", "Gruber", "Steiner", "Moser", "Brunner", "Keller", "Frei", "Baumann", "Vogel", "Weiß"),
    ),
    "fr": (
        ("Camille", "Julien", "Marie", "Nicolas", "Sophie", "Thomas", "Léa", "Antoine", "Chloé", "Maxime",
         "Manon", "Alexandre", "Emma", "Pierre", "Inès", "Guillaume", "Claire", "Mathieu", "Pauline", "Hugo",
         "Élodie", "Romain", "Juliette", "Louis", "Amélie", "Théo", "Céline", "Benoît", "Margaux", "François",
         "Aurélie", "Olivier", "Nathalie", "Sébastien", "Hélène", "Lucas", "Anaïs", "Arnaud", "Laure", "Jean-Luc"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
         "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Legrand", "Garnier",
         "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Perrin", "Chevalier", "Lemaire"),
    ),
    "nl": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Sophie", "Levi", "Lotte", "Thijs", "Fleur",
         "Bram", "Anouk", "Jesse", "Sanne", "Ruben", "Iris", "Lars", "Eva", "Niels", "Femke",
         "Joost", "Marieke", "Pieter", "Annelies", "Koen", "Esther", "Wouter", "Lieke", "Stijn", "Inge"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
         "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
         "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Maes", "Peeters", "Claes",
         "Willems", "Goossens"),
    ),
    "sv": (
        ("Erik", "Anna", "Lars", "Maria", "Karl", "Eva", "Anders", "Karin", "Johan", "Sara",
         "Per", "Emma", "Nils", "Linnea", "Oskar", "Ingrid", "Gustav", "Elin", "Magnus", "Frida",
         "Mikael", "Maja", "Henrik", "Astrid", "Fredrik", "Sofia", "Björn", "Hanna", "Axel", "Ebba"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson",
         "Gustafsson", "Pettersson", "Jonsson", "Lindberg", "Lindqvist", "Lindström", "Bergström", "Sjöberg",
         "Holm", "Engström", "Nyström", "Åberg", "Lundgren", "Ekström", "Sandberg", "Forsberg"),
    ),
    "no": (
        ("Ole", "Ingrid", "Lars", "Kari", "Jon", "Silje", "Magnus", "Ida", "Henrik", "Nora",
         "Eirik", "Marte", "Håkon", "Ingvild", "Sindre", "Tuva", "Anders", "Hilde", "Espen", "Sigrid"),
        ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
         "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen",
         "Jacobsen", "Dahl", "Lie", "Solberg", "Bakken", "Strand", "Moen"),
    ),
    "da": (
        ("Mads", "Sofie", "Rasmus", "Mette", "Frederik", "Camilla", "Mikkel", "Louise", "Jesper", "Anne",
         "Søren", "Line", "Christian", "Julie", "Anders", "Maja", "Kasper", "Ida", "Niels", "Freja"),
        ("Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
         "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Christiansen", "Poulsen",
         "Johansen", "Møller", "Mortensen"),
    ),
    "fi": (
        ("Mikko", "Laura", "Juha", "Anna", "Timo", "Johanna", "Jukka", "Maria", "Antti", "Katja",
         "Ville", "Elina", "Janne", "Sanna", "Matti", "Riikka", "Sami", "Aino", "Teemu", "Noora"),
        ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen",
         "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi", "Heikkilä", "Kinnunen",
         "Salonen", "Turunen"),
    ),
    "es": (
        ("Alejandro", "María", "Javier", "Lucía", "Carlos", "Carmen", "David", "Laura", "Pablo", "Marta",
         "Daniel", "Paula", "Sergio", "Ana", "Jorge", "Elena", "Manuel", "Cristina", "Álvaro", "Sara",
         "Miguel", "Isabel", "Raúl", "Irene", "Diego", "Nuria", "Adrián", "Beatriz", "Iván", "Raquel"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
         "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso",
         "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Serrano", "Blanco",
         "Molina", "Castro"),
    ),
    "it": (
        ("Marco", "Giulia", "Alessandro", "Francesca", "Luca", "Chiara", "Andrea", "Sara", "Matteo", "Valentina",
         "Lorenzo", "Martina", "Davide", "Elena", "Simone", "Federica", "Francesco", "Alessia", "Giovanni",
         "Silvia"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
         "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano", "Mancini", "Rizzo", "Lombardi", "Moretti"),
    ),
    "pt": (
        ("João", "Ana", "Pedro", "Mariana", "Tiago", "Inês", "Rui", "Catarina", "Miguel", "Sofia",
         "Nuno", "Beatriz", "Ricardo", "Joana", "André", "Rita"),
        ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Sousa",
         "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Almeida", "Ribeiro"),
    ),
}
LANGUAGES = {"en_US": "English", "en_GB": "English", "de": "German", "fr": "French", "nl": "Dutch",
             "sv": "Swedish", "no": "Norwegian", "da": "Danish", "fi": "Finnish", "es": "Spanish",
             "it": "Italian", "pt": "Portuguese"}

# Job titles per seniority: (title, department, language or None for titles used everywhere).
TITLES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "c_level": (
        ("CEO", "Executive", None), ("Chief Executive Officer", "Executive", None),
        ("Founder & CEO", "Executive", None), ("Co-Founder", "Executive", None), ("CFO", "Finance", None),
        ("Chief Financial Officer", "Finance", None), ("CTO", "Engineering", None),
        ("Chief Operating Officer", "Operations", None), ("CMO", "Marketing", None),
        ("Chief Revenue Officer", "Sales", None), ("CIO", "IT", None), ("Chief People Officer", "HR", None),
        ("President", "Executive", "en_US"), ("Managing Director", "Executive", "en_GB"),
        ("Geschäftsführer", "Executive", "de"), ("Geschäftsführerin", "Executive", "de"),
        ("Vorstand", "Executive", "de"), ("Directeur Général", "Executive", "fr"),
        ("Président-Directeur Général", "Executive", "fr"), ("Consejero Delegado", "Executive", "es"),
        ("Director General", "Executive", "es"), ("Amministratore Delegato", "Executive", "it"),
    ),
    "vp": (
        ("VP Marketing", "Marketing", None), ("VP of Sales", "Sales", None),
        ("Vice President, Engineering", "Engineering", None), ("SVP Operations", "Operations", None),
        ("VP Finance", "Finance", None), ("VP Customer Success", "Customer Service", None),
        ("Head of IT", "IT", None), ("Head of Marketing", "Marketing", None), ("Head of Sales", "Sales", None),
        ("Head of Procurement", "Procurement", None), ("Head of Operations", "Operations", None),
        ("Head of Digital", "Marketing", None), ("Bereichsleiter Vertrieb", "Sales", "de"),
        ("Vizepräsident Vertrieb", "Sales", "de"), ("Vice-président Ventes", "Sales", "fr"),
    ),
    "director": (
        ("Director of Marketing", "Marketing", None), ("Sales Director", "Sales", None),
        ("IT Director", "IT", None), ("Finance Director", "Finance", None),
        ("Engineering Director", "Engineering", None), ("Director of Procurement", "Procurement", None),
        ("Directeur Commercial", "Sales", "fr"), ("Directrice Marketing", "Marketing", "fr"),
        ("Directeur Financier", "Finance", "fr"), ("Directeur Technique", "Engineering", "fr"),
        ("Direktor Finanzen", "Finance", "de"), ("Abteilungsleiter IT", "IT", "de"),
        ("Director de Ventas", "Sales", "es"), ("Directora de Marketing", "Marketing", "es"),
        ("Direttore Commerciale", "Sales", "it"), ("Diretor Comercial", "Sales", "pt"),
    ),
    "manager": (
        ("Marketing Manager", "Marketing", None), ("Product Manager", "Product", None),
        ("IT Manager", "IT", None), ("Key Account Manager", "Sales", None), ("Sales Team Lead", "Sales", None),
        ("Procurement Manager", "Procurement", None), ("HR Manager", "HR", None),
        ("Customer Success Manager", "Customer Service", None), ("Office Manager", "Operations", None),
        ("Engineering Manager", "Engineering", None), ("Leiter Einkauf", "Procurement", "de"),
        ("Teamleiterin Marketing", "Marketing", "de"), ("Teamleiter Vertrieb", "Sales", "de"),
        ("Responsable Marketing", "Marketing", "fr"), ("Responsable Achats", "Procurement", "fr"),
        ("Chef de projet", "IT", "fr"), ("Jefe de Compras", "Procurement", "es"),
        ("Gerente de Ventas", "Sales", "es"), ("Responsabile Acquisti", "Procurement", "it"),
    ),
    "ic": (
        ("Software Engineer", "Engineering", None), ("Senior Software Engineer", "Engineering", None),
        ("Account Executive", "Sales", None), ("Sales Development Representative", "Sales", None),
        ("Marketing Specialist", "Marketing", None), ("Content Marketer", "Marketing", None),
        ("Data Analyst", "IT", None), ("Business Analyst", "Operations", None), ("Accountant", "Finance", None),
        ("Controller", "Finance", None), ("Buyer", "Procurement", None), ("Systems Administrator", "IT", None),
        ("Solutions Architect", "IT", None), ("Recruiter", "HR", None), ("UX Designer", "Product", None),
        ("Support Engineer", "Customer Service", None), ("Customer Success Specialist", "Customer Service", None),
        ("Legal Counsel", "Legal", None), ("Einkäufer", "Procurement", "de"),
        ("Vertriebsmitarbeiterin", "Sales", "de"), ("Sachbearbeiterin Buchhaltung", "Finance", "de"),
        ("Ingénieur Commercial", "Sales", "fr"), ("Chargée de Marketing", "Marketing", "fr"),
        ("Comptable", "Finance", "fr"), ("Ingeniero de Software", "Engineering", "es"),
        ("Analista de Marketing", "Marketing", "es"), ("Systemutvecklare", "Engineering", "sv"),
        ("Kundeansvarlig", "Sales", "no"), ("Contabile", "Finance", "it"),
    ),
    "intern": (
        ("Marketing Intern", "Marketing", None), ("Sales Intern", "Sales", None),
        ("Summer Intern, Engineering", "Engineering", None), ("Trainee", "Operations", None),
        ("Marketing Trainee", "Marketing", None), ("Werkstudent Marketing", "Marketing", "de"),
        ("Praktikantin Vertrieb", "Sales", "de"), ("Stagiaire Marketing", "Marketing", "fr"),
        ("Becario de Ventas", "Sales", "es"),
    ),
}
SENIORITY_WEIGHTS = {"intern": 4, "ic": 44, "manager": 25, "director": 13, "vp": 8, "c_level": 6}

# --- Companies ----------------------------------------------------------------------------------------

INDUSTRIES: dict[str, tuple[int, int, tuple[str, ...]]] = {
    # industry: (weight, revenue per employee in USD, English name words)
    "Software": (14, 220_000, ("Software", "Systems", "Labs", "Technologies", "Cloud", "Analytics", "Digital")),
    "Manufacturing": (12, 250_000, ("Manufacturing", "Industries", "Components", "Precision", "Engineering")),
    "Financial Services": (8, 400_000, ("Capital", "Financial", "Partners", "Wealth", "Insurance")),
    "Healthcare": (7, 150_000, ("Health", "Medical", "Care", "Diagnostics")),
    "Retail": (7, 180_000, ("Retail", "Stores", "Outfitters", "Brands")),
    "Logistics": (7, 200_000, ("Logistics", "Freight", "Transport", "Shipping")),
    "Energy": (5, 600_000, ("Energy", "Power", "Renewables", "Solar")),
    "Telecommunications": (4, 350_000, ("Telecom", "Networks", "Communications")),
    "Professional Services": (8, 150_000, ("Consulting", "Advisory", "Group", "Associates")),
    "Education": (3, 90_000, ("Learning", "Academy", "Education")),
    "Media": (4, 200_000, ("Media", "Studios", "Publishing")),
    "Automotive": (4, 300_000, ("Automotive", "Motors", "Mobility")),
    "Food & Beverage": (5, 220_000, ("Foods", "Beverages", "Brewing", "Kitchens")),
    "Construction": (5, 200_000, ("Construction", "Builders", "Building")),
    "Pharmaceuticals": (3, 450_000, ("Pharma", "Biosciences", "Therapeutics")),
}
# Local words for an industry, used in company names in that language (English words otherwise).
LOCAL_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {"Software": ("Software", "Systemhaus", "Datentechnik"), "Manufacturing": ("Maschinenbau", "Werkzeugbau",
           "Anlagenbau"), "Financial Services": ("Finanz", "Vermögensverwaltung"), "Healthcare": ("Medizintechnik",),
           "Retail": ("Handelshaus",), "Logistics": ("Logistik", "Spedition"), "Energy": ("Energie", "Solar"),
           "Construction": ("Bau", "Bauunternehmung"), "Food & Beverage": ("Feinkost", "Brauerei"),
           "Automotive": ("Fahrzeugtechnik",), "Professional Services": ("Beratung",), "Media": ("Medien", "Verlag"),
           "Telecommunications": ("Telekom", "Netze")},
    "fr": {"Software": ("Informatique", "Logiciels"), "Manufacturing": ("Industries", "Mécanique"),
           "Financial Services": ("Finance", "Gestion"), "Healthcare": ("Santé",), "Retail": ("Distribution",),
           "Logistics": ("Transports", "Logistique"), "Energy": ("Énergie",), "Construction": ("Bâtiment",),
           "Food & Beverage": ("Gourmet", "Vins"), "Professional Services": ("Conseil",), "Media": ("Éditions",),
           "Pharmaceuticals": ("Laboratoires",), "Telecommunications": ("Réseaux",)},
    "nl": {"Logistics": ("Logistiek", "Transport"), "Construction": ("Bouw",), "Software": ("ICT", "Software"),
           "Food & Beverage": ("Voeding",), "Energy": ("Energie",), "Manufacturing": ("Techniek",)},
    "sv": {"Construction": ("Bygg",), "Energy": ("Kraft", "Energi"), "Software": ("Data",), "Logistics": ("Logistik",),
           "Manufacturing": ("Industri",)},
    "no": {"Construction": ("Bygg",), "Energy": ("Kraft",), "Logistics": ("Logistikk",),
           "Manufacturing": ("Industri",)},
    "da": {"Construction": ("Byg",), "Energy": ("Energi",), "Logistics": ("Logistik",),
           "Food & Beverage": ("Fødevarer",)},
    "fi": {"Construction": ("Rakennus",), "Energy": ("Energia",), "Software": ("Data",)},
    "es": {"Construction": ("Construcciones",), "Logistics": ("Transportes",), "Food & Beverage": ("Bodegas",),
           "Professional Services": ("Consultores",), "Energy": ("Energía",), "Software": ("Sistemas",),
           "Manufacturing": ("Industrias",)},
    "it": {"Construction": ("Costruzioni",), "Logistics": ("Trasporti",), "Food & Beverage": ("Alimentari",),
           "Manufacturing": ("Meccanica",), "Software": ("Informatica",), "Energy": ("Energia",)},
    "pt": {"Construction": ("Construções",), "Logistics": ("Transportes",), "Energy": ("Energia",),
           "Software": ("Sistemas",)},
}
BRAND_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("Blue", "North", "Summit", "Silver", "Granite", "Harbor", "Pioneer", "Bright", "Cedar", "Atlas",
           "Apex", "Vertex", "Crescent", "Evergreen", "Ironwood", "Keystone", "Lighthouse", "Meridian", "Nimbus",
           "Orchard", "Pinnacle", "Redwood", "Sterling", "Tidal", "Horizon", "Beacon", "Falcon", "Cobalt",
           "Copper", "Maple", "Riverside", "Polar", "Vantage", "Zenith", "Aurora", "Clearwater", "Ember",
           "Golden", "Hudson", "Juniper", "Kestrel", "Lumen", "Onyx", "Prairie", "Willow", "Sequoia", "Bluebird",
           "Brightpath", "Clearview", "Silverline", "Stonebridge", "Oakridge", "Riverbend", "Highland", "Greenfield",
           "Westbrook", "Eastgate", "Fairview", "Lakeside", "Redstone", "Ironbridge", "Bluestone", "Northgate",
           "Brightwater", "Blackwood", "Whitestone", "Copperfield", "Silverpeak", "Sunridge", "Northstar"),
    "de": ("Nordlicht", "Alpen", "Rhein", "Elbe", "Isar", "Donau", "Bergland", "Sonnen", "Eichen", "Falken",
           "Adler", "Stern", "Weitblick", "Taunus", "Hanse", "Schwarzwald"),
    "fr": ("Lumière", "Azur", "Horizon", "Alpes", "Atlantique", "Loire", "Provence", "Bretagne", "Étoile", "Rivage"),
    "nl": ("Noordzee", "Polder", "Oranje", "Tulp", "Delta", "Zeeland", "Molen"),
    "nordic": ("Nord", "Fjord", "Vik", "Berg", "Sol", "Skog", "Hav", "Polar", "Norr", "Tind", "Strand", "Ek", "Fjäll"),
    "south": ("Ibérica", "Mediterránea", "Sol", "Costa", "Sierra", "Atlántica", "Aurora", "Levante", "Adriatica"),
}
SIZE_BANDS: tuple[tuple[str, int, int, int], ...] = (
    # band, weight, fewest and most employees
    (SizeBand.S1.value, 8, 2, 10),
    (SizeBand.S2.value, 20, 11, 50),
    (SizeBand.S3.value, 24, 51, 200),
    (SizeBand.S4.value, 16, 201, 500),
    (SizeBand.S5.value, 11, 501, 1000),
    (SizeBand.S6.value, 12, 1001, 5000),
    (SizeBand.S7.value, 5, 5001, 10000),
    (SizeBand.S8.value, 4, 10001, 150000),
)
CONTACT_WEIGHT_BY_BAND = {band: 2 + 3 * i for i, (band, *_rest) in enumerate(SIZE_BANDS)}
ACCOUNT_STAGES = {"lead": 30, "mql": 12, "sql": 10, "opportunity": 16, "customer": 26, "evangelist": 3, "other": 3}
CONTACT_STAGES_BY_ACCOUNT = {
    # Contacts of customers are mostly customers too; elsewhere each stage of the funnel is narrower.
    "customer": {"customer": 62, "evangelist": 10, "opportunity": 6, "sql": 3, "lead": 12, "subscriber": 4, "other": 3},
    "evangelist": {"customer": 45, "evangelist": 35, "lead": 10, "subscriber": 7, "other": 3},
    "opportunity": {"opportunity": 30, "sql": 16, "mql": 18, "lead": 26, "subscriber": 7, "other": 3},
    "funnel": {"subscriber": 28, "lead": 34, "mql": 17, "sql": 9, "opportunity": 5, "customer": 4, "evangelist": 1,
               "other": 2},
}
EMAIL_PATTERNS = {"first.last": 60, "flast": 14, "first_last": 8, "firstl": 8, "first": 10}
STREETS: dict[str, tuple[str, tuple[str, ...]]] = {
    # language: (format, street names)
    "en_US": ("{n} {s}", ("Main Street", "Market Street", "Park Avenue", "Oak Street", "Maple Avenue", "Broadway",
                          "Commerce Drive", "Lakeview Boulevard", "Innovation Way", "Cedar Lane", "Harbor Drive")),
    "en_GB": ("{n} {s}", ("High Street", "Station Road", "Church Lane", "King Street", "Victoria Road", "Mill Lane",
                          "Queen's Road", "Bridge Street", "Market Square", "Park Place")),
    "de": ("{s} {n}", ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Industriestraße", "Lindenallee",
                       "Marktplatz", "Goethestraße", "Am Hafen", "Friedrichstraße", "Gartenweg", "Mozartstraße")),
    "fr": ("{n} {s}", ("rue de la République", "avenue Jean Jaurès", "boulevard Haussmann", "rue Victor Hugo",
                       "rue du Commerce", "place de la Gare", "rue Pasteur", "quai des Chartrons", "rue Nationale")),
    "nl": ("{s} {n}", ("Keizersgracht", "Stationsplein", "Hoofdstraat", "Kerkstraat", "Industrieweg", "Herengracht",
                       "Marktplein")),
    "sv": ("{s} {n}", ("Drottninggatan", "Storgatan", "Kungsgatan", "Sveavägen", "Hamngatan", "Industrivägen")),
    "no": ("{s} {n}", ("Karl Johans gate", "Storgata", "Kirkegata", "Industriveien", "Bryggen")),
    "da": ("{s} {n}", ("Vesterbrogade", "Nørregade", "Industrivej", "Havnegade", "Strandvejen")),
    "fi": ("{s} {n}", ("Mannerheimintie", "Aleksanterinkatu", "Hämeenkatu", "Teollisuuskatu", "Satamakatu")),
    "es": ("{s}, {n}", ("Calle Mayor", "Paseo de la Castellana", "Avenida Diagonal", "Calle de Alcalá", "Gran Vía")),
    "it": ("{s}, {n}", ("Via Roma", "Corso Vittorio Emanuele II", "Via Garibaldi", "Via Dante", "Via Milano")),
    "pt": ("{s}, {n}", ("Avenida da Liberdade", "Rua Augusta", "Rua de Santa Catarina", "Avenida dos Aliados")),
}
TAGS = ("Decision maker", "Champion", "Technical buyer", "Event attendee", "Webinar attendee", "Newsletter",
        "Trial user", "Partner referral", "Churn risk", "Beta tester")
SOURCES = {"Website form": 30, "Webinar": 12, "Trade show": 10, "Referral": 8, "Outbound prospecting": 15,
           "LinkedIn": 10, "Content download": 10, "Inbound call": 5}

# --- Custom fields ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoField:
    """A custom field the demo defines and fills."""

    object_type: str
    key: str
    label: str
    field_type: str
    choices: tuple[str, ...] = ()
    help_text: str = ""


NEWSLETTER_TOPICS = ("Product updates", "Events", "Industry insights", "Webinars", "Case studies")
CUSTOM_FIELDS: tuple[DemoField, ...] = (
    DemoField(ObjectType.CONTACT, "preferred_language", "Preferred language", CustomField.FieldType.CHOICE,
              tuple(sorted(set(LANGUAGES.values()))), "The language to write to the contact in."),
    DemoField(ObjectType.CONTACT, "newsletter_topics", "Newsletter topics", CustomField.FieldType.MULTI_CHOICE,
              NEWSLETTER_TOPICS, "What the contact asked to hear about."),
    DemoField(ObjectType.ACCOUNT, "employees", "Employees (exact)", CustomField.FieldType.NUMBER,
              help_text="Head count, where known; the size band is the range."),
)

# fmt: on

# --- The run ------------------------------------------------------------------------------------------


@dataclass
class AccountPlan:
    """An account to create, and what its contacts are derived from (office, email style, language)."""

    name: str
    stem: str
    domain: str
    industry: str
    size_band: str
    employees: int
    annual_revenue: Decimal | None
    currency: str
    country: str
    city: City
    locale: str
    stage: str
    email_pattern: str
    street: str
    owner: str | None = None
    shared: bool = False
    parent: int | None = None  # index of the parent account in the plan
    id: int | None = None

    def row(self) -> dict[str, Any]:
        """The account as input for ``accounts_upsert_batch`` (owner, partner and parent filled in later)."""
        return {
            "name": self.name,
            "domain": self.domain,
            "industry": self.industry,
            "size_band": self.size_band,
            "annual_revenue": self.annual_revenue,
            "currency": self.currency,
            "country": self.country,
            "region": self.city.region,
            "city": self.city.name,
            "lifecycle_stage": self.stage,
            "custom": {"employees": self.employees},
        }


@dataclass
class Demo:
    """One run of the demo generator: its options, and what the steps made so far, for the later steps."""

    seed: int
    contacts: int
    password_hash: str
    users: dict[str, User] = field(default_factory=dict)
    new_users: list[User] = field(default_factory=list)
    territories: dict[str, Territory] = field(default_factory=dict)
    partner: PartnerOrganisation | None = None
    custom_fields: set[str] = field(default_factory=set)
    accounts: list[AccountPlan] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)

    def rng(self, step: str) -> random.Random:
        """A random generator for one step, independent of the other steps' draws."""
        return random.Random(f"rapport-demo:{self.seed}:{step}")

    def user_id(self, username: str | None) -> int | None:
        return self.users[username].pk if username and username in self.users else None


@dataclass(frozen=True)
class DemoLogin:
    """How to log in to the demo: shown at the end of ``make run``'s demo step."""

    url: str
    username: str
    password: str | None
    file: Path
    problem: str = ""

    def line(self) -> str:
        """``Log in at <url> as admin / <password>``, or why that can't be said."""
        if self.password is None or self.problem:
            return self.problem or f"Log in at {self.url} with your own account."
        return f"Log in at {self.url} as {self.username} / {self.password}"


@dataclass
class DemoResult:
    """What ``demo_load`` did."""

    loaded: bool
    login: DemoLogin
    seed: int = DEFAULT_SEED
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    users: list[DemoUser] = field(default_factory=list)
    seconds: float = 0.0


# --- Helpers ------------------------------------------------------------------------------------------

_GERMAN_LETTERS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_NORDIC_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "ß": "ss", "đ": "d"})


def ascii_fold(text: str, locale: str = "") -> str:
    """Spell a name in ASCII the way its owner would in an email address (``Müller`` → ``Mueller`` in German)."""
    if locale == "de":
        text = text.translate(_GERMAN_LETTERS)
    text = text.translate(_NORDIC_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).encode("ascii", "ignore").decode()


def _local_part(text: str, locale: str) -> str:
    folded = ascii_fold(text, locale).lower()
    return "".join(ch for ch in folded if ch.isalnum() or ch == "-").strip("-")


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _fill(rng: random.Random, pattern: str) -> str:
    """Replace ``#`` by a digit and ``@`` by a letter (postal codes)."""
    letters = "ABDEFGHJLNPRSTUWXYZ"
    return "".join(
        rng.choice("0123456789") if ch == "#" else rng.choice(letters) if ch == "@" else ch for ch in pattern
    )


def _round_significant(value: float, digits: int = 3) -> int:
    if value <= 0:
        return 0
    magnitude = len(str(int(value))) - digits
    return int(round(value, -magnitude)) if magnitude > 0 else int(value)


# How mobile numbers start, nationally (NANP countries use the city's area code for mobiles too).
MOBILE_PREFIXES = {
    "DE": ["151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "179"],
    "AT": ["650", "660", "664", "676", "680", "699"],
    "CH": ["76", "77", "78", "79"],
    "GB": ["74", "75", "77", "78", "79"],
    "IE": ["83", "85", "86", "87", "89"],
    "FR": ["6", "7"],
    "BE": ["47", "48", "49"],
    "NL": ["6"],
    "LU": ["621", "661", "691"],
    "SE": ["70", "72", "73", "76"],
    "NO": ["4", "9"],
    "DK": ["2", "3", "4", "5"],
    "FI": ["40", "44", "45", "50"],
    "ES": ["6"],
    "IT": ["32", "33", "34", "35", "38"],
    "PT": ["91", "92", "93", "96"],
    "AU": ["4"],
}


@lru_cache(maxsize=256)
def _phone_shape(country: str, mobile: bool) -> tuple[int, str, int]:
    """Country calling code, a typical leading digit and the usual national length of a number type."""
    kind = phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(country, kind) or phonenumbers.example_number(country)
    assert example is not None and example.country_code is not None, f"no example phone number for {country}"
    national = phonenumbers.national_significant_number(example)
    return example.country_code, national[:1], len(national)


def demo_phone(rng: random.Random, country: str, area: str) -> str:
    """A phone number that ``phonenumbers`` accepts as valid for the country: an office line in the
    city's area code, or a mobile number, in E.164 form."""
    mobile = not area or rng.random() < 0.45 or country in ("DK", "NO", "LU")
    code, lead, length = _phone_shape(country, mobile)
    prefix = rng.choice(MOBILE_PREFIXES.get(country, [area or lead])) if mobile else area
    for attempt in range(60):
        size = length + (0, 1, -1)[attempt % 3] if attempt >= 6 else length
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(max(size - len(prefix), 2)))
        number = phonenumbers.parse(f"+{code}{digits}")
        # Countries share calling codes (+1 US/CA, +44 GB/Isle of Man): the number must be this country's.
        if phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == country:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    code, lead, length = _phone_shape(country, True)
    return f"+{code}{lead}{'0' * (length - 1)}"  # unreachable in practice: some draw above is valid


def _brand_language(locale: str) -> str:
    if locale in ("sv", "no", "da", "fi"):
        return "nordic"
    if locale in ("es", "it", "pt"):
        return "south"
    if locale in ("de", "fr", "nl"):
        return locale
    return "en"


def _company_name(rng: random.Random, country: Country, locale: str, industry: str) -> tuple[str, str]:
    """A company name (with its legal form) and the base its web domain is made from."""
    _, last_names = NAMES[locale if locale in NAMES else country.locale]
    english = INDUSTRIES[industry][2]
    local = LOCAL_WORDS.get(locale, {}).get(industry, ())
    word = rng.choice(local) if local and rng.random() < 0.7 else rng.choice(english)
    brands = BRAND_WORDS[_brand_language(locale)]
    style = rng.random()
    if _brand_language(locale) == "nordic":
        first, second = rng.sample(brands, 2)
        base = first + second.lower() if style < 0.6 else rng.choice(last_names)
    elif locale in ("de", "nl", "fr", "es", "it", "pt") and style < 0.45:
        base = rng.choice(last_names)
    elif style < 0.85:
        base = rng.choice(brands)
    else:
        base = rng.choice(BRAND_WORDS["en"])
    # Romance-language firms put the trade first: "Transports Moreau", "Construcciones Navarro".
    stem = f"{word} {base}" if locale in ("fr", "es", "it", "pt") and word in local else f"{base} {word}"
    legal = rng.choice(country.legal_forms)
    if country.code == "CH" and locale == "fr":
        legal = "SA"
    if country.code == "BE" and locale == "fr":
        legal = rng.choice(("SA", "SRL"))
    return (f"{stem} {legal}".strip(), stem)


def _domain_for(rng: random.Random, stem: str, country: Country, locale: str) -> str:
    words = [_local_part(w, locale) for w in stem.replace("&", " ").split()]
    words = [w for w in words if w]
    joiner = "-" if locale in ("de", "fr") and rng.random() < 0.5 else ""
    tld = "com" if rng.random() < 0.2 else country.tld
    return f"{joiner.join(words)[:60]}.{tld}"


SUBSIDIARY_LABELS = {
    "US": "USA",
    "CA": "Canada",
    "GB": "UK",
    "IE": "Ireland",
    "DE": "Deutschland",
    "AT": "Austria",
    "CH": "Schweiz",
    "FR": "France",
    "BE": "Belgium",
    "NL": "Nederland",
    "LU": "Luxembourg",
    "SE": "Sverige",
    "NO": "Norge",
    "DK": "Danmark",
    "FI": "Finland",
    "ES": "España",
    "IT": "Italia",
    "PT": "Portugal",
    "AU": "Australia",
}


def plan_accounts(rng: random.Random, count: int) -> list[AccountPlan]:
    """The demo's accounts: independent companies first, then subsidiaries of the biggest in other countries."""
    if count <= 0:
        return []
    countries = list(COUNTRIES)
    industries = list(INDUSTRIES)
    used_names: set[str] = set()
    used_domains: set[str] = set()
    plans: list[AccountPlan] = []

    def add(plan: AccountPlan) -> None:
        """Keep names and domains unique: a taken one gets the city added, like a local branch would."""
        stem, legal = plan.stem, plan.name[len(plan.stem) :].strip()
        label, tld = plan.domain.split(".", 1)
        number = 1
        while plan.name.lower() in used_names or plan.domain in used_domains:
            number += 1
            suffix = plan.city.name if number == 2 else f"{plan.city.name} {number - 1}"
            plan.stem = f"{stem} {suffix}"
            plan.name = f"{plan.stem} {legal}".strip()
            plan.domain = f"{label[:40]}-{_local_part(suffix.replace(' ', '-'), plan.locale)}.{tld}"
        used_names.add(plan.name.lower())
        used_domains.add(plan.domain)
        plans.append(plan)

    subsidiaries = round(count * 0.08) if count >= 10 else 0
    while len(plans) < count - subsidiaries:
        country = rng.choices(countries, weights=[c.weight for c in countries])[0]
        city = rng.choice(country.cities)
        locale = city.locale or country.locale
        industry = rng.choices(industries, weights=[INDUSTRIES[i][0] for i in industries])[0]
        name, stem = _company_name(rng, country, locale, industry)
        band, _, low, high = rng.choices(SIZE_BANDS, weights=[b[1] for b in SIZE_BANDS])[0]
        employees = round(low * (high / low) ** rng.random())
        add(
            _account(
                rng,
                name,
                stem,
                _domain_for(rng, stem, country, locale),
                industry,
                band,
                employees,
                country,
                city,
                locale,
                _weighted(rng, ACCOUNT_STAGES),
            )
        )
    parents = [i for i, p in enumerate(plans) if p.employees > 1000] or list(range(len(plans)))
    while len(plans) < count:
        parent_index = rng.choice(parents)
        parent = plans[parent_index]
        country = rng.choice([c for c in countries if c.code != parent.country])
        city = rng.choice(country.cities)
        label = SUBSIDIARY_LABELS[country.code]
        stem = f"{parent.stem} {label}"
        name = f"{stem} {rng.choice(country.legal_forms)}".strip()
        domain = parent.domain.rsplit(".", 1)[0].removesuffix(".co").removesuffix(".com") + f".{country.tld}"
        band, _, low, high = rng.choice([b for b in SIZE_BANDS if b[2] <= parent.employees // 4] or [SIZE_BANDS[0]])
        employees = round(low * (high / low) ** rng.random())
        stage = parent.stage if rng.random() < 0.6 else _weighted(rng, ACCOUNT_STAGES)
        plan = _account(
            rng,
            name,
            stem,
            domain,
            parent.industry,
            band,
            employees,
            country,
            city,
            city.locale or country.locale,
            stage,
        )
        plan.parent = parent_index
        add(plan)
    return plans


def _account(
    rng: random.Random,
    name: str,
    stem: str,
    domain: str,
    industry: str,
    band: str,
    employees: int,
    country: Country,
    city: City,
    locale: str,
    stage: str,
) -> AccountPlan:
    revenue_usd = employees * INDUSTRIES[industry][1] * rng.uniform(0.55, 1.6)
    revenue = None if rng.random() < 0.1 else Decimal(_round_significant(revenue_usd * USD_RATES[country.currency]))
    street_format, streets = STREETS.get(locale, STREETS["en_US"])
    street = street_format.format(n=rng.randint(1, 240), s=rng.choice(streets))
    pattern = "first" if band == SizeBand.S1 and rng.random() < 0.5 else _weighted(rng, EMAIL_PATTERNS)
    plan = AccountPlan(
        name=name,
        stem=stem,
        domain=domain,
        industry=industry,
        size_band=band,
        employees=employees,
        annual_revenue=revenue,
        currency=country.currency,
        country=country.code,
        city=city,
        locale=locale,
        stage=stage,
        email_pattern=pattern,
        street=street,
    )
    territory = territory_for(country.code, city.region)
    if territory is None:
        plan.owner = OUT_OF_TERRITORY_OWNER
    elif rng.random() < 0.85:
        plan.owner = rng.choice(territory.members)
    plan.shared = territory is not None and territory.name == "DACH" and employees <= 500 and rng.random() < 0.35
    return plan


def _email(first: str, last: str, locale: str, pattern: str, domain: str, used: set[str]) -> str:
    f, last_part = _local_part(first, locale), _local_part(last.replace(" ", ""), locale)
    candidates = {
        "first.last": f"{f}.{last_part}",
        "flast": f"{f[:1]}{last_part}",
        "first_last": f"{f}_{last_part}",
        "firstl": f"{f}{last_part[:1]}",
        "first": f,
    }
    for local in (candidates[pattern], f"{f}.{last_part}", f"{f[:1]}.{last_part}"):
        if f"{local}@{domain}" not in used:
            break
    else:
        number = 2
        while f"{f}.{last_part}{number}@{domain}" in used:
            number += 1
        local = f"{f}.{last_part}{number}"
    email = f"{local}@{domain}"
    used.add(email)
    return email


def plan_contacts(rng: random.Random, accounts: Sequence[AccountPlan], count: int) -> Iterator[dict[str, Any]]:
    """The demo's contacts, as input rows for ``contacts_upsert_batch`` with ``account`` (an index) added.

    Every account gets at least one contact (while there are enough); the rest go to accounts in
    proportion to their size. Rows come one at a time so a million contacts don't sit in memory.
    """
    if not accounts or count <= 0:
        return
    weights = [CONTACT_WEIGHT_BY_BAND[a.size_band] for a in accounts]
    firsts = list(range(len(accounts)))[:count]
    extra = rng.choices(range(len(accounts)), weights=weights, k=count - len(firsts))
    used: set[str] = set()
    team_of = {u.username: u.team for u in USERS}
    teammates = {
        u.username: [o.username for o in USERS if o.team == u.team and o.role == Role.SALES_REP]
        for u in USERS
        if u.role == Role.SALES_REP
    }
    for index in [*firsts, *extra]:
        account = accounts[index]
        locale = account.locale if rng.random() < 0.88 else rng.choice(list(NAMES))
        first_names, last_names = NAMES[locale]
        first, last = rng.choice(first_names), rng.choice(last_names)
        if locale == "es" and rng.random() < 0.35:
            last = f"{last} {rng.choice(last_names)}"
        seniority = _weighted(rng, SENIORITY_WEIGHTS)
        titles = TITLES[seniority]
        local_titles = [t for t in titles if t[2] == locale]
        title, department, _ = (
            rng.choice(local_titles)
            if local_titles and rng.random() < 0.4
            else rng.choice([t for t in titles if t[2] is None])
        )
        stages = CONTACT_STAGES_BY_ACCOUNT.get(account.stage, CONTACT_STAGES_BY_ACCOUNT["funnel"])
        stage = _weighted(rng, stages)
        owner = _contact_owner(rng, account, stage, team_of, teammates)
        email_consent = _weighted(rng, {"granted": 74, "denied": 9, "unknown": 17})
        if stage == LifecycleStage.SUBSCRIBER:
            email_consent = "granted"  # they subscribed
        consent = {
            "email": email_consent,
            "phone": _weighted(rng, {"granted": 35, "denied": 6, "unknown": 59}),
            "sms": _weighted(rng, {"granted": 10, "denied": 5, "unknown": 85}),
            "post": _weighted(rng, {"granted": 25, "denied": 3, "unknown": 72}),
        }
        tags = _contact_tags(rng, seniority, department, stage, account, email_consent)
        custom: dict[str, Any] = {}
        if rng.random() < 0.8:
            custom["preferred_language"] = LANGUAGES[locale]
        if email_consent == "granted" and rng.random() < 0.55:
            custom["newsletter_topics"] = rng.sample(NEWSLETTER_TOPICS, rng.randint(1, 3))
        row: dict[str, Any] = {
            "account": index,
            "first_name": first,
            "last_name": last,
            "email": _email(first, last, locale, account.email_pattern, account.domain, used),
            "job_title": title,
            "department": department,
            "city": account.city.name,
            "region": account.city.region,
            "country": account.country,
            "lifecycle_stage": stage,
            "owner": owner,
            "source": "Newsletter sign-up"
            if stage == LifecycleStage.SUBSCRIBER
            else ("Partner" if account.shared and rng.random() < 0.5 else _weighted(rng, SOURCES)),
            "consent": consent,
            "tags": tags,
            "custom": custom,
        }
        if rng.random() < 0.8:
            row["phone"] = demo_phone(rng, account.country, account.city.area)
        if rng.random() < 0.7:
            row["street"] = account.street
            row["postal_code"] = _fill(rng, account.city.postal)
        yield row


def _contact_owner(
    rng: random.Random,
    account: AccountPlan,
    stage: str,
    team_of: dict[str, str | None],
    teammates: dict[str, list[str]],
) -> str | None:
    """Contacts mostly belong to their account's owner; early-funnel ones are often still unowned."""
    if stage == LifecycleStage.SUBSCRIBER and rng.random() < 0.35:
        return None
    if account.owner is None:
        territory = territory_for(account.country, account.city.region)
        return rng.choice(territory.members) if territory and rng.random() < 0.15 else None
    draw = rng.random()
    if draw < 0.8:
        return account.owner
    if draw < 0.92 and team_of.get(account.owner):
        return rng.choice(teammates.get(account.owner, [account.owner]))
    return None


def _contact_tags(
    rng: random.Random, seniority: str, department: str, stage: str, account: AccountPlan, email_consent: str
) -> list[str]:
    chances = {
        "Decision maker": 0.5 if seniority in ("c_level", "vp", "director") else 0.0,
        "Champion": 0.2 if stage in ("customer", "evangelist") else 0.02,
        "Technical buyer": 0.3 if department in ("IT", "Engineering") else 0.0,
        "Event attendee": 0.12,
        "Webinar attendee": 0.15,
        "Newsletter": 0.4 if email_consent == "granted" else 0.0,
        "Trial user": 0.1 if stage in ("mql", "sql") else 0.0,
        "Partner referral": 0.4 if account.shared else 0.0,
        "Churn risk": 0.08 if stage == "customer" else 0.0,
        "Beta tester": 0.03,
    }
    return [tag for tag in TAGS if rng.random() < chances[tag]]


# --- The steps ----------------------------------------------------------------------------------------


def demo_users(demo: Demo) -> None:
    """The company's staff: users of every role in teams, and the partner organisation with its user."""
    teams_before = Team.objects.count()
    partner, created = PartnerOrganisation.objects.get_or_create(name=PARTNER_NAME, defaults={"domain": PARTNER_DOMAIN})
    demo.partner = partner
    demo.created["partner organisations"] += int(created)
    # Usernames are unique regardless of case (``user_create``), so "Admin" already being there counts.
    wanted = [u.username for u in USERS]
    existing = {u.username.lower(): u for u in User.objects.annotate(key=Lower("username")).filter(key__in=wanted)}
    for spec in USERS:
        if spec.username in existing:
            demo.users[spec.username] = existing[spec.username]  # left as it is, password included
            continue
        user = user_create(
            username=spec.username,
            role=spec.role,
            email=spec.email,
            password=None,
            team=spec.team,
            partner=spec.partner,
            first_name=spec.first_name,
            last_name=spec.last_name,
            via=Via.SYSTEM,
        )
        demo.users[spec.username] = user
        demo.new_users.append(user)
    if demo.new_users:
        # All demo users share one password; hashing it once keeps the run fast with Argon2.
        User.objects.filter(pk__in=[u.pk for u in demo.new_users]).update(password=demo.password_hash)
    demo.created["users"] += len(demo.new_users)
    demo.created["teams"] += Team.objects.count() - teams_before


def demo_territories(demo: Demo) -> None:
    """Territories by country (and, for US West, by state) with their reps as members."""
    existing = {t.name: t for t in Territory.objects.filter(name__in=[t.name for t in TERRITORIES])}
    for spec in TERRITORIES:
        if spec.name in existing:
            demo.territories[spec.name] = existing[spec.name]
            continue
        demo.territories[spec.name] = territory_save(
            name=spec.name,
            countries=spec.countries,
            regions=spec.regions,
            priority=spec.priority,
            member_ids=[demo.users[m].pk for m in spec.members if m in demo.users],
        )
        demo.created["territories"] += 1


def demo_custom_fields(demo: Demo) -> None:
    """Custom fields the demo fills: preferred language, newsletter topics, exact head count."""
    for position, spec in enumerate(CUSTOM_FIELDS):
        found = CustomField.objects.filter(object_type=spec.object_type, key=spec.key).first()
        if found is not None and found.field_type != spec.field_type:
            continue  # someone defined this key differently: leave theirs alone and don't fill it
        if found is None:
            custom_field_save(
                actor=None,
                object_type=spec.object_type,
                key=spec.key,
                label=spec.label,
                field_type=spec.field_type,
                choices=spec.choices,
                help_text=spec.help_text,
                position=position,
            )
            demo.created["custom fields"] += 1
        elif set(spec.choices) - set(found.choices):
            continue  # an older definition lacks some of the values the demo would write
        demo.custom_fields.add(f"{spec.object_type}.{spec.key}")


def _outcomes(demo: Demo, what: str, outcomes: Sequence[RowOutcome]) -> list[int | None]:
    """Count created/updated rows; a rejected row means the demo and the validation rules disagree."""
    rejected = [o for o in outcomes if o.status == RowStatus.REJECTED]
    if rejected:
        raise ValidationFailed(
            f"{len(rejected)} demo {what} were rejected, e.g. row {rejected[0].index}: {rejected[0].reason}",
            [FieldError("", o.reason) for o in rejected[:5]],
        )
    for outcome in outcomes:
        if outcome.status == RowStatus.CREATED:
            demo.created[what] += 1
        elif outcome.status in (RowStatus.UPDATED, RowStatus.MERGED):
            demo.updated[what] += 1
    return [o.id for o in outcomes]


def demo_accounts(demo: Demo) -> None:
    """About one account per seven contacts, parents before their subsidiaries."""
    count = 0 if demo.contacts == 0 else max(1, min(demo.contacts, round(demo.contacts / CONTACTS_PER_ACCOUNT)))
    demo.accounts = plan_accounts(demo.rng("accounts"), count)
    provenance = Provenance(Party.FIRST, PROVENANCE_SOURCE)
    with_employees = f"{ObjectType.ACCOUNT}.employees" in demo.custom_fields
    # Parents first, so that subsidiaries can point at them.
    for wave in ([p for p in demo.accounts if p.parent is None], [p for p in demo.accounts if p.parent is not None]):
        for start in range(0, len(wave), BATCH_SIZE):
            batch = wave[start : start + BATCH_SIZE]
            rows = []
            for i, plan in enumerate(batch):
                row = plan.row()
                if not with_employees:
                    row.pop("custom")
                row["owner_id"] = demo.user_id(plan.owner)
                if plan.shared and demo.partner is not None:
                    row["partner_organisation_id"] = demo.partner.pk
                if plan.parent is not None:
                    row["parent_id"] = demo.accounts[plan.parent].id
                rows.append((start + i, row))
            outcomes = accounts_upsert_batch(
                actor=None, via=Via.SYSTEM, rows=rows, match_on=ImportJob.MatchOn.DOMAIN, provenance=provenance
            )
            for plan, account_id in zip(batch, _outcomes(demo, "accounts", outcomes), strict=True):
                plan.id = account_id


def demo_contacts(demo: Demo) -> None:
    """The contacts, written in batches through the bulk upsert the importer uses."""
    lookups = Lookups.load(actor=None, object_type=ObjectType.CONTACT)
    provenance = Provenance(Party.FIRST, PROVENANCE_SOURCE)
    tags_before = Tag.objects.count()
    rows: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        outcomes = contacts_upsert_batch(
            actor=None,
            via=Via.SYSTEM,
            rows=rows,
            match_on=ImportJob.MatchOn.EMAIL,
            provenance=provenance,
            lookups=lookups,
        )
        _outcomes(demo, "contacts", outcomes)
        rows.clear()

    for index, row in enumerate(plan_contacts(demo.rng("contacts"), demo.accounts, demo.contacts)):
        row["account_id"] = demo.accounts[row.pop("account")].id
        row["owner_id"] = demo.user_id(row.pop("owner"))
        row["custom"] = {k: v for k, v in row["custom"].items() if f"{ObjectType.CONTACT}.{k}" in demo.custom_fields}
        rows.append((index, row))
        if len(rows) >= BATCH_SIZE:
            flush()
    if rows:
        flush()
    demo.created["tags"] += Tag.objects.count() - tags_before


# Later issues append their own steps (events, campaigns, tickets...).
STEPS: list[Callable[[Demo], None]] = [
    demo_users,
    demo_territories,
    demo_custom_fields,
    demo_accounts,
    demo_contacts,
    demo_sales,
]


# --- The run and its login ----------------------------------------------------------------------------


def _new_password() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _read_login(path: Path) -> tuple[str | None, str | None]:
    """The username and password saved in the login file, if it exists."""
    found: dict[str, str] = {}
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("username", "password") and value.strip():
                found[name] = value.strip()
    except (OSError, UnicodeDecodeError):
        pass
    return found.get("username"), found.get("password")


def _write_login(path: Path, url: str, username: str, password: str) -> None:
    """Keep the demo login where only the owner can read it (0600)."""
    staff = "\n".join(
        f"  {u.username:<16} {Role(u.role).label:<14} {u.first_name} {u.last_name}"
        for u in USERS
        if u.username != username
    )
    text = (
        "# The Rapport demo's login, written by 'rapport demo'. Change the password before real use.\n"
        f"Log in at {url} as {username} / {password}\n"
        f"username: {username}\n"
        f"password: {password}\n"
        f"# The other demo users share this password:\n{staff}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # O_CREAT's mode doesn't apply to a file that already existed


def demo_login(*, data_dir: Path, url: str, created: Sequence[str] = ()) -> DemoLogin:
    """How to log in to the demo: as the first user this run created, or else as the saved user,
    after checking that the saved password still opens that account."""
    path = data_dir / LOGIN_FILE
    saved_username, password = _read_login(path)
    if created and password:
        return DemoLogin(url, created[0], password, path)
    username = saved_username or ADMIN_USERNAME
    user = User.objects.filter(username=username).first()
    if user is None:
        problem = (
            f"There is no user {username!r}; create one with 'rapport createuser {username} --role admin --password -'."
        )
    elif password is None:
        problem = f"The user {username!r} existed before the demo data, so its password is yours; log in at {url}."
    elif not user.check_password(password):
        problem = (
            f"The password of {username!r} was changed after {path} was written; log in at {url} with the new one."
        )
    else:
        return DemoLogin(url, username, password, path)
    return DemoLogin(url, username, None, path, problem)


def demo_load(
    *,
    data_dir: Path,
    url: str,
    contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
    if_empty: bool = False,
) -> DemoResult:
    """Load the demo company (all of it, or nothing if a step fails) and say how to log in.

    With ``if_empty``, nothing is loaded when the database already has contacts. Existing users,
    territories and custom fields are left as they are; accounts and contacts are matched on domain and
    email, so running again with the same seed changes nothing.
    """
    if not 0 <= contacts <= MAX_CONTACTS:
        raise invalid("contacts", f"must be between 0 and {MAX_CONTACTS:,}.")
    if if_empty and Contact.all_objects.exists():
        return DemoResult(loaded=False, seed=seed, login=demo_login(data_dir=data_dir, url=url))
    started = time.monotonic()
    path = data_dir / LOGIN_FILE
    # Reuse a saved password (a re-created database with the same data directory) so the file stays right.
    password = _read_login(path)[1] or _new_password()
    demo = Demo(seed=seed, contacts=contacts, password_hash=make_password(password))
    try:
        with transaction.atomic():
            for step in STEPS:
                step(demo)
    except RapportError as exc:
        raise ValidationFailed(
            f"The demo data could not be loaded, and nothing was: {exc.message}", exc.errors
        ) from None
    statistics_refresh()
    created_names = [u.username for u in USERS if u.username in {n.username for n in demo.new_users}]
    if created_names:
        _write_login(path, url, created_names[0], password)
    return DemoResult(
        loaded=True,
        seed=seed,
        login=demo_login(data_dir=data_dir, url=url, created=created_names),
        created=dict(demo.created),
        updated=dict(demo.updated),
        users=[u for u in USERS if u.username in created_names],
        seconds=time.monotonic() - started,
    )
