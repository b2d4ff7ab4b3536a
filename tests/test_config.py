"""Config files (YAML/TOML), precedence of the command line, and RiskConfig from settings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import strategies.config as config_module
from strategies.config import CONFIG_KEYS, load_config, merge_settings, risk_config_from_settings
from strategies.errors import ConfigError
from strategies.risk import Costs, PortfolioStop, RiskConfig, Sizing, StopRule, TakeProfit

FIXTURES = Path(__file__).parent / "fixtures"

# What config_good.yaml and config_good.toml say, written out by hand.
GOOD_RISK = RiskConfig(
    stops=(StopRule("trailing", 0.05), StopRule("time", 10), StopRule("atr", 2.5, atr_sessions=20)),
    take_profit=TakeProfit("percent", 0.08),
    portfolio_stop=PortfolioStop(0.15, cooldown_sessions=10),
    sizing=Sizing("vol-target", 0.10, max_weight=0.25, tranches=3, vol_lookback=60),
    costs=Costs(commission_per_share=0.005, slippage_bp=5.0, tax_rate=0.25),
)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return str(info.value)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["config_good.yaml", "config_good.toml"])
def test_good_config_files(name):
    settings = load_config(FIXTURES / name)
    assert list(settings) == list(CONFIG_KEYS)  # every key, in the documented order
    assert settings["strategy"] == "neutral" and settings["source"] == "embedded"
    assert settings["window"] == "triple-witching"
    assert settings["start"] == pd.Timestamp("2008-01-02") and settings["end"] == pd.Timestamp("2018-12-31")
    assert (settings["before"], settings["after"], settings["seed"]) == (5, 5, 7)
    # Relative folders are resolved against the config file, not the current directory.
    assert settings["data_dir"] == str((FIXTURES / "market-data").resolve())
    assert settings["out"] == str((FIXTURES / "results" / "neutral").resolve())
    assert settings["stop"] == ["trailing:5%", "time:10", "atr:2.5x,sessions:20"]
    assert settings["params"] == {"hedge_band": 0.1, "put_tenor_sessions": 21, "universe": ["SPY", "QQQ"]}
    assert settings["universe"] == {"tech": "XLK"}  # role: symbol, checked (strategies.roles)
    assert risk_config_from_settings(settings) == GOOD_RISK


def test_yaml_and_toml_fixtures_say_the_same():
    yaml_settings = load_config(FIXTURES / "config_good.yaml")
    toml_settings = load_config(FIXTURES / "config_good.toml")
    # The files differ only in how max_weight is written (25% vs 0.25): same rules either way.
    assert yaml_settings.pop("max_weight") == "25%" and toml_settings.pop("max_weight") == 0.25
    assert yaml_settings == toml_settings


def test_params_pass_through_untouched(tmp_path):
    path = write(
        tmp_path,
        "p.yaml",
        "params:\n  weird-Key: [1, {a: 2}]\n  threshold: 5\n  ratio: 5%\n",
    )
    # No percent parsing, no key renaming inside params: the strategy owns their meaning.
    assert load_config(path)["params"] == {"weird-Key": [1, {"a": 2}], "threshold": 5, "ratio": "5%"}


@pytest.mark.parametrize(
    "name, fragments",
    [
        (
            "config_unknown_key.yaml",
            ["config_unknown_key.yaml", "unknown key 'stop_loss'", "did you mean 'stop'"],
        ),
        (
            "config_bad_syntax.yaml",
            ["config_bad_syntax.yaml", "is not valid YAML (line 3, column 5)", "expected ',' or ']'"],
        ),
        ("config_bad_syntax.toml", ["config_bad_syntax.toml", "is not valid TOML", "line 2"]),
        ("config_bad_stop.toml", ["config_bad_stop.toml", "stop 'trailing:5'", "did you mean 'trailing:5%'"]),
        (
            "config_duplicate_key.yaml",
            ["config_duplicate_key.yaml", "line 4", "'stop' is given twice (first on line 2)"],
        ),
        ("config_bad_costs.yaml", ["config_bad_costs.yaml", "'slipage_bp' (did you mean 'slippage_bp'?)"]),
    ],
)
def test_bad_config_files_name_file_and_fault(name, fragments):
    message = error_of(load_config, FIXTURES / name)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_missing_unreadable_and_wrong_kind_of_file(tmp_path):
    assert "does not exist" in error_of(load_config, tmp_path / "nope.yaml")
    assert "has extension '.json'" in error_of(load_config, write(tmp_path, "run.json", "{}"))
    assert "has extension '(none)'" in error_of(load_config, write(tmp_path, "run", "a: 1"))
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert "dir.yaml cannot be read" in error_of(load_config, folder)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("strategy: caf\xe9\n".encode("latin-1"))
    assert "latin.yaml is not UTF-8" in error_of(load_config, latin)
    assert "at the top level, got a list" in error_of(load_config, write(tmp_path, "l.yaml", "- a\n- b\n"))
    assert "not valid YAML" in error_of(
        load_config, write(tmp_path, "t.yaml", "x: !!python/object:os.system ls")
    )


def test_empty_file_and_empty_values_mean_not_given(tmp_path):
    assert load_config(write(tmp_path, "empty.yaml", "")) == {}
    assert load_config(write(tmp_path, "blank.yml", "stop:\nsize: fixed:50%\n")) == {"size": "fixed:50%"}


def test_hyphenated_keys_and_the_same_key_spelt_twice(tmp_path):
    settings = load_config(write(tmp_path, "h.yaml", "take-profit: 8%\nmax-weight: 0.5\ndata-dir: /abs\n"))
    assert settings == {"take_profit": "8%", "max_weight": 0.5, "data_dir": "/abs"}
    message = error_of(load_config, write(tmp_path, "d.yaml", "take-profit: 8%\ntake_profit: 9%\n"))
    assert "gives 'take_profit' twice" in message


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("start: 01/02/2018\n", "key 'start' must be a date written YYYY-MM-DD, got '01/02/2018'"),
        ("end: 2018-02-30\n", "(line 1, column 6): '2018-02-30' is not a date"),
        ("end: '2018-02-30'\n", "key 'end' must be a date written YYYY-MM-DD, got '2018-02-30'"),
        ("start: 2018-06-01\nend: 2018-01-01\n", "start 2018-06-01 is after end 2018-01-01"),
        ("start: 2018-01-02T10:00:00+01:00\n", "without time zone"),
        ("before: -1\n", "key 'before' must be a whole number >= 0, got -1"),
        ("after: 2.5\n", "key 'after' must be a whole number"),
        ("seed: yes\n", "key 'seed' must be a whole number >= 0, got True"),
        ("strategy: 3\n", "key 'strategy' must be a name, got 3"),
        ("source: ''\n", "key 'source' must be a name"),
        ("out: [a]\n", "key 'out' must be a folder path"),
        ("params: [a, b]\n", "key 'params' must be a mapping"),
        ("costs: 5\n", "key 'costs' must be a mapping"),
        ("stop: [trailing:5%, trailing:3%]\n", "both trailing stops"),
        ("stop: [none, time:10]\n", "'none' cannot be combined"),
        ("take_profit: 8\n", "did you mean '8%'"),
        ("portfolio_stop: drawdown:15%\n", "has no kind"),
        ("size: 50%\n", "a size needs a kind"),
        ("max_weight: 25\n", "max weight '25'"),
        ("tranches: 0\n", "tranches '0'"),
        ("stop: off\n", "stop must be text"),  # YAML 1.1 reads off as False
    ],
)
def test_bad_values_are_reported_against_the_file(tmp_path, text, fragment):
    path = write(tmp_path, "bad.yaml", text)
    message = error_of(load_config, path)
    assert message.startswith(f"config file {path}")
    assert fragment in message


def test_dates_and_numbers_as_text(tmp_path):
    settings = load_config(write(tmp_path, "q.yaml", 'start: "2010-03-19"\nbefore: "3"\nseed: 0\n'))
    assert settings == {"start": pd.Timestamp("2010-03-19"), "before": 3, "seed": 0}
    toml = load_config(write(tmp_path, "q.toml", "end = 2018-12-21T00:00:00\n"))
    assert toml == {"end": pd.Timestamp("2018-12-21")}


def test_toml_needs_python_311(monkeypatch):
    monkeypatch.setattr(config_module, "tomllib", None)
    message = error_of(load_config, FIXTURES / "config_good.toml")
    assert "config_good.toml" in message and "Python 3.11" in message and "use YAML" in message


# --- precedence and the settings -> RiskConfig path -----------------------------------------------------


def test_command_line_overrides_the_file():
    file_settings = load_config(FIXTURES / "config_good.yaml")
    cli = {
        "strategy": "momentum",
        "stop": ("atr:3",),
        "take_profit": "none",
        "size": None,  # option not given: the file's value stays
        "tranches": None,
        "max_weight": "50%",
        "costs": {"tax_rate": "0%"},
        "seed": None,
    }
    merged = merge_settings(file_settings, cli)
    assert merged["strategy"] == "momentum" and merged["seed"] == 7
    risk = risk_config_from_settings(merged)
    assert risk.stops == (StopRule("atr", 3.0),)
    assert risk.take_profit is None  # "none" on the command line cancels the file's take-profit
    assert risk.portfolio_stop == PortfolioStop(0.15, cooldown_sessions=10)
    assert risk.sizing == Sizing("vol-target", 0.10, max_weight=0.5, tranches=3, vol_lookback=60)
    # costs are merged field by field: the file's 5 bp slippage survives a tax override.
    assert risk.costs == Costs(slippage_bp=5.0, tax_rate=0.0)


def test_empty_multiple_option_keeps_the_file_stops():
    merged = merge_settings({"stop": ["trailing:5%"]}, {"stop": ()})
    assert risk_config_from_settings(merged).stops == (StopRule("trailing", 0.05),)
    assert risk_config_from_settings(merge_settings(None, {"stop": ("none",)})).stops == ()


def test_merge_does_not_mutate_its_inputs():
    file_settings = {"costs": {"slippage_bp": 5}}
    merge_settings(file_settings, {"costs": {"tax_rate": 0.1}})
    assert file_settings == {"costs": {"slippage_bp": 5}}


def test_defaults_when_nothing_is_given():
    assert risk_config_from_settings({}) == RiskConfig()
    assert risk_config_from_settings({"strategy": "neutral", "stop": None, "costs": None}) == RiskConfig()
    # max weight without a size caps the default whole-account sizing
    assert risk_config_from_settings({"max_weight": "30%"}).sizing.target_weight() == 0.3


def test_settings_errors_name_the_text():
    assert "stop 'trailing:5'" in error_of(risk_config_from_settings, {"stop": "trailing:5"})
    assert "tranches 'three'" in error_of(risk_config_from_settings, {"tranches": "three"})
    assert "settings must be a mapping" in error_of(risk_config_from_settings, ["stop"])


@pytest.mark.parametrize(
    "config",
    [
        RiskConfig(),
        GOOD_RISK,
        RiskConfig(
            stops=(StopRule("fixed", 0.03),),
            take_profit=TakeProfit("atr", 1.5, atr_sessions=10),
            sizing=Sizing("fixed-fraction", 1.5, max_weight=2.0, tranches=2),
            costs=Costs(0.0035, 0.35, 1.0, 0.5, 0.05, 0.01, 0.37),
        ),
    ],
    ids=["default", "good", "leveraged"],
)
def test_to_settings_round_trips(config, tmp_path):
    settings = config.to_settings()
    assert risk_config_from_settings(settings) == config
    # ... and through a YAML file written from them (how a tuned result is saved for a rerun).
    path = tmp_path / "rerun.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert risk_config_from_settings(load_config(path)) == config
