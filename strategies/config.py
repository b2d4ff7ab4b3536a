"""Run settings from a config file (``--config run.yaml`` / ``run.toml``), and the one function that
turns settings into a `RiskConfig`, whether they came from the command line or from a file.

A config file holds the same settings as ``cli.py backtest`` options, in the same text forms
(`strategies.rulespec`), under these top-level keys (``take-profit`` and ``take_profit`` are the
same key)::

    strategy, source, data_dir, start, end, window, before, after, seed, out,
    stop (one text or a list), take_profit, portfolio_stop, size, max_weight, tranches,
    costs (a mapping of `Costs` fields), params (strategy parameters, passed through untouched),
    universe (role: symbol, the files standing in for the playbook's roles: strategies.roles)

Precedence: an option given on the command line overrides the same key in the file (`merge_settings`);
for ``costs`` and ``params`` the override is per field. A key left empty in YAML (``stop:``) counts as
not given; ``stop: none`` removes the file's stops. Relative ``data_dir`` and ``out`` are resolved
against the config file's folder, so a config file works from any current directory. Names
(strategy, source, window) are checked by the command that uses them, against its registry.
"""

from __future__ import annotations

import datetime
import numbers
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml

from strategies.errors import ConfigError
from strategies.risk import RiskConfig, did_you_mean
from strategies.roles import parse_universe
from strategies.rulespec import (
    parse_costs,
    parse_max_weight,
    parse_portfolio_stop,
    parse_size,
    parse_stops,
    parse_take_profit,
    parse_tranches,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: no TOML reader in the standard library
    tomllib = None

CONFIG_KEYS: tuple[str, ...] = (
    "strategy",
    "source",
    "data_dir",
    "start",
    "end",
    "window",
    "before",
    "after",
    "seed",
    "out",
    "stop",
    "take_profit",
    "portfolio_stop",
    "size",
    "max_weight",
    "tranches",
    "costs",
    "params",
    "universe",
)
RISK_KEYS: tuple[str, ...] = (
    "stop",
    "take_profit",
    "portfolio_stop",
    "size",
    "max_weight",
    "tranches",
    "costs",
)
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")

# Settings whose mappings are merged field by field rather than replaced whole.
_MAPPING_KEYS = ("costs", "params", "universe")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice is an error: plain safe_load keeps the
    last one silently, and a second ``stop:`` quietly replacing the first is how a test goes wrong."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"key {key!r} is given twice (first on line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the base class reports it properly
                pass
        return super().construct_mapping(node, deep=deep)

    def construct_checked_timestamp(self, node):
        """YAML reads 2018-02-30 as a date and PyYAML then fails with a bare ValueError; report
        it with its line like any other error in the file."""
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date ({exc})", node.start_mark
            ) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_checked_timestamp)


def load_config(path) -> dict:
    """Read and check a YAML (.yaml/.yml) or TOML (.toml) config file.

    Returns a dict keyed by CONFIG_KEYS (only the keys the file gives): risk rules stay as their
    text (checked, so that a bad rule is reported against the file), start/end become
    `pd.Timestamp`, before/after/seed ints, data_dir/out absolute path strings, and params is the
    file's mapping as it is. Any problem is a ConfigError naming the file (and the line when the
    parser knows it).
    """
    path = Path(path)
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"config file {path} has extension {path.suffix or '(none)'!r}; accepted: "
            f"{', '.join(CONFIG_SUFFIXES)}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    raw = _parse_toml(text, path) if path.suffix.lower() == ".toml" else _parse_yaml(text, path)
    if raw is None:  # an empty YAML file: no settings
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of settings at the top level, got a {type(raw).__name__}"
        )
    settings: dict = {}
    for raw_key, value in raw.items():
        key = str(raw_key).strip().replace("-", "_")
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"config file {path} has unknown key {raw_key!r}{did_you_mean(key, CONFIG_KEYS)}; "
                f"accepted: {', '.join(CONFIG_KEYS)}"
            )
        if key in settings:
            raise ConfigError(f"config file {path} gives {key!r} twice (with - and with _)")
        if value is None:
            continue
        try:
            settings[key] = _checked(key, value, path.parent)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    if "start" in settings and "end" in settings and settings["start"] > settings["end"]:
        raise ConfigError(
            f"config file {path}: start {settings['start'].date()} is after end {settings['end'].date()}"
        )
    return settings


def _parse_yaml(text: str, path: Path):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None


def _parse_toml(text: str, path: Path):
    if tomllib is None:
        raise ConfigError(f"config file {path}: TOML needs Python 3.11 or later (tomllib); use YAML instead")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in the message itself.
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _checked(key: str, value, folder: Path):
    """One setting, checked and brought to the form the command line would give."""
    if key in ("strategy", "source", "window"):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"key {key!r} must be a name, got {value!r}")
        return value.strip()
    if key in ("data_dir", "out"):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"key {key!r} must be a folder path, got {value!r}")
        folder_path = Path(value.strip()).expanduser()
        return str(folder_path if folder_path.is_absolute() else (folder / folder_path).resolve())
    if key in ("start", "end"):
        return _date(key, value)
    if key in ("before", "after", "seed"):
        return _integer(key, value, minimum=0)
    if key == "universe":
        return parse_universe(value)  # {role: symbol}, strategies.roles; --map adds to it role by role
    if key == "params":
        if not isinstance(value, Mapping):
            raise ConfigError(f"key 'params' must be a mapping of strategy parameters, got {value!r}")
        return value
    if key == "costs":
        if not isinstance(value, Mapping):
            raise ConfigError(f"key 'costs' must be a mapping of cost fields, got {value!r}")
        parse_costs(value)
        return dict(value)
    if key == "stop":
        parse_stops(value)
        return list(value) if isinstance(value, list) else value
    # The remaining keys are single risk rules: check them now so the error names the file.
    _RULE_PARSERS[key](value)
    return value


