"""The playbook's roles, and which symbol's data fills each: one mapping, given once.

A playbook names its instruments by role in the playbook's words (the index, tech, semis, the
defensive sleeves, cash, volatility, rates); each role has a default symbol (SPY, QQQ, ...). A user
whose files are other instruments maps them to the roles in one place: ``--map tech=XLK`` on the
command line (repeatable) or a ``universe:`` block in the config file::

    universe:
      index: IVV
      tech: XLK

The roles are the playbook's, so they live here; backtests.market loads the mapped file, which is
validated as its own symbol (its kind of series: data.validate) and takes the role's place: the
playbook, its trades and its reports keep the role's default symbol as the name of the slot (a run
is comparable with the defaults), and run.json's `proxies` and `universe` say which file stood in
for which role.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from strategies.errors import ConfigError

# role -> the playbook's symbol for it (data.universe.UNIVERSE describes each)
ROLES: dict[str, str] = {
    "index": "SPY",
    "tech": "QQQ",
    "semis": "SMH",
    "energy": "XLE",
    "staples": "XLP",
    "financials": "XLF",
    "cash": "BIL",
    "volatility": "^VIX",
    "rates": "^TNX",
}
ROLE_OF: dict[str, str] = {symbol: role for role, symbol in ROLES.items()}


def _hint(word: str) -> str:
    close = difflib.get_close_matches(word, list(ROLES), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _checked(role, symbol, where: str) -> tuple[str, str]:
    name = str(role).strip().lower()
    if name not in ROLES:
        raise ConfigError(f"{where}: unknown role {str(role)!r}{_hint(name)}; roles: {', '.join(ROLES)}")
    if not isinstance(symbol, str) or not symbol.strip() or any(c in symbol for c in "/\\=,") \
            or any(c.isspace() for c in symbol.strip()):
        raise ConfigError(f"{where}: role {name!r} needs a symbol, e.g. {name}={ROLES[name]}, got {symbol!r}")
    return name, symbol.strip().upper()  # data.universe.canonical_symbol adds an index's caret at load


def parse_map(items, where: str = "--map") -> dict[str, str]:
    """``ROLE=SYMBOL`` texts (the --map option, repeatable) as {role: symbol}; a ConfigError names
    the culprit.

    >>> parse_map(["tech=xlk", "index=IVV"])
    {'tech': 'XLK', 'index': 'IVV'}
    >>> parse_map(["teck=XLK"])
    Traceback (most recent call last):
    ...
    strategies.errors.ConfigError: --map teck=XLK: unknown role 'teck' (did you mean 'tech'?); roles: \
index, tech, semis, energy, staples, financials, cash, volatility, rates
    """
    mapping: dict[str, str] = {}
    for item in items or ():
        text = str(item)
        if text.count("=") != 1:
            raise ConfigError(f"{where} {text!r} is not ROLE=SYMBOL, e.g. tech=XLK")
        role, symbol = text.split("=")
        role, symbol = _checked(role, symbol, f"{where} {text}")
        if role in mapping and mapping[role] != symbol:
            raise ConfigError(f"{where} maps the role {role!r} twice ({mapping[role]} and {symbol})")
        mapping[role] = symbol
    return _distinct(mapping, where)


def parse_universe(block, where: str = "key 'universe'") -> dict[str, str]:
    """A config file's ``universe:`` block (a mapping role: symbol) as {role: symbol}.

    >>> parse_universe({"tech": "XLK", "Cash": "sgov"})
    {'tech': 'XLK', 'cash': 'SGOV'}
    """
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where} must be a mapping of role: symbol, e.g. tech: XLK; got {block!r}")
    mapping: dict[str, str] = {}
    for role, symbol in block.items():
        name, symbol = _checked(role, symbol, where)
        if name in mapping:
            raise ConfigError(f"{where} maps the role {name!r} twice")
        mapping[name] = symbol
    return _distinct(mapping, where)


def _distinct(mapping: dict[str, str], where: str) -> dict[str, str]:
    """One file fills one role: the same symbol in two roles would trade one series as two."""
    filled = {}
    for role in ROLES:
        symbol = mapping.get(role, ROLES[role])
        if symbol in filled:
            raise ConfigError(f"{where}: {symbol} would fill both the {filled[symbol]!r} and the {role!r} "
                            "role; map one of them to another symbol")
        filled[symbol] = role
    return mapping


def file_symbol(slot: str, mapping: Mapping[str, str] | None) -> str:
    """The symbol whose data fills the playbook's `slot` (its default symbol for a role).

    >>> file_symbol("QQQ", {"tech": "XLK"}), file_symbol("SPY", {"tech": "XLK"}), file_symbol("ORCL", None)
    ('XLK', 'SPY', 'ORCL')
    """
    role = ROLE_OF.get(slot)
    return (mapping or {}).get(role, slot) if role else slot
