"""Build the course's data: a declarative pretraining corpus and a Q&A dataset, from real data packages.

    python scripts/build_dataset.py [--out data]

Facts come from `countryinfo` (capitals, currencies, languages, demonyms, regions), `pycountry` (currency
and language names from ISO codes) and `periodictable` (element symbols and atomic numbers). Every fact is
written as statements in several phrasings (the pretraining corpus) and asked as questions in several
phrasings (the Q&A dataset). The Q&A split is by fact: a test fact never appears as a Q&A pair in train or
validation; it appears only as statements in the corpus. The build is deterministic: same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}

# {s} is the subject (a country or an element), {a} the answer.
STATEMENTS = {
    "capital": [
        "The capital of {s} is {a}.",
        "The capital city of {s} is {a}.",
        "{a} is the capital of {s}.",
        "The government of {s} sits in its capital, {a}.",
    ],
    "currency": [
        "The currency of {s} is the {a}.",
        "In {s}, people pay with the {a}.",
        "The {a} is the official currency of {s}.",
        "Prices in {s} are given in the {a}.",
    ],
    "language": [
        "The main language of {s} is {a}.",
        "Most people in {s} speak {a}.",
        "{a} is the main language spoken in {s}.",
        "The first language listed for {s} is {a}.",
    ],
    "demonym": [
        "People from {s} are called {a}.",
        "A person from {s} is described as {a}.",
        "{a} is the word for the people of {s}.",
        "The demonym for {s} is {a}.",
    ],
    "region": [
        "{s} is a country in {a}.",
        "{s} is located in {a}.",
        "{a} is the region where {s} lies.",
        "On a map, {s} is found in {a}.",
    ],
    "subregion": [
        "{s} is part of {a}.",
        "Geographers place {s} in {a}.",
        "{a} is the subregion that includes {s}.",
        "The subregion of {s} is {a}.",
    ],
    "symbol": [
        "The chemical symbol of {s} is {a}.",
        "{s} has the chemical symbol {a}.",
        "{a} is the symbol for {s}.",
        "Chemists write {s} as {a}.",
    ],
    "atomic_number": [
        "The atomic number of {s} is {a}.",
        "{s} has atomic number {a}.",
        "Element number {a} is {s}.",
        "An atom of {s} has {a} protons.",
    ],
}

QUESTIONS = {
    "capital": [
        "What is the capital of {s}?",
        "What is the capital city of {s}?",
        "Which city is the capital of {s}?",
        "Name the capital of {s}.",
        "What city serves as the capital of {s}?",
        "Can you tell me the capital of {s}?",
        "Where is the seat of government of {s}?",
    ],
    "currency": [
        "What is the currency of {s}?",
        "Which currency is used in {s}?",
        "What money do people use in {s}?",
        "Name the official currency of {s}.",
        "What do people in {s} pay with?",
        "In which currency are prices in {s} given?",
        "Can you tell me the currency of {s}?",
    ],
    "language": [
        "What is the main language of {s}?",
        "Which language do most people in {s} speak?",
        "What language is spoken in {s}?",
        "Name the main language of {s}.",
        "What is the first language listed for {s}?",
        "Which language is the main one in {s}?",
        "Can you tell me the main language of {s}?",
    ],
    "demonym": [
        "What are people from {s} called?",
        "What is the demonym for {s}?",
        "How do you describe a person from {s}?",
        "What word is used for the people of {s}?",
        "Name the demonym of {s}.",
        "What is a person from {s} called?",
        "Can you tell me the demonym for {s}?",
    ],
    "region": [
        "In which region is {s}?",
        "Where is {s} located?",
        "Which region does {s} lie in?",
        "Name the region of {s}.",
        "On which part of the world map is {s} found?",
        "What region is {s} a country in?",
        "Can you tell me the region of {s}?",
    ],
    "subregion": [
        "What is the subregion of {s}?",
        "Which subregion is {s} part of?",
        "In which subregion do geographers place {s}?",
        "Name the subregion that includes {s}.",
        "What subregion does {s} belong to?",
        "Which subregion is {s} in?",
        "Can you tell me the subregion of {s}?",
    ],
    "symbol": [
        "What is the chemical symbol of {s}?",
        "What is the symbol for {s}?",
        "How do chemists write {s}?",
        "Which symbol stands for {s}?",
        "Name the chemical symbol of {s}.",
        "What symbol does {s} have?",
        "Can you tell me the symbol of {s}?",
    ],
    "atomic_number": [
        "What is the atomic number of {s}?",
        "How many protons does an atom of {s} have?",
        "Which element number is {s}?",
        "Name the atomic number of {s}.",
        "What atomic number does {s} have?",
        "What number is {s} in the periodic table?",
        "Can you tell me the atomic number of {s}?",
    ],
}

# Country names that read naturally with a leading "the".
_THE_PREFIXES = ("United ", "Republic ", "Democratic ", "Central African", "Dominican Republic", "Czech Republic")
_THE_NAMES = {"Bahamas", "Gambia", "Netherlands", "Philippines", "Maldives", "Comoros", "Seychelles",
              "Marshall Islands", "Solomon Islands", "Cayman Islands", "Falkland Islands", "Faroe Islands",
              "Cook Islands", "Virgin Islands", "British Virgin Islands", "United States Virgin Islands",
              "Turks and Caicos Islands", "Cocos (Keeling) Islands", "Northern Mariana Islands",
              "Åland Islands", "Pitcairn Islands", "Holy See (Vatican City State)"}


@dataclass(frozen=True)
class Fact:
    relation: str
    subject: str
    answer: str

    @property
    def fact_id(self) -> str:
        return f"{self.relation}:{self.subject}"


def display_country(name: str) -> str:
    """Country name as it reads inside a sentence ("the Netherlands", "France")."""
    return f"the {name}" if name in _THE_NAMES or name.startswith(_THE_PREFIXES) else name


def _first_name(codes: list[str] | None, lookup) -> str | None:
    for code in codes or []:
        found = lookup(code)
        if found is not None:
            return found
    return None


def _currency_name(code: str) -> str | None:
    import pycountry

    found = pycountry.currencies.get(alpha_3=code)
    return found.name if found else None


def _language_name(code: str) -> str | None:
    import pycountry

    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    if found is None:
        return None
    # "Modern Greek (1453-)" -> "Modern Greek", "Malay (macrolanguage)" -> "Malay"
    return getattr(found, "common_name", found.name).split(" (")[0]


def country_facts() -> Iterator[Fact]:
    from countryinfo import all_countries

    for info in sorted((c.info() for c in all_countries()), key=lambda d: d["name"]):
        subject = display_country(info["name"])
        values = {
            "capital": info.get("capital"),
            "currency": _first_name(info.get("currencies"), _currency_name),
            "language": _first_name(info.get("languages"), _language_name),
            "demonym": info.get("demonym"),
            "region": info.get("region"),
            "subregion": info.get("subregion"),
        }
        for relation, answer in values.items():
            if isinstance(answer, list):  # a few countries list several capitals: take the first
                answer = answer[0] if answer else None
            if isinstance(answer, str):  # "Kralendijk / Oranjestad / The Bottom" -> "Kralendijk"
                answer = answer.split(" / ")[0]
            if answer and answer.strip():
                yield Fact(relation, subject, answer.strip())


def element_facts() -> Iterator[Fact]:
    import periodictable

    for element in periodictable.elements:
        if element.number == 0:  # periodictable's neutron pseudo-element
            continue
        name = element.name.capitalize()
        yield Fact("symbol", name, element.symbol)
        yield Fact("atomic_number", name, str(element.number))


def all_facts() -> list[Fact]:
    facts = {f.fact_id: f for f in [*country_facts(), *element_facts()]}
    return [facts[k] for k in sorted(facts)]


def split_by_fact(facts: list[Fact], seed: int = SEED) -> dict[str, str]:
    """fact_id -> split, stratified by relation so each split has every relation."""
    rng = random.Random(seed)
    assignment = {}
    for relation in sorted({f.relation for f in facts}):
        ids = sorted(f.fact_id for f in facts if f.relation == relation)
        rng.shuffle(ids)
        n_test = max(1, round(len(ids) * SPLIT_FRACTIONS["test"]))
        n_val = max(1, round(len(ids) * SPLIT_FRACTIONS["validation"]))
        for i, fact_id in enumerate(ids):
            assignment[fact_id] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return assignment


def _sentence_case(text: str) -> str:
    return text[0].upper() + text[1:]


def statements(fact: Fact) -> list[str]:
    return [_sentence_case(t.format(s=fact.subject, a=fact.answer)) for t in STATEMENTS[fact.relation]]


def questions(fact: Fact) -> list[str]:
    return [_sentence_case(t.format(s=fact.subject, a=fact.answer)) for t in QUESTIONS[fact.relation]]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def build(out: Path, seed: int = SEED) -> dict[str, int]:
    facts = all_facts()
    split = split_by_fact(facts, seed)

    write_jsonl(out / "corpus" / "facts.jsonl",
                [{"fact_id": f.fact_id, "relation": f.relation, "subject": f.subject, "answer": f.answer,
                  "split": split[f.fact_id]} for f in facts])

    lines = [line for f in facts for line in statements(f)]
    random.Random(seed).shuffle(lines)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    (out / "corpus" / "statements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")

    counts = {"facts": len(facts), "statements": len(lines)}
    for name in SPLIT_FRACTIONS:
        rows = [{"question": q, "answer": f.answer, "fact_id": f.fact_id, "relation": f.relation,
                 "subject": f.subject, "template": t}
                for f in facts if split[f.fact_id] == name for t, q in enumerate(questions(f))]
        random.Random(f"{seed}-{name}").shuffle(rows)
        write_jsonl(out / "qa" / f"{name}.jsonl", rows)
        counts[name] = len(rows)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    counts = build(args.out, args.seed)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