def _date(key: str, value) -> pd.Timestamp:
    """YAML and TOML read 2018-01-02 as a date; text must be ISO too, so 01/02/2018 is not guessed."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            raise ConfigError(f"key {key!r} must be a date without time zone, got {value.isoformat()}")
        return pd.Timestamp(value).normalize()
    if isinstance(value, datetime.date):
        return pd.Timestamp(value)
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return pd.Timestamp(datetime.date.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ConfigError(f"key {key!r} must be a date written YYYY-MM-DD, got {value!r}")


def _integer(key: str, value, minimum: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"key {key!r} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


_RULE_PARSERS = {
    "take_profit": parse_take_profit,
    "portfolio_stop": parse_portfolio_stop,
    "size": parse_size,
    "max_weight": parse_max_weight,
    "tranches": parse_tranches,
}


def merge_settings(file_settings: Mapping | None, overrides: Mapping) -> dict:
    """The config file's settings with the command line's on top.

    An override that is None or an empty tuple/list (click's value for an option not given) leaves
    the file's value; ``costs`` and ``params`` are merged field by field.

    >>> merge_settings({"stop": ["trailing:5%"], "size": "fixed:50%", "costs": {"slippage_bp": 5}},
    ...                {"stop": ("atr:3",), "size": None, "costs": {"tax_rate": "25%"}})
    {'stop': ('atr:3',), 'size': 'fixed:50%', 'costs': {'slippage_bp': 5, 'tax_rate': '25%'}}
    """
    merged = dict(file_settings or {})
    for key, value in overrides.items():
        if value is None or (isinstance(value, (tuple, list)) and not value):
            continue
        if key in _MAPPING_KEYS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def risk_config_from_settings(settings: Mapping) -> RiskConfig:
    """Build the run's RiskConfig from settings text (command line, config file, or both merged).

    Reads RISK_KEYS and ignores the other keys; a missing or None key takes the default (no stop,
    no take-profit, no portfolio stop, the whole account in the position, `Costs()` defaults).

    >>> cfg = risk_config_from_settings({"stop": ["trailing:5%", "time:10"], "take_profit": "8%",
    ...                                  "size": "vol-target:10%", "max_weight": "25%", "tranches": 3})
    >>> cfg.sizing.max_weight, [s.kind for s in cfg.stops]
    (0.25, ['trailing', 'time'])
    """
    return risk_config_over(RiskConfig(), settings)


def risk_config_over(base: RiskConfig, settings: Mapping) -> RiskConfig:
    """`base` (a strategy's default rules, typed) with each rule the settings give, parsed once from
    its text, in its place; what the settings leave out stays as `base` has it, never written to
    text and read back. `size` keeps base's max_weight and tranches unless they are given too;
    `costs` replaces only the fields it names.

    >>> from strategies.risk import Sizing, StopRule
    >>> base = RiskConfig(stops=(StopRule("trailing", 0.05),), sizing=Sizing("fixed-fraction", 1, tranches=3))
    >>> cfg = risk_config_over(base, {"size": "fixed:50%", "costs": {"tax_rate": "25%"}})
    >>> cfg.stops == base.stops, cfg.sizing.level, cfg.sizing.tranches, cfg.costs.tax_rate
    (True, 0.5, 3, 0.25)
    """
    if not isinstance(settings, Mapping):
        raise ConfigError(f"settings must be a mapping, got {settings!r}")

    def given(key):
        value = settings.get(key)
        return None if value is None or (isinstance(value, (tuple, list)) and not value) else value

    sizing = base.sizing
    if given("size") is not None:
        sizing = replace(parse_size(given("size")), max_weight=sizing.max_weight, tranches=sizing.tranches)
    if given("max_weight") is not None:
        sizing = replace(sizing, max_weight=parse_max_weight(given("max_weight")))
    if given("tranches") is not None:
        sizing = replace(sizing, tranches=parse_tranches(given("tranches")))
    take_profit, portfolio_stop, costs = given("take_profit"), given("portfolio_stop"), base.costs
    if given("costs") is not None:
        parsed = parse_costs(given("costs"))
        named = {str(k).strip().lower().replace("-", "_") for k in given("costs")}
        costs = replace(costs, **{name: getattr(parsed, name) for name in named})
    return RiskConfig(
        stops=base.stops if given("stop") is None else parse_stops(given("stop")),
        take_profit=base.take_profit if take_profit is None else parse_take_profit(take_profit),
        portfolio_stop=(base.portfolio_stop if portfolio_stop is None
                        else parse_portfolio_stop(portfolio_stop)),
        sizing=sizing,
        costs=costs,
    )
