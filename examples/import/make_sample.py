"""A small synthetic invoice-line log in the layout of examples/import/online_retail.toml.

    python examples/import/make_sample.py [--out examples/import/data] [--clients 400] [--days 150]

Writes one CSV per day (``YYYY-MM-DD.csv``, latin-1, the columns of the UCI Online Retail
log: InvoiceNo, StockCode, Description, Quantity, InvoiceDate as ``MM/DD/YYYY HH:MM``
London time, UnitPrice, CustomerID as a float, Country), so that ``ubm import --config
examples/import/online_retail.toml`` reads it as it would the real log. What a real log
has, it has too: cancellations (``C...`` invoices, negative quantities), lines without a
customer, zero prices, alphanumeric stock codes, accented descriptions, products that
appear part-way through, and customers who start late or stop buying (so churn has
something to predict). The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
WORDS = ["WHITE", "RED", "BLUE", "VINTAGE", "HEART", "LANTERN", "MUG", "CANDLE", "HOLDER", "BAG",
         "JUMBO", "SET", "OF", "3", "6", "CAKE", "TINS", "PAPER", "CHAIN", "KIT", "GLASS", "STAR",
         "CAFÉ", "CRÈME", "NOËL", "BOX", "CLOCK", "BIRD", "ORNAMENT", "DOORMAT", "LUNCH", "RETRO"]
COUNTRIES = ["United Kingdom"] * 8 + ["France", "Germany"]


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    price: float
    first_day: int  # the day it is first sold


@dataclass(frozen=True)
class Customer:
    cid: int
    rate: float  # invoices per day while active
    first_day: int
    last_day: int  # churners stop before the end
    favourites: tuple[int, ...]  # item indices bought most
    country: str


def items(rng: random.Random, n: int, days: int) -> list[Item]:
    out = [Item("POST", "POSTAGE", 18.0, 0)]
    for i in range(n - 1):
        code = str(20000 + 37 * i) + (rng.choice("ABCDEFGHIJ") if rng.random() < 0.15 else "")
        name = " ".join(rng.sample(WORDS, rng.randint(2, 5)))
        price = round(min(60.0, rng.lognormvariate(1.0, 0.8)), 2)
        first = 0 if rng.random() < 0.75 else rng.randrange(days)
        out.append(Item(code, name, price, first))
    return out


def customers(rng: random.Random, n: int, days: int, n_items: int) -> list[Customer]:
    out = []
    for i in range(n):
        first = 0 if rng.random() < 0.7 else rng.randrange(days * 2 // 3)
        last = days - 1 if rng.random() < 0.65 else rng.randrange(first, days)
        favourites = tuple(rng.sample(range(1, n_items), 6))
        out.append(Customer(12346 + 7 * i, rng.uniform(0.02, 0.2), first, last, favourites, rng.choice(COUNTRIES)))
    return out


def lines_of_day(rng: random.Random, day: int, date: dt.date, catalogue: list[Item],
                 people: list[Customer], invoice: int) -> tuple[list[str], int]:
    out = []
    on_sale = [i for i, item in enumerate(catalogue) if item.first_day <= day]
    buyers = [c for c in people if c.first_day <= day <= c.last_day and rng.random() < c.rate]
    guests = rng.randint(0, 3)  # invoices without a customer id
    for who in buyers + [None] * guests:
        invoice += 1
        minute = rng.randrange(8 * 60, 18 * 60)
        stamp = f"{date:%m/%d/%Y} {minute // 60:02d}:{minute % 60:02d}"
        cancelled = rng.random() < 0.03
        number = f"C{invoice}" if cancelled else str(invoice)
        cid = f"{who.cid}.0" if who else ""
        country = who.country if who else "United Kingdom"
        for _ in range(rng.randint(1, 6)):
            liked = [i for i in who.favourites if i in on_sale] if who else []
            index = rng.choice(liked) if liked and rng.random() < 0.6 else rng.choice(on_sale)
            item = catalogue[index]
            quantity = -rng.randint(1, 12) if cancelled else rng.choice([1, 2, 3, 4, 6, 12, 24])
            price = 0.0 if rng.random() < 0.01 else item.price
            name = f'"{item.name}"' if "," in item.name else item.name
            out.append(f"{number},{item.code},{name},{quantity},{stamp},{price:.2f},{cid},{country}")
    return out, invoice


def write(out: Path, n_clients: int, days: int, n_items: int, seed: int, start: dt.date) -> int:
    rng = random.Random(seed)
    catalogue = items(rng, n_items, days)
    people = customers(rng, n_clients, days, n_items)
    out.mkdir(parents=True, exist_ok=True)
    invoice, total = 536000, 0
    for day in range(days):
        date = start + dt.timedelta(days=day)
        lines, invoice = lines_of_day(rng, day, date, catalogue, people, invoice)
        (out / f"{date:%Y-%m-%d}.csv").write_bytes(("\n".join([HEADER, *lines]) + "\n").encode("latin-1"))
        total += len(lines)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2011, 1, 3))
    args = parser.parse_args()
    total = write(args.out, args.clients, args.days, args.items, args.seed, args.start)
    print(f"wrote {total:,} invoice lines in {args.days} daily files under {args.out}")


if __name__ == "__main__":
    main()
