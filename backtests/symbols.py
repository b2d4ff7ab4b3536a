"""Which symbols a run needs, checked before and after the data is prepared: loaded or refused.

A strategy trades the symbols its registry entry lists (strategies.registry), and its parameters may
name symbols too (neutral's and the benchmark's `symbol`, momentum's `growth` and `core`, the
defensive `rotation`'s keys, nested in the playbook's). Every one is either a symbol the run loads
and trades, or the run is refused with one line naming it: a parameter naming a symbol the strategy
does not trade, or a symbol the data source does not have, never becomes a silent 0-trade run.

One symbol is optional, and documented so (docs/playbooks.md): SMH, the semiconductor ETF, has no
daily series offline; momentum (and the playbook's momentum scenario) then tilts into QQQ alone and
the run prints a note. The volatility (^VIX) and rates roles are optional inputs too: without them
the implied-vol proxy and the monthly rate stand-ins are used, each named in run.json.
"""

from __future__ import annotations

import dataclasses

from backtests.errors import RunError
from data.csv_source import MissingFile
from strategies.registry import STRATEGIES, get_strategy
from strategies.roles import ROLE_OF, file_symbol

# symbol -> why a run may go without it (printed as a note when it is missing)
OPTIONAL = {"SMH": "no daily semiconductor series offline: momentum tilts into QQQ alone",
            "^VIX": "the implied-vol proxy prices the options instead, named in run.json"}
# Parameter fields that name symbols: a text (`symbol`, `core`), a list (`growth`) or a mapping's keys
# (`rotation`). tests/test_symbols.py walks every registered parameter class so a new field that
# holds a symbol cannot be missed.
SYMBOL_FIELDS = ("symbol", "core", "growth", "rotation")


def named_symbols(params, where: str = "") -> dict[str, str]:
    """{parameter path: symbol} for every symbol the parameters name, nested dataclasses included.

    >>> from strategies.neutral import NeutralParams
    >>> named_symbols(NeutralParams(symbol="ORCL"), "neutral")
    {'neutral.symbol': 'ORCL'}
    """
    found: dict[str, str] = {}
    if params is None or not dataclasses.is_dataclass(params):
        return found
    for spec in dataclasses.fields(params):
        value, path = getattr(params, spec.name), f"{where}.{spec.name}" if where else spec.name
        if dataclasses.is_dataclass(value):
            found.update(named_symbols(value, path))
        elif spec.name in SYMBOL_FIELDS:
            items = value.keys() if isinstance(value, dict) else [value] if isinstance(value, str) else value
            for n, item in enumerate(items):
                found[path if isinstance(value, str) else f"{path}[{item!r}]" if isinstance(value, dict)
                      else f"{path}[{n}]"] = str(item)
    return found


def _traded(strategy) -> tuple[str, tuple[str, ...]]:
    """(name, symbols it may trade) of a registered name or a Playbook instance (strategies.playbook)."""
    if isinstance(strategy, str):
        return strategy, get_strategy(strategy).symbols
    return strategy.name, tuple(strategy.symbols)


def check_params(strategy, params) -> None:
    """Refuse a parameter naming a symbol the strategy (a name or a Playbook) does not trade, before
    any data is loaded."""
    name, symbols = _traded(strategy)
    for path, symbol in named_symbols(params, name).items():
        if symbol not in symbols:
            role = ROLE_OF.get(symbols[0]) if path.endswith((".symbol", ".core")) else None
            hint = (f"map your file to the role instead: --map {role}={symbol} (or universe: {{{role}: "
                    f"{symbol}}} in the config)") if role else \
                "map your file to one of its roles with --map ROLE=SYMBOL"
            raise RunError(f"parameter {path} = {symbol!r} names a symbol {name} does not trade (it trades "
                           f"{', '.join(symbols)}); {hint}")


def required(strategy) -> tuple[str, ...]:
    """The symbols a strategy (a name or a Playbook) cannot run without: its symbols less OPTIONAL."""
    return tuple(s for s in _traded(strategy)[1] if s not in OPTIONAL)


def preflight_csv(names, spec) -> None:
    """On the csv source, before anything is loaded: refuse naming every file the strategies need and
    the folder lacks (SPY's included), not just the first."""
    if spec.source != "csv" or spec.data_dir is None:
        return
    from data.csv_source import find_file

    universe = dict(spec.universe)
    missing: dict[str, MissingFile] = {}
    for name in names:
        for symbol in required(name):
            try:
                find_file(file_symbol(symbol, universe), spec.data_dir)
            except MissingFile as exc:
                missing.setdefault(symbol, exc)
            except Exception:  # noqa: BLE001 - a missing folder is reported by the load that follows
                return
    if missing:
        raise RunError(_missing_text([_traded(n)[0] for n in names], missing, universe))


def check_market(strategy, market) -> None:
    """Refuse a run whose strategy (a name or a Playbook) needs a symbol the prepared market lacks,
    naming every one."""
    missing = {s: market.missing.get(s) for s in required(strategy) if s not in market.bars}
    if missing:
        raise RunError(_missing_text([_traded(strategy)[0]], missing, dict(market.spec.universe)))


def _missing_text(names, missing: dict, universe: dict) -> str:
    who = " and ".join(names)
    files = {s: e for s, e in missing.items() if isinstance(e, MissingFile)}
    parts = []
    if files:
        folder = next(iter(files.values())).folder
        shown = ", ".join(e.tried[0] for e in files.values())
        parts.append(f"csv folder {folder} has no {shown}")
    for symbol, exc in missing.items():
        if symbol not in files:
            reason = str(exc).splitlines()[0] if exc is not None else "not loaded"
            parts.append(f"{_slot(symbol, universe)}: {reason}")
    verb = "needs" if len(names) == 1 else "need"
    return (f"{who} {verb} {', '.join(_slot(s, universe) for s in missing)}: {'; '.join(parts)}; "
            "add the files, or map your own to the roles with --map ROLE=SYMBOL")


def _slot(symbol: str, universe: dict) -> str:
    """SPY, or "IVV (index)" when a file is mapped to the slot's role."""
    source = file_symbol(symbol, universe)
    role = ROLE_OF.get(symbol)
    return f"{source} ({role})" if source != symbol else f"{symbol} ({role})" if role else symbol


def runnable(available) -> list[tuple[str, tuple[str, ...]]]:
    """For `data validate`: each strategy and the required symbols `available` lacks (empty: it can run).

    >>> dict(runnable({"SPY"}))["neutral"], dict(runnable({"SPY"}))["defensive"]
    ((), ('XLE', 'XLP', 'XLF', 'BIL'))
    """
    have = set(available)
    return [(name, tuple(s for s in required(name) if s not in have)) for name in STRATEGIES]
